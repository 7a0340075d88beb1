"""Command line: `python -m sfid_tf.evaluate REF SAMPLE` prints IS, FID, sFID, Precision, Recall.

stdout carries the result lines only; progress, warnings and errors go to stderr. Inputs are
checked before TensorFlow is imported, so mistakes are reported at once.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .errors import SfidError
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
    parser.add_argument("reference", help="reference batch .npz (images in arr_0, optionally mu/sigma/mu_s/sigma_s)")
    parser.add_argument("sample", help="sample batch .npz or .npy (uint8 images [N, H, W, 3])")
    parser.add_argument("--graph", help="path of classify_image_graph_def.pb (default: $SFID_TF_GRAPH, the cache, or download)")
    parser.add_argument("--batch-size", type=int, default=64, help="images per forward pass (default 64, as the ADM evaluator)")
    parser.add_argument("--metrics", default="is,fid,sfid,pr", help="comma-separated subset of is,fid,sfid,pr (default: all)")
    parser.add_argument("--json", metavar="OUT", help="also write the results and their provenance to this JSON file")
    parser.add_argument("--offline", action="store_true", help="never use the network (also SFID_TF_OFFLINE=1)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--verbose", action="store_true", help="show TensorFlow's log and the graph's sha256")
    return parser


def result_lines(result: dict) -> list[str]:
    """The stdout lines, in the reference evaluator's order and full float precision."""
    return [f"{label}: {result[key]!r}" for key, label in LABELS.items() if result.get(key) is not None]


def run(args: argparse.Namespace) -> int:
    from . import runtime

    runtime.set_verbose(args.verbose)
    from .evaluator import BatchFile, Evaluator, check_inputs, parse_metrics

    metrics = parse_metrics(args.metrics)
    if args.batch_size < 1:
        raise SfidError(f"--batch-size must be at least 1, got {args.batch_size}")
    if args.json and not Path(args.json).resolve().parent.is_dir():
        raise SfidError(f"cannot write --json {args.json}: its folder does not exist")
    ref, smp = BatchFile.open(args.reference), BatchFile.open(args.sample)
    if ref.images is None and "pr" in metrics and len(metrics) > 1:
        print("sfid_tf: the reference holds statistics only: Precision/Recall need reference images and are skipped", file=sys.stderr)
        metrics = tuple(m for m in metrics if m != "pr")
    check_inputs(ref, smp, metrics)
    evaluator = Evaluator(args.graph, batch_size=args.batch_size, metrics=metrics, offline=args.offline or None, progress=not args.no_progress)
    if args.verbose:
        print(f"sfid_tf: graph {evaluator.graph_path} sha256 {evaluator.graph_sha256}", file=sys.stderr)
    result = evaluator.evaluate(ref, smp)
    if args.json:
        write_atomic(Path(args.json), json.dumps(result, indent=2) + "\n")
    print("\n".join(result_lines(result)), flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except SfidError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
