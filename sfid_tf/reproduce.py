"""`python -m sfid_tf.reproduce NAME... | --all`: evaluate published sample batches against their
reference batches and compare with the numbers printed in the ADM paper.

Only the metrics the paper reports for a batch are computed. A difference within the paper's
rounding (half a unit of its last printed digit) is a match; `--tolerance` replaces that.
Exit status: 0 when every number matches, 1 when one does not, 2 on errors.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from .catalog import BatchEntry, Catalog, fetch_entry, load_catalog
from .cli import add_common_options, add_fd_method_option, check_output_folder, main_with_errors, start
from .errors import SfidError
from .evaluate import LABELS
from .evaluator import RESULT_KEYS, Evaluator
from .output import write_atomic


@dataclass
class Comparison:
    name: str
    metric: str
    ours: float
    paper: float
    difference: float
    tolerance: float
    ok: bool


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sfid_tf.reproduce",
        description="Reproduce the ADM paper's numbers for published sample batches (see python -m sfid_tf.evaluate --list).",
    )
    parser.add_argument("names", nargs="*", help="sample batch names (e.g. imagenet256/adm-g-u), or a reference name for all its samples")
    parser.add_argument("--all", action="store_true", help="every published sample batch")
    parser.add_argument("--tolerance", type=float, help="largest accepted |ours - paper| (default: the paper's rounding)")
    parser.add_argument("--data-dir", type=Path, help="folder with already downloaded batches (by their URL path or file name)")
    parser.add_argument("--json", metavar="OUT", help="also write the comparison table to this JSON file")
    add_fd_method_option(parser)
    add_common_options(parser)
    return parser


def selected_samples(catalog: Catalog, names: list[str], everything: bool) -> list[BatchEntry]:
    """Sample entries for the names given; a reference name stands for all of its samples."""
    if everything:
        return list(catalog.samples)
    if not names:
        raise SfidError("name the sample batches to reproduce (see python -m sfid_tf.evaluate --list), or pass --all")
    chosen: list[BatchEntry] = []
    for name in names:
        entry = catalog.get(name)
        for sample in catalog.samples_for(entry.name) if entry.role == "reference" else [entry]:
            if sample not in chosen:
                chosen.append(sample)
    return chosen


def local_file(entry: BatchEntry, data_dir: Path | None, offline: bool | None) -> Path:
    """An already downloaded copy in --data-dir, else the cache (downloading it if needed)."""
    if data_dir is not None:
        for candidate in (data_dir / entry.path, data_dir / entry.filename):
            if candidate.is_file():
                return candidate
    return fetch_entry(entry, offline=offline)


def paper_metrics(entry: BatchEntry) -> tuple[str, ...]:
    """The evaluator metrics ('is', 'fid', 'sfid', 'pr') whose numbers the paper prints for this batch."""
    return tuple(m for m, keys in RESULT_KEYS.items() if any(entry.paper.get(k) is not None for k in keys))


def compare(entry: BatchEntry, result: dict, tolerance: float | None) -> list[Comparison]:
    rows = []
    for key in LABELS:
        paper = entry.paper.get(key)
        if paper is None or result.get(key) is None:
            continue
        allowed = tolerance if tolerance is not None else entry.tolerance(key)
        difference = result[key] - paper
        rows.append(Comparison(entry.name, key, result[key], paper, difference, allowed, abs(difference) <= allowed))
    return rows


def format_table(rows: list[Comparison]) -> str:
    header = ("batch", "metric", "ours", "paper", "diff", "tolerance", "")
    cells = [header] + [
        (r.name, LABELS[r.metric], f"{r.ours:.6g}", f"{r.paper:g}", f"{r.difference:+.4g}", f"{r.tolerance:g}", "ok" if r.ok else "MISMATCH")
        for r in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells)


def run(args: argparse.Namespace) -> int:
    start(args)
    if args.tolerance is not None and args.tolerance < 0:
        raise SfidError(f"--tolerance must be >= 0, got {args.tolerance}")
    check_output_folder(args.json, "--json")
    catalog = load_catalog()
    samples = selected_samples(catalog, args.names, args.all)
    offline = args.offline or None
    evaluators: dict[tuple[str, ...], Evaluator] = {}
    rows: list[Comparison] = []
    for entry in samples:
        metrics = paper_metrics(entry)
        if not metrics:
            print(f"sfid_tf: {entry.name}: the paper prints no number for it; skipped", file=sys.stderr)
            continue
        reference = local_file(catalog.get(entry.reference), args.data_dir, offline)
        sample = local_file(entry, args.data_dir, offline)
        if metrics not in evaluators:
            evaluators[metrics] = Evaluator(
                args.graph, batch_size=args.batch_size, metrics=metrics, offline=offline,
                progress=not args.no_progress, fd_method=args.fd_method,
            )
        print(f"sfid_tf: {entry.name} against {entry.reference}", file=sys.stderr)
        rows += compare(entry, evaluators[metrics].evaluate(reference, sample), args.tolerance)
    print(format_table(rows), flush=True)
    if args.json:
        write_atomic(Path(args.json), json.dumps([asdict(r) for r in rows], indent=2) + "\n")
    return 0 if all(r.ok for r in rows) else 1


def main(argv: list[str] | None = None) -> int:
    return main_with_errors(run, build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
