"""Command line: `python -m sfid_tf.evaluate REF SAMPLE` prints IS, FID, sFID, Precision, Recall.

stdout carries the result lines only; progress, warnings and errors go to stderr. Inputs are
checked before TensorFlow is imported, so mistakes are reported at once.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .cli import add_common_options, add_fd_method_option, check_output_folder, main_with_errors, start
from .errors import SfidError
from .evaluator import METRICS, BatchFile, Evaluator, check_inputs, parse_metrics
from .output import write_atomic

LABELS = {
    "inception_score": "Inception Score",
    "fid": "FID",
    "sfid": "sFID",
    "precision": "Precision",
    "recall": "Recall",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sfid_tf.evaluate",
        description="Inception Score, FID, sFID, Precision and Recall of SAMPLE against REF, "
        "exactly as the ADM evaluator (openai/guided-diffusion) computes them.",
    )
    parser.add_argument("reference", nargs="?", help="reference batch: an .npz (images in arr_0, optionally "
                        "mu/sigma/mu_s/sigma_s) or a published reference name such as imagenet256 (see --list)")
    parser.add_argument("sample", nargs="?", help="sample batch: .npz or .npy of uint8 images [N, H, W, 3], or a published sample name")
    parser.add_argument("--list", action="store_true", help="list the published reference and sample batches by name, and exit")
    parser.add_argument("--metrics", default=",".join(METRICS), help="comma-separated subset of is,fid,sfid,pr (default: all)")
    parser.add_argument("--json", metavar="OUT", help="also write the results and their provenance to this JSON file")
    parser.add_argument("--no-cache", action="store_true", help="do not read or write cached reference features")
    add_fd_method_option(parser)
    add_common_options(parser)
    return parser


def result_lines(result: dict) -> list[str]:
    """The stdout lines, in the reference evaluator's order and full float precision."""
    return [f"{label}: {result[key]!r}" for key, label in LABELS.items() if result.get(key) is not None]


def resolve_input(text: str, offline: bool | None) -> Path:
    """An existing file as it is; otherwise a published batch name, downloaded into the cache."""
    path = Path(text).expanduser()
    if path.exists() or any(sep in text for sep in (".npz", ".npy")):
        return path
    from .catalog import fetch_entry, load_catalog

    try:
        entry = load_catalog().get(text)
    except SfidError as error:
        raise SfidError(f"{text} is not a file, nor a published batch name ({error})") from None
    return fetch_entry(entry, offline=offline)


def run(args: argparse.Namespace) -> int:
    if args.list:
        from .catalog import format_listing, load_catalog

        print(format_listing(load_catalog()), end="")
        return 0
    if args.reference is None or args.sample is None:
        raise SfidError("give REF and SAMPLE (files or published names), or --list")
    start(args)
    metrics = parse_metrics(args.metrics)
    check_output_folder(args.json, "--json")
    offline = args.offline or None
    ref = BatchFile.open(resolve_input(args.reference, offline))
    smp = BatchFile.open(resolve_input(args.sample, offline))
    if ref.images is None and "pr" in metrics and len(metrics) > 1:
        print("sfid_tf: the reference holds statistics only: Precision/Recall need reference images and are skipped", file=sys.stderr)
        metrics = tuple(m for m in metrics if m != "pr")
    check_inputs(ref, smp, metrics)
    evaluator = Evaluator(
        args.graph, batch_size=args.batch_size, metrics=metrics, offline=offline,
        progress=not args.no_progress, cache=not args.no_cache, fd_method=args.fd_method,
    )
    if args.verbose:
        print(f"sfid_tf: graph {evaluator.graph_path} sha256 {evaluator.graph_sha256}", file=sys.stderr)
    result = evaluator.evaluate(ref, smp)
    if args.json:
        write_atomic(Path(args.json), json.dumps(result, indent=2) + "\n")
    print("\n".join(result_lines(result)), flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    return main_with_errors(run, build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
