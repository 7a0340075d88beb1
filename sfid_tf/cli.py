"""What the command-line tools share: common options and turning SfidError into one line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable

from .errors import SfidError
from .features import DEFAULT_BATCH_SIZE


def add_common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--graph", help="path of classify_image_graph_def.pb (default: $SFID_TF_GRAPH, the cache, or download)")
    parser.add_argument(
        "--batch-size", type=int, default=DEFAULT_BATCH_SIZE,
        help=f"images per forward pass (default {DEFAULT_BATCH_SIZE}, as the ADM evaluator)",
    )
    parser.add_argument("--offline", action="store_true", help="never use the network (also SFID_TF_OFFLINE=1)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--verbose", action="store_true", help="show TensorFlow's log and the graph's sha256")


def add_fd_method_option(parser: argparse.ArgumentParser) -> None:
    from .metrics import FD_METHODS, FD_SQRTM

    parser.add_argument(
        "--fd-method", choices=FD_METHODS, default=FD_SQRTM,
        help="how tr(sqrtm(S1 S2)) is computed: 'sqrtm' (default) is scipy's, as the ADM evaluator; "
        "'fast' is an exact symmetric eigenvalue method, 5-15x faster here, equal to about 1e-11 relative but not bit for bit",
    )


def start(args: argparse.Namespace) -> None:
    """Checks and settings every tool needs before any work."""
    from . import runtime

    runtime.set_verbose(args.verbose)
    if args.batch_size < 1:
        raise SfidError(f"--batch-size must be at least 1, got {args.batch_size}")


def check_output_folder(path: str | None, option: str) -> None:
    """Refuse an output whose folder is missing before the work, not after it."""
    if path and not Path(path).resolve().parent.is_dir():
        raise SfidError(f"cannot write {option} {path}: its folder does not exist")


def main_with_errors(run: Callable[[argparse.Namespace], int], parser: argparse.ArgumentParser, argv: list[str] | None) -> int:
    """Run a tool: a user's mistake is one line on stderr and exit status 2, never a traceback."""
    args = parser.parse_args(argv)
    try:
        return run(args)
    except SfidError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
