"""Extract features: run the graph on uint8 image batches, and turn pool features into class
probabilities for the Inception Score.

Images cross into TensorFlow as uint8 and are cast to float32 there (exactly the values the
ADM evaluator feeds); the graph resizes to 299x299 and normalises by itself.
"""

from __future__ import annotations

import queue
import sys
import threading
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np
from tqdm import tqdm

from .errors import SfidError
from .graph import (
    INPUT_TENSOR,
    POOL_DIM,
    POOL_TENSOR,
    SPATIAL_CHANNELS,
    SPATIAL_CHANNELS_IN_GRAPH,
    SPATIAL_DIM,
    SPATIAL_GRID,
    SPATIAL_TENSOR,
    prune,
    replace_legacy_batchnorm,
)
from .runtime import tensorflow

POOL = "pool"
SPATIAL = "spatial"
OUTPUTS = (POOL, SPATIAL)
_TENSORS = {POOL: POOL_TENSOR, SPATIAL: SPATIAL_TENSOR}
_EXPECTED_SHAPES = {POOL: [None, 1, 1, POOL_DIM], SPATIAL: [None, *SPATIAL_GRID, SPATIAL_CHANNELS_IN_GRAPH]}
DEFAULT_BATCH_SIZE = 64  # the ADM evaluator's; kept so each image meets the same kernels
SOFTMAX_BATCH_SIZE = 512  # likewise for the class probabilities


@dataclass
class Features:
    """Per-image features, float32: pool [N, 2048] and spatial [N, 2023] (NHWC order, channel fastest)."""

    pool: np.ndarray | None
    spatial: np.ndarray | None


class FeatureExtractor:
    """The graph as a TensorFlow 2 function from uint8 NHWC images to the requested features."""

    def __init__(self, graph_def, outputs: Sequence[str] = OUTPUTS):
        unknown = set(outputs) - set(OUTPUTS)
        if unknown or not outputs:
            raise ValueError(f"outputs must be a non-empty subset of {OUTPUTS}, got {tuple(outputs)}")
        self.outputs = tuple(o for o in OUTPUTS if o in outputs)
        self._function = _wrap(replace_legacy_batchnorm(graph_def), self.outputs)

    def __call__(self, images: np.ndarray) -> dict[str, np.ndarray]:
        """Features of one batch of uint8 images [B, H, W, 3]."""
        tf = tensorflow()
        try:
            result = self._function(tf.constant(images))
        except tf.errors.InvalidArgumentError as error:
            raise SfidError(f"the Inception graph failed on a batch: {error.message.splitlines()[0]}") from None
        return {name: result[name].numpy() for name in self.outputs}

    def extract(self, batches: Iterable[np.ndarray], count: int, desc: str = "features", progress: bool = True) -> Features:
        """Features of all images; the next batch is read while the network runs on this one."""
        arrays = {name: np.empty((count, _dim(name)), dtype=np.float32) for name in self.outputs}
        done = 0
        with tqdm(total=count, desc=desc, unit="img", file=sys.stderr, disable=not progress, dynamic_ncols=True) as bar:
            for batch in prefetch(batches):
                for name, values in self(batch).items():
                    arrays[name][done : done + len(batch)] = values
                done += len(batch)
                bar.update(len(batch))
        if done != count:
            raise SfidError(f"expected {count} images but read {done}")
        return Features(pool=arrays.get(POOL), spatial=arrays.get(SPATIAL))


def _dim(output: str) -> int:
    return POOL_DIM if output == POOL else SPATIAL_DIM


def _wrap(graph_def, outputs: tuple[str, ...]) -> Callable:
    """Import the (pruned) graph inside a function whose input replaces `ExpandDims:0`, so any
    batch size and image size flow through; `pool_3/_reshape`, which fixes a batch of 1, is never used."""
    tf = tensorflow()
    names = [_TENSORS[o] for o in outputs]
    graph_def = prune(graph_def, names)

    def features(images):
        pixels = tf.cast(images, tf.float32)
        tensors = tf.graph_util.import_graph_def(
            graph_def, input_map={INPUT_TENSOR: pixels}, return_elements=names, name="inception"
        )
        result = {}
        for output, tensor in zip(outputs, tensors):
            _check_shape(output, tensor.shape.as_list())
            if output == SPATIAL:
                tensor = tensor[..., :SPATIAL_CHANNELS]
            result[output] = tf.reshape(tensor, [-1, _dim(output)])
        return result

    return tf.compat.v1.wrap_function(features, [tf.TensorSpec([None, None, None, 3], tf.uint8)])


def _check_shape(output: str, shape: list) -> None:
    if shape != _EXPECTED_SHAPES[output]:
        raise SfidError(
            f"{_TENSORS[output]} has shape {shape}, expected {_EXPECTED_SHAPES[output]}: "
            "this is not the 2015-12-05 Inception-v3 graph"
        )


def prefetch(iterable: Iterable, depth: int = 2) -> Iterator:
    """Yield from `iterable`, produced by a background thread up to `depth` items ahead
    (reading and decompressing overlap with the network; errors are re-raised here)."""
    items: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    end = object()

    def produce() -> None:
        try:
            for item in iterable:
                if stop.is_set():
                    return
                items.put((item, None))
            items.put((end, None))
        except BaseException as error:  # handed to the consumer
            items.put((end, error))

    worker = threading.Thread(target=produce, daemon=True)
    worker.start()
    try:
        while True:
            item, error = items.get()
            if error is not None:
                raise error
            if item is end:
                return
            yield item
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting on a full queue
            try:
                items.get_nowait()
            except queue.Empty:
                worker.join(0.01)


class ClassProbabilities:
    """softmax(pool @ softmax/weights) without the bias, as the ADM evaluator's Inception Score uses."""

    def __init__(self, weights: np.ndarray):
        tf = tensorflow()
        matrix = tf.constant(weights)

        @tf.function(input_signature=[tf.TensorSpec([None, POOL_DIM], tf.float32)])
        def probabilities(pool):
            return tf.nn.softmax(tf.matmul(pool, matrix))

        self._function = probabilities

    def __call__(self, pool: np.ndarray, batch_size: int = SOFTMAX_BATCH_SIZE) -> np.ndarray:
        tf = tensorflow()
        parts = [self._function(tf.constant(pool[i : i + batch_size])).numpy() for i in range(0, len(pool), batch_size)]
        return np.concatenate(parts, axis=0)
