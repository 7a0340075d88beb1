"""`python -m sfid_tf.benchmark --smoke`: runs end to end and writes every measurement as JSON."""

import contextlib
import io
import json

import pytest

from sfid_tf import benchmark

KEYS = ("network_only", "end_to_end", "sfid_only", "fd_sqrtm", "fd_fast", "precision_recall", "peak_memory_evaluate", "threads")


@pytest.fixture(scope="module")
def smoke(tmp_path_factory, small_graph_path):
    out = tmp_path_factory.mktemp("benchmark") / "bench.json"
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = benchmark.main(["--smoke", "--graph", str(small_graph_path), "--json", str(out)])
    return code, json.loads(out.read_text()), stdout.getvalue()


def positive(spread: dict) -> bool:
    return 0 < spread["min"] <= spread["median"] <= spread["max"]


def test_smoke_writes_all_keys_with_positive_numbers(smoke):
    code, result, _ = smoke
    assert code == 0
    assert set(KEYS) <= result.keys()
    for key in ("network_only", "end_to_end", "sfid_only"):
        assert positive(result[key]["images_per_s"])
    assert result["end_to_end"]["ratio_to_network_only"] > 0
    assert result["end_to_end"]["same_features_as_network_only"] is True
    assert result["sfid_only"]["speedup_over_full"] > 0
    assert result["fd_sqrtm"].keys() == result["fd_fast"].keys() and result["fd_fast"]
    for dim, fast in result["fd_fast"].items():
        assert positive(fast["seconds"]) and positive(result["fd_sqrtm"][dim]["seconds"])
        assert fast["speedup"] > 0 and fast["relative_difference"] < 1e-6
    assert result["precision_recall"]["seconds"] > 0 and result["precision_recall"]["peak_rss_mb"] > 0
    runs = result["peak_memory_evaluate"]["runs"]
    assert len(runs) == 2 and all(r["peak_rss_mb"] > 0 and r["feature_arrays_mb"] > 0 for r in runs)
    assert result["threads"]["usable_cpus"] >= 1
    assert result["config"]["smoke"] is True


def test_smoke_prints_only_the_table_on_stdout(smoke):
    _, result, stdout = smoke
    assert stdout == benchmark.format_table(result) + "\n"
    table = stdout.splitlines()
    assert table[1].split()[:2] == ["measure", "median"]
    assert any(line.startswith("fd_fast 128 dims") for line in table)
    assert "SMOKE" in table[0]


def test_bad_options_are_refused(capsys):
    assert benchmark.main(["--smoke", "--batch-size", "0"]) == 2
    assert "--batch-size must be at least 1" in capsys.readouterr().err
    assert benchmark.main(["--smoke", "--graph", "/nonexistent/graph.pb"]) == 2
    assert "graph file not found" in capsys.readouterr().err
