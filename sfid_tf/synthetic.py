"""Synthetic stand-in for the 2015 frozen Inception-v3 graph ``classify_image_graph_def.pb``.

What it is for
--------------
The evaluator needs Google's original frozen graph, but this workplace (and CI) has no internet.
Tests therefore run on a graph written here: it has the original's node names, op types, shapes,
attributes and topology, and seeded random weights instead of the trained ones. Anything that
loads, rewrites or runs the real graph (legacy ops, the ``pool_3/_reshape`` batch-of-1 trap,
``CheckNumerics`` guards, MaxPools without ``T``) meets the same obstacles here.

NodeDefs are written directly as protos, never through TensorFlow ops, so that every legacy
detail is exactly under control (the legacy ``Concat`` op, ``BatchNormWithGlobalNormalization``,
Dec-2015 attribute sets, the deprecated ``GraphDef.version`` field).

Facts followed (numbers refer to ``GRAPH_FACTS.md``)
---------------------------------------------------
* F1: op histogram (489 Const, 99 CheckNumerics, 99 Identity, 94 each of
  BatchNormWithGlobalNormalization / Conv2D / Relu, 11 Concat, 9 AvgPool, 5 MaxPool, one each of
  the input/output ops), 99 control edges, no Placeholder, single output ``softmax``. The const
  parameter count is 23,885,411 at ``width=1.0``, counting the string JPEG as one element (as
  ``summarize_graph`` does: a scalar has one element). This matches the true architecture without
  any adjustment: 21,802,784 conv + 3 * 17,216 batch-norm elements (the Keras Inception-v3 count),
  plus 17,216 gammas, 2048 * 1008 + 1008 softmax elements and 19 small constants. The file is
  95,670,693 bytes; the original is reported as 95,673,916 (JPEG and messages differ).
* F2/F3: node order (input chain, then per unit ``conv2d_params, Conv2D, batchnorm/{beta, gamma,
  moving_mean, moving_variance}, batchnorm, CheckNumerics, control_dependency, <relu>``; pools
  guarded by their own pair; ``<block>/join/concat_dim`` then ``<block>/join``; the trailing
  ``pool_3/_reshape/shape, softmax/weights, softmax/biases`` constants).
* F5/F6: every unit name, channel count, kernel shape (1x7 vs 7x1 order), stride and padding of
  Inception-v3 as re-created by torch-fidelity / pytorch-fid; batch-norm epsilon 0.001 with gamma
  applied (all ones); tower_2 pools are 3x3/1 SAME AvgPools except ``mixed_10/tower_2/pool``, a
  3x3/1 SAME MaxPool; the top-level max pools are 3x3/2 VALID; ``(x - 128) * (1/128)``; resize to
  299x299 with ``align_corners=False`` and no ``half_pixel_centers`` attr; fc 2048 -> 1008.
* F7: exactly five MaxPools (``pool, pool_1, mixed_3/pool, mixed_8/pool, mixed_10/tower_2/pool``),
  without a ``T`` attr; ``conv/Conv2D`` reads ``Mul`` and ``conv/conv2d_params``.
* F8/F9/F10: ``DecodeJpeg/contents`` is a scalar string Const holding a (small, valid) JPEG;
  ``DecodeJpeg`` attrs channels=3, ratio=1, fancy_upscaling=true, try_recover_truncated=false,
  acceptable_fraction=1; ``softmax/logits = BiasAdd(MatMul(pool_3/_reshape, softmax/weights),
  softmax/biases)``; ``pool_3/_reshape`` reshapes to the fixed shape ``[1, 2048]``.

Uncertain facts and the choice made
-----------------------------------
* U1: F1's histogram is taken as the target.
* U2: the five extra CheckNumerics/control_dependency pairs guard the inputs of the five MaxPools
  (scope ``<pool>/CheckNumerics``), not ``pool_3``.
* U3: a unit's CheckNumerics checks the batchnorm output, ``control_dependency =
  Identity(batchnorm, ^CheckNumerics)``, the Relu reads ``control_dependency``; the CheckNumerics
  ``message`` is the unit's (or pool's) scope name.
* U4: concat input orders ``[conv, tower, tower_1, tower_2]``; mixed_3 ``[conv, tower, pool]``;
  mixed_8 ``[tower, tower_1, pool]``; mixed_9/mixed_10 ``[conv, tower/mixed/conv,
  tower/mixed/conv_1, tower_1/mixed/conv, tower_1/mixed/conv_1, tower_2/conv]``.
* U5: inside a block the units follow U4's order, a pool comes just before the conv that reads
  it, then ``join/concat_dim`` and ``join``; the graph ends ``pool_3, pool_3/_reshape/shape,
  pool_3/_reshape, softmax/weights, softmax/biases, softmax/logits/MatMul, softmax/logits,
  softmax``.
* U6: only attributes the ops had in Dec 2015: Conv2D {T, strides, padding, use_cudnn_on_gpu};
  MaxPool {ksize, strides, padding}; AvgPool {T, ksize, strides, padding}; Concat {N, T};
  ResizeBilinear {T, align_corners}; Cast {SrcT, DstT}; ExpandDims, Reshape, Sub, Mul, Relu,
  Identity, BiasAdd, Softmax {T}; MatMul {T, transpose_a, transpose_b}; no ``_class`` attrs.
  The importer fills today's defaults.
* U7: 1x1 convolutions are VALID in the stem (``conv_3``) and SAME inside blocks.
* U8: ``pool_3`` is an 8x8, stride 1, VALID AvgPool.
* U9: ``versions`` is left unset (TensorFlow sees producer 0) and deprecated ``version`` = 1.
* U10: no ``device`` on any node.
* U11: the JPEG is our own 16x16 colour gradient (681 bytes, baseline, embedded as fixed bytes),
  not the original's picture.
* U12: ``Sub/y`` = 128.0 and ``Mul/y`` = 0.0078125, float32 scalars.

Weights
-------
All values come from ``numpy.random.default_rng(seed)``, drawn in node order, and are float32.
Convolution filters are He-scaled Gaussians. Batch-norm statistics cannot be random: with random
filters, a fixed ``moving_variance`` lets activations shrink or grow layer after layer. So, while
the graph is written, the network is run eagerly (``tf.nn`` ops) on eight seeded calibration images
(uniform noise at 24x24, 64x80 and 299x299, black, white and a random flat colour, horizontal and
vertical colour ramps), and each unit gets:

* ``moving_variance`` = the channel's mean square on those images (its RMS squared), so every
  unit normalises to RMS ~1 without subtracting the calibration mean. Centring by the mean would
  make the random network chaotic (inputs unlike the calibration images blew up to features of
  ~1e3); dividing by the RMS keeps each unit positively homogeneous and activations O(1);
* ``moving_mean`` = 0.1 * N(0, 1) * RMS and ``beta`` = N(0, 0.1): small offsets, so that the four
  inputs of ``BatchNormWithGlobalNormalization`` hold distinct values (a rewrite that mixes them
  up changes the output); ``gamma`` = 1 as in the original;
* the six units feeding ``mixed_10/join`` have their RMS scaled by 1/4 and beta shifted to
  -4 * 1.25: their ReLUs fire rarely, so the 8x8 mean in ``pool_3`` is sparse and differs clearly
  between images instead of being dominated by a common mean.

``softmax/weights`` are Gaussian columns made orthogonal to the calibration images' mean
``pool_3`` vector (otherwise a common term dominates every image's logits and the Inception Score
is ~1), scaled so the remaining logits have standard deviation 3 on the calibration images;
``softmax/biases`` are N(0, 0.1) (the Inception Score ignores them).

Calibration statistics are rounded to 8 significant bits so that last-bit differences between
machines' convolution kernels almost never change the file; on one machine a seed fixes the file
byte for byte. Measured (seeds 0..3, both widths) on batches of uniform-noise uint8 images of
8x8 to 299x299 pixels: ``pool_3`` elements average 0.07..1.3 with maxima under 10, squared norms
and pairwise distances stay below ~6500 (float16 holds 65504), the mean correlation between two
images' features is 0.65..0.9, ``mixed_6/conv`` averages 0.3..0.5, and the Inception Score of 12
such images is 1.4..5 with top class probabilities 0.05..0.9. Inputs unlike every calibration
image can give larger features (a one-pixel 299x299 checkerboard: squared norms up to ~1.5e5).
The weights are NOT the trained ones: numbers computed with this graph mean nothing outside the
tests.

Width
-----
``width < 1`` gives a fast variant with the same node names, op types and topology, in which
internal channel counts are scaled (rounded to multiples of 8, at least 8) while the interface
keeps its shapes: ``mixed_6/conv`` keeps 192 channels, the six units that feed ``mixed_10/join``
keep theirs (so ``pool_3`` has 2048), and ``softmax/weights`` stays [2048, 1008]. At width 0.25
a TF1 Session forward pass is about 6x faster than at full width (2 CPU cores: ~70 vs ~11 images/s
for batches of 16 at 64x64) and the file is 16 MB.
"""

from __future__ import annotations

import argparse
import base64
import collections
import dataclasses
import math
import os
import pathlib
import tempfile
from collections.abc import Sequence

import numpy as np

from .runtime import tensorflow

tf = tensorflow()  # imported quietly, before the protobuf modules below pull it in
from tensorflow.core.framework import attr_value_pb2, graph_pb2, node_def_pb2, types_pb2  # noqa: E402

__all__ = ["build_graph_def", "write_graph", "main"]

# ---------------------------------------------------------------------------------------------
# Constants of the original graph
# ---------------------------------------------------------------------------------------------
IMAGE_SIZE = 299
INPUT_MEAN = 128.0
INPUT_SCALE = 0.0078125  # 1 / 128
BN_EPSILON = 0.001
NUM_CLASSES = 1008
POOL_FEATURES = 2048
DEPRECATED_GRAPH_VERSION = 1  # U9
CONCAT_AXIS = 3  # NHWC channels

#: A 16x16 colour gradient encoded as a baseline JPEG (U11); fixed bytes keep the file
#: reproducible across TensorFlow versions.
JPEG_BYTES = base64.b64decode(
    "/9j/4AAQSkZJRgABAQEBLAEsAAD/2wBDAAMCAgMCAgMDAwMEAwMEBQgFBQQEBQoHBwYIDAoMDAsKCwsNDhIQ"
    "DQ4RDgsLEBYQERMUFRUVDA8XGBYUGBIUFRT/2wBDAQMEBAUEBQkFBQkUDQsNFBQUFBQUFBQUFBQUFBQUFBQU"
    "FBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBT/wAARCAAQABADASIAAhEBAxEB/8QAHwAAAQUBAQEB"
    "AQEAAAAAAAAAAAECAwQFBgcICQoL/8QAtRAAAgEDAwIEAwUFBAQAAAF9AQIDAAQRBRIhMUEGE1FhByJxFDKB"
    "kaEII0KxwRVS0fAkM2JyggkKFhcYGRolJicoKSo0NTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1"
    "dnd4eXqDhIWGh4iJipKTlJWWl5iZmqKjpKWmp6ipqrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi4+Tl"
    "5ufo6erx8vP09fb3+Pn6/8QAHwEAAwEBAQEBAQEBAQAAAAAAAAECAwQFBgcICQoL/8QAtREAAgECBAQDBAcF"
    "BAQAAQJ3AAECAxEEBSExBhJBUQdhcRMiMoEIFEKRobHBCSMzUvAVYnLRChYkNOEl8RcYGRomJygpKjU2Nzg5"
    "OkNERUZHSElKU1RVVldYWVpjZGVmZ2hpanN0dXZ3eHl6goOEhYaHiImKkpOUlZaXmJmaoqOkpaanqKmqsrO0"
    "tba3uLm6wsPExcbHyMnK0tPU1dbX2Nna4uPk5ebn6Onq8vP09fb3+Pn6/9oADAMBAAIRAxEAPwD5q8OfDL7n"
    "7r9K9T8N/DL7n7r9K9i8OfDL7v7r9K9T8OfDL7v7r9K9Tj3xV+P95+JHhhxv/D9/sf/Z"
)

# ---------------------------------------------------------------------------------------------
# Weight scales (see "Weights" in the module docstring)
# ---------------------------------------------------------------------------------------------
CONV_GAIN = 2.0  # He initialisation: Var(w) = gain / fan_in
BETA_STD = 0.1  # beta ~ N(0, BETA_STD), in units of the normalised activation
MEAN_OFFSET_STD = 0.1  # moving_mean ~ N(0, MEAN_OFFSET_STD) * channel RMS
VARIANCE_FLOOR = 1e-6  # keeps moving_variance positive for a channel that never responds
FEATURE_GAIN = 4.0  # units feeding mixed_10/join: BN output = gain * normalised - threshold
FEATURE_THRESHOLD = 1.25  # ... so pool_3 averages sparse, image-dependent activations
LOGIT_STD = 3.0  # spread of image-dependent logits on the calibration images
SOFTMAX_BIAS_STD = 0.1
STAT_MANTISSA_BITS = 8  # calibrated statistics are rounded so tiny float noise does not show
CALIBRATION_NOISE_SIZES = ((24, 24), (64, 80), (299, 299))  # seeded uniform-noise images

_FLOAT = types_pb2.DT_FLOAT


# ---------------------------------------------------------------------------------------------
# Architecture table: the layers after ``Mul`` in GraphDef order
# ---------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Unit:
    """One conv unit ``<name>/Conv2D -> batchnorm -> guard -> Relu <name>``.

    ``keep`` marks interface units whose channel count is not scaled by ``width``.
    """

    name: str
    source: str
    channels: int
    kernel: tuple[int, int]
    stride: int = 1
    padding: str = "SAME"
    keep: bool = False


@dataclasses.dataclass(frozen=True)
class Pool:
    """A pooling node; MaxPools get a CheckNumerics guard (U2), AvgPools do not."""

    name: str
    source: str
    op: str  # "MaxPool" or "AvgPool"
    size: int = 3
    stride: int = 1
    padding: str = "SAME"


@dataclasses.dataclass(frozen=True)
class Join:
    """A block's legacy ``Concat`` node ``<block>/join`` over ``sources`` (U4 order)."""

    block: str
    sources: tuple[str, ...]

    @property
    def name(self) -> str:
        return f"{self.block}/join"


Layer = Unit | Pool | Join


def _stem() -> list[Layer]:
    """conv .. pool_1: 299 -> 35, 192 channels."""
    return [
        Unit("conv", "Mul", 32, (3, 3), 2, "VALID"),
        Unit("conv_1", "conv", 32, (3, 3), 1, "VALID"),
        Unit("conv_2", "conv_1", 64, (3, 3), 1, "SAME"),
        Pool("pool", "conv_2", "MaxPool", 3, 2, "VALID"),
        Unit("conv_3", "pool", 80, (1, 1), 1, "VALID"),  # U7
        Unit("conv_4", "conv_3", 192, (3, 3), 1, "VALID"),
        Pool("pool_1", "conv_4", "MaxPool", 3, 2, "VALID"),
    ]


def _block_35(block: str, source: str, pool_channels: int) -> list[Layer]:
    """mixed, mixed_1, mixed_2 (torchvision InceptionA)."""
    b = block
    return [
        Unit(f"{b}/conv", source, 64, (1, 1)),
        Unit(f"{b}/tower/conv", source, 48, (1, 1)),
        Unit(f"{b}/tower/conv_1", f"{b}/tower/conv", 64, (5, 5)),
        Unit(f"{b}/tower_1/conv", source, 64, (1, 1)),
        Unit(f"{b}/tower_1/conv_1", f"{b}/tower_1/conv", 96, (3, 3)),
        Unit(f"{b}/tower_1/conv_2", f"{b}/tower_1/conv_1", 96, (3, 3)),
        Pool(f"{b}/tower_2/pool", source, "AvgPool"),
        Unit(f"{b}/tower_2/conv", f"{b}/tower_2/pool", pool_channels, (1, 1)),
        Join(b, (f"{b}/conv", f"{b}/tower/conv_1", f"{b}/tower_1/conv_2", f"{b}/tower_2/conv")),
    ]


def _reduction_35(block: str, source: str) -> list[Layer]:
    """mixed_3 (InceptionB): 35 -> 17."""
    b = block
    return [
        Unit(f"{b}/conv", source, 384, (3, 3), 2, "VALID"),
        Unit(f"{b}/tower/conv", source, 64, (1, 1)),
        Unit(f"{b}/tower/conv_1", f"{b}/tower/conv", 96, (3, 3)),
        Unit(f"{b}/tower/conv_2", f"{b}/tower/conv_1", 96, (3, 3), 2, "VALID"),
        Pool(f"{b}/pool", source, "MaxPool", 3, 2, "VALID"),
        Join(b, (f"{b}/conv", f"{b}/tower/conv_2", f"{b}/pool")),
    ]


def _block_17(block: str, source: str, c7: int) -> list[Layer]:
    """mixed_4 .. mixed_7 (InceptionC); ``mixed_6/conv`` is the sFID layer and keeps 192."""
    b = block
    return [
        Unit(f"{b}/conv", source, 192, (1, 1), keep=(b == "mixed_6")),
        Unit(f"{b}/tower/conv", source, c7, (1, 1)),
        Unit(f"{b}/tower/conv_1", f"{b}/tower/conv", c7, (1, 7)),
        Unit(f"{b}/tower/conv_2", f"{b}/tower/conv_1", 192, (7, 1)),
        Unit(f"{b}/tower_1/conv", source, c7, (1, 1)),
        Unit(f"{b}/tower_1/conv_1", f"{b}/tower_1/conv", c7, (7, 1)),
        Unit(f"{b}/tower_1/conv_2", f"{b}/tower_1/conv_1", c7, (1, 7)),
        Unit(f"{b}/tower_1/conv_3", f"{b}/tower_1/conv_2", c7, (7, 1)),
        Unit(f"{b}/tower_1/conv_4", f"{b}/tower_1/conv_3", 192, (1, 7)),
        Pool(f"{b}/tower_2/pool", source, "AvgPool"),
        Unit(f"{b}/tower_2/conv", f"{b}/tower_2/pool", 192, (1, 1)),
        Join(b, (f"{b}/conv", f"{b}/tower/conv_2", f"{b}/tower_1/conv_4", f"{b}/tower_2/conv")),
    ]


def _reduction_17(block: str, source: str) -> list[Layer]:
    """mixed_8 (InceptionD): 17 -> 8."""
    b = block
    return [
        Unit(f"{b}/tower/conv", source, 192, (1, 1)),
        Unit(f"{b}/tower/conv_1", f"{b}/tower/conv", 320, (3, 3), 2, "VALID"),
        Unit(f"{b}/tower_1/conv", source, 192, (1, 1)),
        Unit(f"{b}/tower_1/conv_1", f"{b}/tower_1/conv", 192, (1, 7)),
        Unit(f"{b}/tower_1/conv_2", f"{b}/tower_1/conv_1", 192, (7, 1)),
        Unit(f"{b}/tower_1/conv_3", f"{b}/tower_1/conv_2", 192, (3, 3), 2, "VALID"),
        Pool(f"{b}/pool", source, "MaxPool", 3, 2, "VALID"),
        Join(b, (f"{b}/tower/conv_1", f"{b}/tower_1/conv_3", f"{b}/pool")),
    ]


def _block_8(block: str, source: str, pool_op: str, keep: bool) -> list[Layer]:
    """mixed_9, mixed_10 (InceptionE); no inner concat in ``tower/mixed`` (F3)."""
    b = block
    return [
        Unit(f"{b}/conv", source, 320, (1, 1), keep=keep),
        Unit(f"{b}/tower/conv", source, 384, (1, 1)),
        Unit(f"{b}/tower/mixed/conv", f"{b}/tower/conv", 384, (1, 3), keep=keep),
        Unit(f"{b}/tower/mixed/conv_1", f"{b}/tower/conv", 384, (3, 1), keep=keep),
        Unit(f"{b}/tower_1/conv", source, 448, (1, 1)),
        Unit(f"{b}/tower_1/conv_1", f"{b}/tower_1/conv", 384, (3, 3)),
        Unit(f"{b}/tower_1/mixed/conv", f"{b}/tower_1/conv_1", 384, (1, 3), keep=keep),
        Unit(f"{b}/tower_1/mixed/conv_1", f"{b}/tower_1/conv_1", 384, (3, 1), keep=keep),
        Pool(f"{b}/tower_2/pool", source, pool_op),
        Unit(f"{b}/tower_2/conv", f"{b}/tower_2/pool", 192, (1, 1), keep=keep),
        Join(
            b,
            (
                f"{b}/conv",
                f"{b}/tower/mixed/conv",
                f"{b}/tower/mixed/conv_1",
                f"{b}/tower_1/mixed/conv",
                f"{b}/tower_1/mixed/conv_1",
                f"{b}/tower_2/conv",
            ),
        ),
    ]


def _inception_v3() -> tuple[Layer, ...]:
    """All 94 units, 14 pools and 11 joins, in GraphDef order (U5)."""
    layers = _stem()
    layers += _block_35("mixed", "pool_1", 32)
    layers += _block_35("mixed_1", "mixed/join", 64)
    layers += _block_35("mixed_2", "mixed_1/join", 64)
    layers += _reduction_35("mixed_3", "mixed_2/join")
    layers += _block_17("mixed_4", "mixed_3/join", 128)
    layers += _block_17("mixed_5", "mixed_4/join", 160)
    layers += _block_17("mixed_6", "mixed_5/join", 160)
    layers += _block_17("mixed_7", "mixed_6/join", 192)
    layers += _reduction_17("mixed_8", "mixed_7/join")
    layers += _block_8("mixed_9", "mixed_8/join", "AvgPool", keep=False)
    layers += _block_8("mixed_10", "mixed_9/join", "MaxPool", keep=True)
    return tuple(layers)


ARCHITECTURE: tuple[Layer, ...] = _inception_v3()
LAST_JOIN = "mixed_10/join"


# ---------------------------------------------------------------------------------------------
# Attribute helpers
# ---------------------------------------------------------------------------------------------
AttrValue = attr_value_pb2.AttrValue


def _type(dtype: int) -> AttrValue:
    return AttrValue(type=dtype)


def _ints(values: Sequence[int]) -> AttrValue:
    return AttrValue(list=AttrValue.ListValue(i=list(values)))


def _int(value: int) -> AttrValue:
    return AttrValue(i=value)


def _float(value: float) -> AttrValue:
    return AttrValue(f=value)


def _bool(value: bool) -> AttrValue:
    return AttrValue(b=value)


def _str(value: str) -> AttrValue:
    return AttrValue(s=value.encode())


def _window(size: int) -> AttrValue:
    """NHWC ksize/strides list for a square window."""
    return _ints([1, size, size, 1])


# ---------------------------------------------------------------------------------------------
# The builder
# ---------------------------------------------------------------------------------------------
def scaled_channels(channels: int, width: float, keep: bool = False) -> int:
    """Channel count of a unit in the ``width`` variant: multiples of 8, at least 8."""
    if keep or width >= 1.0:
        return channels
    return max(8, 8 * math.floor(channels * width / 8 + 0.5))


def calibration_images(rng: np.random.Generator) -> list[np.ndarray]:
    """Seeded float32 images [H, W, 3] in [0, 255] of several kinds, so that batch-norm statistics
    cover coarse and pixel-level noise, flat colours and smooth gradients alike."""
    images = [
        rng.integers(0, 256, (h, w, 3)).astype(np.float32) for h, w in CALIBRATION_NOISE_SIZES
    ]
    for colour in (np.zeros(3), np.full(3, 255.0), rng.uniform(0, 255, 3)):
        images.append(np.broadcast_to(colour, (16, 16, 3)).astype(np.float32))
    ramp = np.linspace(0.0, 1.0, 64)
    for colour, axis in zip(rng.uniform(0, 255, (2, 3)), (0, 1)):
        image = np.broadcast_to(ramp[:, None, None] * colour, (64, 64, 3))
        images.append(np.ascontiguousarray(np.swapaxes(image, 0, 1) if axis else image, np.float32))
    return images


class _Calibration:
    """The network run eagerly on the calibration images while it is being written.

    Trained batch norm holds real statistics of each channel; random filters have none, so they
    are measured here (see ``_Builder.batchnorm_params``). Each layer's value is released as soon
    as its last consumer has read it, which keeps memory to a few hundred MB at full width.
    """

    def __init__(self, rng: np.random.Generator, consumers: collections.Counter[str]) -> None:
        images = calibration_images(rng)
        resized = [
            tf.raw_ops.ResizeBilinear(
                images=tf.constant(image[None]),
                size=[IMAGE_SIZE, IMAGE_SIZE],
                align_corners=False,
                half_pixel_centers=False,
            )
            for image in images
        ]
        normalised = (tf.concat(resized, 0) - INPUT_MEAN) * INPUT_SCALE
        self.values: dict[str, tf.Tensor] = {"Mul": normalised}
        self.uses = consumers

    def take(self, name: str) -> tf.Tensor:
        value = self.values[name]
        self.uses[name] -= 1
        if self.uses[name] <= 0:
            del self.values[name]
        return value

    def put(self, name: str, value: tf.Tensor) -> None:
        self.values[name] = value


def _consumers() -> collections.Counter[str]:
    """How often each layer output is read (the head reads LAST_JOIN once)."""
    uses: collections.Counter[str] = collections.Counter({LAST_JOIN: 1})
    for layer in ARCHITECTURE:
        uses.update(layer.sources if isinstance(layer, Join) else [layer.source])
    return uses


def _last_join() -> Join:
    """The join whose channels ``pool_3`` averages; its inputs are the feature units."""
    joins = (layer for layer in ARCHITECTURE if isinstance(layer, Join))
    return next(join for join in joins if join.name == LAST_JOIN)


def _round_mantissa(x: np.ndarray, bits: int = STAT_MANTISSA_BITS) -> np.ndarray:
    """Round to ``bits`` significant bits so last-bit float noise cannot change the file."""
    mantissa, exponent = np.frexp(np.asarray(x, np.float64))
    return np.ldexp(np.round(mantissa * 2.0**bits) / 2.0**bits, exponent).astype(np.float32)


class _Builder:
    """Appends NodeDefs to one GraphDef, tracking channel counts and the calibration run."""

    def __init__(self, seed: int, width: float) -> None:
        self.graph = graph_pb2.GraphDef()
        self.graph.version = DEPRECATED_GRAPH_VERSION  # deprecated field; `versions` unset (U9)
        self.rng = np.random.default_rng(seed)
        self.width = width
        self.channels: dict[str, int] = {}
        self.calibration = _Calibration(self.rng, _consumers())
        self.feature_units = set(_last_join().sources)

    # -- generic nodes ------------------------------------------------------------------------
    def node(self, name: str, op: str, inputs: Sequence[str] = (), **attrs: AttrValue) -> str:
        node = node_def_pb2.NodeDef(name=name, op=op, input=list(inputs))
        for key, value in attrs.items():
            node.attr[key].CopyFrom(value)
        self.graph.node.append(node)
        return name

    def const(self, name: str, value: np.ndarray | bytes) -> str:
        proto = tf.make_tensor_proto(value)
        return self.node(name, "Const", dtype=_type(proto.dtype), value=AttrValue(tensor=proto))

    def guard(self, scope: str, tensor: str) -> str:
        """CheckNumerics + Identity with a control edge: the original's NaN/Inf trap (U2, U3)."""
        check = self.node(
            f"{scope}/CheckNumerics", "CheckNumerics", [tensor], T=_type(_FLOAT),
            message=_str(scope),
        )
        return self.node(
            f"{scope}/control_dependency", "Identity", [tensor, f"^{check}"], T=_type(_FLOAT)
        )

    # -- layers --------------------------------------------------------------------------------
    def input_chain(self) -> None:
        """DecodeJpeg/contents .. Mul (F2, F8, F9, F10, U12)."""
        contents = self.const("DecodeJpeg/contents", JPEG_BYTES)
        decoded = self.node(
            "DecodeJpeg",
            "DecodeJpeg",
            [contents],
            channels=_int(3),
            ratio=_int(1),
            fancy_upscaling=_bool(True),
            try_recover_truncated=_bool(False),
            acceptable_fraction=_float(1.0),
        )
        cast = self.node(
            "Cast", "Cast", [decoded], SrcT=_type(types_pb2.DT_UINT8), DstT=_type(_FLOAT)
        )
        dim = self.const("ExpandDims/dim", np.int32(0))
        batch = self.node("ExpandDims", "ExpandDims", [cast, dim], T=_type(_FLOAT))
        size = self.const("ResizeBilinear/size", np.array([IMAGE_SIZE, IMAGE_SIZE], np.int32))
        resized = self.node(
            "ResizeBilinear", "ResizeBilinear", [batch, size], T=_type(_FLOAT),
            align_corners=_bool(False),
        )
        sub_y = self.const("Sub/y", np.float32(INPUT_MEAN))
        centred = self.node("Sub", "Sub", [resized, sub_y], T=_type(_FLOAT))
        mul_y = self.const("Mul/y", np.float32(INPUT_SCALE))
        self.node("Mul", "Mul", [centred, mul_y], T=_type(_FLOAT))
        self.channels["Mul"] = 3

    def unit(self, unit: Unit) -> None:
        cin = self.channels[unit.source]
        cout = scaled_channels(unit.channels, self.width, unit.keep)
        kh, kw = unit.kernel
        weights = self.conv_weights(kh, kw, cin, cout)
        params = self.const(f"{unit.name}/conv2d_params", weights)
        conv = self.node(
            f"{unit.name}/Conv2D",
            "Conv2D",
            [unit.source, params],
            T=_type(_FLOAT),
            strides=_window(unit.stride),
            padding=_str(unit.padding),
            use_cudnn_on_gpu=_bool(True),
        )
        y = tf.nn.conv2d(self.calibration.take(unit.source), weights, unit.stride, unit.padding)
        feature = unit.name in self.feature_units
        beta, gamma, mean, variance = self.batchnorm_params(y.numpy(), feature)
        bn = f"{unit.name}/batchnorm"
        self.const(f"{bn}/beta", beta)
        self.const(f"{bn}/gamma", gamma)
        self.const(f"{bn}/moving_mean", mean)
        self.const(f"{bn}/moving_variance", variance)
        self.node(
            bn,
            "BatchNormWithGlobalNormalization",
            [conv, f"{bn}/moving_mean", f"{bn}/moving_variance", f"{bn}/beta", f"{bn}/gamma"],
            T=_type(_FLOAT),
            variance_epsilon=_float(BN_EPSILON),
            scale_after_normalization=_bool(True),
        )
        self.node(unit.name, "Relu", [self.guard(unit.name, bn)], T=_type(_FLOAT))
        self.channels[unit.name] = cout
        normalised = (y - mean) * tf.math.rsqrt(variance + np.float32(BN_EPSILON)) * gamma + beta
        self.calibration.put(unit.name, tf.nn.relu(normalised))

    def pool(self, pool: Pool) -> None:
        attrs = {
            "ksize": _window(pool.size),
            "strides": _window(pool.stride),
            "padding": _str(pool.padding),
        }
        if pool.op == "MaxPool":  # guarded, and no T attr (F7, U2)
            self.node(pool.name, "MaxPool", [self.guard(pool.name, pool.source)], **attrs)
            run = tf.nn.max_pool2d
        else:
            self.node(pool.name, "AvgPool", [pool.source], T=_type(_FLOAT), **attrs)
            run = tf.nn.avg_pool2d
        self.channels[pool.name] = self.channels[pool.source]
        value = run(self.calibration.take(pool.source), pool.size, pool.stride, pool.padding)
        self.calibration.put(pool.name, value)

    def join(self, join: Join) -> None:
        axis = self.const(f"{join.name}/concat_dim", np.int32(CONCAT_AXIS))
        inputs = [axis, *join.sources]
        self.node(join.name, "Concat", inputs, N=_int(len(join.sources)), T=_type(_FLOAT))
        self.channels[join.name] = sum(self.channels[s] for s in join.sources)
        parts = [self.calibration.take(s) for s in join.sources]
        self.calibration.put(join.name, tf.concat(parts, CONCAT_AXIS))

    def head(self) -> None:
        """pool_3 .. softmax (F8, F10, U5, U8)."""
        if self.channels[LAST_JOIN] != POOL_FEATURES:
            raise AssertionError(f"{LAST_JOIN} has {self.channels[LAST_JOIN]} channels")
        pool = self.node(
            "pool_3", "AvgPool", [LAST_JOIN], T=_type(_FLOAT), ksize=_window(8), strides=_window(1),
            padding=_str("VALID"),
        )
        shape = self.const("pool_3/_reshape/shape", np.array([1, POOL_FEATURES], np.int32))
        flat = self.node("pool_3/_reshape", "Reshape", [pool, shape], T=_type(_FLOAT))
        features = tf.reduce_mean(self.calibration.take(LAST_JOIN), axis=(1, 2)).numpy()
        weights, biases = self.softmax_params(features)
        weights = self.const("softmax/weights", weights)
        biases = self.const("softmax/biases", biases)
        matmul = self.node(
            "softmax/logits/MatMul", "MatMul", [flat, weights], T=_type(_FLOAT),
            transpose_a=_bool(False), transpose_b=_bool(False),
        )
        logits = self.node("softmax/logits", "BiasAdd", [matmul, biases], T=_type(_FLOAT))
        self.node("softmax", "Softmax", [logits], T=_type(_FLOAT))

    # -- weights -------------------------------------------------------------------------------
    def normal(self, shape: Sequence[int], std: float = 1.0) -> np.ndarray:
        return self.rng.standard_normal(tuple(shape), dtype=np.float32) * np.float32(std)

    def conv_weights(self, kh: int, kw: int, cin: int, cout: int) -> np.ndarray:
        """He-scaled random filters [kh, kw, cin, cout]."""
        return self.normal((kh, kw, cin, cout), math.sqrt(CONV_GAIN / (kh * kw * cin)))

    def batchnorm_params(self, conv_out: np.ndarray, feature: bool) -> tuple[np.ndarray, ...]:
        """beta, gamma (ones), moving_mean, moving_variance for one unit.

        ``moving_variance`` is the channel's mean square on the calibration images, so the unit
        divides by its RMS and, like ReLU itself, stays positively homogeneous: an input unlike
        the calibration images changes activations in proportion instead of exploding layer
        after layer (as centring by the calibration mean would). ``moving_mean`` and ``beta`` are
        small random offsets, so all four inputs of the op hold distinct values. Units feeding
        ``pool_3`` are scaled by FEATURE_GAIN and shifted down by FEATURE_THRESHOLD: their ReLUs
        fire rarely, so the 8x8 average differs clearly from image to image.
        """
        channels = conv_out.shape[-1]
        mean_square = np.mean(np.square(conv_out.reshape(-1, channels), dtype=np.float64), axis=0)
        gain, threshold = (FEATURE_GAIN, FEATURE_THRESHOLD) if feature else (1.0, 0.0)
        beta = (self.normal((channels,), BETA_STD) - np.float32(threshold)) * np.float32(gain)
        gamma = np.ones((channels,), np.float32)
        mean = _round_mantissa(self.normal((channels,), MEAN_OFFSET_STD) * np.sqrt(mean_square))
        variance = _round_mantissa(mean_square / gain**2 + VARIANCE_FLOOR)
        return beta, gamma, mean, variance

    def softmax_params(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Random class vectors orthogonal to the mean feature, scaled to LOGIT_STD.

        Without the projection every image's logits would share the large mean term and the
        softmax would be nearly the same for all images (Inception Score close to 1).
        """
        weights = self.normal((POOL_FEATURES, NUM_CLASSES)).astype(np.float64)
        features = features.astype(np.float64)
        mean = _round_mantissa(features.mean(axis=0)).astype(np.float64)
        weights -= np.outer(mean, mean @ weights) / (mean @ mean)
        scale = _round_mantissa(LOGIT_STD / ((features - mean) @ weights).std())
        weights = (weights * scale).astype(np.float32)
        biases = self.normal((NUM_CLASSES,), SOFTMAX_BIAS_STD)
        return weights, biases


def build_graph_def(seed: int = 0, width: float = 1.0) -> graph_pb2.GraphDef:
    """The synthetic Inception graph as a GraphDef (see the module docstring for what it fixes)."""
    if not 0.0 < width <= 1.0:
        raise ValueError(f"width must be in (0, 1], got {width}")
    with tf.init_scope():  # the calibration runs eagerly, also when called inside a tf.function
        if not tf.executing_eagerly():
            raise RuntimeError(
                "build_graph_def runs TensorFlow eagerly: call it outside "
                "`tf.Graph().as_default()` and without disable_eager_execution()"
            )
        builder = _Builder(seed, width)
        builder.input_chain()
        for layer in ARCHITECTURE:
            if isinstance(layer, Unit):
                builder.unit(layer)
            elif isinstance(layer, Pool):
                builder.pool(layer)
            else:
                builder.join(layer)
        builder.head()
    return builder.graph


def write_graph(path: str | os.PathLike[str], seed: int = 0, width: float = 1.0) -> pathlib.Path:
    """Serialise the synthetic graph to ``path`` atomically (temp file in the same folder)."""
    path = pathlib.Path(path)
    data = build_graph_def(seed, width).SerializeToString()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; the graph is not a secret
        os.replace(tmp, path)
    except BaseException:
        pathlib.Path(tmp).unlink(missing_ok=True)
        raise
    return path


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m sfid_tf.synthetic OUT.pb [--seed S] [--width W]``."""
    parser = argparse.ArgumentParser(
        prog="python -m sfid_tf.synthetic",
        description="Write a synthetic stand-in for classify_image_graph_def.pb (random weights).",
    )
    parser.add_argument("out", type=pathlib.Path, help="output .pb path")
    parser.add_argument("--seed", type=int, default=0, help="weight seed (default 0)")
    parser.add_argument(
        "--width", type=float, default=1.0, help="channel scale in (0, 1] (default 1)"
    )
    args = parser.parse_args(argv)
    path = write_graph(args.out, seed=args.seed, width=args.width)
    print(f"wrote {path} ({path.stat().st_size} bytes, seed {args.seed}, width {args.width})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
