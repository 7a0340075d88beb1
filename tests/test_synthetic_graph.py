"""The synthetic Inception graph must look like the original from the outside and the inside.

The expected architecture below is written independently of ``sfid_tf.synthetic`` (from the
torch-fidelity / torchvision re-creation of the graph and GRAPH_FACTS.md), so that a mistake in
the builder's own tables shows up here instead of being copied into the expectation.
"""

from __future__ import annotations

import collections
import pathlib
from collections.abc import Iterator

import numpy as np
import pytest
import tensorflow as tf

from sfid_tf import synthetic

GraphDef = tf.compat.v1.GraphDef
NodeDef = tf.compat.v1.NodeDef

# ---------------------------------------------------------------------------------------------
# Facts about the original graph (GRAPH_FACTS.md)
# ---------------------------------------------------------------------------------------------
F1_OP_HISTOGRAM = {
    "Const": 489,
    "CheckNumerics": 99,
    "Identity": 99,
    "BatchNormWithGlobalNormalization": 94,
    "Conv2D": 94,
    "Relu": 94,
    "Concat": 11,
    "AvgPool": 9,
    "MaxPool": 5,
    "Sub": 1,
    "Softmax": 1,
    "ResizeBilinear": 1,
    "Reshape": 1,
    "Mul": 1,
    "MatMul": 1,
    "ExpandDims": 1,
    "DecodeJpeg": 1,
    "Cast": 1,
    "BiasAdd": 1,
}
F1_CONST_PARAMETERS = 23_885_411
F1_CONTROL_EDGES = 99
F7_MAX_POOLS = {"pool", "pool_1", "mixed_3/pool", "mixed_8/pool", "mixed_10/tower_2/pool"}

# U6: the attributes each op had in Dec 2015, nothing more.
U6_ATTRS = {
    "Const": {"dtype", "value"},
    "DecodeJpeg": {
        "channels", "ratio", "fancy_upscaling", "try_recover_truncated", "acceptable_fraction"
    },
    "Cast": {"SrcT", "DstT"},
    "ExpandDims": {"T"},
    "ResizeBilinear": {"T", "align_corners"},
    "Sub": {"T"},
    "Mul": {"T"},
    "Conv2D": {"T", "strides", "padding", "use_cudnn_on_gpu"},
    "BatchNormWithGlobalNormalization": {"T", "variance_epsilon", "scale_after_normalization"},
    "CheckNumerics": {"T", "message"},
    "Identity": {"T"},
    "Relu": {"T"},
    "MaxPool": {"ksize", "strides", "padding"},
    "AvgPool": {"T", "ksize", "strides", "padding"},
    "Concat": {"N", "T"},
    "Reshape": {"T"},
    "MatMul": {"T", "transpose_a", "transpose_b"},
    "BiasAdd": {"T"},
    "Softmax": {"T"},
}

# ---------------------------------------------------------------------------------------------
# Independent architecture table: (TF unit, torchvision module, kh, kw, cin, cout, stride, padding)
# ---------------------------------------------------------------------------------------------
ConvSpec = tuple[str, str, int, int, int, int, int, str]


def _stem() -> list[ConvSpec]:
    return [
        ("conv", "Conv2d_1a_3x3", 3, 3, 3, 32, 2, "VALID"),
        ("conv_1", "Conv2d_2a_3x3", 3, 3, 32, 32, 1, "VALID"),
        ("conv_2", "Conv2d_2b_3x3", 3, 3, 32, 64, 1, "SAME"),
        ("conv_3", "Conv2d_3b_1x1", 1, 1, 64, 80, 1, "VALID"),
        ("conv_4", "Conv2d_4a_3x3", 3, 3, 80, 192, 1, "VALID"),
    ]


def _inception_a(b: str, tv: str, cin: int, pool: int) -> list[ConvSpec]:
    return [
        (f"{b}/conv", f"{tv}.branch1x1", 1, 1, cin, 64, 1, "SAME"),
        (f"{b}/tower/conv", f"{tv}.branch5x5_1", 1, 1, cin, 48, 1, "SAME"),
        (f"{b}/tower/conv_1", f"{tv}.branch5x5_2", 5, 5, 48, 64, 1, "SAME"),
        (f"{b}/tower_1/conv", f"{tv}.branch3x3dbl_1", 1, 1, cin, 64, 1, "SAME"),
        (f"{b}/tower_1/conv_1", f"{tv}.branch3x3dbl_2", 3, 3, 64, 96, 1, "SAME"),
        (f"{b}/tower_1/conv_2", f"{tv}.branch3x3dbl_3", 3, 3, 96, 96, 1, "SAME"),
        (f"{b}/tower_2/conv", f"{tv}.branch_pool", 1, 1, cin, pool, 1, "SAME"),
    ]


def _inception_b() -> list[ConvSpec]:
    return [
        ("mixed_3/conv", "Mixed_6a.branch3x3", 3, 3, 288, 384, 2, "VALID"),
        ("mixed_3/tower/conv", "Mixed_6a.branch3x3dbl_1", 1, 1, 288, 64, 1, "SAME"),
        ("mixed_3/tower/conv_1", "Mixed_6a.branch3x3dbl_2", 3, 3, 64, 96, 1, "SAME"),
        ("mixed_3/tower/conv_2", "Mixed_6a.branch3x3dbl_3", 3, 3, 96, 96, 2, "VALID"),
    ]


def _inception_c(b: str, tv: str, c7: int) -> list[ConvSpec]:
    return [
        (f"{b}/conv", f"{tv}.branch1x1", 1, 1, 768, 192, 1, "SAME"),
        (f"{b}/tower/conv", f"{tv}.branch7x7_1", 1, 1, 768, c7, 1, "SAME"),
        (f"{b}/tower/conv_1", f"{tv}.branch7x7_2", 1, 7, c7, c7, 1, "SAME"),
        (f"{b}/tower/conv_2", f"{tv}.branch7x7_3", 7, 1, c7, 192, 1, "SAME"),
        (f"{b}/tower_1/conv", f"{tv}.branch7x7dbl_1", 1, 1, 768, c7, 1, "SAME"),
        (f"{b}/tower_1/conv_1", f"{tv}.branch7x7dbl_2", 7, 1, c7, c7, 1, "SAME"),
        (f"{b}/tower_1/conv_2", f"{tv}.branch7x7dbl_3", 1, 7, c7, c7, 1, "SAME"),
        (f"{b}/tower_1/conv_3", f"{tv}.branch7x7dbl_4", 7, 1, c7, c7, 1, "SAME"),
        (f"{b}/tower_1/conv_4", f"{tv}.branch7x7dbl_5", 1, 7, c7, 192, 1, "SAME"),
        (f"{b}/tower_2/conv", f"{tv}.branch_pool", 1, 1, 768, 192, 1, "SAME"),
    ]


def _inception_d() -> list[ConvSpec]:
    return [
        ("mixed_8/tower/conv", "Mixed_7a.branch3x3_1", 1, 1, 768, 192, 1, "SAME"),
        ("mixed_8/tower/conv_1", "Mixed_7a.branch3x3_2", 3, 3, 192, 320, 2, "VALID"),
        ("mixed_8/tower_1/conv", "Mixed_7a.branch7x7x3_1", 1, 1, 768, 192, 1, "SAME"),
        ("mixed_8/tower_1/conv_1", "Mixed_7a.branch7x7x3_2", 1, 7, 192, 192, 1, "SAME"),
        ("mixed_8/tower_1/conv_2", "Mixed_7a.branch7x7x3_3", 7, 1, 192, 192, 1, "SAME"),
        ("mixed_8/tower_1/conv_3", "Mixed_7a.branch7x7x3_4", 3, 3, 192, 192, 2, "VALID"),
    ]


def _inception_e(b: str, tv: str, cin: int) -> list[ConvSpec]:
    return [
        (f"{b}/conv", f"{tv}.branch1x1", 1, 1, cin, 320, 1, "SAME"),
        (f"{b}/tower/conv", f"{tv}.branch3x3_1", 1, 1, cin, 384, 1, "SAME"),
        (f"{b}/tower/mixed/conv", f"{tv}.branch3x3_2a", 1, 3, 384, 384, 1, "SAME"),
        (f"{b}/tower/mixed/conv_1", f"{tv}.branch3x3_2b", 3, 1, 384, 384, 1, "SAME"),
        (f"{b}/tower_1/conv", f"{tv}.branch3x3dbl_1", 1, 1, cin, 448, 1, "SAME"),
        (f"{b}/tower_1/conv_1", f"{tv}.branch3x3dbl_2", 3, 3, 448, 384, 1, "SAME"),
        (f"{b}/tower_1/mixed/conv", f"{tv}.branch3x3dbl_3a", 1, 3, 384, 384, 1, "SAME"),
        (f"{b}/tower_1/mixed/conv_1", f"{tv}.branch3x3dbl_3b", 3, 1, 384, 384, 1, "SAME"),
        (f"{b}/tower_2/conv", f"{tv}.branch_pool", 1, 1, cin, 192, 1, "SAME"),
    ]


EXPECTED_UNITS: list[ConvSpec] = (
    _stem()
    + _inception_a("mixed", "Mixed_5b", 192, 32)
    + _inception_a("mixed_1", "Mixed_5c", 256, 64)
    + _inception_a("mixed_2", "Mixed_5d", 288, 64)
    + _inception_b()
    + _inception_c("mixed_4", "Mixed_6b", 128)
    + _inception_c("mixed_5", "Mixed_6c", 160)
    + _inception_c("mixed_6", "Mixed_6d", 160)
    + _inception_c("mixed_7", "Mixed_6e", 192)
    + _inception_d()
    + _inception_e("mixed_9", "Mixed_7b", 1280)
    + _inception_e("mixed_10", "Mixed_7c", 2048)
)

# U4: concat input orders.
_ABCD = ("conv", "tower/conv_2", "tower_1/conv_4", "tower_2/conv")
_E = (
    "conv",
    "tower/mixed/conv",
    "tower/mixed/conv_1",
    "tower_1/mixed/conv",
    "tower_1/mixed/conv_1",
    "tower_2/conv",
)
EXPECTED_JOINS = {
    "mixed": ("conv", "tower/conv_1", "tower_1/conv_2", "tower_2/conv"),
    "mixed_1": ("conv", "tower/conv_1", "tower_1/conv_2", "tower_2/conv"),
    "mixed_2": ("conv", "tower/conv_1", "tower_1/conv_2", "tower_2/conv"),
    "mixed_3": ("conv", "tower/conv_2", "pool"),
    "mixed_4": _ABCD,
    "mixed_5": _ABCD,
    "mixed_6": _ABCD,
    "mixed_7": _ABCD,
    "mixed_8": ("tower/conv_1", "tower_1/conv_3", "pool"),
    "mixed_9": _E,
    "mixed_10": _E,
}

N_IMAGES = 3
IMAGE_HW = (64, 80)
FLOAT16_MAX = 65504.0


# ---------------------------------------------------------------------------------------------
# Helpers and fixtures
# ---------------------------------------------------------------------------------------------
def _parse(data: bytes) -> GraphDef:
    graph_def = GraphDef()
    graph_def.ParseFromString(data)
    return graph_def


def _read(path: pathlib.Path) -> GraphDef:
    return _parse(path.read_bytes())


def _nodes(graph_def: GraphDef) -> dict[str, NodeDef]:
    return {node.name: node for node in graph_def.node}


def _value(node: NodeDef) -> np.ndarray:
    return tf.make_ndarray(node.attr["value"].tensor)


def _ints(node: NodeDef, attr: str) -> list[int]:
    return list(node.attr[attr].list.i)


def _unit_nodes(unit: str) -> list[str]:
    """F2: the node order of one conv unit."""
    bn = f"{unit}/batchnorm"
    return [
        f"{unit}/conv2d_params",
        f"{unit}/Conv2D",
        f"{bn}/beta",
        f"{bn}/gamma",
        f"{bn}/moving_mean",
        f"{bn}/moving_variance",
        bn,
        f"{unit}/CheckNumerics",
        f"{unit}/control_dependency",
        unit,
    ]


class Runner:
    """A TF1 Session on the imported graph: the oracle that still runs the legacy ops."""

    def __init__(self, graph_def: GraphDef) -> None:
        self.graph = tf.Graph()
        with self.graph.as_default():
            self.images = tf.compat.v1.placeholder(tf.float32, [None, None, None, 3])
            tf.import_graph_def(graph_def, input_map={"ExpandDims:0": self.images}, name="")
        self.session = tf.compat.v1.Session(graph=self.graph)

    def run(self, fetches: list[str], images: np.ndarray) -> list[np.ndarray]:
        return self.session.run(fetches, {self.images: images})

    def close(self) -> None:
        self.session.close()


def _random_images(seed: int, n: int = N_IMAGES, hw: tuple[int, int] = IMAGE_HW) -> np.ndarray:
    """uint8 noise images cast to float32, the evaluator's input convention."""
    images = np.random.default_rng(seed).integers(0, 256, (n, *hw, 3), dtype=np.uint8)
    return images.astype(np.float32)


def _pairwise_squared_distances(features: np.ndarray) -> np.ndarray:
    """Squared distances between different rows."""
    distances = np.square(features[:, None] - features[None]).sum(axis=-1)
    return distances[~np.eye(len(features), dtype=bool)]


@pytest.fixture(scope="module")
def graph_def(synthetic_graph_path: pathlib.Path) -> GraphDef:
    return _read(synthetic_graph_path)


@pytest.fixture(scope="module")
def small_graph_def(small_graph_path: pathlib.Path) -> GraphDef:
    return _read(small_graph_path)


@pytest.fixture(scope="module")
def nodes(graph_def: GraphDef) -> dict[str, NodeDef]:
    return _nodes(graph_def)


@pytest.fixture(scope="module")
def full_runner(graph_def: GraphDef) -> Iterator[Runner]:
    runner = Runner(graph_def)
    yield runner
    runner.close()


@pytest.fixture(scope="module")
def full_outputs(full_runner: Runner) -> dict[str, np.ndarray]:
    """One forward pass of the full graph on N_IMAGES noise images (the slow part)."""
    fetches = ["mixed_6/conv:0", "pool_3:0", "softmax/weights:0"]
    return dict(zip(fetches, full_runner.run(fetches, _random_images(seed=1))))


# ---------------------------------------------------------------------------------------------
# Structure (width 1.0)
# ---------------------------------------------------------------------------------------------
def test_op_histogram_matches_f1(graph_def: GraphDef) -> None:
    assert dict(collections.Counter(node.op for node in graph_def.node)) == F1_OP_HISTOGRAM
    assert not any(node.op == "Placeholder" for node in graph_def.node)


def test_node_names_are_unique(graph_def: GraphDef) -> None:
    names = [node.name for node in graph_def.node]
    assert len(names) == len(set(names)) == sum(F1_OP_HISTOGRAM.values())


def test_control_edges_guard_every_unit_and_max_pool(nodes: dict) -> None:
    control = [(name, i) for name, node in nodes.items() for i in node.input if i.startswith("^")]
    assert len(control) == F1_CONTROL_EDGES
    guarded = set()
    for name, edge in control:
        scope = name.removesuffix("/control_dependency")
        assert name == f"{scope}/control_dependency" and edge == f"^{scope}/CheckNumerics"
        identity, check = nodes[name], nodes[f"{scope}/CheckNumerics"]
        assert identity.op == "Identity" and check.op == "CheckNumerics"
        assert identity.input[0] == check.input[0]  # checks the very tensor it passes on
        guarded.add(scope)
    assert guarded == {unit[0] for unit in EXPECTED_UNITS} | F7_MAX_POOLS


def test_const_parameter_count_matches_f1(graph_def: GraphDef) -> None:
    # summarize_graph counts elements; the scalar string JPEG is one element.
    count = sum(_value(node).size for node in graph_def.node if node.op == "Const")
    assert count == F1_CONST_PARAMETERS


def test_first_nodes_in_f2_order(graph_def: GraphDef) -> None:
    expected = [
        "DecodeJpeg/contents", "DecodeJpeg", "Cast", "ExpandDims/dim", "ExpandDims",
        "ResizeBilinear/size", "ResizeBilinear", "Sub/y", "Sub", "Mul/y", "Mul",
        *_unit_nodes("conv"), *_unit_nodes("conv_1"), *_unit_nodes("conv_2"),
        "pool/CheckNumerics", "pool/control_dependency", "pool",
        *_unit_nodes("conv_3"),
    ]  # fmt: skip
    assert [node.name for node in graph_def.node[: len(expected)]] == expected


def test_last_nodes_in_f3_u5_order(graph_def: GraphDef) -> None:
    names = [node.name for node in graph_def.node]
    consts = [node.name for node in graph_def.node if node.op == "Const"]
    assert consts[-5:] == [
        "mixed_10/tower_2/conv/batchnorm/moving_variance",
        "mixed_10/join/concat_dim",
        "pool_3/_reshape/shape",
        "softmax/weights",
        "softmax/biases",
    ]
    assert names[-10:] == [
        "mixed_10/join/concat_dim", "mixed_10/join", "pool_3", "pool_3/_reshape/shape",
        "pool_3/_reshape", "softmax/weights", "softmax/biases", "softmax/logits/MatMul",
        "softmax/logits", "softmax",
    ]  # fmt: skip
    assert consts.index("mixed_9/join/concat_dim") < consts.index("mixed_10/conv/conv2d_params")


def test_max_pools_are_the_five_of_f7_without_t(nodes: dict) -> None:
    pools = {name: node for name, node in nodes.items() if node.op == "MaxPool"}
    assert set(pools) == F7_MAX_POOLS
    for name, node in pools.items():
        assert "T" not in node.attr
        assert list(node.input) == [f"{name}/control_dependency"]
        stride = 1 if name == "mixed_10/tower_2/pool" else 2
        padding = b"SAME" if stride == 1 else b"VALID"
        assert _ints(node, "ksize") == [1, 3, 3, 1]
        assert _ints(node, "strides") == [1, stride, stride, 1]
        assert node.attr["padding"].s == padding


def test_avg_pools(nodes: dict) -> None:
    pools = {name: node for name, node in nodes.items() if node.op == "AvgPool"}
    no_avg_pool = ("mixed_3", "mixed_8", "mixed_10")
    tower_pools = {f"{b}/tower_2/pool" for b in EXPECTED_JOINS if b not in no_avg_pool}
    assert set(pools) == tower_pools | {"pool_3"}
    for name in tower_pools:
        node = pools[name]
        assert (_ints(node, "ksize"), _ints(node, "strides"), node.attr["padding"].s) == (
            [1, 3, 3, 1], [1, 1, 1, 1], b"SAME"
        )
    pool_3 = pools["pool_3"]
    assert (_ints(pool_3, "ksize"), _ints(pool_3, "strides"), pool_3.attr["padding"].s) == (
        [1, 8, 8, 1], [1, 1, 1, 1], b"VALID"
    )
    assert list(pools["pool_3"].input) == ["mixed_10/join"]


def test_units_match_torch_fidelity_mapping(nodes: dict) -> None:
    assert len(EXPECTED_UNITS) == 94
    for unit, _torchvision, kh, kw, cin, cout, stride, padding in EXPECTED_UNITS:
        assert _value(nodes[f"{unit}/conv2d_params"]).shape == (kh, kw, cin, cout), unit
        conv = nodes[f"{unit}/Conv2D"]
        assert conv.input[1] == f"{unit}/conv2d_params"
        assert _ints(conv, "strides") == [1, stride, stride, 1], unit
        assert conv.attr["padding"].s.decode() == padding, unit
        assert conv.attr["use_cudnn_on_gpu"].b
        bn = nodes[f"{unit}/batchnorm"]
        assert list(bn.input) == [f"{unit}/Conv2D"] + [
            f"{unit}/batchnorm/{p}" for p in ("moving_mean", "moving_variance", "beta", "gamma")
        ]
        assert bn.attr["variance_epsilon"].f == pytest.approx(0.001)
        assert bn.attr["scale_after_normalization"].b
        for param in ("beta", "gamma", "moving_mean", "moving_variance"):
            assert _value(nodes[f"{unit}/batchnorm/{param}"]).shape == (cout,), unit
        assert np.all(_value(nodes[f"{unit}/batchnorm/gamma"]) == 1.0)
        assert np.all(_value(nodes[f"{unit}/batchnorm/moving_variance"]) > 0)
        relu = nodes[unit]
        assert relu.op == "Relu" and list(relu.input) == [f"{unit}/control_dependency"]
    assert nodes["conv/Conv2D"].input[0] == "Mul"  # F7


def _expected_source(unit: str, block_input: str) -> str:
    """What a unit's Conv2D reads: towers are chains, ``mixed`` pairs share their parent."""
    scope, _, leaf = unit.rpartition("/")
    if leaf == "conv":
        if scope.endswith("/mixed"):  # mixed_9/10: tower/mixed/conv reads the tower's last unit
            tower = scope.removesuffix("/mixed")
            return f"{tower}/conv" if tower.endswith("/tower") else f"{tower}/conv_1"
        return f"{scope}/pool" if scope.endswith("tower_2") else block_input
    if scope.endswith("/mixed"):
        return _expected_source(f"{scope}/conv", block_input)
    k = int(leaf.removeprefix("conv_"))
    return f"{scope}/conv" if k == 1 else f"{scope}/conv_{k - 1}"


def test_units_and_pools_read_the_right_inputs(nodes: dict) -> None:
    blocks = list(EXPECTED_JOINS)
    block_inputs = {"mixed": "pool_1"} | {b: f"{a}/join" for a, b in zip(blocks, blocks[1:])}
    stem = {
        "conv": "Mul", "conv_1": "conv", "conv_2": "conv_1", "conv_3": "pool", "conv_4": "conv_3"
    }
    for unit, *_ in EXPECTED_UNITS:
        block = unit.split("/")[0]
        expected = stem[unit] if block in stem else _expected_source(unit, block_inputs[block])
        assert nodes[f"{unit}/Conv2D"].input[0] == expected, unit
    pool_inputs = {
        "pool": "conv_2",
        "pool_1": "conv_4",
        "mixed_3/pool": "mixed_2/join",
        "mixed_8/pool": "mixed_7/join",
    }
    for block, source in block_inputs.items():
        if f"{block}/tower_2/pool" in nodes:
            pool_inputs[f"{block}/tower_2/pool"] = source
    for pool, source in pool_inputs.items():
        reads = nodes[f"{pool}/CheckNumerics" if pool in F7_MAX_POOLS else pool].input[0]
        assert reads == source, pool


def test_joins_are_legacy_concat_in_u4_order(nodes: dict) -> None:
    concats = {name for name, node in nodes.items() if node.op == "Concat"}
    assert concats == {f"{block}/join" for block in EXPECTED_JOINS}
    for block, parts in EXPECTED_JOINS.items():
        node = nodes[f"{block}/join"]
        assert list(node.input) == [f"{block}/join/concat_dim"] + [f"{block}/{p}" for p in parts]
        assert node.attr["N"].i == len(parts)
        assert _value(nodes[f"{block}/join/concat_dim"]) == 3


def test_input_chain_and_head(nodes: dict) -> None:
    contents = _value(nodes["DecodeJpeg/contents"])
    assert contents.shape == () and contents.item()[:2] == b"\xff\xd8"
    decode = nodes["DecodeJpeg"].attr
    assert (decode["channels"].i, decode["ratio"].i, decode["fancy_upscaling"].b) == (3, 1, True)
    assert (decode["try_recover_truncated"].b, decode["acceptable_fraction"].f) == (False, 1.0)
    assert nodes["Cast"].attr["SrcT"].type == tf.uint8.as_datatype_enum
    assert _value(nodes["ExpandDims/dim"]) == 0
    resize = nodes["ResizeBilinear"]
    assert list(resize.input) == ["ExpandDims", "ResizeBilinear/size"]
    assert not resize.attr["align_corners"].b and "half_pixel_centers" not in resize.attr
    assert list(_value(nodes["ResizeBilinear/size"])) == [299, 299]
    assert _value(nodes["Sub/y"]) == np.float32(128.0)
    assert _value(nodes["Mul/y"]) == np.float32(0.0078125)
    assert list(nodes["Mul"].input) == ["Sub", "Mul/y"]
    assert list(_value(nodes["pool_3/_reshape/shape"])) == [1, 2048]
    assert list(nodes["pool_3/_reshape"].input) == ["pool_3", "pool_3/_reshape/shape"]
    assert list(nodes["softmax/logits/MatMul"].input) == ["pool_3/_reshape", "softmax/weights"]
    assert list(nodes["softmax/logits"].input) == ["softmax/logits/MatMul", "softmax/biases"]
    assert nodes["softmax/logits"].op == "BiasAdd"
    assert list(nodes["softmax"].input) == ["softmax/logits"]
    assert _value(nodes["softmax/weights"]).shape == (2048, 1008)
    assert _value(nodes["softmax/biases"]).shape == (1008,)


def test_dec_2015_attrs_versions_and_devices(graph_def: GraphDef) -> None:
    for node in graph_def.node:
        assert set(node.attr) == U6_ATTRS[node.op], node.name
        assert node.device == ""
    assert not graph_def.HasField("versions")  # U9: TensorFlow sees producer 0
    assert graph_def.version == 1


def test_weights_are_float32_with_distinct_batchnorm_inputs(nodes: dict) -> None:
    for name, node in nodes.items():
        shape_like = name.endswith(("concat_dim", "/dim", "/size", "/shape", "contents"))
        if node.op == "Const" and not shape_like:
            assert node.attr["dtype"].type == tf.float32.as_datatype_enum, name
    unit = "mixed_6/conv/batchnorm"
    values = [_value(nodes[f"{unit}/{p}"]) for p in ("beta", "moving_mean", "moving_variance")]
    for i, a in enumerate(values):
        for b in values[i + 1 :]:
            assert not np.allclose(a, b)


# ---------------------------------------------------------------------------------------------
# Running it (TF1 Session oracle)
# ---------------------------------------------------------------------------------------------
def test_forward_shapes_and_finite(full_outputs: dict[str, np.ndarray]) -> None:
    sfid, pool = full_outputs["mixed_6/conv:0"], full_outputs["pool_3:0"]
    assert sfid.shape == (N_IMAGES, 17, 17, 192)
    assert pool.shape == (N_IMAGES, 1, 1, 2048)
    assert np.isfinite(sfid).all() and np.isfinite(pool).all()


def test_features_differ_between_images_and_fit_float16(
    full_outputs: dict[str, np.ndarray],
) -> None:
    pool = full_outputs["pool_3:0"].reshape(N_IMAGES, -1)
    sfid = full_outputs["mixed_6/conv:0"][..., :7].reshape(N_IMAGES, -1)
    assert 0.05 < pool.mean() < 10 and pool.max() < 100
    norms = np.square(pool).sum(axis=1)
    distances = _pairwise_squared_distances(pool)
    # Precision/Recall computes |u|^2 - 2 u.v + |v|^2 in float16.
    assert norms.max() < FLOAT16_MAX / 16
    # Image-specific parts are a good fraction of the features, far above float16 rounding.
    assert distances.min() > 0.1 * norms.max()
    assert _pairwise_squared_distances(sfid).min() > 1.0


def test_softmax_is_neither_uniform_nor_one_hot(full_outputs: dict[str, np.ndarray]) -> None:
    pool = full_outputs["pool_3:0"].reshape(N_IMAGES, -1).astype(np.float64)
    logits = pool @ full_outputs["softmax/weights:0"]  # the evaluator's IS logits: no bias
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    assert np.all((p.max(axis=1) > 10 / 1008) & (p.max(axis=1) < 0.99))
    score = np.exp(np.mean(np.sum(p * (np.log(p) - np.log(p.mean(axis=0))), axis=1)))
    assert 1.5 < score <= N_IMAGES  # with N images the score cannot exceed N


def test_pool_3_reshape_keeps_the_batch_of_one_trap(full_runner: Runner) -> None:
    pool = np.ones((N_IMAGES, 1, 1, 2048), np.float32)
    with pytest.raises(tf.errors.InvalidArgumentError):
        full_runner.session.run("pool_3/_reshape:0", {"pool_3:0": pool})
    assert full_runner.session.run("pool_3/_reshape:0", {"pool_3:0": pool[:1]}).shape == (1, 2048)


def test_runs_unfed_on_its_embedded_jpeg(small_graph_def: GraphDef) -> None:
    """Like the original: no feed decodes DecodeJpeg/contents and classifies one image."""
    graph = tf.Graph()
    with graph.as_default():
        tf.import_graph_def(small_graph_def, name="")
    with tf.compat.v1.Session(graph=graph) as session:
        probabilities, flat = session.run(["softmax:0", "pool_3/_reshape:0"])
    assert probabilities.shape == (1, 1008) and flat.shape == (1, 2048)
    assert probabilities.sum() == pytest.approx(1.0, abs=1e-4)


def test_check_numerics_guards_the_feature_path(small_graph_def: GraphDef) -> None:
    runner = Runner(small_graph_def)
    try:
        images = _random_images(seed=2, n=1, hw=(16, 16))
        images[0, 3, 3, 0] = np.nan
        with pytest.raises(tf.errors.InvalidArgumentError, match="CheckNumerics|NaN"):
            runner.run(["mixed_6/conv:0"], images)
    finally:
        runner.close()


# ---------------------------------------------------------------------------------------------
# The small variant
# ---------------------------------------------------------------------------------------------
def test_small_variant_has_the_same_nodes(graph_def: GraphDef, small_graph_def: GraphDef) -> None:
    full = [(node.name, node.op, list(node.input)) for node in graph_def.node]
    small = [(node.name, node.op, list(node.input)) for node in small_graph_def.node]
    assert small == full


def test_small_variant_keeps_the_interface_shapes(small_graph_def: GraphDef) -> None:
    nodes = _nodes(small_graph_def)
    assert _value(nodes["mixed_6/conv/conv2d_params"]).shape[-1] == 192
    assert _value(nodes["softmax/weights"]).shape == (2048, 1008)
    assert _value(nodes["conv/conv2d_params"]).shape[-1] < 32  # internal channels shrank
    params = sum(_value(node).size for node in small_graph_def.node if node.op == "Const")
    assert params < F1_CONST_PARAMETERS / 3
    runner = Runner(small_graph_def)
    try:
        sfid, pool = runner.run(["mixed_6/conv:0", "pool_3:0"], _random_images(seed=3))
    finally:
        runner.close()
    assert sfid.shape == (N_IMAGES, 17, 17, 192) and pool.shape == (N_IMAGES, 1, 1, 2048)
    assert np.isfinite(sfid).all() and np.isfinite(pool).all()
    assert not np.allclose(pool[0], pool[1])


# ---------------------------------------------------------------------------------------------
# Seeds, files, command line
# ---------------------------------------------------------------------------------------------
def test_same_seed_same_bytes_other_seed_other_weights() -> None:
    width = 0.125  # the cheapest build: only determinism is tested here
    first = synthetic.build_graph_def(seed=7, width=width).SerializeToString()
    again = synthetic.build_graph_def(seed=7, width=width).SerializeToString()
    other = _nodes(synthetic.build_graph_def(seed=8, width=width))
    assert first == again
    mine = _nodes(_parse(first))
    for name in ("conv/conv2d_params", "mixed_6/conv/batchnorm/moving_variance", "softmax/weights"):
        assert not np.array_equal(_value(mine[name]), _value(other[name])), name


def test_write_graph_is_atomic_and_cli_writes_the_same_file(tmp_path: pathlib.Path) -> None:
    path = synthetic.write_graph(tmp_path / "sub" / "g.pb", seed=1, width=0.125)
    assert path == tmp_path / "sub" / "g.pb"
    assert [p.name for p in path.parent.iterdir()] == ["g.pb"]  # no temp file left behind
    assert synthetic.main([str(tmp_path / "cli.pb"), "--seed", "1", "--width", "0.125"]) == 0
    assert (tmp_path / "cli.pb").read_bytes() == path.read_bytes()


@pytest.mark.parametrize("width", [0.0, -1.0, 1.5])
def test_width_out_of_range_is_refused(width: float) -> None:
    with pytest.raises(ValueError, match="width"):
        synthetic.build_graph_def(width=width)
