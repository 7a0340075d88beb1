"""The catalog of published ADM batches (reference_stats/batches.json) and sfid_tf.catalog."""

from __future__ import annotations

import copy
import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from sfid_tf import catalog as catalog_module
from sfid_tf.catalog import (
    MANIFEST_ENV,
    MIRROR_ENV,
    BatchEntry,
    Catalog,
    cached_path,
    fetch_entry,
    format_listing,
    load_catalog,
    tolerance,
)
from sfid_tf.errors import SfidError

try:
    from local_http_server import FileServer
except ImportError:  # tests/ became a package
    from tests.local_http_server import FileServer

BASE = "https://openaipublic.blob.core.windows.net/diffusion/jul-2021/ref_batches/"
PUBLISHED_NUMBERS = Path(__file__).resolve().parents[2] / "shared" / "published-numbers.md"
PACKAGED_JSON = Path(__file__).resolve().parents[1] / "reference_stats" / "batches.json"

REFERENCES = {
    "imagenet64": "imagenet/64/VIRTUAL_imagenet64_labeled.npz",
    "imagenet128": "imagenet/128/VIRTUAL_imagenet128_labeled.npz",
    "imagenet256": "imagenet/256/VIRTUAL_imagenet256_labeled.npz",
    "imagenet512": "imagenet/512/VIRTUAL_imagenet512.npz",
    "lsun_bedroom": "lsun/bedroom/VIRTUAL_lsun_bedroom256.npz",
    "lsun_cat": "lsun/cat/VIRTUAL_lsun_cat256.npz",
    "lsun_horse": "lsun/horse/VIRTUAL_lsun_horse256.npz",
}
# Rows whose file has been confirmed by an evaluator run (published-numbers.md, notes on table 1.1).
CONFIRMED = {"imagenet64/adm", "imagenet128/adm-g", "imagenet256/adm-g-u", "imagenet256/adm", "imagenet256/adm-g"}


@pytest.fixture(autouse=True)
def _no_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MANIFEST_ENV, raising=False)
    monkeypatch.delenv(MIRROR_ENV, raising=False)
    monkeypatch.delenv("SFID_TF_OFFLINE", raising=False)  # conftest turns it on for the other tests


@pytest.fixture(scope="module")
def cat() -> Catalog:
    return load_catalog()


def _write(tmp_path: Path, document: dict, name: str = "manifest.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(document))
    return path


def _packaged_document() -> dict:
    return json.loads(PACKAGED_JSON.read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- structure


def test_packaged_catalog_counts(cat: Catalog) -> None:
    assert cat.base_url == cat.published_base_url == BASE
    assert len(cat.references) == 7
    assert len(cat.samples) == 27
    assert len(cat.exact_runs) == 4
    assert cat.origin.endswith("batches.json")


def test_references_are_the_published_ones(cat: Catalog) -> None:
    assert {entry.name: entry.path for entry in cat.references} == REFERENCES
    for entry in cat.references:
        assert entry.role == "reference"
        assert entry.reference is None and entry.model is None
        assert entry.paper == {} and entry.confirmed
        assert entry.images == (1000 if entry.name == "imagenet512" else 10_000)


def test_every_sample_has_an_existing_reference(cat: Catalog) -> None:
    reference_names = {entry.name for entry in cat.references}
    for entry in cat.samples:
        assert entry.role == "sample"
        assert entry.reference in reference_names
        assert entry.name.startswith(entry.reference + "/")
        reference = cat.get(entry.reference)
        assert (reference.dataset, reference.resolution) == (entry.dataset, entry.resolution)
        assert entry.path.rsplit("/", 1)[0] == reference.path.rsplit("/", 1)[0]
        assert entry.images == 50_000
        assert entry.model
        assert entry.source and entry.source.startswith("arXiv:2105.05233v4 Table")


def test_urls_are_base_plus_path(cat: Catalog) -> None:
    for entry in cat.entries:
        assert entry.url == BASE + entry.path
        assert entry.filename == entry.path.rsplit("/", 1)[1]
        assert entry.filename.endswith(".npz")
    assert cat.graph is not None
    assert cat.graph.url == BASE + "classify_image_graph_def.pb"
    document = _packaged_document()
    for item in document["references"] + document["samples"]:
        assert item["url"] == document["base_url"] + item["path"]


def test_names_are_unique_and_well_formed(cat: Catalog) -> None:
    names = cat.names()
    assert len(names) == len(set(names)) == 34
    assert len({entry.path for entry in cat.entries}) == 34
    for name in names:
        assert re.fullmatch(r"[a-z0-9_]+(/[a-z0-9-]+)?", name), name


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("imagenet256/adm-g-u", "imagenet256/adm-g-u"),
        ("imagenet256/adm-g", "imagenet256/adm-g"),
        ("imagenet128/adm-g-25step", "imagenet128/adm-g-25step"),
        ("lsun_bedroom/ddpm", "lsun_bedroom/ddpm"),
        ("imagenet512", "imagenet512"),
        ("ImageNet256/ADM-G-U", "imagenet256/adm-g-u"),
        ("admnet_guided_upsampled_imagenet256.npz", "imagenet256/adm-g-u"),
        ("admnet_guided_upsampled_imagenet256", "imagenet256/adm-g-u"),
        ("VIRTUAL_imagenet256_labeled.npz", "imagenet256"),
    ],
)
def test_names_resolve(cat: Catalog, query: str, expected: str) -> None:
    assert cat.get(query).name == expected


def test_every_name_resolves_to_itself(cat: Catalog) -> None:
    for name in cat.names():
        assert cat.get(name).name == name


def test_unknown_name_lists_closest(cat: Catalog) -> None:
    with pytest.raises(SfidError) as info:
        cat.get("imagenet256/adm-gu")
    message = str(info.value)
    assert "\n" not in message
    assert "'imagenet256/adm-gu'" in message
    assert "imagenet256/adm-g-u" in message
    assert "--list" in message


def test_unknown_name_without_close_match(cat: Catalog) -> None:
    with pytest.raises(SfidError, match=r"unknown batch 'zzzz'.*--list.*34 known"):
        cat.get("zzzz")


def test_bare_model_slug_suggests_full_names(cat: Catalog) -> None:
    with pytest.raises(SfidError, match=r"closest names: .*/adm-g-25step"):
        cat.get("adm-g-25step")


def test_samples_for(cat: Catalog) -> None:
    assert [e.name for e in cat.samples_for("lsun_cat")] == ["lsun_cat/adm-dropout", "lsun_cat/stylegan2"]
    assert {e.name for e in cat.samples_for("imagenet256")} == {
        f"imagenet256/{slug}" for slug in ("adm", "adm-g", "adm-g-25step", "adm-g-u", "adm-u", "biggan-deep")
    }
    assert sum(len(cat.samples_for(r.name)) for r in cat.references) == len(cat.samples)
    with pytest.raises(SfidError, match="is a sample batch, not a reference"):
        cat.samples_for("imagenet256/adm")
    with pytest.raises(SfidError, match="closest names"):
        cat.samples_for("imagenet257")


# --------------------------------------------------------------------------- numbers


@pytest.mark.parametrize(
    ("name", "fid", "sfid", "precision", "recall", "inception_score"),
    [
        ("imagenet256/adm-g-u", 3.94, 6.14, 0.83, 0.53, 215.84),
        ("lsun_bedroom/ddpm", 4.89, 9.07, 0.60, 0.45, None),
        ("imagenet128/adm-g", 2.97, 5.09, 0.78, 0.59, None),
        ("imagenet512/adm", 23.24, 10.19, 0.73, 0.60, 58.06),
        ("imagenet64/biggan-deep", 4.06, 3.96, 0.79, 0.48, None),
        ("lsun_horse/adm", 2.95, 5.94, 0.69, 0.55, None),
    ],
)
def test_spot_check_paper_numbers(cat: Catalog, name, fid, sfid, precision, recall, inception_score) -> None:
    paper = cat.get(name).paper
    assert paper == {"fid": fid, "sfid": sfid, "precision": precision, "recall": recall,
                     "inception_score": inception_score}


def test_paper_numbers_keep_their_printed_digits(cat: Catalog) -> None:
    entry = cat.get("lsun_bedroom/adm-dropout")
    assert entry.paper_text["fid"] == "1.90"
    assert entry.tolerance("fid") == pytest.approx(0.005)
    assert cat.get("imagenet256/adm-g").paper_text["inception_score"] == "186.70"
    assert cat.get("imagenet256/adm").tolerance("inception_score") == pytest.approx(0.005)  # 100.98
    assert cat.get("imagenet128/adm").tolerance("inception_score") is None  # no IS in the paper
    assert cat.get("imagenet256/adm").tolerance("fid") == pytest.approx(0.005)
    assert cat.get("lsun_cat/stylegan2").tolerance("inception_score") is None


def test_numbers_from_other_sources_are_kept_apart(cat: Catalog) -> None:
    for name, value, source in [
        ("imagenet256/biggan-deep", "171.4", "DiT"),
        ("imagenet512/biggan-deep", "177.90", "DiT"),
        ("imagenet128/adm-g", "141.4766845703125", "lavinal712"),
    ]:
        entry = cat.get(name)
        assert entry.paper["inception_score"] is None
        found = [o for o in entry.other_numbers if o["values"].get("inception_score") == value]
        assert len(found) == 1 and source in found[0]["source"]
    alternatives = cat.get("imagenet512/adm-g-u").other_numbers
    assert {o["values"]["fid"] for o in alternatives} == {"5.96", "4.11"}


def test_confirmed_flags(cat: Catalog) -> None:
    assert {e.name for e in cat.samples if e.confirmed} == CONFIRMED
    for entry in cat.samples:
        assert (entry.confirmed_by is not None) == entry.confirmed


def test_no_invented_sizes_or_checksums(cat: Catalog) -> None:
    # No source gives the size or sha256 of any published batch: all must stay unknown.
    for entry in cat.entries:
        assert entry.size is None, entry.name
        assert entry.sha256 is None, entry.name
    for item in (lambda d: d["references"] + d["samples"])(_packaged_document()):
        assert item["size"] is None and item["sha256"] is None
    graph = cat.graph
    assert graph is not None
    assert graph.sha256 is None
    assert (graph.size, graph.md5) == (95_673_916, "e6bb154e85f5d4331c22abcddb5dcf31")
    assert graph.confirmed is False and "third party" in (graph.source or "")
    assert graph.tgz_url == "http://download.tensorflow.org/models/image/imagenet/inception-2015-12-05.tgz"


def test_exact_runs(cat: Catalog) -> None:
    runs = {(r.sample, r.reference): r for r in cat.exact_runs}
    readme = runs[("imagenet256/adm-g-u", "imagenet256")]
    assert readme.values == {"inception_score": 215.8370361328125, "fid": 3.9425574129223264,
                             "sfid": 6.140433703346162, "precision": 0.8265, "recall": 0.5309}
    assert readme.tolerance("precision") == pytest.approx(0.00005)
    assert runs[("imagenet64/adm", "imagenet64")].values["sfid"] is None
    self_run = runs[("imagenet256", "imagenet256")]
    assert self_run.values["fid"] == -3.979039320256561e-13
    assert self_run.values["sfid"] == -3.865352482534945e-12
    assert self_run.values["inception_score"] == 338.0111999511719
    assert cat.exact_runs_for("imagenet128/adm-g")[0].values["precision"] == 0.78138
    # The paper's rounded numbers agree with the exact runs within their printed precision.
    for run in cat.exact_runs:
        entry = cat.get(run.sample)
        for metric, value in run.values.items():
            if entry.role == "sample" and value is not None and entry.paper.get(metric) is not None:
                assert abs(value - entry.paper[metric]) <= entry.tolerance(metric) + 1e-12, (run.sample, metric)


# --------------------------------------------------------------------------- against published-numbers.md


def _markdown_tables(text: str) -> list[list[list[str]]]:
    """Every pipe table of a markdown text, as rows of cells (the separator row dropped)."""
    tables: list[list[list[str]]] = []
    current: list[list[str]] = []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            if not all(re.fullmatch(r":?-+:?", cell) for cell in cells):
                current.append(cells)
        elif current:
            tables.append(current)
            current = []
    return tables


def _table_with(text: str, first_header: str) -> list[dict[str, str]]:
    for table in _markdown_tables(text):
        if table[0][0] == first_header:
            return [dict(zip(table[0], row)) for row in table[1:]]
    raise AssertionError(f"no table starting with {first_header!r} in {PUBLISHED_NUMBERS}")


def _number(cell: str) -> str | None:
    """The cell as printed when it is a plain number; None for '–' or any annotated value."""
    cell = cell.replace("\u2212", "-")
    return cell if re.fullmatch(r"-?\d+(\.\d+)?(e-?\d+)?", cell) else None


@pytest.mark.skipif(not PUBLISHED_NUMBERS.is_file(), reason="shared/published-numbers.md is not beside the repo")
def test_every_row_of_published_numbers_matches_the_catalog(cat: Catalog) -> None:
    rows = _table_with(PUBLISHED_NUMBERS.read_text(encoding="utf-8"), "Dataset")
    assert len(rows) == len(cat.samples) == 27
    by_path = {entry.path: entry for entry in cat.samples}
    for row in rows:
        entry = by_path[row["Sample-batch file (`<path>`)"].strip("`")]
        where = entry.name
        assert entry.dataset == row["Dataset"], where
        assert entry.resolution == int(row["Res"]), where
        assert entry.model == row["Model (paper row)"].replace("\\*", "*"), where
        for column, metric in [("FID", "fid"), ("sFID", "sfid"), ("Prec", "precision"), ("Rec", "recall")]:
            assert entry.paper_text[metric] == row[column], (where, metric)
            assert entry.paper[metric] == float(row[column]), (where, metric)
        # IS: only a plain number in the IS column is the paper's; annotated ones come from elsewhere.
        assert entry.paper_text["inception_score"] == _number(row["IS"]), where
        annotated = re.match(r"\(?(\d+\.\d+)", row["IS"])
        if annotated and _number(row["IS"]) is None:
            printed = annotated.group(1)
            others = [o["values"]["inception_score"] for o in entry.other_numbers
                      if o["values"].get("inception_score") is not None]
            assert any(abs(float(v) - float(printed)) <= tolerance(printed) for v in others), where
        expected_table = "Tables 5 and 6" if "T5+T6" in row["Source"] else (
            "Table 6" if "P4 T6" in row["Source"] else "Table 5")
        assert entry.source == f"arXiv:2105.05233v4 {expected_table}", where


@pytest.mark.skipif(not PUBLISHED_NUMBERS.is_file(), reason="shared/published-numbers.md is not beside the repo")
def test_exact_runs_match_published_numbers(cat: Catalog) -> None:
    rows = _table_with(PUBLISHED_NUMBERS.read_text(encoding="utf-8"), "Sample batch vs reference")
    assert len(rows) == len(cat.exact_runs)
    for row, run in zip(rows, cat.exact_runs):
        sample_file, _, reference_file = row["Sample batch vs reference"].partition(" vs ")
        sample = cat.get(sample_file)
        reference = cat.get(reference_file) if reference_file != "itself" else sample
        assert (run.sample, run.reference) == (sample.name, reference.name)
        for column, metric in [("IS", "inception_score"), ("FID", "fid"), ("sFID", "sfid"),
                               ("Precision", "precision"), ("Recall", "recall")]:
            assert run.values_text[metric] == _number(row[column]), (run.sample, metric)
        assert run.source.split("@")[0] in row["Source"]


# --------------------------------------------------------------------------- overrides


def _small_manifest() -> dict:
    document = _packaged_document()
    document["references"] = [r for r in document["references"] if r["name"] == "imagenet64"]
    document["samples"] = [s for s in document["samples"] if s["reference"] == "imagenet64"]
    document["exact_runs"] = [r for r in document["exact_runs"] if r["reference"] == "imagenet64"]
    return document


def test_manifest_env_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path, _small_manifest())
    monkeypatch.setenv(MANIFEST_ENV, str(path))
    cat = load_catalog()
    assert cat.origin == str(path)
    assert cat.names() == ["imagenet64", "imagenet64/adm", "imagenet64/iddpm", "imagenet64/biggan-deep"]
    other = _small_manifest()
    other["samples"] = other["samples"][:1]
    explicit = _write(tmp_path, other, "explicit.json")
    assert len(load_catalog(explicit).samples) == 1  # an explicit path beats the environment


def test_minimal_manifest_without_graph_or_runs(tmp_path: Path) -> None:
    document = {
        "base_url": "http://127.0.0.1:1/batches",
        "references": [{"name": "toy", "dataset": "Toy", "resolution": 8, "path": "toy/ref.npz"}],
        "samples": [{"name": "toy/model", "dataset": "Toy", "resolution": 8, "path": "toy/model.npz",
                     "reference": "toy", "paper": {"fid": "1.5"}, "size": 123,
                     "sha256": "AB" * 32}],
    }
    cat = load_catalog(_write(tmp_path, document))
    assert cat.graph is None and cat.exact_runs == ()
    sample = cat.get("toy/model")
    assert sample.url == "http://127.0.0.1:1/batches/toy/model.npz"
    assert sample.paper == {"fid": 1.5} and sample.tolerance("fid") == pytest.approx(0.05)
    assert sample.size == 123 and sample.sha256 == "ab" * 32
    assert sample.confirmed is False and sample.filename == "model.npz"


@pytest.mark.parametrize("mirror", ["http://127.0.0.1:8000/adm", "http://127.0.0.1:8000/adm/"])
def test_mirror_env_override(monkeypatch: pytest.MonkeyPatch, mirror: str) -> None:
    monkeypatch.setenv(MIRROR_ENV, mirror)
    cat = load_catalog()
    assert cat.base_url == "http://127.0.0.1:8000/adm/"
    assert cat.published_base_url == BASE
    for entry in cat.entries:
        assert entry.url == "http://127.0.0.1:8000/adm/" + entry.path
    assert cat.graph is not None and cat.graph.url == "http://127.0.0.1:8000/adm/classify_image_graph_def.pb"
    assert BASE not in format_listing(cat)


def test_bad_mirror_is_clear(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MIRROR_ENV, "not a url")
    with pytest.raises(SfidError, match=r"\$SFID_TF_MIRROR: must be an http\(s\) URL"):
        load_catalog()


def _break(document: dict, how: str) -> dict:
    document = copy.deepcopy(document)
    sample = document["samples"][0]
    if how == "not an object":
        return ["nope"]  # type: ignore[return-value]
    if how == "schema version":
        document["schema_version"] = 99
    elif how == "no base_url":
        del document["base_url"]
    elif how == "samples not a list":
        document["samples"] = {}
    elif how == "missing name":
        del sample["name"]
    elif how == "duplicate name":
        sample["name"] = document["references"][0]["name"]
    elif how == "unknown reference":
        sample["reference"] = "imagenet9000"
    elif how == "absolute path":
        sample["path"] = "/etc/passwd"
    elif how == "dotdot path":
        sample["path"] = "../x.npz"
    elif how == "url mismatch":
        sample["url"] = "https://example.org/x.npz"
    elif how == "filename mismatch":
        sample["filename"] = "other.npz"
    elif how == "bad sha256":
        sample["sha256"] = "1234"
    elif how == "negative size":
        sample["size"] = -1
    elif how == "paper not a number":
        sample["paper"]["fid"] = "about 4"
    elif how == "unknown metric":
        sample["paper"]["kid"] = "0.1"
    elif how == "bad resolution":
        sample["resolution"] = "256"
    elif how == "confirmed not bool":
        sample["confirmed"] = "yes"
    elif how == "wrong role":
        sample["role"] = "reference"
    elif how == "exact run unknown batch":
        document["exact_runs"][0]["sample"] = "nope"
    return document


BREAKAGES = ["not an object", "schema version", "no base_url", "samples not a list", "missing name",
             "duplicate name", "unknown reference", "absolute path", "dotdot path", "url mismatch",
             "filename mismatch", "bad sha256", "negative size", "paper not a number", "unknown metric",
             "bad resolution", "confirmed not bool", "wrong role", "exact run unknown batch"]


@pytest.mark.parametrize("how", BREAKAGES)
def test_broken_manifest_is_a_clear_error(tmp_path: Path, how: str) -> None:
    path = _write(tmp_path, _break(_packaged_document(), how))
    with pytest.raises(SfidError) as info:
        load_catalog(path)
    message = str(info.value)
    assert message.startswith(f"batch manifest {path}")
    assert "\n" not in message


def test_unreadable_or_invalid_manifest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MANIFEST_ENV, str(tmp_path / "missing.json"))
    with pytest.raises(SfidError, match=r"cannot read batch manifest .*missing\.json \(from \$SFID_TF_MANIFEST\)"):
        load_catalog()
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(SfidError, match="is not valid JSON"):
        load_catalog(bad)


# --------------------------------------------------------------------------- tolerance


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (3.94, 0.005), ("3.94", 0.005), (215.84, 0.005), (0.8265, 0.00005), ("0.8265", 0.00005),
        (171.4, 0.05), ("1.90", 0.005), (1.90, 0.05), ("10.94", 0.005), ("0.60", 0.005),
        ("215.8370361328125", 5e-14), ("-3.979039320256561e-13", 5e-29), (12, 0.5), ("  6.14 ", 0.005),
    ],
)
def test_tolerance(value, expected: float) -> None:
    assert tolerance(value) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("value", ["abc", "nan", "inf", float("nan")])
def test_tolerance_rejects_non_numbers(value) -> None:
    with pytest.raises(ValueError):
        tolerance(value)


def test_tolerance_rejects_other_types() -> None:
    with pytest.raises(TypeError):
        tolerance(None)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        tolerance(True)


def test_every_paper_number_has_a_tolerance(cat: Catalog) -> None:
    for entry in cat.samples:
        for metric in ("fid", "sfid", "precision", "recall"):
            assert entry.tolerance(metric) == pytest.approx(0.005), (entry.name, metric)


# --------------------------------------------------------------------------- listing


def test_format_listing(cat: Catalog) -> None:
    text = format_listing(cat)
    for name in cat.names():
        assert re.search(rf"(^|\s){re.escape(name)}(\s|$)", text, re.M), name
    lines = text.splitlines()
    line = next(l for l in lines if l.strip().startswith("imagenet256/adm-g-u "))
    assert "6.14" in line and "3.94" in line and "unknown" in line and "ADM-G + ADM-U" in line
    unconfirmed = next(l for l in lines if l.strip().startswith("lsun_bedroom/ddpm"))
    assert "lsun_bedroom/ddpm *" in unconfirmed
    assert "*" not in line.split()[1]
    # Grouped: each sample follows its reference, before the next reference.
    order = [l.split()[0] for l in lines if l.strip() and l.split()[0] in set(cat.names())]
    assert order.index("lsun_cat") < order.index("lsun_cat/stylegan2") < order.index("lsun_horse")
    assert order[0] == cat.references[0].name


def test_listing_shows_known_sizes(tmp_path: Path) -> None:
    document = _small_manifest()
    document["samples"][0]["size"] = 1_234_567_890
    text = format_listing(load_catalog(_write(tmp_path, document)))
    assert "1.2 GB" in text


# --------------------------------------------------------------------------- cache and download


def test_cached_path(cat: Catalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SFID_TF_CACHE", str(tmp_path / "cache"))
    entry = cat.get("imagenet256/adm-g-u")
    assert cached_path(entry) == tmp_path / "cache" / "batches" / "imagenet" / "256" / entry.filename


def test_fetch_entry_through_a_mirror(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = bytes(range(256)) * 40
    monkeypatch.setenv("SFID_TF_CACHE", str(tmp_path / "cache"))
    with FileServer(tmp_path / "mirror") as server:
        target = tmp_path / "mirror" / "imagenet" / "64" / "admnet_imagenet64.npz"
        target.parent.mkdir(parents=True)
        target.write_bytes(data)
        monkeypatch.setenv(MIRROR_ENV, server.url(""))
        entry = load_catalog().get("imagenet64/adm")
        path = fetch_entry(entry)
        assert path == cached_path(entry) and path.read_bytes() == data
        assert server.count("imagenet/64/admnet_imagenet64.npz") == 1
        assert fetch_entry(entry, offline=True) == path  # cached: no request
        assert server.count() == 1
        missing = load_catalog().get("imagenet64/iddpm")
        with pytest.raises(SfidError, match="offline mode is on"):
            fetch_entry(missing, offline=True)
        with pytest.raises(SfidError, match="not found"):
            fetch_entry(missing)


def test_fetch_entry_verifies_known_size_and_sha256(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = b"x" * 1000
    monkeypatch.setenv("SFID_TF_CACHE", str(tmp_path / "cache"))
    with FileServer(tmp_path / "srv") as server:
        (tmp_path / "srv" / "toy").mkdir(parents=True)
        (tmp_path / "srv" / "toy" / "model.npz").write_bytes(data)
        document = {
            "base_url": server.url(""),
            "references": [{"name": "toy", "dataset": "Toy", "resolution": 8, "path": "toy/ref.npz"}],
            "samples": [{"name": "toy/model", "dataset": "Toy", "resolution": 8, "path": "toy/model.npz",
                         "reference": "toy", "size": 1000, "sha256": hashlib.sha256(b"y" * 1000).hexdigest()}],
        }
        entry = load_catalog(_write(tmp_path, document)).get("toy/model")
        with pytest.raises(SfidError, match="sha256 mismatch"):
            fetch_entry(entry)
        assert not cached_path(entry).exists()


# --------------------------------------------------------------------------- packaging


def test_import_needs_only_the_standard_library() -> None:
    code = ("import sys; import sfid_tf.catalog as c; c.load_catalog(); "
            "print(sorted(m for m in ('numpy', 'tensorflow', 'requests', 'tqdm', 'scipy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_packaged_json_is_the_repository_file() -> None:
    from importlib import resources

    packaged = resources.files("sfid_tf.reference_stats").joinpath("batches.json").read_text(encoding="utf-8")
    assert packaged == PACKAGED_JSON.read_text(encoding="utf-8")
    assert catalog_module.load_catalog().origin.endswith("batches.json")


def test_entries_are_immutable(cat: Catalog) -> None:
    entry: BatchEntry = cat.get("imagenet64")
    with pytest.raises(AttributeError):
        entry.url = "x"  # type: ignore[misc]
