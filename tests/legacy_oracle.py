"""The original graph run as the reference evaluator runs it: TensorFlow's v1 graph runtime,
which still executes the legacy BatchNormWithGlobalNormalization kernel. Tests only."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from scipy import linalg

from sfid_tf.runtime import tensorflow


def legacy_tensors(graph_path: Path, images: np.ndarray, names: list[str]) -> list[np.ndarray]:
    """Values of `names` for float32 images fed at ExpandDims:0, via tf.compat.v1.Session."""
    tf = tensorflow()
    graph_def = tf.compat.v1.GraphDef()
    graph_def.ParseFromString(Path(graph_path).read_bytes())
    graph = tf.Graph()
    with graph.as_default():
        pixels = tf.compat.v1.placeholder(tf.float32, [None, None, None, 3])
        tensors = tf.graph_util.import_graph_def(
            graph_def, input_map={"ExpandDims:0": pixels}, return_elements=names, name="legacy"
        )
        with tf.compat.v1.Session(graph=graph) as session:
            return session.run(tensors, {pixels: images.astype(np.float32)})


def legacy_features(graph_path: Path, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(pool [N, 2048], spatial [N, 2023]) exactly as the reference evaluator derives them."""
    pool, conv = legacy_tensors(graph_path, images, ["pool_3:0", "mixed_6/conv:0"])
    return pool.reshape(len(images), -1), conv[..., :7].reshape(len(images), -1)


def structured_images(seed: int, count: int, size: int = 32, shift: float = 0.0) -> np.ndarray:
    """Blocky random images with noise: features then differ clearly between images."""
    rng = np.random.default_rng(seed)
    low = rng.integers(0, 256, (count, max(1, size // 8), max(1, size // 8), 3)).astype(np.float32)
    x = np.kron(low, np.ones((1, 8, 8, 1), np.float32))[:, :size, :size]
    x += rng.normal(0, 20, x.shape) + shift
    return np.clip(x, 0, 255).astype(np.uint8)


def frechet_distance_by_hand(sample: np.ndarray, reference: np.ndarray) -> float:
    """The Fréchet distance of two float32 feature sets written out with plain numpy/scipy, in
    the reference evaluator's order of operations (float32 means, float64 covariances)."""
    s1, s2 = np.cov(sample, rowvar=False), np.cov(reference, rowvar=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        covmean = linalg.sqrtm(s1.dot(s2))
    covmean = covmean.real if np.iscomplexobj(covmean) else covmean
    diff = sample.mean(0) - reference.mean(0)
    return float(diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))
