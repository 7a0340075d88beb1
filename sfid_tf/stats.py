"""`python -m sfid_tf.stats BATCH.npz -o STATS.npz`: a statistics file in the layout of the
published reference batches (`mu`, `sigma`, `mu_s`, `sigma_s`, float64), usable as REF.

The means are computed in float32 from float32 features, as the ADM evaluator does, then
stored exactly as float64. A sample scored against this file therefore differs from one scored
against the images only in how the mean difference is rounded (about 1e-9 relative).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from .cli import add_common_options, check_output_folder, main_with_errors, start
from .errors import SfidError
from .evaluator import Evaluator
from .output import replace_atomic
from .statistics import STATISTICS_KEYS


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sfid_tf.stats",
        description="Write the FID and sFID statistics of a batch of images (mu, sigma, mu_s, sigma_s).",
    )
    parser.add_argument("batch", help=".npz or .npy of uint8 images [N, H, W, 3]")
    parser.add_argument("-o", "--output", required=True, help="statistics .npz to write")
    add_common_options(parser)
    return parser


def statistics_arrays(evaluator: Evaluator, batch: Path) -> dict[str, np.ndarray]:
    stats = evaluator.statistics(evaluator.features(batch, desc="images"))
    arrays = {}
    for metric, (mu_key, sigma_key, _) in STATISTICS_KEYS.items():
        arrays[mu_key] = stats[metric].mu.astype(np.float64)
        arrays[sigma_key] = stats[metric].sigma.astype(np.float64)
    return arrays


def run(args: argparse.Namespace) -> int:
    start(args)
    output = Path(args.output)
    if output.suffix != ".npz":
        raise SfidError(f"--output must end in .npz (np.savez would rename {output})")
    check_output_folder(args.output, "--output")
    from .batches import open_images

    images = open_images(args.batch)
    if images.count < 2:
        raise SfidError(f"{args.batch} holds {images.count} image(s); statistics need at least 2")
    evaluator = Evaluator(args.graph, batch_size=args.batch_size, metrics=("fid", "sfid"),
                          offline=args.offline or None, progress=not args.no_progress)
    arrays = statistics_arrays(evaluator, Path(args.batch))
    replace_atomic(output, lambda f: np.savez(f, **arrays))
    print(f"sfid_tf: wrote {', '.join(arrays)} of {images.count} images to {output}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    return main_with_errors(run, build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
