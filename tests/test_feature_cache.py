"""Reference features are computed once per (reference file, graph, batch size, TF, device)."""

from __future__ import annotations

import numpy as np
import pytest
from legacy_oracle import structured_images

from sfid_tf import evaluate_files
from sfid_tf.evaluator import Evaluator


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SFID_TF_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "features"


@pytest.fixture
def files(tmp_path):
    np.savez(tmp_path / "ref.npz", structured_images(30, 12))
    np.savez(tmp_path / "sample.npz", structured_images(31, 10, shift=30))
    return tmp_path / "ref.npz", tmp_path / "sample.npz"


def count_feature_calls(monkeypatch) -> list:
    calls = []
    original = Evaluator.features

    def counting(self, images, desc="features"):
        calls.append(desc)
        return original(self, images, desc)

    monkeypatch.setattr(Evaluator, "features", counting)
    return calls


def test_second_evaluation_reads_reference_features_from_the_cache(cache, files, small_graph_path, monkeypatch, capsys):
    calls = count_feature_calls(monkeypatch)
    first = evaluate_files(*files, graph=small_graph_path, metrics="pr")
    assert calls == ["reference images", "sample images"] and len(list(cache.glob("*.npz"))) == 1
    second = evaluate_files(*files, graph=small_graph_path, metrics="pr")
    assert calls[2:] == ["sample images"]
    assert "read from the cache" in capsys.readouterr().err
    assert (first["precision"], first["recall"]) == (second["precision"], second["recall"])


def test_a_changed_reference_or_batch_size_misses_the_cache(cache, files, small_graph_path, monkeypatch):
    calls = count_feature_calls(monkeypatch)
    evaluate_files(*files, graph=small_graph_path, metrics="pr", progress=False)
    evaluate_files(*files, graph=small_graph_path, metrics="pr", batch_size=5, progress=False)
    np.savez(files[0], structured_images(32, 12))
    evaluate_files(*files, graph=small_graph_path, metrics="pr", progress=False)
    assert calls.count("reference images") == 3
    assert len(list(cache.glob("*.npz"))) == 3


def test_a_corrupt_cache_file_is_recomputed_and_cache_can_be_off(cache, files, small_graph_path, monkeypatch):
    calls = count_feature_calls(monkeypatch)
    first = evaluate_files(*files, graph=small_graph_path, metrics="pr", progress=False)
    (cached,) = cache.glob("*.npz")
    cached.write_bytes(b"garbage")
    second = evaluate_files(*files, graph=small_graph_path, metrics="pr", progress=False)
    assert calls.count("reference images") == 2 and first["precision"] == second["precision"]
    evaluate_files(*files, graph=small_graph_path, metrics="pr", progress=False, cache=False)
    assert calls.count("reference images") == 3


def test_no_covariance_is_computed_when_no_distance_is_asked_for(cache, files, small_graph_path, monkeypatch):
    import sfid_tf.evaluator as evaluator_module

    def refuse(*args, **kwargs):
        raise AssertionError("statistics computed for --metrics is,pr")

    monkeypatch.setattr(evaluator_module, "compute_statistics", refuse)
    result = evaluate_files(*files, graph=small_graph_path, metrics="is,pr", progress=False)
    assert result["inception_score"] > 1 and "fid" not in result
