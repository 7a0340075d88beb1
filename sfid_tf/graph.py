"""Obtain the 2015 Inception-v3 graph: locate or download it, check it, make it runnable.

The file predates GraphDef version 9, and its `BatchNormWithGlobalNormalization` nodes are
refused by TensorFlow 2's function runtime. They are replaced at load time by the same float32
arithmetic in the legacy kernel's order, which the tests check bit for bit against the
legacy kernel run by TensorFlow's v1 graph runtime.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from . import download
from .catalog import MIRROR_ENV
from .errors import SfidError, warn

GRAPH_FILENAME = "classify_image_graph_def.pb"
GRAPH_URL = "https://openaipublic.blob.core.windows.net/diffusion/jul-2021/ref_batches/" + GRAPH_FILENAME
GRAPH_TGZ_URL = "http://download.tensorflow.org/models/image/imagenet/inception-2015-12-05.tgz"
# Reported by a third party and unconfirmed: a mismatch is reported, never refused.
GRAPH_SIZE_REPORTED = 95_673_916
GRAPH_MD5_REPORTED = "e6bb154e85f5d4331c22abcddb5dcf31"
GRAPH_ENV = "SFID_TF_GRAPH"

INPUT_TENSOR = "ExpandDims:0"
POOL_TENSOR = "pool_3:0"
SPATIAL_TENSOR = "mixed_6/conv:0"
SOFTMAX_MATMUL = "softmax/logits/MatMul"

POOL_DIM = 2048
SPATIAL_GRID = (17, 17)
SPATIAL_CHANNELS_IN_GRAPH = 192
SPATIAL_CHANNELS = 7  # sFID keeps mixed_6/conv[..., :7]
SPATIAL_DIM = SPATIAL_GRID[0] * SPATIAL_GRID[1] * SPATIAL_CHANNELS  # 2023
NUM_CLASSES = 1008

_LEGACY_BATCHNORM = "BatchNormWithGlobalNormalization"


def locate_graph(path: str | os.PathLike | None = None, offline: bool | None = None) -> Path:
    """The graph file to use: an explicit path, then $SFID_TF_GRAPH, then the cache, then a download."""
    explicit = path if path is not None else os.environ.get(GRAPH_ENV) or None
    if explicit is not None:
        explicit = Path(explicit).expanduser()
        if not explicit.is_file():
            raise SfidError(f"graph file not found: {explicit} (pass the path of {GRAPH_FILENAME} with --graph)")
        return explicit
    cached = download.cache_dir() / GRAPH_FILENAME
    fresh = not cached.is_file()
    _fetch_graph(cached, offline)  # validates a cached copy without any request
    if fresh:
        _report_unconfirmed_digest(cached)
    return cached


def _fetch_graph(dest: Path, offline: bool | None) -> None:
    """Fetch the bare .pb from the ADM mirror, else extract it from Google's original archive."""
    mirror = os.environ.get(MIRROR_ENV, "").strip()
    url = mirror.rstrip("/") + "/" + GRAPH_FILENAME if mirror else GRAPH_URL
    how_offline = f"or download {url} yourself and pass it with --graph PATH (or set {GRAPH_ENV})"
    try:
        download.fetch(url, dest, offline=offline, desc=GRAPH_FILENAME)
    except SfidError as mirror_error:
        if offline or (offline is None and download.is_offline()) or dest.exists():
            raise SfidError(f"{mirror_error}; {how_offline}") from None
        archive = dest.with_name(Path(GRAPH_TGZ_URL).name)
        try:
            download.fetch(GRAPH_TGZ_URL, archive, offline=offline, desc=archive.name)
        except SfidError as archive_error:
            raise SfidError(
                f"could not download the Inception graph ({mirror_error}; {archive_error}); {how_offline}"
            ) from None
        download.extract_from_tgz(archive, GRAPH_FILENAME, dest)


def _report_unconfirmed_digest(path: Path) -> None:
    """Say when a fresh download differs from the third-party size/md5 (which is itself unconfirmed)."""
    size = path.stat().st_size
    md5 = hashlib.md5(path.read_bytes()).hexdigest()
    if size != GRAPH_SIZE_REPORTED or md5 != GRAPH_MD5_REPORTED:
        warn(
            f"{path} has {size} bytes, md5 {md5}; the reported (unconfirmed) values are "
            f"{GRAPH_SIZE_REPORTED} bytes, md5 {GRAPH_MD5_REPORTED}"
        )


def read_graph_def(path: Path):
    """Parse the file, check that it is the 2015-12-05 Inception graph, and return (GraphDef, sha256)."""
    from .runtime import tensorflow

    tf = tensorflow()
    data = path.read_bytes()
    graph_def = tf.compat.v1.GraphDef()
    try:
        graph_def.ParseFromString(data)
    except Exception:  # protobuf's DecodeError type differs between implementations
        raise SfidError(f"{path} is not a TensorFlow GraphDef (.pb) file") from None
    _check_nodes(graph_def, path)
    return graph_def, hashlib.sha256(data).hexdigest()


def _check_nodes(graph_def, path: Path) -> None:
    """The names the evaluator relies on exist (the shapes are checked once imported)."""
    ops = {node.name: node.op for node in graph_def.node}
    wanted = {name.split(":")[0] for name in (INPUT_TENSOR, POOL_TENSOR, SPATIAL_TENSOR)} | {SOFTMAX_MATMUL}
    missing = sorted(wanted - ops.keys())
    if missing or ops[SOFTMAX_MATMUL] != "MatMul":
        what = f"missing {', '.join(missing)}" if missing else f"{SOFTMAX_MATMUL} is not a MatMul"
        raise SfidError(f"{path} is not the 2015-12-05 Inception-v3 graph ({what}); pass {GRAPH_FILENAME}")


def softmax_weights(graph_def) -> np.ndarray:
    """The [2048, 1008] matrix the Inception Score multiplies pool features by (no bias)."""
    from .runtime import tensorflow

    tf = tensorflow()
    nodes = {node.name: node for node in graph_def.node}
    name = nodes[SOFTMAX_MATMUL].input[1].split(":")[0]
    node = nodes.get(name)
    if node is None or node.op != "Const":
        raise SfidError(f"the graph's {SOFTMAX_MATMUL} does not read a constant weight matrix")
    weights = tf.make_ndarray(node.attr["value"].tensor)
    if weights.shape != (POOL_DIM, NUM_CLASSES):
        raise SfidError(
            f"the graph's softmax weights have shape {weights.shape}, expected {(POOL_DIM, NUM_CLASSES)}: "
            "not the 2015-12-05 Inception-v3 graph"
        )
    return weights


def replace_legacy_batchnorm(graph_def):
    """A copy of the GraphDef in which every legacy batch norm is `(x - mean) * (rsqrt(var + eps) * gamma) + beta`,
    built from ops that TensorFlow 2 still runs, in the order the legacy CPU kernel computes it."""
    from .runtime import tensorflow

    tf = tensorflow()
    result = tf.compat.v1.GraphDef()
    result.versions.CopyFrom(graph_def.versions)
    result.library.CopyFrom(graph_def.library)
    for node in graph_def.node:
        if node.op == _LEGACY_BATCHNORM:
            result.node.extend(_batchnorm_nodes(tf, node))
        else:
            result.node.add().CopyFrom(node)
    return result


def _batchnorm_nodes(tf, node) -> list:
    """The replacement nodes; the last one keeps the original name so consumers are unchanged."""
    x, mean, variance, beta, gamma = node.input[:5]
    control_inputs = [name for name in node.input if name.startswith("^")]
    name = node.name
    dtype = node.attr["T"]
    epsilon = np.array(node.attr["variance_epsilon"].f, dtype=tf.as_dtype(dtype.type).as_numpy_dtype)
    scale = f"{name}/legacy_rsqrt"
    specs = [
        ("Const", f"{name}/legacy_epsilon", []),
        ("AddV2", f"{name}/legacy_var_eps", [variance, f"{name}/legacy_epsilon"]),
        ("Rsqrt", scale, [f"{name}/legacy_var_eps"]),
    ]
    if node.attr["scale_after_normalization"].b:
        specs.append(("Mul", f"{name}/legacy_scale", [scale, gamma]))
        scale = f"{name}/legacy_scale"
    specs += [
        ("Sub", f"{name}/legacy_centered", [x, mean]),
        ("Mul", f"{name}/legacy_scaled", [f"{name}/legacy_centered", scale]),
        ("AddV2", name, [f"{name}/legacy_scaled", beta, *control_inputs]),
    ]
    nodes = []
    for op, node_name, inputs in specs:
        new = tf.compat.v1.NodeDef(name=node_name, op=op, input=inputs, device=node.device)
        if op == "Const":
            new.attr["dtype"].type = dtype.type
            new.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(epsilon))
        else:
            new.attr["T"].CopyFrom(dtype)
        nodes.append(new)
    return nodes


def prune(graph_def, tensor_names: list[str]):
    """The part of the graph the given tensors depend on, so that unneeded layers never run
    (for sFID alone, nothing deeper than mixed_6)."""
    from .runtime import tensorflow

    nodes = {node.name: node for node in graph_def.node}
    keep: set[str] = set()
    stack = [name.split(":")[0] for name in tensor_names]
    while stack:
        name = stack.pop()
        if name not in keep:
            keep.add(name)
            stack.extend(i.lstrip("^").split(":")[0] for i in nodes[name].input)
    result = tensorflow().compat.v1.GraphDef()
    result.versions.CopyFrom(graph_def.versions)
    result.node.extend(node for node in graph_def.node if node.name in keep)
    return result
