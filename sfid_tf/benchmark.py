"""Benchmark: `python -m sfid_tf.benchmark` measures where an evaluation spends time and memory.

Throughput of the network alone and of the whole file-to-features pipeline (their ratio shows
what reading and decompressing cost), the spatial-only extractor that sFID alone needs, the
Fréchet distance by scipy's sqrtm and by the fast exact method, Precision/Recall, and the peak
resident memory of `python -m sfid_tf.evaluate` at two input sizes. stdout carries the table
only; progress and notes go to stderr; `--json OUT` keeps every number.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from tqdm import tqdm

from .errors import SfidError
from .features import DEFAULT_BATCH_SIZE  # no TensorFlow import at module level
from .graph import POOL_DIM, SPATIAL_DIM
from .output import write_atomic

DEFAULT_IMAGES = 128
DEFAULT_RESOLUTION = 64
DEFAULT_REPEATS = 3
SQRTM_DEFAULT_REPEATS = 1  # scipy's sqrtm takes 5-70 s at 2048 dims here, depending on load
GRAPH_WIDTH = 1.0  # the synthetic graph at the original's shapes, so its speed is the real graph's
MEMORY_GRAPH_WIDTH = 0.25  # ~7x faster: lets the memory runs see thousands of images in minutes
SEED = 0

FD_DIMS = (POOL_DIM, SPATIAL_DIM)  # FID and sFID feature dimensions
FD_FEATURE_COUNT = 3000  # rows of the random features whose covariances are compared
PR_COUNT = 10_000  # reference and sample features each, as one distance block of the evaluator
PR_DIM = POOL_DIM
MEMORY_IMAGES = (1_000, 8_000)
MEMORY_METRICS = "sfid"
MEMORY_RESOLUTION = 64
IMAGE_CHUNK = 256  # images generated at a time, bounding the float temporaries

SMOKE_IMAGES = 8
SMOKE_BATCH_SIZE = 4
SMOKE_FD_DIMS = (128, 119)
SMOKE_PR_COUNT = 200
SMOKE_MEMORY_IMAGES = (8, 32)
SMOKE_MEMORY_METRICS = "is"  # sFID's 2023-dim sqrtm inside evaluate alone takes 5-40 s
SMOKE_GRAPH_WIDTH = 0.25

MB = 1 << 20
FEATURE_DIM = {"sfid": SPATIAL_DIM, "is": POOL_DIM}  # features per image that the memory runs keep
FEATURE_ITEMSIZE = 4  # float32 features
COV_ITEMSIZE = 8  # np.cov works on a float64 copy of the features


@dataclass(frozen=True)
class Settings:
    """Everything the run depends on, resolved from the command line (and --smoke)."""

    graph: Path | None
    images: int
    resolution: int
    batch_size: int
    repeats: int
    sqrtm_repeats: int
    graph_width: float
    fd_dims: tuple[int, ...]
    pr_count: int
    memory_images: tuple[int, ...]
    memory_metrics: str
    smoke: bool


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sfid_tf.benchmark",
        description="Throughput, Fréchet-distance timing and peak memory of sfid_tf on this machine.",
    )
    parser.add_argument("--graph", type=Path, help="Inception graph .pb (default: a synthetic one with the same shapes)")
    parser.add_argument("--images", type=int, help=f"images per throughput repeat (default {DEFAULT_IMAGES})")
    parser.add_argument("--resolution", type=int, default=DEFAULT_RESOLUTION, help="image height and width (default 64)")
    parser.add_argument("--batch-size", type=int, help=f"images per forward pass (default {DEFAULT_BATCH_SIZE})")
    parser.add_argument("--repeats", type=int, help=f"repeats per measurement (default {DEFAULT_REPEATS}; sqrtm {SQRTM_DEFAULT_REPEATS})")
    parser.add_argument("--json", metavar="OUT", type=Path, help="also write all results to this JSON file")
    parser.add_argument("--smoke", action="store_true", help="everything tiny, in well under a minute (for CI)")
    return parser


def resolve(args: argparse.Namespace) -> Settings:
    """Defaults, or the tiny ones of --smoke; explicit options win over both."""
    smoke = args.smoke

    def given(value: int | None, default: int) -> int:
        return default if value is None else value

    settings = Settings(
        graph=args.graph,
        images=given(args.images, SMOKE_IMAGES if smoke else DEFAULT_IMAGES),
        resolution=args.resolution,
        batch_size=given(args.batch_size, SMOKE_BATCH_SIZE if smoke else DEFAULT_BATCH_SIZE),
        repeats=given(args.repeats, 1 if smoke else DEFAULT_REPEATS),
        sqrtm_repeats=given(args.repeats, SQRTM_DEFAULT_REPEATS),
        graph_width=SMOKE_GRAPH_WIDTH if smoke else GRAPH_WIDTH,
        fd_dims=SMOKE_FD_DIMS if smoke else FD_DIMS,
        pr_count=SMOKE_PR_COUNT if smoke else PR_COUNT,
        memory_images=SMOKE_MEMORY_IMAGES if smoke else MEMORY_IMAGES,
        memory_metrics=SMOKE_MEMORY_METRICS if smoke else MEMORY_METRICS,
        smoke=smoke,
    )
    for name in ("images", "resolution", "batch_size", "repeats"):
        if getattr(settings, name) < 1:
            raise SfidError(f"--{name.replace('_', '-')} must be at least 1")
    if settings.graph is not None and not settings.graph.is_file():
        raise SfidError(f"graph file not found: {settings.graph}")
    return settings


# ---------------------------------------------------------------------------------------------
# Small helpers


def note(message: str) -> None:
    print(f"sfid_tf.benchmark: {message}", file=sys.stderr, flush=True)


def spread(values: list[float]) -> dict[str, float]:
    """Median with the range, so one noisy repeat shows instead of skewing a mean."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def seconds_of(function: Callable[[], object]) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def timed(function: Callable[[], object], repeats: int, desc: str) -> list[float]:
    """Wall seconds of each call, with a progress bar on stderr."""
    bar = tqdm(range(repeats), desc=desc, unit="run", file=sys.stderr, dynamic_ncols=True)
    return [seconds_of(function) for _ in bar]


def synthetic_images(count: int, resolution: int, seed: int = SEED) -> np.ndarray:
    """uint8 colour ramps with noise: cheap to make, and not pure noise, so that deflate has
    some work to do when the file is read, as on real batches."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(-1.0, 1.0, resolution, dtype=np.float32)
    images = np.empty((count, resolution, resolution, 3), np.uint8)
    for start in range(0, count, IMAGE_CHUNK):
        n = min(IMAGE_CHUNK, count - start)
        base = rng.uniform(40, 215, (n, 1, 1, 3)).astype(np.float32)
        slope_y, slope_x = (rng.uniform(-40, 40, (n, 1, 1, 3)).astype(np.float32) for _ in range(2))
        noise = rng.normal(0, 6, (n, resolution, resolution, 3)).astype(np.float32)
        pixels = base + slope_y * ramp[:, None, None] + slope_x * ramp[None, :, None] + noise
        images[start : start + n] = np.clip(np.rint(pixels), 0, 255)
    return images


def write_images(path: Path, images: np.ndarray) -> Path:
    np.savez_compressed(path, images)
    return path


def maxrss_mb(usage: resource.struct_rusage) -> float:
    """ru_maxrss is KiB on Linux and bytes on macOS."""
    return usage.ru_maxrss / (MB if sys.platform == "darwin" else 1024)


# Runs a command and writes its peak RSS (KiB or bytes, as ru_maxrss) and exit code to argv[1].
_LAUNCHER = (
    "import os, subprocess, sys; p = subprocess.Popen(sys.argv[2:]); _, status, usage = os.wait4(p.pid, 0); "
    "open(sys.argv[1], 'w').write(f'{usage.ru_maxrss} {os.waitstatus_to_exitcode(status)}')"
)


def run_child(command: list[str], stdout: Path) -> tuple[float, float]:
    """Run a command to completion; (wall seconds, its own peak RSS in MB).

    Linux keeps a process's RSS high-water mark across exec, so a child started from this
    (large, TensorFlow-loaded) process would report at least our RSS. A small Python launcher
    starts it instead and reports the usage of exactly that grandchild (os.wait4), whose
    high-water mark starts from the launcher's ~10 MB.
    """
    report = stdout.with_suffix(".rusage")
    start = time.perf_counter()
    with open(stdout, "wb") as out:
        subprocess.run([sys.executable, "-c", _LAUNCHER, str(report), *command], stdout=out, check=True)
    seconds = time.perf_counter() - start
    maxrss, code = (int(v) for v in report.read_text().split())
    if code != 0:
        raise SfidError(f"{' '.join(command[:4])} ... failed with exit code {code}")
    return seconds, maxrss / (MB if sys.platform == "darwin" else 1024)


# ---------------------------------------------------------------------------------------------
# Feature extraction


def load_graph(settings: Settings, workdir: Path):
    """The user's graph, or the synthetic one written into the temporary folder (said on stderr)."""
    from .graph import read_graph_def

    if settings.graph is not None:
        return read_graph_def(settings.graph)[0], str(settings.graph), False
    path = synthetic_graph(workdir, settings.graph_width)
    note(f"no --graph given: using the synthetic Inception graph (random weights, width {settings.graph_width}) at {path}")
    return read_graph_def(path)[0], str(path), True


def synthetic_graph(workdir: Path, width: float) -> Path:
    from .synthetic import write_graph

    path = workdir / f"synthetic_width_{width}.pb"
    return path if path.exists() else write_graph(path, seed=SEED, width=width)


def bench_features(settings: Settings, workdir: Path) -> dict:
    """network_only, end_to_end and sfid_only on the same images and batch size, interleaved
    repeat by repeat so that drifting machine load affects all three alike (ratios are paired)."""
    from .batches import open_images
    from .features import SPATIAL, FeatureExtractor

    graph_def, graph_name, synthetic = load_graph(settings, workdir)
    images = synthetic_images(settings.images, settings.resolution)
    image_file = open_images(write_images(workdir / "images.npz", images))
    batch = images[: settings.batch_size]
    calls = -(-settings.images // settings.batch_size)
    full, spatial = FeatureExtractor(graph_def), FeatureExtractor(graph_def, outputs=(SPATIAL,))
    first = full(batch)  # also the warm-up: kernels and oneDNN primitives for this shape
    spatial(batch)
    extracted = {}

    def end_to_end() -> None:  # the evaluator's own path: ImageFile.batches -> extract
        extracted["features"] = full.extract(image_file.batches(settings.batch_size), image_file.count, progress=False)

    measures = {
        "network_only": (calls * len(batch), lambda: [full(batch) for _ in range(calls)]),
        "end_to_end": (image_file.count, end_to_end),
        "sfid_only": (calls * len(batch), lambda: [spatial(batch) for _ in range(calls)]),
    }
    runs: dict[str, list[float]] = {name: [] for name in measures}
    names = list(measures)
    for r in tqdm(range(settings.repeats), desc="feature extraction", unit="repeat", file=sys.stderr, dynamic_ncols=True):
        for name in names[r % 3 :] + names[: r % 3]:  # rotated, so no measure always follows the same one
            count, function = measures[name]
            runs[name].append(count / seconds_of(function))
    same = all(np.array_equal(getattr(extracted["features"], name)[: len(batch)], v) for name, v in first.items())
    paired = {key: [a / b for a, b in zip(runs[key], runs["network_only"])] for key in ("end_to_end", "sfid_only")}
    return {
        "graph": {"path": graph_name, "synthetic": synthetic, "width": settings.graph_width if synthetic else None},
        "network_only": {"images_per_s": spread(runs["network_only"]), "images": calls * len(batch), "batch_size": len(batch)},
        "end_to_end": {
            "images_per_s": spread(runs["end_to_end"]),
            "ratio_to_network_only": statistics.median(paired["end_to_end"]),
            "ratio_spread": spread(paired["end_to_end"]),
            "images": image_file.count,
            "resolution": settings.resolution,
            "file_mb": image_file.path.stat().st_size / MB,
            "same_features_as_network_only": bool(same),
        },
        "sfid_only": {"images_per_s": spread(runs["sfid_only"]), "speedup_over_full": statistics.median(paired["sfid_only"])},
    }


# ---------------------------------------------------------------------------------------------
# Fréchet distance


def random_statistics(dim: int, seed: int):
    """Mean and covariance of correlated random features (FD_FEATURE_COUNT x dim, float64)."""
    from .statistics import Statistics

    rng = np.random.default_rng(seed)
    mixing = rng.standard_normal((dim, dim)) / np.sqrt(dim) + np.diag(rng.uniform(0.2, 2.0, dim))
    features = rng.standard_normal((FD_FEATURE_COUNT, dim)) @ mixing
    return Statistics(features.mean(axis=0), np.cov(features, rowvar=False))


def bench_fd(settings: Settings) -> tuple[dict, dict]:
    """Seconds of one Fréchet distance per method and dimension, and how far the two agree."""
    from .metrics import FD_FAST, FD_SQRTM, frechet_distance

    slow: dict = {}
    fast: dict = {}
    for dim in settings.fd_dims:
        sample, reference = random_statistics(dim, SEED + 1), random_statistics(dim, SEED + 2)
        values = {}

        def run(method: str) -> None:
            values[method] = frechet_distance(sample, reference, method=method)

        slow_seconds = timed(lambda: run(FD_SQRTM), settings.sqrtm_repeats, f"FD sqrtm {dim}")
        fast_seconds = timed(lambda: run(FD_FAST), settings.repeats, f"FD fast {dim}")
        slow[str(dim)] = {"seconds": spread(slow_seconds), "value": values[FD_SQRTM]}
        fast[str(dim)] = {
            "seconds": spread(fast_seconds),
            "value": values[FD_FAST],
            "speedup": statistics.median(slow_seconds) / statistics.median(fast_seconds),
            "relative_difference": abs(values[FD_FAST] - values[FD_SQRTM]) / abs(values[FD_SQRTM]),
        }
    return slow, fast


# ---------------------------------------------------------------------------------------------
# Precision / Recall and the evaluator's peak memory, each in a child process of its own


def precision_recall_child(count: int, dim: int) -> None:
    """Run in a child process: time precision_recall and print the RSS it started from as JSON."""
    from .metrics import precision_recall

    rng = np.random.default_rng(SEED)
    reference = rng.standard_normal((count, dim), dtype=np.float32)
    sample = rng.standard_normal((count, dim), dtype=np.float32) + np.float32(0.1)
    precision_recall(reference[:8], sample[:8])  # TensorFlow imported and the function traced
    baseline = maxrss_mb(resource.getrusage(resource.RUSAGE_SELF))
    start = time.perf_counter()
    precision, recall = precision_recall(reference, sample)
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "baseline_mb": baseline, "precision": precision, "recall": recall}))


def bench_precision_recall(settings: Settings, workdir: Path) -> dict:
    """A fresh process, so its peak RSS is PR's own plus TensorFlow, not this benchmark's."""
    code = "import sys; from sfid_tf.benchmark import precision_recall_child as f; f(int(sys.argv[1]), int(sys.argv[2]))"
    out = workdir / "precision_recall.json"
    note(f"precision_recall: {settings.pr_count} x {PR_DIM} vs {settings.pr_count} in a child process")
    _, peak = run_child([sys.executable, "-c", code, str(settings.pr_count), str(PR_DIM)], out)
    child = json.loads(out.read_text().strip().splitlines()[-1])
    inputs = 2 * settings.pr_count * PR_DIM * 4 / MB
    return {
        "count": settings.pr_count,
        "dim": PR_DIM,
        "seconds": child["seconds"],
        "peak_rss_mb": peak,
        "rss_before_mb": child["baseline_mb"],
        "input_features_mb": inputs,
    }


def statistics_only_reference(path: Path) -> Path:
    """A reference holding only (valid) statistics, so that only the sample's images are read."""
    np.savez(path, mu=np.zeros(POOL_DIM), sigma=np.eye(POOL_DIM), mu_s=np.zeros(SPATIAL_DIM), sigma_s=np.eye(SPATIAL_DIM))
    return path


def bench_peak_memory(settings: Settings, workdir: Path) -> dict:
    """Peak RSS of `python -m sfid_tf.evaluate` at two sizes: beyond the feature arrays it
    should not grow with the number of images, because the reader streams one batch at a time."""
    graph = synthetic_graph(workdir, MEMORY_GRAPH_WIDTH)
    metrics = settings.memory_metrics
    if metrics == "is":
        note("smoke: peak memory measured with --metrics is (no 2023-dim sqrtm), reference = sample")
    runs = []
    for count in settings.memory_images:
        sample = write_images(workdir / f"memory_{count}.npz", synthetic_images(count, MEMORY_RESOLUTION, SEED + count))
        reference = sample if metrics == "is" else statistics_only_reference(workdir / "reference_stats.npz")
        note(f"peak memory: evaluate --metrics {metrics} on {count} images {MEMORY_RESOLUTION}x{MEMORY_RESOLUTION}")
        command = [sys.executable, "-m", "sfid_tf.evaluate", str(reference), str(sample), "--metrics", metrics, "--graph", str(graph)]
        seconds, peak = run_child(command, workdir / f"memory_{count}.out")
        values = count * FEATURE_DIM[metrics] * (2 if metrics == "is" else 1)  # "is": the file is read as both
        runs.append({"images": count, "peak_rss_mb": peak, "seconds": seconds, "file_mb": sample.stat().st_size / MB,
                     "feature_arrays_mb": values * FEATURE_ITEMSIZE / MB, "cov_float64_copy_mb": values * COV_ITEMSIZE / MB})
    return {"graph_width": MEMORY_GRAPH_WIDTH, "metrics": metrics, "resolution": MEMORY_RESOLUTION,
            "reference": "the sample file" if metrics == "is" else "statistics only (no images)", "runs": runs}


# ---------------------------------------------------------------------------------------------
# Threads, table, main


def thread_settings() -> dict:
    """TensorFlow's pools (0 means TensorFlow's default: one thread per logical core)."""
    from .runtime import tensorflow

    tf = tensorflow()
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "intra_op_parallelism_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "inter_op_parallelism_threads": tf.config.threading.get_inter_op_parallelism_threads(),
        "cpu_count": os.cpu_count(),
        "usable_cpus": affinity,
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "threads_in_this_process": len(os.listdir("/proc/self/task")) if os.path.isdir("/proc/self/task") else None,
    }


def _range(value: dict, digits: int) -> tuple[str, str]:
    return f"{value['median']:.{digits}f}", f"{value['min']:.{digits}f} .. {value['max']:.{digits}f}"


def table_rows(result: dict) -> list[tuple[str, str, str, str]]:
    """(measure, median, min .. max, note) rows for the stdout table."""
    rows = []
    net, e2e, sfid = result["network_only"], result["end_to_end"], result["sfid_only"]
    rows.append(("network_only (img/s)", *_range(net["images_per_s"], 2), f"{net['images']} images in memory, batch {net['batch_size']}"))
    rows.append(("end_to_end (img/s)", *_range(e2e["images_per_s"], 2),
                 f"{e2e['resolution']}x{e2e['resolution']} .npz; ratio {e2e['ratio_to_network_only']:.3f} "
                 f"({e2e['ratio_spread']['min']:.3f} .. {e2e['ratio_spread']['max']:.3f}); same features: {e2e['same_features_as_network_only']}"))
    rows.append(("sfid_only (img/s)", *_range(sfid["images_per_s"], 2), f"{sfid['speedup_over_full']:.2f}x the full extractor"))
    for dim, slow in result["fd_sqrtm"].items():
        fast = result["fd_fast"][dim]
        rows.append((f"fd_sqrtm {dim} dims (s)", *_range(slow["seconds"], 3), "scipy.linalg.sqrtm"))
        rows.append((f"fd_fast {dim} dims (s)", *_range(fast["seconds"], 3),
                     f"{fast['speedup']:.1f}x faster; relative difference {fast['relative_difference']:.1e}"))
    pr = result["precision_recall"]
    rows.append(("precision_recall (s)", f"{pr['seconds']:.2f}", "", f"{pr['count']} x {pr['dim']} vs {pr['count']}; "
                 f"peak RSS {pr['peak_rss_mb']:.0f} MB (before: {pr['rss_before_mb']:.0f} MB, inputs {pr['input_features_mb']:.0f} MB)"))
    memory = result["peak_memory_evaluate"]
    for run in memory["runs"]:
        rows.append((f"peak_memory_evaluate {run['images']} (MB)", f"{run['peak_rss_mb']:.0f}", "",
                     f"feature arrays {run['feature_arrays_mb']:.1f} MB (+{run['cov_float64_copy_mb']:.1f} MB float64 in np.cov); --metrics {memory['metrics']}, width {memory['graph_width']} graph; {run['seconds']:.0f} s"))
    threads = result["threads"]
    rows.append(("threads", "", "", f"intra_op {threads['intra_op_parallelism_threads']}, inter_op {threads['inter_op_parallelism_threads']} "
                 f"(0 = TensorFlow default), {threads['usable_cpus']} usable CPUs, {threads['threads_in_this_process']} threads in this process"))
    return rows


def format_table(result: dict) -> str:
    rows = [("measure", "median", "min .. max", "note"), *table_rows(result)]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [f"{r[0]:<{widths[0]}}  {r[1]:>{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]}".rstrip() for r in rows]
    config = result["config"]
    load = config["load_average_1min"]
    header = (
        f"sfid_tf benchmark: {config['device']}, TensorFlow {config['tensorflow']}, "
        f"load average {load['before']:.2f} -> {load['after']:.2f}, graph {result['graph']['path']}"
    )
    if result["graph"]["synthetic"]:
        header += f" (synthetic, width {result['graph']['width']})"
    if config["smoke"]:
        header += f"; SMOKE: FD at {'/'.join(map(str, config['fd_dims']))} dims, PR {config['pr_count']} points"
    return "\n".join([header, *lines])


def run(settings: Settings) -> dict:
    from .runtime import device_info, tensorflow

    tensorflow()  # imported the quiet way before sfid_tf.synthetic imports it plainly
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="sfid_tf_benchmark_") as tmp:
        workdir = Path(tmp)
        features = bench_features(settings, workdir)
        fd_sqrtm, fd_fast = bench_fd(settings)
        precision_recall = bench_precision_recall(settings, workdir)
        memory = bench_peak_memory(settings, workdir)
    config = {
        "images": settings.images, "resolution": settings.resolution, "batch_size": settings.batch_size,
        "repeats": settings.repeats, "sqrtm_repeats": settings.sqrtm_repeats, "fd_dims": list(settings.fd_dims),
        "fd_feature_count": FD_FEATURE_COUNT, "pr_count": settings.pr_count, "smoke": settings.smoke, **device_info(),
        "load_average_1min": {"before": load_before, "after": os.getloadavg()[0]},  # other work skews every number
    }
    return {"config": config, **features, "fd_sqrtm": fd_sqrtm, "fd_fast": fd_fast,
            "precision_recall": precision_recall, "peak_memory_evaluate": memory, "threads": thread_settings()}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = resolve(args)
        if args.json and not args.json.resolve().parent.is_dir():
            raise SfidError(f"cannot write --json {args.json}: its folder does not exist")
        result = run(settings)
    except SfidError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.json:
        write_atomic(args.json, json.dumps(result, indent=2) + "\n")
    print(format_table(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
