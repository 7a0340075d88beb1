"""The catalog of published ADM batches (reference and sample ``.npz`` files) and the paper's numbers.

The data live in ``reference_stats/batches.json`` (schema: ``reference_stats/README.md``), shipped
inside the package as ``sfid_tf.reference_stats``. Two environment variables redirect it:

* ``SFID_TF_MANIFEST``: path of another JSON file of the same schema, used instead of the packaged one;
* ``SFID_TF_MIRROR``: a base URL that replaces ``base_url`` for every entry (URL = mirror + path).

Paper numbers are stored as strings exactly as printed, so :func:`tolerance` knows their precision;
:class:`BatchEntry` exposes them as floats (``paper``) and as the printed text (``paper_text``).

Importing this module needs only the standard library (no numpy, TensorFlow or requests).
"""

from __future__ import annotations

import difflib
import json
import math
import os
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any

from sfid_tf.errors import SfidError

MANIFEST_ENV = "SFID_TF_MANIFEST"
PACKAGE = "sfid_tf.reference_stats"
MANIFEST_NAME = "batches.json"
MIRROR_ENV = "SFID_TF_MIRROR"  # a base URL that replaces the ADM authors' for the graph and every batch
SCHEMA_VERSION = 1

ROLES = ("reference", "sample")
METRICS = ("fid", "sfid", "precision", "recall", "inception_score")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_MD5 = re.compile(r"[0-9a-f]{32}")
_MAX_SUGGESTIONS = 5


# --------------------------------------------------------------------------- data classes


@dataclass(frozen=True)
class BatchEntry:
    """One published ``.npz`` batch: a reference (dataset) batch or a model's sample batch."""

    name: str
    role: str
    dataset: str
    resolution: int
    model: str | None
    filename: str
    path: str
    url: str
    size: int | None
    sha256: str | None
    reference: str | None
    paper: dict[str, float | None]
    source: str | None
    confirmed: bool
    images: int | None
    notes: str | None
    paper_text: dict[str, str | None] = field(default_factory=dict)
    confirmed_by: str | None = None
    other_numbers: tuple[dict[str, Any], ...] = ()

    @property
    def stem(self) -> str:
        """The file name without ``.npz``."""
        return PurePosixPath(self.filename).stem

    def tolerance(self, metric: str) -> float | None:
        """Half a unit of the last printed digit of the paper's ``metric``; None when unpublished."""
        text = self.paper_text.get(metric)
        return None if text is None else tolerance(text)


@dataclass(frozen=True)
class GraphInfo:
    """The Inception graph file: ADM mirror URL, Google's archive, and the third-party size/md5."""

    filename: str
    path: str
    url: str
    tgz_url: str | None
    tgz_member: str | None
    size: int | None
    md5: str | None
    sha256: str | None
    confirmed: bool
    source: str | None


@dataclass(frozen=True)
class ExactRun:
    """A full-precision output of the ADM evaluator on published batches (regression anchor)."""

    sample: str
    reference: str
    label: str | None
    values: dict[str, float | None]
    values_text: dict[str, str | None]
    source: str
    notes: str | None

    def tolerance(self, metric: str) -> float | None:
        """Half a unit of the last printed digit of ``metric``; None when not given."""
        text = self.values_text.get(metric)
        return None if text is None else tolerance(text)


@dataclass(frozen=True)
class Catalog:
    """Every published batch, the Inception graph entry and the exact evaluator runs."""

    base_url: str
    published_base_url: str
    graph: GraphInfo | None
    references: tuple[BatchEntry, ...]
    samples: tuple[BatchEntry, ...]
    exact_runs: tuple[ExactRun, ...]
    origin: str
    sources: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def entries(self) -> tuple[BatchEntry, ...]:
        """References first, then samples, in file order."""
        return self.references + self.samples

    def names(self) -> list[str]:
        """All short names, references first."""
        return [entry.name for entry in self.entries]

    def get(self, name: str) -> BatchEntry:
        """The entry with this short name (or, failing that, this file name or file stem).

        Raises SfidError naming the closest known names when nothing matches.
        """
        key = name.strip()
        for entry in self.entries:
            if entry.name == key:
                return entry
        lowered = key.lower()
        for attribute in ("name", "filename", "stem"):
            found = [e for e in self.entries if getattr(e, attribute).lower() == lowered]
            if len(found) == 1:
                return found[0]
        raise SfidError(self._unknown_message(key))

    def samples_for(self, reference_name: str) -> list[BatchEntry]:
        """The sample batches whose reference is ``reference_name`` (which must be a reference)."""
        reference = self.get(reference_name)
        if reference.role != "reference":
            raise SfidError(f"{reference.name} is a sample batch, not a reference; "
                            f"its reference is {reference.reference}")
        return [entry for entry in self.samples if entry.reference == reference.name]

    def exact_runs_for(self, sample_name: str) -> list[ExactRun]:
        """The exact evaluator runs recorded for this sample (or reference) batch."""
        entry = self.get(sample_name)
        return [run for run in self.exact_runs if run.sample == entry.name]

    def _unknown_message(self, name: str) -> str:
        names = self.names()
        lowered = {n.lower(): n for n in names}
        close = difflib.get_close_matches(name.lower(), list(lowered), n=_MAX_SUGGESTIONS, cutoff=0.5)
        if not close:  # a bare model slug ("adm-g") or dataset: offer the names containing it
            close = [n for n in lowered if name.lower() and name.lower() in n][:_MAX_SUGGESTIONS]
        hint = "run `python -m sfid_tf.evaluate --list` to see all of them"
        if close:
            return (f"unknown batch {name!r}; closest names: " + ", ".join(lowered[c] for c in close)
                    + f" ({hint})")
        return f"unknown batch {name!r}; {hint} ({len(names)} known)"


# --------------------------------------------------------------------------- loading


def load_catalog(path: str | Path | None = None) -> Catalog:
    """Read and check a catalog: ``path``, else ``$SFID_TF_MANIFEST``, else the packaged JSON.

    ``$SFID_TF_MIRROR``, when set, replaces the base URL of every entry (and of the graph).
    """
    if path is None and os.environ.get(MANIFEST_ENV):
        path = os.environ[MANIFEST_ENV]
    if path is not None:
        origin = str(path)
        try:
            text = Path(path).expanduser().read_text(encoding="utf-8")
        except OSError as e:
            source = f" (from ${MANIFEST_ENV})" if os.environ.get(MANIFEST_ENV) == str(path) else ""
            raise SfidError(f"cannot read batch manifest {path}{source}: {e.strerror or e}") from None
    else:
        try:
            resource = resources.files(PACKAGE).joinpath(MANIFEST_NAME)
        except ModuleNotFoundError:  # a source checkout used without installing: read it in place
            resource = Path(__file__).resolve().parents[1] / "reference_stats" / MANIFEST_NAME
        origin = str(resource)
        try:
            text = resource.read_text(encoding="utf-8")
        except OSError as e:
            raise SfidError(f"the packaged batch manifest is missing ({origin}: {e.strerror or e}); "
                            "reinstall sfid_tf") from None
    try:
        document = json.loads(text)
    except ValueError as e:
        raise SfidError(f"batch manifest {origin} is not valid JSON: {e}") from None
    mirror = os.environ.get(MIRROR_ENV, "").strip() or None
    return _Parser(origin).catalog(document, mirror)


class _Parser:
    """Checks a manifest document field by field; every problem is a one-line SfidError."""

    def __init__(self, origin: str):
        self.origin = origin

    def fail(self, where: str, problem: str) -> SfidError:
        return SfidError(f"batch manifest {self.origin}: {where}: {problem}")

    def catalog(self, doc: Any, mirror: str | None) -> Catalog:
        if not isinstance(doc, dict):
            raise self.fail("top level", "must be a JSON object")
        version = doc.get("schema_version", SCHEMA_VERSION)
        if version != SCHEMA_VERSION:
            raise self.fail("schema_version", f"is {version!r}; this sfid_tf reads version {SCHEMA_VERSION}")
        published = self.base_url(doc.get("base_url"), "base_url")
        base = self.base_url(mirror, f"${MIRROR_ENV}") if mirror else published
        references = self.entries(doc, "references", "reference", published, base)
        samples = self.entries(doc, "samples", "sample", published, base)
        seen: set[str] = set()
        for entry in references + samples:
            if entry.name in seen:
                raise self.fail(entry.name, "name is used twice")
            seen.add(entry.name)
        reference_names = {entry.name for entry in references}
        for entry in samples:
            if entry.reference not in reference_names:
                raise self.fail(entry.name, f"reference {entry.reference!r} is not one of the references")
        runs = self.exact_runs(doc.get("exact_runs", []), seen)
        graph = None if doc.get("graph") is None else self.graph(doc["graph"], published, base)
        sources = doc.get("sources", {})
        notes = doc.get("notes", [])
        if not isinstance(sources, dict) or not all(isinstance(v, str) for v in sources.values()):
            raise self.fail("sources", "must be an object of strings")
        if not isinstance(notes, list) or not all(isinstance(n, str) for n in notes):
            raise self.fail("notes", "must be a list of strings")
        return Catalog(base, published, graph, tuple(references), tuple(samples), tuple(runs),
                       self.origin, dict(sources), tuple(notes))

    def base_url(self, value: Any, where: str) -> str:
        if not isinstance(value, str) or not re.match(r"^https?://\S+$", value):
            raise self.fail(where, f"must be an http(s) URL, got {value!r}")
        return value.rstrip("/") + "/"

    def entries(self, doc: dict, key: str, role: str, published: str, base: str) -> list[BatchEntry]:
        items = doc.get(key)
        if not isinstance(items, list):
            raise self.fail(key, "must be a list")
        return [self.entry(item, f"{key}[{i}]", role, published, base) for i, item in enumerate(items)]

    def entry(self, item: Any, where: str, role: str, published: str, base: str) -> BatchEntry:
        if not isinstance(item, dict):
            raise self.fail(where, "must be an object")
        name = self.string(item, "name", where)
        where = f"{where} ({name})"
        if item.get("role", role) != role:
            raise self.fail(where, f"role must be {role!r}, got {item.get('role')!r}")
        path = self.relative_path(item, where)
        filename = item.get("filename", PurePosixPath(path).name)
        if filename != PurePosixPath(path).name:
            raise self.fail(where, f"filename {filename!r} is not the last part of path {path!r}")
        url = item.get("url")
        if url is not None and url != published + path:
            raise self.fail(where, f"url {url!r} is not base_url + path ({published + path})")
        resolution = item.get("resolution")
        if not _is_int(resolution) or resolution <= 0:
            raise self.fail(where, f"resolution must be a positive integer, got {resolution!r}")
        reference = self.optional_string(item, "reference", where)
        if role == "sample" and reference is None:
            raise self.fail(where, "a sample needs the name of its reference")
        if role == "reference" and reference is not None:
            raise self.fail(where, "a reference batch cannot have a reference")
        paper_text = self.paper(item.get("paper"), where)
        confirmed = item.get("confirmed", False)
        if not isinstance(confirmed, bool):
            raise self.fail(where, f"confirmed must be true or false, got {confirmed!r}")
        other = item.get("other_numbers", [])
        if not isinstance(other, list) or not all(isinstance(o, dict) for o in other):
            raise self.fail(where, "other_numbers must be a list of objects")
        for number in other:
            self.values(number.get("values", {}), f"{where} other_numbers")
        return BatchEntry(
            name=name, role=role, dataset=self.string(item, "dataset", where), resolution=resolution,
            model=self.optional_string(item, "model", where), filename=filename, path=path,
            url=base + path, size=self.size(item.get("size"), where), sha256=self.sha256(item.get("sha256"), where),
            reference=reference, paper={k: _to_float(v) for k, v in paper_text.items()},
            source=self.optional_string(item, "source", where), confirmed=confirmed,
            images=self.count(item.get("images"), where), notes=self.optional_string(item, "notes", where),
            paper_text=paper_text, confirmed_by=self.optional_string(item, "confirmed_by", where),
            other_numbers=tuple(other),
        )

    def graph(self, item: Any, published: str, base: str) -> GraphInfo:
        where = "graph"
        if not isinstance(item, dict):
            raise self.fail(where, "must be an object")
        path = self.relative_path(item, where)
        url = item.get("url")
        if url is not None and url != published + path:
            raise self.fail(where, f"url {url!r} is not base_url + path ({published + path})")
        md5 = item.get("md5")
        if md5 is not None and not (isinstance(md5, str) and _MD5.fullmatch(md5)):
            raise self.fail(where, f"md5 must be 32 lowercase hex digits or null, got {md5!r}")
        confirmed = item.get("confirmed", False)
        if not isinstance(confirmed, bool):
            raise self.fail(where, f"confirmed must be true or false, got {confirmed!r}")
        return GraphInfo(
            filename=item.get("filename", PurePosixPath(path).name), path=path, url=base + path,
            tgz_url=self.optional_string(item, "tgz_url", where),
            tgz_member=self.optional_string(item, "tgz_member", where),
            size=self.size(item.get("size"), where), md5=md5, sha256=self.sha256(item.get("sha256"), where),
            confirmed=confirmed, source=self.optional_string(item, "source", where),
        )

    def exact_runs(self, items: Any, names: set[str]) -> list[ExactRun]:
        if not isinstance(items, list):
            raise self.fail("exact_runs", "must be a list")
        runs = []
        for i, item in enumerate(items):
            where = f"exact_runs[{i}]"
            if not isinstance(item, dict):
                raise self.fail(where, "must be an object")
            sample, reference = self.string(item, "sample", where), self.string(item, "reference", where)
            for name in (sample, reference):
                if name not in names:
                    raise self.fail(where, f"{name!r} is not a batch of this manifest")
            text = self.values({m: item.get(m) for m in METRICS}, where)
            runs.append(ExactRun(sample, reference, self.optional_string(item, "label", where),
                                 {k: _to_float(v) for k, v in text.items()}, text,
                                 self.string(item, "source", where), self.optional_string(item, "notes", where)))
        return runs

    # ----- field checks

    def string(self, item: dict, key: str, where: str) -> str:
        value = item.get(key)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(where, f"{key} must be a non-empty string, got {value!r}")
        return value

    def optional_string(self, item: dict, key: str, where: str) -> str | None:
        value = item.get(key)
        if value is not None and not isinstance(value, str):
            raise self.fail(where, f"{key} must be a string or null, got {value!r}")
        return value

    def relative_path(self, item: dict, where: str) -> str:
        path = self.string(item, "path", where)
        parts = PurePosixPath(path).parts
        if path.startswith("/") or "\\" in path or ".." in parts or "." in parts or not parts:
            raise self.fail(where, f"path {path!r} must be relative, with '/' separators and no '..'")
        return path

    def size(self, value: Any, where: str) -> int | None:
        if value is not None and (not _is_int(value) or value <= 0):
            raise self.fail(where, f"size must be a positive number of bytes or null, got {value!r}")
        return value

    def count(self, value: Any, where: str) -> int | None:
        if value is not None and (not _is_int(value) or value <= 0):
            raise self.fail(where, f"images must be a positive integer or null, got {value!r}")
        return value

    def sha256(self, value: Any, where: str) -> str | None:
        if value is not None and not (isinstance(value, str) and _SHA256.fullmatch(value.lower())):
            raise self.fail(where, f"sha256 must be 64 hex digits or null, got {value!r}")
        return value.lower() if value is not None else None

    def paper(self, value: Any, where: str) -> dict[str, str | None]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(where, "paper must be an object or null")
        return self.values(value, f"{where} paper")

    def values(self, value: Any, where: str) -> dict[str, str | None]:
        """Metric -> printed text; numbers are accepted too (their shortest repr is the text)."""
        if not isinstance(value, dict):
            raise self.fail(where, "must be an object of metric values")
        unknown = sorted(set(value) - set(METRICS))
        if unknown:
            raise self.fail(where, f"unknown metric(s) {', '.join(unknown)}; expected {', '.join(METRICS)}")
        out: dict[str, str | None] = {}
        for metric, number in value.items():
            if number is None:
                out[metric] = None
                continue
            text = repr(number) if _is_number(number) else number
            if not isinstance(text, str) or not _is_finite_text(text):
                raise self.fail(where, f"{metric} must be a finite number (as a string) or null, got {number!r}")
            out[metric] = text.strip()
        return out


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_finite_text(text: str) -> bool:
    try:
        return math.isfinite(float(text)) and Decimal(text.strip()).is_finite()
    except (ValueError, InvalidOperation):
        return False


def _to_float(text: str | None) -> float | None:
    return None if text is None else float(text)


# --------------------------------------------------------------------------- tolerance


def tolerance(value: float | str) -> float:
    """Half a unit of the last printed digit of a number: 3.94 -> 0.005, 0.8265 -> 0.00005.

    Pass the number as printed (a string, e.g. ``entry.paper_text["fid"]``) when it may end in
    zeros: a float cannot tell ``1.90`` from ``1.9``, so a float is read as its shortest repr.
    """
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise TypeError(f"tolerance() needs a number or its printed text, got {value!r}")
    text = value.strip() if isinstance(value, str) else repr(value)
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"not a number: {value!r}") from None
    if not number.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    exponent = number.as_tuple().exponent
    return 0.5 * 10.0 ** exponent


# --------------------------------------------------------------------------- cache and download


def cached_path(entry: BatchEntry) -> Path:
    """Where ``entry`` lives in the download cache: ``<cache>/batches/<path>``."""
    from sfid_tf import download  # imported here so that reading the catalog needs no requests/tqdm

    return download.cache_dir() / "batches" / PurePosixPath(entry.path)


def fetch_entry(entry: BatchEntry, offline: bool | None = None) -> Path:
    """The cached copy of ``entry``, downloaded (resumable, verified when size/sha256 are known) if needed."""
    from sfid_tf import download

    return download.fetch(entry.url, cached_path(entry), size=entry.size, sha256=entry.sha256,
                          offline=offline, desc=entry.filename)


# --------------------------------------------------------------------------- listing


def _format_size(size: int | None) -> str:
    if size is None:
        return "unknown"
    value = float(size)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{size} B"  # unreachable


def format_listing(catalog: Catalog) -> str:
    """The ``--list`` text: every batch grouped under its reference, with the paper's sFID and FID."""
    header = ("name", "role", "data", "model", "size", "sFID", "FID")
    rows: list[tuple[str, ...]] = []
    groups: list[list[tuple[str, ...]]] = []
    for reference in catalog.references:
        group = [_listing_row(reference, "")]
        group += [_listing_row(sample, "  ") for sample in catalog.samples_for(reference.name)]
        groups.append(group)
        rows += group
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    numeric = {5, 6}

    def line(row: tuple[str, ...]) -> str:
        cells = [cell.rjust(w) if i in numeric else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths))]
        return "  ".join(cells).rstrip()

    out = [f"Published ADM batches ({len(catalog.references)} references, {len(catalog.samples)} samples); "
           f"URL = {catalog.base_url}<path>", "", line(header), line(tuple("-" * w for w in widths))]
    for group in groups:
        out += [line(row) for row in group]
    out += ["", "sFID/FID: as printed in the ADM paper (arXiv:2105.05233v4 Tables 5-6); '-': not published.",
            "*: which run the published file holds is not confirmed by an evaluator run."]
    return "\n".join(out) + "\n"


def _listing_row(entry: BatchEntry, indent: str) -> tuple[str, ...]:
    mark = "" if entry.role == "reference" or entry.confirmed else " *"
    data = f"{entry.dataset} {entry.resolution}x{entry.resolution}"
    paper = entry.paper_text
    return (indent + entry.name + mark, entry.role, data, entry.model or "-", _format_size(entry.size),
            paper.get("sfid") or "-", paper.get("fid") or "-")
