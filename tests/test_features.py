"""The graph as TensorFlow 2 runs it for sfid_tf against the legacy graph runtime, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from legacy_oracle import legacy_features, legacy_tensors, structured_images

from sfid_tf.errors import SfidError
from sfid_tf.features import POOL, SPATIAL, ClassProbabilities, FeatureExtractor, prefetch
from sfid_tf.graph import prune, read_graph_def, softmax_weights
from sfid_tf.runtime import tensorflow


@pytest.fixture(scope="module")
def small_graph(small_graph_path):
    graph_def, _ = read_graph_def(small_graph_path)
    return graph_def


@pytest.fixture(scope="module")
def small_extractor(small_graph):
    return FeatureExtractor(small_graph)


def test_features_equal_the_legacy_graph_bit_for_bit(small_graph_path, small_extractor):
    images = structured_images(1, 6, size=48)
    ours = small_extractor(images)
    pool, spatial = legacy_features(small_graph_path, images)
    assert np.array_equal(ours[POOL], pool)
    assert np.array_equal(ours[SPATIAL], spatial)
    assert np.all(np.std(ours[POOL], axis=0).max() > 0)  # the images do give different features


def test_full_size_graph_features_equal_the_legacy_graph(synthetic_graph_path):
    graph_def, _ = read_graph_def(synthetic_graph_path)
    images = structured_images(2, 3, size=40)
    ours = FeatureExtractor(graph_def)(images)
    pool, spatial = legacy_features(synthetic_graph_path, images)
    assert ours[POOL].shape == (3, 2048) and ours[SPATIAL].shape == (3, 2023)
    assert np.array_equal(ours[POOL], pool)
    assert np.array_equal(ours[SPATIAL], spatial)


def test_spatial_features_are_the_first_7_channels_in_nhwc_order(small_graph_path, small_extractor):
    images = structured_images(3, 2, size=24)
    (conv,) = legacy_tensors(small_graph_path, images, ["mixed_6/conv:0"])
    spatial = small_extractor(images)[SPATIAL]
    assert conv.shape == (2, 17, 17, 192)
    for n, h, w, c in [(0, 0, 0, 0), (1, 16, 16, 6), (0, 3, 11, 2), (1, 9, 0, 5)]:
        assert spatial[n, (h * 17 + w) * 7 + c] == conv[n, h, w, c]
    assert np.array_equal(spatial, conv[..., :7].reshape(2, -1))


@pytest.mark.parametrize("shape", [(1, 8, 8), (5, 17, 31), (2, 299, 299)])
def test_any_batch_size_and_image_size(small_extractor, shape):
    images = np.random.default_rng(0).integers(0, 256, (*shape, 3), dtype=np.uint8)
    out = small_extractor(images)
    assert out[POOL].shape == (shape[0], 2048) and out[SPATIAL].shape == (shape[0], 2023)
    assert np.isfinite(out[POOL]).all()


def test_extract_over_batches_gives_the_per_batch_features_in_order(small_extractor):
    images = structured_images(4, 11, size=16)
    batches = [images[i : i + 4] for i in range(0, 11, 4)]
    features = small_extractor.extract(iter(batches), 11, progress=False)
    expected = np.concatenate([small_extractor(b)[POOL] for b in batches])
    assert np.array_equal(features.pool, expected)


def test_spatial_only_extractor_prunes_the_deeper_layers(small_graph, small_extractor):
    pruned = {node.name for node in prune(small_graph, ["mixed_6/conv:0"]).node}
    assert "mixed_6/conv" in pruned and "mixed_5/join" in pruned
    assert not any(name.startswith(("mixed_7", "mixed_8", "pool_3", "softmax")) for name in pruned)
    images = structured_images(5, 3, size=24)
    spatial_only = FeatureExtractor(small_graph, outputs=(SPATIAL,))(images)
    assert set(spatial_only) == {SPATIAL}
    assert np.array_equal(spatial_only[SPATIAL], small_extractor(images)[SPATIAL])


def test_class_probabilities_are_softmax_of_pool_times_weights_without_bias(small_graph, small_extractor):
    pool = small_extractor(structured_images(6, 4, size=24))[POOL]
    weights = softmax_weights(small_graph)
    logits = pool.astype(np.float64) @ weights.astype(np.float64)
    expected = np.exp(logits - logits.max(1, keepdims=True))
    expected /= expected.sum(1, keepdims=True)
    got = ClassProbabilities(weights)(pool, batch_size=3)
    assert got.dtype == np.float32 and got.shape == (4, 1008)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-7)


def test_prefetch_yields_everything_in_order_and_passes_errors_on():
    assert list(prefetch(iter(range(100)), depth=3)) == list(range(100))

    def failing():
        yield 1
        raise SfidError("broken file")

    with pytest.raises(SfidError, match="broken file"):
        list(prefetch(failing()))


def renamed(graph_def, mapping: dict[str, str]):
    """A copy with node names (and references to them) swapped per `mapping`."""
    tf = tensorflow()
    result = tf.compat.v1.GraphDef()
    result.CopyFrom(graph_def)
    for node in result.node:
        node.name = mapping.get(node.name, node.name)
        for i, name in enumerate(node.input):
            control = name.startswith("^")
            base = name.lstrip("^").split(":")[0]
            if base in mapping:
                node.input[i] = ("^" if control else "") + mapping[base] + name.lstrip("^")[len(base):]
    return result


def test_a_graph_whose_mixed_6_conv_has_other_channels_is_refused(small_graph):
    swapped = renamed(small_graph, {"mixed_6/conv": "mixed_6/tower/conv", "mixed_6/tower/conv": "mixed_6/conv"})
    with pytest.raises(SfidError, match="not the 2015-12-05 Inception-v3 graph"):
        FeatureExtractor(swapped)


def test_a_graph_without_the_wanted_nodes_is_refused(tmp_path, small_graph):
    tf = tensorflow()
    partial = tf.compat.v1.GraphDef()
    partial.node.extend(n for n in small_graph.node if not n.name.startswith("mixed_6/conv"))
    path = tmp_path / "partial.pb"
    path.write_bytes(partial.SerializeToString())
    with pytest.raises(SfidError, match="missing mixed_6/conv"):
        read_graph_def(path)


def test_a_file_that_is_no_graph_is_refused(tmp_path):
    path = tmp_path / "junk.pb"
    path.write_bytes(b"\xff\x00 this is not a protobuf \x12\x34" * 10)
    with pytest.raises(SfidError, match="not a TensorFlow GraphDef|not the 2015-12-05"):
        read_graph_def(path)


def test_graph_sha256_is_that_of_the_file(small_graph_path):
    import hashlib

    _, sha = read_graph_def(small_graph_path)
    assert sha == hashlib.sha256(small_graph_path.read_bytes()).hexdigest()
