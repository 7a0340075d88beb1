"""`python -m sfid_tf.reproduce` end to end: graph and batches downloaded from a real HTTP server
on 127.0.0.1 through a test manifest, numbers compared with values computed here independently."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from legacy_oracle import frechet_distance_by_hand, legacy_features, structured_images
from test_metrics import brute_force_precision_recall

from sfid_tf.reproduce import main

try:
    from local_http_server import FileServer
except ImportError:  # tests/ became a package
    from tests.local_http_server import FileServer


@pytest.fixture(scope="module")
def mirror(tmp_path_factory, small_graph_path):
    root = tmp_path_factory.mktemp("mirror")
    shutil.copy(small_graph_path, root / "classify_image_graph_def.pb")
    (root / "toy").mkdir()
    ref, smp = structured_images(40, 16), structured_images(41, 12, shift=30)
    np.savez(root / "toy" / "ref.npz", ref)
    np.savez_compressed(root / "toy" / "sample.npz", smp)
    (ref_pool, ref_spatial), (smp_pool, smp_spatial) = (legacy_features(small_graph_path, x) for x in (ref, smp))
    precision, recall = brute_force_precision_recall(ref_pool, smp_pool)
    expected = {"sfid": frechet_distance_by_hand(smp_spatial, ref_spatial), "precision": precision, "recall": recall}
    with FileServer(root) as server:
        yield root, server, expected


BASE_URL = "https://openaipublic.blob.core.windows.net/diffusion/jul-2021/ref_batches/"


def entry(name, role, path, reference=None, paper=None):
    return {
        "name": name, "role": role, "dataset": "toy", "resolution": 32, "model": None if role == "reference" else "toy model",
        "filename": path.split("/")[-1], "path": path, "url": BASE_URL + path, "size": None, "sha256": None,
        "images": None, "reference": reference, "paper": paper, "source": "computed in the test", "confirmed": True,
        "confirmed_by": None, "other_numbers": [], "notes": None,
    }


@pytest.fixture
def manifest(mirror, tmp_path, monkeypatch):
    root, server, expected = mirror
    good = {"fid": None, "inception_score": None, **{k: f"{v:.2f}" for k, v in expected.items()}}
    bad = {"fid": None, "sfid": None, "inception_score": None, "precision": f"{min(expected['precision'] + 0.2, 1):.2f}", "recall": None}
    if abs(float(bad["precision"]) - expected["precision"]) < 0.1:
        bad["precision"] = f"{expected['precision'] - 0.2:.2f}"
    packaged = json.loads((Path_of_package() / "batches.json").read_text())
    assert packaged["base_url"] == BASE_URL
    packaged.update(
        references=[entry("toy", "reference", "toy/ref.npz")],
        samples=[entry("toy/good", "sample", "toy/sample.npz", "toy", good), entry("toy/bad", "sample", "toy/sample.npz", "toy", bad)],
        exact_runs=[],
    )
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(packaged))
    monkeypatch.setenv("SFID_TF_MANIFEST", str(path))
    monkeypatch.setenv("SFID_TF_MIRROR", server.url(""))
    monkeypatch.setenv("SFID_TF_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("SFID_TF_OFFLINE", raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    return root, server, expected


def Path_of_package():
    from importlib import resources

    return resources.files("sfid_tf.reference_stats")


def test_reproduce_downloads_everything_and_matches_within_the_papers_rounding(manifest, tmp_path, capsys):
    root, server, expected = manifest
    before = server.count()
    out = tmp_path / "table.json"
    assert main(["toy/good", "--no-progress", "--json", str(out)]) == 0
    table = capsys.readouterr().out
    assert "toy/good" in table and "MISMATCH" not in table and table.count(" ok") == 3
    rows = json.loads(out.read_text())
    assert {r["metric"] for r in rows} == {"sfid", "precision", "recall"}
    for row in rows:
        assert row["ours"] == pytest.approx(expected[row["metric"]], abs=1e-9)
        assert row["tolerance"] == 0.005 and row["ok"]
    names = [r.path for r in server.log[before:]]
    assert sorted(set(names)) == ["classify_image_graph_def.pb", "toy/ref.npz", "toy/sample.npz"]


def test_reproduce_reports_a_mismatch_with_exit_1_and_reuses_the_cache(manifest, capsys):
    root, server, expected = manifest
    assert main(["toy/bad", "--no-progress"]) == 1
    assert "MISMATCH" in capsys.readouterr().out
    before = server.count()
    assert main(["toy/bad", "--no-progress", "--tolerance", "0.5"]) == 0  # a looser tolerance accepts it
    assert server.count() == before  # graph and batches came from the cache


def test_reproduce_from_a_data_dir_offline(manifest, small_graph_path, monkeypatch, capsys):
    root, server, _ = manifest
    monkeypatch.setenv("SFID_TF_OFFLINE", "1")
    before = server.count()
    code = main(["toy/bad", "--data-dir", str(root), "--graph", str(small_graph_path), "--no-progress", "--tolerance", "1"])
    assert code == 0 and server.count() == before
    assert main(["toy/bad", "--no-progress", "--graph", str(small_graph_path)]) == 2  # not cached, offline
    assert "offline" in capsys.readouterr().err


def test_reproduce_needs_names_and_knows_them(manifest, capsys):
    assert main([]) == 2
    assert main(["toy/nope"]) == 2
    assert "toy/good" in capsys.readouterr().err
