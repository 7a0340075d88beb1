"""The command line end to end on small synthetic batches, and every bad input it must refuse."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from legacy_oracle import frechet_distance_by_hand, legacy_features, structured_images

from sfid_tf import Evaluator, evaluate_files
from sfid_tf.evaluate import main
from sfid_tf.stats import main as stats_main

LABELS = ["Inception Score", "FID", "sFID", "Precision", "Recall"]


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sfid_tf.evaluate", *map(str, args)],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=600,
    )


@pytest.fixture(scope="module")
def batches(tmp_path_factory):
    folder = tmp_path_factory.mktemp("batches")
    ref, smp = structured_images(10, 24), structured_images(11, 20, shift=25)
    np.savez(folder / "ref.npz", ref)
    np.savez_compressed(folder / "sample.npz", smp)
    return folder, ref, smp


@pytest.fixture(scope="module")
def cli_run(batches, small_graph_path):
    folder, _, _ = batches
    out = folder / "result.json"
    proc = run_cli(folder / "ref.npz", folder / "sample.npz", "--graph", small_graph_path, "--json", out)
    return proc, json.loads(out.read_text()) if out.exists() else None


def test_cli_prints_the_five_lines_in_order_on_stdout_only(cli_run):
    proc, result = cli_run
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == LABELS
    keys = ["inception_score", "fid", "sfid", "precision", "recall"]
    for line, key in zip(lines, keys):
        assert float(line.split(": ")[1]) == result[key]  # full precision: repr round-trips


def test_cli_hides_tensorflow_log_noise_and_warns_about_few_images(cli_run):
    proc, _ = cli_run
    assert "oneDNN" not in proc.stderr and "cuda" not in proc.stderr.lower()
    assert "singular" in proc.stderr  # 24 images for 2048 dimensions


def test_json_has_numbers_and_provenance(cli_run, small_graph_path):
    import hashlib

    _, result = cli_run
    assert result["graph_sha256"] == hashlib.sha256(small_graph_path.read_bytes()).hexdigest()
    assert result["num_reference_images"] == 24 and result["num_sample_images"] == 20
    assert {"tensorflow", "device"} <= result.keys() and {"numpy", "scipy", "sfid_tf"} <= result["versions"].keys()


def test_cli_numbers_equal_an_independent_computation_from_the_legacy_graph(cli_run, batches, small_graph_path):
    """sFID from the legacy runtime's features with plain numpy/scipy, operation for operation as
    the reference evaluator; one distance only, since each 2023-dimensional sqrtm takes seconds."""
    _, result = cli_run
    _, ref, smp = batches
    (_, ref_spatial), (_, smp_spatial) = legacy_features(small_graph_path, ref), legacy_features(small_graph_path, smp)
    assert result["sfid"] == frechet_distance_by_hand(smp_spatial, ref_spatial)
    assert 0 <= result["precision"] <= 1 and result["precision"] * 20 == round(result["precision"] * 20)
    assert 0 <= result["recall"] <= 1 and result["recall"] * 24 == round(result["recall"] * 24)


def test_python_api_gives_the_same_values(cli_run, batches, small_graph_path):
    _, result = cli_run
    folder, _, _ = batches
    api = evaluate_files(folder / "ref.npz", folder / "sample.npz", graph=small_graph_path, metrics="is,pr", progress=False)
    for key in ["inception_score", "precision", "recall"]:
        assert api[key] == result[key]
    assert "fid" not in api and "sfid" not in api


def test_sfid_alone_runs_the_pruned_graph_and_gives_the_full_runs_value(batches, small_graph_path):
    """The subset computes the same statistics as the full run, hence the same distance (checked
    with the fast method here, since each sqrtm takes tens of seconds on this machine)."""
    folder, _, _ = batches
    files = (folder / "ref.npz", folder / "sample.npz")
    full = Evaluator(small_graph_path, progress=False, fd_method="fast")
    alone = Evaluator(small_graph_path, metrics="sfid", progress=False, fd_method="fast")
    assert alone.extractor.outputs == ("spatial",) and full.extractor.outputs == ("pool", "spatial")
    ref_stats, smp_stats = (full.statistics(full.features(f))["sfid"] for f in files)
    result = alone.evaluate(*files)
    assert set(result) & {"inception_score", "fid", "precision", "recall"} == set()
    assert result["sfid"] == full.frechet_distance(smp_stats, ref_stats)


def test_precomputed_reference_statistics_are_used_instead_of_its_images(cli_run, batches, small_graph_path, tmp_path):
    """Statistics of the reference images stored beside *other* images: the FID is the one of the
    reference images, so the statistics were used (as the ADM evaluator does)."""
    _, result = cli_run
    _, ref, smp = batches
    pool, _ = legacy_features(small_graph_path, ref)
    stats = dict(mu=pool.mean(0), sigma=np.cov(pool, rowvar=False), mu_s=np.zeros(2023), sigma_s=np.eye(2023))
    np.savez(tmp_path / "ref_stats.npz", arr_0=smp, **stats)
    api = evaluate_files(tmp_path / "ref_stats.npz", batches[0] / "sample.npz", graph=small_graph_path, metrics="fid", progress=False)
    assert api["reference_statistics"] == "precomputed"
    assert api["fid"] == result["fid"]


def test_statistics_file_round_trip_and_statistics_only_reference(cli_run, batches, small_graph_path, tmp_path, capsys):
    """`sfid_tf.stats` of the reference, then that file as REF: the same sFID as from the images
    (up to float32 rounding of the mean term, which the file stores as float64), and IS from
    the sample; Precision/Recall are skipped with the reason."""
    _, result = cli_run
    folder, ref, _ = batches
    stats_path = tmp_path / "ref_stats.npz"
    common = ["--graph", str(small_graph_path), "--no-progress"]
    assert stats_main([str(folder / "ref.npz"), "-o", str(stats_path), *common]) == 0
    with np.load(stats_path, allow_pickle=False) as stored:
        assert sorted(stored.files) == ["mu", "mu_s", "sigma", "sigma_s"]
        assert all(stored[k].dtype == np.float64 for k in stored.files)
        pool, spatial = legacy_features(small_graph_path, ref)
        assert np.array_equal(stored["mu_s"], spatial.mean(0).astype(np.float64))
        assert np.array_equal(stored["sigma"], np.cov(pool, rowvar=False))
    capsys.readouterr()
    args = [str(stats_path), str(folder / "sample.npz"), *common]
    assert main([*args, "--metrics", "is,sfid,pr"]) == 0
    out, err = capsys.readouterr()
    values = dict(line.split(": ") for line in out.splitlines())
    assert list(values) == ["Inception Score", "sFID"]
    assert float(values["Inception Score"]) == result["inception_score"]
    assert float(values["sFID"]) == pytest.approx(result["sfid"], rel=1e-6)
    assert "Precision/Recall need reference images" in err
    assert main([*args, "--metrics", "pr"]) == 2
    assert "statistics only" in capsys.readouterr().err


def test_stats_refuses_bad_output_and_bad_input(batches, tmp_path, capsys):
    folder, _, _ = batches
    assert stats_main([str(folder / "ref.npz"), "-o", str(tmp_path / "no" / "x.npz")]) == 2
    assert "folder" in capsys.readouterr().err
    assert stats_main([str(folder / "ref.npz"), "-o", str(tmp_path / "x.txt")]) == 2
    assert ".npz" in capsys.readouterr().err
    np.savez(tmp_path / "float.npz", np.zeros((3, 8, 8, 3), np.float32))
    assert stats_main([str(tmp_path / "float.npz"), "-o", str(tmp_path / "x.npz")]) == 2
    assert "uint8" in capsys.readouterr().err
    assert not (tmp_path / "x.npz").exists()


def test_full_size_graph_end_to_end(synthetic_graph_path, tmp_path):
    np.savez(tmp_path / "ref.npz", structured_images(20, 8))
    np.savez(tmp_path / "sample.npz", structured_images(21, 6, shift=40))
    args = ["--graph", synthetic_graph_path, "--no-progress", "--metrics", "is,sfid,pr"]
    proc = run_cli(tmp_path / "ref.npz", tmp_path / "sample.npz", *args)
    assert proc.returncode == 0, proc.stderr
    values = dict(line.split(": ") for line in proc.stdout.splitlines())
    assert list(values) == ["Inception Score", "sFID", "Precision", "Recall"]
    assert float(values["Inception Score"]) > 1 and float(values["sFID"]) > 0


# ---------------------------------------------------------------- bad input


def save(path, **arrays):
    np.savez(path, **arrays)
    return path


@pytest.fixture
def good(tmp_path):
    return save(tmp_path / "good.npz", arr_0=np.zeros((5, 16, 16, 3), np.uint8))


def bad_inputs(tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / "text.npz").write_text("hello, not a zip")
    dim_stats = dict(mu=np.zeros(10), sigma=np.eye(10), mu_s=np.zeros(2023), sigma_s=np.eye(2023))
    nan_stats = dict(mu=np.full(2048, np.nan), sigma=np.eye(2048), mu_s=np.zeros(2023), sigma_s=np.eye(2023))
    return {
        "missing": (tmp_path / "nope.npz", "not found|does not exist|no such"),
        "not a zip": (tmp_path / "text.npz", "npz|npy"),
        "no arr_0": (save(tmp_path / "noarr.npz", images=np.zeros((4, 8, 8, 3), np.uint8)), "arr_0"),
        "float [0,1]": (save(tmp_path / "f.npz", arr_0=rng.random((4, 8, 8, 3)).astype(np.float32)), r"x \* 255"),
        "float [-1,1]": (save(tmp_path / "g.npz", arr_0=rng.uniform(-1, 1, (4, 8, 8, 3)).astype(np.float32)), r"\+ 1"),
        "NCHW": (save(tmp_path / "nchw.npz", arr_0=np.zeros((4, 3, 8, 8), np.uint8)), "transpose"),
        "grayscale": (save(tmp_path / "gray.npz", arr_0=np.zeros((4, 8, 8), np.uint8)), "gray|channel"),
        "RGBA": (save(tmp_path / "rgba.npz", arr_0=np.zeros((4, 8, 8, 4), np.uint8)), r"\[\.\.\., :3\]"),
        "one image": (save(tmp_path / "one.npz", arr_0=np.zeros((1, 8, 8, 3), np.uint8)), "at least 2"),
        "wrong-dim stats": (save(tmp_path / "dim.npz", arr_0=np.zeros((4, 8, 8, 3), np.uint8), **dim_stats), r"2048"),
        "non-finite stats": (save(tmp_path / "nan.npz", arr_0=np.zeros((4, 8, 8, 3), np.uint8), **nan_stats), "NaN"),
    }


BAD_CASES = ["missing", "not a zip", "no arr_0", "float [0,1]", "float [-1,1]", "NCHW", "grayscale", "RGBA",
             "one image", "wrong-dim stats", "non-finite stats"]


@pytest.mark.parametrize("case", BAD_CASES)
@pytest.mark.parametrize("position", ["reference", "sample"])
def test_bad_input_gives_one_line_error_exit_2_and_writes_nothing(case, position, tmp_path, good, capsys):
    path, pattern = bad_inputs(tmp_path)[case]
    if case == "one image" and position == "reference":
        pytest.skip("a reference with one image fails the same check; one side is enough")
    args = [str(path), str(good)] if position == "reference" else [str(good), str(path)]
    out_json = tmp_path / "out.json"
    code = main([*args, "--json", str(out_json), "--graph", str(tmp_path / "no-graph-needed.pb")])
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: ")
    assert re.search(pattern, err, re.IGNORECASE), err
    assert not out_json.exists()


@pytest.mark.parametrize(
    "extra, pattern",
    [(["--metrics", "fid,bogus"], "unknown metrics"), (["--batch-size", "0"], "batch-size"), (["--json", "/no/such/dir/x.json"], "folder")],
)
def test_bad_options_are_refused(extra, pattern, good, capsys):
    code = main([str(good), str(good), *extra])
    err = capsys.readouterr().err
    assert code == 2 and pattern in err and len(err.strip().splitlines()) == 1


def test_missing_graph_offline_names_the_way_out(good, tmp_path):
    env = {"SFID_TF_CACHE": str(tmp_path / "cache"), "SFID_TF_OFFLINE": "1"}
    proc = run_cli(good, good, env=env)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "--graph" in proc.stderr and "classify_image_graph_def.pb" in proc.stderr
