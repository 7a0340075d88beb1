"""Tests for sfid_tf.batches: exact streaming reads, bounded memory, and one-line errors."""

from __future__ import annotations

import builtins
import errno
import os
import pickle
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest

from sfid_tf.batches import ImageFile, has_images, open_images, read_statistics
from sfid_tf.errors import SfidError

FORMATS = ("savez", "savez_compressed", "npy")
SHAPES = ((1, 8, 8), (5, 17, 31), (130, 8, 8))
BATCH_SIZES = (1, 7, 64, 1000)


# ---------------------------------------------------------------------------------------------
# Helpers


def random_images(count: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (count, height, width, 3), dtype=np.uint8)


def save(path: Path, array: np.ndarray, fmt: str) -> Path:
    """Write `array` the way users do: np.savez / np.savez_compressed (as arr_0) or np.save."""
    if fmt == "npy":
        np.save(path, array)
    else:
        getattr(np, fmt)(path, array)
    return path


def file_for(tmp_path: Path, fmt: str) -> Path:
    return tmp_path / ("images.npy" if fmt == "npy" else "images.npz")


def write_zip_member(path: Path, array: np.ndarray, version: tuple[int, int], compression: int,
                     name: str = "arr_0.npy") -> Path:
    """An .npz whose member has an explicit .npy header version (np.savez picks the smallest)."""
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        with archive.open(name, "w", force_zip64=True) as member:
            np.lib.format.write_array(member, array, version=version)
    return path


def read_all(image_file: ImageFile, batch_size: int) -> list[np.ndarray]:
    return list(image_file.batches(batch_size))


def error_of(function, *args, **kwargs) -> str:
    """The message of the SfidError that `function` raises; it must be one line."""
    with pytest.raises(SfidError) as info:
        result = function(*args, **kwargs)
        if isinstance(result, ImageFile):
            read_all(result, 64)
    message = str(info.value)
    assert "\n" not in message and message.strip() == message and message
    return message


@pytest.fixture
def no_pickle(monkeypatch):
    """Make any unpickling fail loudly, so a test proves the reader never needs it."""
    def refuse(*args, **kwargs):
        raise AssertionError("unpickling was attempted")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)


# ---------------------------------------------------------------------------------------------
# Exact reads


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("batch_size", BATCH_SIZES)
def test_batches_equal_np_load(tmp_path, fmt, shape, batch_size):
    images = random_images(*shape)
    path = save(file_for(tmp_path, fmt), images, fmt)
    expected = np.load(path) if fmt == "npy" else np.load(path)["arr_0"]

    image_file = open_images(path)
    got = read_all(image_file, batch_size)

    assert len(got) == image_file.num_batches(batch_size)
    assert [len(b) for b in got[:-1]] == [batch_size] * (len(got) - 1)
    assert 1 <= len(got[-1]) <= batch_size
    for batch in got:
        assert batch.dtype == np.uint8 and batch.flags.c_contiguous and batch.flags.writeable
        assert batch.shape[1:] == expected.shape[1:]
    np.testing.assert_array_equal(np.concatenate(got), expected)


@pytest.mark.parametrize("version", [(1, 0), (2, 0), (3, 0)])
@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED], ids=["stored", "deflated"])
def test_header_versions_in_zip(tmp_path, version, compression):
    images = random_images(9, 17, 31, seed=1)
    path = write_zip_member(tmp_path / "v.npz", images, version, compression)
    with zipfile.ZipFile(path) as archive, archive.open("arr_0.npy") as member:
        assert np.lib.format.read_magic(member) == version
    np.testing.assert_array_equal(np.load(path)["arr_0"], images)

    np.testing.assert_array_equal(np.concatenate(read_all(open_images(path), 4)), images)


@pytest.mark.parametrize("version", [(1, 0), (2, 0), (3, 0)])
def test_header_versions_npy(tmp_path, version):
    images = random_images(6, 8, 8, seed=2)
    path = tmp_path / "v.npy"
    with open(path, "wb") as handle:
        np.lib.format.write_array(handle, images, version=version)
    np.testing.assert_array_equal(np.concatenate(read_all(open_images(path), 5)), images)


def test_metadata(tmp_path):
    path = save(tmp_path / "a.npz", random_images(5, 17, 31), "savez")
    image_file = open_images(str(path))
    assert image_file.path == path
    assert (image_file.count, image_file.height, image_file.width) == (5, 17, 31)
    assert image_file.shape == (5, 17, 31, 3)
    assert image_file.dtype == np.uint8
    assert image_file.key == "arr_0"
    assert [image_file.num_batches(b) for b in (1, 2, 5, 6)] == [5, 3, 1, 1]


def test_iterations_are_independent(tmp_path):
    images = random_images(20, 8, 8)
    image_file = open_images(save(tmp_path / "a.npz", images, "savez_compressed"))
    first, second = image_file.batches(3), image_file.batches(7)
    a0, b0, a1 = next(first), next(second), next(first)
    np.testing.assert_array_equal(a0, images[:3])
    np.testing.assert_array_equal(b0, images[:7])
    np.testing.assert_array_equal(a1, images[3:6])
    first.close()  # stopping early releases the file
    np.testing.assert_array_equal(np.concatenate([b0, *second]), images)
    np.testing.assert_array_equal(np.concatenate(read_all(image_file, 7)), images)


def test_other_key_and_extension_is_ignored(tmp_path):
    images = random_images(4, 8, 8)
    npz_named_npy = tmp_path / "really_a_zip.npy"
    with open(npz_named_npy, "wb") as handle:
        np.savez(handle, images=images, other=np.zeros(3))
    np.testing.assert_array_equal(np.concatenate(read_all(open_images(npz_named_npy, key="images"), 3)), images)

    npy_named_npz = tmp_path / "really_npy.npz"
    with open(npy_named_npz, "wb") as handle:
        np.save(handle, images)
    np.testing.assert_array_equal(np.concatenate(read_all(open_images(npy_named_npz), 3)), images)


def test_member_without_npy_suffix(tmp_path):
    images = random_images(3, 8, 8)
    path = write_zip_member(tmp_path / "bare.npz", images, (1, 0), zipfile.ZIP_STORED, name="arr_0")
    np.testing.assert_array_equal(np.concatenate(read_all(open_images(path), 2)), images)


def test_empty_array(tmp_path):
    path = save(tmp_path / "empty.npz", np.zeros((0, 8, 8, 3), np.uint8), "savez")
    image_file = open_images(path)
    assert image_file.count == 0 and image_file.num_batches(4) == 0
    assert read_all(image_file, 4) == []


def test_big_endian_uint8_is_fine(tmp_path):
    images = random_images(3, 8, 8).astype(">u1")
    path = save(tmp_path / "be.npy", images, "npy")
    np.testing.assert_array_equal(np.concatenate(read_all(open_images(path), 2)), images)


@pytest.mark.parametrize("bad", [0, -1, 2.0, True])
def test_bad_batch_size(tmp_path, bad):
    image_file = open_images(save(tmp_path / "a.npz", random_images(3, 8, 8), "savez"))
    with pytest.raises(ValueError):
        image_file.batches(bad)
    with pytest.raises(ValueError):
        image_file.num_batches(bad)


# ---------------------------------------------------------------------------------------------
# Memory does not grow with the file

BIG_IMAGES = 24_414  # x 64 x 64 x 3 = 300 MB
BIG_SIDE = 64
BIG_BATCH = 64
MEMORY_LIMIT = 30 << 20
WRITE_CHUNK_IMAGES = 512


def big_base() -> np.ndarray:
    """Image i is (base + i) mod 256: each image repeats a 64-byte ramp, so deflate is fast."""
    return (np.arange(BIG_SIDE * BIG_SIDE * 3) % 64).astype(np.uint8).reshape(BIG_SIDE, BIG_SIDE, 3)


def big_chunk(start: int, stop: int, base: np.ndarray) -> np.ndarray:
    offsets = (np.arange(start, stop) % 256).astype(np.uint8)
    return base[None] + offsets[:, None, None, None]  # uint8 arithmetic wraps mod 256


def write_big_npz(path: Path, compression: int, with_statistics: bool = False) -> Path:
    """Stream a 300 MB arr_0 into a zip chunk by chunk, so the test never holds it whole."""
    shape = (BIG_IMAGES, BIG_SIDE, BIG_SIDE, 3)
    base = big_base()
    with zipfile.ZipFile(path, "w", compression=compression, compresslevel=1) as archive:
        with archive.open("arr_0.npy", "w", force_zip64=True) as member:
            np.lib.format.write_array_header_1_0(
                member, {"descr": "|u1", "fortran_order": False, "shape": shape})
            for start in range(0, BIG_IMAGES, WRITE_CHUNK_IMAGES):
                member.write(big_chunk(start, min(start + WRITE_CHUNK_IMAGES, BIG_IMAGES), base).tobytes())
        if with_statistics:
            for key, array in big_statistics().items():
                with archive.open(key + ".npy", "w") as member:
                    np.lib.format.write_array(member, array)
    return path


def big_statistics() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    return {"mu": rng.normal(size=4).astype(np.float32), "sigma": np.eye(4),
            "mu_s": rng.normal(size=3), "sigma_s": np.eye(3, dtype=np.float32)}


@pytest.fixture(scope="module")
def big_stored(tmp_path_factory) -> Path:
    return write_big_npz(tmp_path_factory.mktemp("big") / "stored.npz", zipfile.ZIP_STORED, with_statistics=True)


@pytest.fixture(scope="module")
def big_deflated(tmp_path_factory) -> Path:
    return write_big_npz(tmp_path_factory.mktemp("big") / "deflated.npz", zipfile.ZIP_DEFLATED)


@pytest.mark.parametrize("which", ["big_stored", "big_deflated"])
def test_memory_does_not_grow_with_file(request, which):
    path = request.getfixturevalue(which)
    base = big_base()
    tracemalloc.start()
    try:
        image_file = open_images(path)
        assert image_file.shape == (BIG_IMAGES, BIG_SIDE, BIG_SIDE, 3)
        seen = 0
        for batch in image_file.batches(BIG_BATCH):
            assert np.array_equal(batch, big_chunk(seen, seen + len(batch), base))
            seen += len(batch)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seen == BIG_IMAGES
    assert peak < MEMORY_LIMIT, f"peak {peak / 2**20:.1f} MiB while reading a {os.path.getsize(path) / 2**20:.0f} MiB file"


def test_statistics_do_not_read_images(big_stored):
    tracemalloc.start()
    try:
        stats = read_statistics(big_stored)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20
    for key, array in big_statistics().items():
        assert stats[key].dtype == array.dtype
        np.testing.assert_array_equal(stats[key], array)


# ---------------------------------------------------------------------------------------------
# Errors about the file itself


def test_missing_file(tmp_path):
    message = error_of(open_images, tmp_path / "nope.npz")
    assert "nope.npz" in message and "no such file" in message


def test_directory(tmp_path):
    message = error_of(open_images, tmp_path)
    assert str(tmp_path) in message and "directory" in message


def test_unreadable_file(tmp_path, monkeypatch):
    path = save(tmp_path / "secret.npz", random_images(2, 8, 8), "savez")
    path.chmod(0)
    if os.access(path, os.R_OK):  # root reads anything: simulate what the OS would say
        real_open = builtins.open

        def guarded_open(file, *args, **kwargs):
            if isinstance(file, (str, os.PathLike)) and Path(os.fsdecode(file)) == path:
                raise PermissionError(errno.EACCES, "Permission denied", str(file))
            return real_open(file, *args, **kwargs)

        monkeypatch.setattr(builtins, "open", guarded_open)
    try:
        for function in (open_images, read_statistics, has_images):
            message = error_of(function, path)
            assert "secret.npz" in message and "permission denied" in message and "chmod" in message
    finally:
        path.chmod(0o644)


@pytest.mark.parametrize("content", [b"hello, these are not images\n", b"\x89PNG\r\n\x1a\n" + b"\0" * 100, b""])
def test_not_npz_or_npy(tmp_path, content):
    path = tmp_path / "images.npz"  # the extension is a lie; the magic bytes decide
    path.write_bytes(content)
    for function in (open_images, read_statistics, has_images):
        message = error_of(function, path)
        assert "images.npz" in message
        assert ("neither an .npz" in message and "np.savez" in message) or "empty" in message


def test_npz_without_arr_0_lists_keys(tmp_path):
    path = tmp_path / "stats.npz"
    np.savez(path, mu=np.zeros(3), sigma=np.eye(3), mu_s=np.zeros(2), sigma_s=np.eye(2))
    message = error_of(open_images, path)
    assert "stats.npz" in message and "'arr_0'" in message
    assert all(key in message for key in ("mu", "sigma", "mu_s", "sigma_s"))
    assert not has_images(path)
    assert has_images(path, key="mu")


def test_empty_zip(tmp_path):
    path = tmp_path / "empty.npz"
    zipfile.ZipFile(path, "w").close()
    message = error_of(open_images, path)
    assert "no arrays" in message
    assert read_statistics(path) is None


def test_object_array_is_refused_without_unpickling(tmp_path, no_pickle):
    path = tmp_path / "objects.npz"
    np.savez(path, np.array([{"a": 1}, None], dtype=object))
    message = error_of(open_images, path)
    assert "objects.npz" in message and "Python objects" in message and "uint8" in message


def test_truncated_npy_at_open(tmp_path):
    path = save(tmp_path / "cut.npy", random_images(10, 8, 8), "npy")
    os.truncate(path, os.path.getsize(path) - 100)
    with pytest.raises(SfidError, match="cut.npy.*truncated"):
        open_images(path)


def test_truncated_npz_download(tmp_path):
    path = save(tmp_path / "cut.npz", random_images(10, 8, 8), "savez")
    os.truncate(path, os.path.getsize(path) // 2)
    for function in (open_images, read_statistics, has_images):
        message = error_of(function, path)
        assert "cut.npz" in message and "truncated" in message and "download" in message


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED], ids=["stored", "deflated"])
def test_member_shorter_than_header_promises(tmp_path, compression):
    path = tmp_path / "short.npz"
    images = random_images(10, 8, 8)
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        with archive.open("arr_0.npy", "w") as member:
            np.lib.format.write_array_header_1_0(
                member, {"descr": "|u1", "fortran_order": False, "shape": (20, 8, 8, 3)})
            member.write(images.tobytes())
    message = error_of(open_images, path)
    assert "short.npz" in message and "truncated" in message


def test_truncated_while_reading(tmp_path):
    path = save(tmp_path / "shrinks.npy", random_images(100, 8, 8), "npy")
    image_file = open_images(path)
    os.truncate(path, os.path.getsize(path) - 50 * 8 * 8 * 3)
    batches = image_file.batches(16)
    for _ in range(3):  # 48 images are still there
        next(batches)
    with pytest.raises(SfidError) as info:
        next(batches)
    message = str(info.value)
    assert "\n" not in message and "shrinks.npy" in message and "truncated" in message and "50" in message


def test_changed_after_open(tmp_path):
    path = save(tmp_path / "changes.npz", random_images(4, 8, 8), "savez")
    image_file = open_images(path)
    save(path, random_images(5, 8, 8), "savez")
    message = error_of(read_all, image_file, 2)
    assert "changes.npz" in message and "changed" in message


def test_corrupt_member_data(tmp_path):
    images = np.zeros((50, 8, 8, 3), np.uint8)
    path = save(tmp_path / "flipped.npz", images, "savez")
    raw = bytearray(path.read_bytes())
    data_at = raw.find(images.tobytes()[:4096])
    raw[data_at + 1000] ^= 0xFF  # same size, bad CRC
    path.write_bytes(bytes(raw))
    image_file = open_images(path)
    message = error_of(read_all, image_file, 8)
    assert "flipped.npz" in message and "corrupt" in message


def test_corrupt_header(tmp_path):
    path = tmp_path / "garbled.npy"
    path.write_bytes(b"\x93NUMPY\x01\x00\x10\x00{'descr': <<<<<}\n")
    message = error_of(open_images, path)
    assert "garbled.npy" in message and "not a valid .npy" in message


# ---------------------------------------------------------------------------------------------
# Errors about the array: wrong dtype or layout, with the conversion that fixes it


def conversion_error(tmp_path: Path, array: np.ndarray, fmt: str = "savez") -> str:
    path = save(tmp_path / ("bad.npy" if fmt == "npy" else "bad.npz"), array, fmt)
    message = error_of(open_images, path)
    assert "bad.np" in message and "uint8" in message
    return message


@pytest.fixture
def images01() -> np.ndarray:
    return np.random.default_rng(4).random((3, 8, 8, 3), dtype=np.float32)


def test_float_in_unit_interval(tmp_path, images01):
    message = conversion_error(tmp_path, images01)
    assert "[0, 255]" in message and "float32" in message
    assert "x = (x * 255).round().clip(0, 255).astype(np.uint8)," in message


def test_float_in_symmetric_interval(tmp_path, images01):
    message = conversion_error(tmp_path, (images01 * 2 - 1).astype(np.float64), "npy")
    assert "float64" in message
    assert "x = ((x + 1) * 127.5).round().clip(0, 255).astype(np.uint8)," in message


def test_float_in_byte_range(tmp_path, images01):
    message = conversion_error(tmp_path, images01 * 255)
    assert "x = x.round().clip(0, 255).astype(np.uint8)," in message


def test_float_out_of_range(tmp_path, images01):
    message = conversion_error(tmp_path, images01 * 1000)
    assert "no standard scaling" in message and "astype" not in message


def test_float_with_nan(tmp_path, images01):
    images01[0, 0, 0, 0] = np.nan
    assert "NaN" in conversion_error(tmp_path, images01)


def test_other_integer_in_byte_range(tmp_path):
    message = conversion_error(tmp_path, random_images(3, 8, 8).astype(np.int64))
    assert "int64" in message and "x = x.astype(np.uint8)," in message


def test_other_integer_out_of_range(tmp_path):
    message = conversion_error(tmp_path, random_images(3, 8, 8).astype(np.uint16) * 257)
    assert "uint16" in message and "65535" in message and "astype" not in message


def test_bool_images(tmp_path):
    message = conversion_error(tmp_path, random_images(3, 8, 8) > 127)
    assert "x = x.astype(np.uint8) * 255," in message


def test_channels_first(tmp_path):
    message = conversion_error(tmp_path, random_images(3, 8, 8).transpose(0, 3, 1, 2).copy())
    assert "channels-first" in message and "x = x.transpose(0, 2, 3, 1)," in message


def test_channels_first_float_symmetric(tmp_path, images01):
    nchw = (images01 * 2 - 1).transpose(0, 3, 1, 2).copy()
    message = conversion_error(tmp_path, nchw)
    assert "x = ((x + 1) * 127.5).round().clip(0, 255).astype(np.uint8).transpose(0, 2, 3, 1)," in message


def test_grayscale_without_channel_axis(tmp_path):
    message = conversion_error(tmp_path, random_images(3, 8, 8)[..., 0].copy())
    assert "grayscale" in message and "np.repeat(x[..., None], 3, axis=-1)" in message


def test_grayscale_with_channel_axis(tmp_path):
    message = conversion_error(tmp_path, random_images(3, 8, 8)[..., :1].copy())
    assert "grayscale" in message and "np.repeat(x, 3, axis=-1)" in message


def test_rgba(tmp_path):
    rgba = np.concatenate([random_images(3, 8, 8), np.full((3, 8, 8, 1), 255, np.uint8)], axis=-1)
    message = conversion_error(tmp_path, rgba)
    assert "RGBA" in message and "x = x[..., :3]," in message


def test_channels_first_grayscale(tmp_path):
    message = conversion_error(tmp_path, random_images(3, 8, 8)[:, None, :, :, 0].copy())
    assert "np.repeat(x.transpose(0, 2, 3, 1), 3, axis=-1)" in message


def test_single_image(tmp_path):
    message = conversion_error(tmp_path, random_images(1, 8, 8)[0])
    assert "single image" in message and "x = x[None]," in message


def test_unsupported_channel_count(tmp_path):
    message = conversion_error(tmp_path, np.zeros((3, 8, 8, 5), np.uint8))
    assert "5 channels" in message and "x =" not in message


@pytest.mark.parametrize("shape", [(5, 192), (2, 3, 8, 8, 3), (7,)])
def test_wrong_number_of_dimensions(tmp_path, shape):
    message = conversion_error(tmp_path, np.zeros(shape, np.uint8))
    assert f"{len(shape)} dimensions" in message and "[N, H, W, 3]" in message


def test_fortran_order(tmp_path):
    message = conversion_error(tmp_path, np.asfortranarray(random_images(3, 8, 8)), "npy")
    assert "Fortran" in message and "np.ascontiguousarray(x)" in message


def test_images_without_pixels(tmp_path):
    message = error_of(open_images, save(tmp_path / "flat.npz", np.zeros((3, 0, 8, 3), np.uint8), "savez"))
    assert "flat.npz" in message and "no pixels" in message


@pytest.mark.parametrize("dtype", [np.complex64, "U3", [("r", "u1"), ("g", "u1"), ("b", "u1")]])
def test_non_numeric_dtypes(tmp_path, dtype):
    message = conversion_error(tmp_path, np.zeros((2, 4, 4, 3), dtype=dtype))
    assert "not an image type" in message


# ---------------------------------------------------------------------------------------------
# Precomputed statistics


def statistics_arrays() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(5)
    return {"mu": rng.normal(size=6).astype(np.float32), "sigma": np.cov(rng.normal(size=(10, 6)), rowvar=False),
            "mu_s": rng.normal(size=5), "sigma_s": np.eye(5, dtype=np.float32)}


@pytest.mark.parametrize("fmt", ["savez", "savez_compressed"])
def test_read_statistics_keeps_dtypes(tmp_path, fmt, no_pickle):
    expected = statistics_arrays()
    path = tmp_path / "ref.npz"
    getattr(np, fmt)(path, random_images(2, 8, 8), **expected)
    stats = read_statistics(path)
    assert set(stats) == set(expected)
    for key, array in expected.items():
        assert stats[key].dtype == array.dtype and stats[key].shape == array.shape
        np.testing.assert_array_equal(stats[key], array)
    assert has_images(path)


def test_read_statistics_absent(tmp_path):
    assert read_statistics(save(tmp_path / "s.npz", random_images(2, 8, 8), "savez")) is None
    assert read_statistics(save(tmp_path / "s.npy", random_images(2, 8, 8), "npy")) is None
    assert has_images(tmp_path / "s.npy")


@pytest.mark.parametrize("missing", ["sigma", "mu_s", "sigma_s"])
def test_read_statistics_missing_partner(tmp_path, missing):
    stats = statistics_arrays()
    del stats[missing]
    path = tmp_path / "partial.npz"
    np.savez(path, **stats)
    message = error_of(read_statistics, path)
    assert "partial.npz" in message and missing in message and "mu, sigma, mu_s, sigma_s" in message


def test_read_statistics_ignores_object_arrays_elsewhere(tmp_path, no_pickle):
    path = tmp_path / "mixed.npz"
    with open(path, "wb") as handle:  # np.savez pickles object arrays; we must never need to load them
        np.savez(handle, arr_0=np.array([None, 1], dtype=object), **statistics_arrays())
    stats = read_statistics(path)
    assert stats["mu"].dtype == np.float32


def test_read_statistics_object_mu(tmp_path, no_pickle):
    stats = statistics_arrays()
    stats["mu"] = np.array([None, 1.0], dtype=object)
    path = tmp_path / "pickled.npz"
    np.savez(path, **stats)
    message = error_of(read_statistics, path)
    assert "pickled.npz" in message and "'mu'" in message


def test_read_statistics_shape_mismatch(tmp_path):
    stats = statistics_arrays()
    stats["sigma"] = np.eye(3)
    path = tmp_path / "mismatch.npz"
    np.savez(path, **stats)
    message = error_of(read_statistics, path)
    assert "mismatch.npz" in message and "'sigma'" in message


def test_read_statistics_file_errors(tmp_path):
    assert "no such file" in error_of(read_statistics, tmp_path / "gone.npz")
    assert "directory" in error_of(has_images, tmp_path)
