"""Stream image batches out of ``.npz`` / ``.npy`` files without loading them whole.

Sample batches are large (50,000 x 256 x 256 x 3 uint8 is 9.8 GB), so ``np.load(path)["arr_0"]``
is not an option: this module parses the ``.npy`` header itself and reads exactly one batch of
bytes at a time, from a plain ``.npy`` file or from a member of a zip archive (stored or
deflated, zip64 included). Nothing is ever unpickled.

Every problem with a user's file is raised as :class:`~sfid_tf.errors.SfidError` with a one-line
message that names the file and says how to fix it.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

import numpy as np

from sfid_tf.errors import SfidError

DEFAULT_KEY = "arr_0"
STATISTICS_KEYS = ("mu", "sigma", "mu_s", "sigma_s")
IMAGE_DTYPE = np.dtype(np.uint8)
CHANNELS = 3

NPY_MAGIC = b"\x93NUMPY"
# The same two signatures np.load accepts as a zip: a local file header or an empty archive.
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
MAGIC_PREFIX_LEN = max(len(NPY_MAGIC), *(len(m) for m in ZIP_MAGICS))
ZIP_LOCAL_HEADER_SIZE = 30  # fixed part of a zip local file header, before name and extra field
NPY_SUFFIX = ".npy"

READ_CHUNK_BYTES = 8 << 20  # bounds the temporary copy a zip member makes per read call
PROBE_BYTES = 32 << 20  # how much of a non-uint8 array is read to describe its value range
MAX_LISTED_KEYS = 10

# Errors that the zip and zlib layers raise for damaged archives or members.
_CORRUPT_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError)


# ---------------------------------------------------------------------------------------------
# Messages


def _fail(path: Path | str, problem: str, fix: str) -> SfidError:
    """One-line error naming the file, what is wrong, and what to do about it."""
    message = f"{path}: {problem}; {fix}"
    return SfidError(" ".join(message.splitlines()))


def _describe_keys(keys: list[str]) -> str:
    """Short comma list of archive keys (long archives are cut, the count is kept)."""
    if not keys:
        return "no arrays at all"
    shown = ", ".join(keys[:MAX_LISTED_KEYS])
    more = len(keys) - MAX_LISTED_KEYS
    return f"only {shown}" + (f" and {more} more" if more > 0 else "")


# ---------------------------------------------------------------------------------------------
# Opening the file and finding the .npy stream


def _check_path(path: Path) -> None:
    """Give the usual path mistakes a clear message before any open() call."""
    if path.is_dir():
        raise _fail(path, "is a directory, not a file", "pass the .npz or .npy file inside it")
    if not path.exists():
        raise _fail(path, "no such file", "check the path (and that the download finished)")


@contextlib.contextmanager
def _open_file(path: Path) -> Iterator[BinaryIO]:
    """open(path, 'rb') whose OS errors become SfidError."""
    _check_path(path)
    try:
        handle = open(path, "rb")
    except PermissionError as exc:
        raise _fail(path, "cannot be read (permission denied)",
                    "make it readable for this user, e.g. chmod a+r") from exc
    except IsADirectoryError as exc:
        raise _fail(path, "is a directory, not a file", "pass the .npz or .npy file inside it") from exc
    except OSError as exc:
        raise _fail(path, f"cannot be opened ({exc.strerror or exc})",
                    "check the path and the file system") from exc
    with handle:
        yield handle


def _read_prefix(handle: BinaryIO, path: Path) -> bytes:
    """The first bytes of the file, which decide between zip and .npy (the extension does not)."""
    try:
        prefix = handle.read(MAGIC_PREFIX_LEN)
        handle.seek(0)
    except OSError as exc:
        raise _fail(path, f"cannot be read ({exc.strerror or exc})", "check the file system") from exc
    return prefix


def _is_zip(prefix: bytes) -> bool:
    return prefix.startswith(ZIP_MAGICS)


def _is_npy(prefix: bytes) -> bool:
    return prefix.startswith(NPY_MAGIC)


def _file_kind(handle: BinaryIO, path: Path) -> str:
    """'zip' or 'npy' judged by magic bytes; anything else is refused."""
    prefix = _read_prefix(handle, path)
    if _is_zip(prefix):
        return "zip"
    if _is_npy(prefix):
        return "npy"
    if not prefix:
        raise _fail(path, "is empty", "re-create or download it again")
    raise _fail(path, f"is neither an .npz (zip) nor an .npy file (it starts with {prefix[:8]!r})",
                "save images with np.savez(path, images) or np.save(path, images)")


def _open_zip(handle: BinaryIO, path: Path) -> zipfile.ZipFile:
    """ZipFile over an open handle; a broken central directory usually means a cut-off download."""
    try:
        return zipfile.ZipFile(handle)
    except (*_CORRUPT_ERRORS, ValueError) as exc:
        raise _fail(path, f"starts like an .npz (zip) archive but cannot be read as one ({exc}); "
                    "it is probably truncated or corrupt", "re-create or download it again") from exc


def _archive_keys(archive: zipfile.ZipFile) -> list[str]:
    """Keys as np.load reports them: member names without the .npy suffix."""
    return [name[: -len(NPY_SUFFIX)] if name.endswith(NPY_SUFFIX) else name
            for name in archive.namelist()]


def _find_member(archive: zipfile.ZipFile, key: str) -> zipfile.ZipInfo | None:
    """The member np.load would return for `key` ('key.npy' first, then a bare 'key')."""
    for name in (key + NPY_SUFFIX, key):
        try:
            return archive.getinfo(name)
        except KeyError:
            continue
    return None


def _check_member_inside_file(info: zipfile.ZipInfo, file_size: int, path: Path) -> None:
    """A member whose compressed bytes would end past the end of the file is truncated."""
    data_end = info.header_offset + ZIP_LOCAL_HEADER_SIZE + len(info.filename.encode()) + info.compress_size
    if data_end > file_size:
        raise _fail(path, f"is truncated: member {info.filename} needs {data_end} bytes "
                    f"but the file has {file_size}", "re-create or download it again")


@dataclass(frozen=True)
class _Stream:
    """An open .npy byte stream (a plain file or a zip member) and its total size in bytes."""

    handle: BinaryIO
    size: int
    label: str  # how messages name the array: 'arr_0' in an archive, '' for a bare .npy


@contextlib.contextmanager
def _open_npy_stream(path: Path, key: str) -> Iterator[_Stream]:
    """Yield the .npy stream of `key` (or of the .npy file itself), positioned at its magic."""
    with _open_file(path) as handle:
        if _file_kind(handle, path) == "npy":
            yield _Stream(handle, os.fstat(handle.fileno()).st_size, "")
            return
        with _open_zip(handle, path) as archive:
            info = _find_member(archive, key)
            if info is None:
                raise _fail(path, f"has no '{key}' array ({_describe_keys(_archive_keys(archive))})",
                            f"store the images under '{key}', e.g. np.savez(path, images)")
            _check_member_inside_file(info, os.fstat(handle.fileno()).st_size, path)
            try:
                member = archive.open(info)
            except (*_CORRUPT_ERRORS, RuntimeError, NotImplementedError) as exc:
                raise _fail(path, f"member {info.filename} cannot be read ({exc})",
                            "save it again with np.savez or np.savez_compressed") from exc
            with member:
                yield _Stream(member, info.file_size, f"'{key}' ")


# ---------------------------------------------------------------------------------------------
# The .npy header


@dataclass(frozen=True)
class _Header:
    """What a .npy header promises, and where the data begins in its stream."""

    shape: tuple[int, ...]
    dtype: np.dtype
    fortran_order: bool
    data_offset: int

    @property
    def data_nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize


def _read_header_3_0(handle: BinaryIO) -> tuple[tuple[int, ...], bool, np.dtype]:
    """Version 3.0 is 2.0 with a UTF-8 header; numpy has no public reader, so re-frame it as 2.0.

    Image dtypes are plain ASCII descriptors; a header that is not Latin-1 can only describe a
    structured dtype with non-Latin-1 field names, which is refused further on anyway.
    """
    length_field = handle.read(4)
    if len(length_field) != 4:
        raise ValueError("the header length is cut off")
    (length,) = struct.unpack("<I", length_field)
    text = handle.read(length).decode("utf-8").encode("latin-1")
    return np.lib.format.read_array_header_2_0(io.BytesIO(struct.pack("<I", len(text)) + text))


_HEADER_READERS: dict[tuple[int, int], Callable[[BinaryIO], tuple[tuple[int, ...], bool, np.dtype]]] = {
    (1, 0): np.lib.format.read_array_header_1_0,
    (2, 0): np.lib.format.read_array_header_2_0,
    (3, 0): _read_header_3_0,
}


def _read_header(stream: _Stream, path: Path) -> _Header:
    """Parse magic and header with numpy's own (pickle-free) header readers."""
    start = stream.handle.tell()
    try:
        version = np.lib.format.read_magic(stream.handle)
        reader = _HEADER_READERS.get(version)
        if reader is None:
            raise ValueError(f".npy format version {version[0]}.{version[1]} is not supported")
        shape, fortran_order, dtype = reader(stream.handle)
    except (ValueError, UnicodeError, SyntaxError, *_CORRUPT_ERRORS) as exc:
        raise _fail(path, f"{stream.label}is not a valid .npy array ({exc})",
                    "save it again with np.save / np.savez") from exc
    return _Header(tuple(shape), np.dtype(dtype), bool(fortran_order), stream.handle.tell() - start)


# ---------------------------------------------------------------------------------------------
# Checking that the array is uint8 NHWC RGB, and suggesting the conversion when it is not


def _check_storable(header: _Header, stream: _Stream, path: Path) -> None:
    """Refuse dtypes that could only be read by unpickling or are not numbers at all."""
    if header.dtype.hasobject:
        raise _fail(path, f"{stream.label}holds Python objects (dtype {header.dtype}), which sfid_tf "
                    "never unpickles", "save the images as a uint8 array [N, H, W, 3]")
    if header.dtype.kind not in "biuf" or header.dtype.fields is not None or header.dtype.subdtype:
        raise _fail(path, f"{stream.label}has dtype {header.dtype}, not an image type",
                    "save the images as a uint8 array [N, H, W, 3] with values in [0, 255]")


def _check_complete(header: _Header, stream: _Stream, path: Path) -> None:
    """Compare the header's promise with the bytes that exist, before reading any data."""
    needed = header.data_offset + header.data_nbytes
    if stream.size < needed:
        raise _fail(path, f"is truncated: {stream.label}shape {header.shape} needs {needed} bytes but "
                    f"only {stream.size} are there", "re-create or download it again")


@dataclass
class _Diagnosis:
    """Problems found with an array, and the expression converting `x` into a valid one."""

    problems: list[str] = field(default_factory=list)
    expression: str | None = "x"

    def add(self, problem: str, rewrite: Callable[[str], str] | None) -> None:
        """Record a problem; `rewrite` maps the current expression to a fixed one (None: no fix)."""
        self.problems.append(problem)
        self.expression = rewrite(self.expression) if rewrite and self.expression else None


def _value_range(values: np.ndarray) -> tuple[float, float] | None:
    """(min, max) of a sample, or None when it is empty or holds NaN or infinity."""
    if values.size == 0 or not np.all(np.isfinite(values)):
        return None
    return float(values.min()), float(values.max())


def _diagnose_dtype(dtype: np.dtype, sample: np.ndarray, diagnosis: _Diagnosis) -> None:
    """Name the value range of a non-uint8 array and the scaling that maps it onto uint8."""
    if dtype == IMAGE_DTYPE:
        return
    if dtype.kind == "b":
        diagnosis.add("dtype bool", lambda e: f"{e}.astype(np.uint8) * 255")
        return
    bounds = _value_range(sample)
    if bounds is None:
        what = "contains NaN or infinite values" if sample.size else "is empty"
        diagnosis.add(f"dtype {dtype} and {what}", None)
        return
    low, high = bounds
    found = f"dtype {dtype} with values in [{low:g}, {high:g}] (first {sample.size} values)"
    if dtype.kind == "f" and low >= 0 and high <= 1:
        diagnosis.add(found, lambda e: f"({e} * 255).round().clip(0, 255).astype(np.uint8)")
    elif dtype.kind == "f" and low >= -1 and high <= 1:
        diagnosis.add(found, lambda e: f"(({e} + 1) * 127.5).round().clip(0, 255).astype(np.uint8)")
    elif low >= 0 and high <= 255:
        if dtype.kind == "f":
            diagnosis.add(found, lambda e: f"{e}.round().clip(0, 255).astype(np.uint8)")
        else:
            diagnosis.add(found, lambda e: f"{e}.astype(np.uint8)")
    else:
        diagnosis.add(found + ", which no standard scaling maps onto [0, 255]", None)


def _channel_fix(channels: int) -> Callable[[str], str] | None:
    """Rewrite NHWC with `channels` channels into RGB, where there is a sensible one."""
    if channels == 1:
        return lambda e: f"np.repeat({e}, 3, axis=-1)"
    if channels == 4:
        return lambda e: f"{e}[..., :3]"
    return None


def _diagnose_layout(shape: tuple[int, ...], diagnosis: _Diagnosis) -> None:
    """Recognise NCHW, grayscale, RGBA and single-image arrays and the view that fixes each."""
    if len(shape) == 3:
        if shape[-1] == CHANNELS:
            diagnosis.add(f"shape {shape}, a single image [H, W, 3]", lambda e: f"{e}[None]")
        else:
            diagnosis.add(f"shape {shape}, grayscale [N, H, W]",
                          lambda e: f"np.repeat({e}[..., None], 3, axis=-1)")
        return
    if len(shape) != 4:
        diagnosis.add(f"shape {shape} with {len(shape)} dimensions instead of 4 [N, H, W, 3]", None)
        return
    last, second = shape[-1], shape[1]
    if last == CHANNELS:
        return
    channel_counts = (1, CHANNELS, 4)
    if last not in channel_counts and second in channel_counts:
        diagnosis.add(f"shape {shape}, channels-first [N, C, H, W]",
                      lambda e: f"{e}.transpose(0, 2, 3, 1)")
        channels = second
    else:
        channels = last
    if channels != CHANNELS:
        kind = {1: " grayscale", 4: " RGBA"}.get(channels, "")
        diagnosis.add(f"{channels}{kind} channels instead of 3 (RGB)", _channel_fix(channels))


def _read_sample(stream: _Stream, header: _Header) -> np.ndarray:
    """The first values of the data (whatever the layout), enough to judge the value range."""
    itemsize = header.dtype.itemsize
    nbytes = min(header.data_nbytes, PROBE_BYTES) // itemsize * itemsize
    raw = bytearray(nbytes)
    got = _read_into(stream.handle, memoryview(raw))
    return np.frombuffer(raw, dtype=header.dtype, count=got // itemsize)


def _check_image_array(header: _Header, stream: _Stream, path: Path) -> None:
    """Refuse anything but C-ordered uint8 [N, H, W, 3], with the conversion that would fix it."""
    diagnosis = _Diagnosis()
    if header.dtype != IMAGE_DTYPE:
        try:
            sample = _read_sample(stream, header)
        except (OSError, *_CORRUPT_ERRORS) as exc:
            raise _fail(path, f"cannot be read ({exc})", "re-create or download it again") from exc
        _diagnose_dtype(header.dtype, sample, diagnosis)
    _diagnose_layout(header.shape, diagnosis)
    if header.fortran_order and header.data_nbytes:
        diagnosis.add("Fortran (column-major) order, which cannot be streamed image by image",
                      lambda e: f"np.ascontiguousarray({e})")
    if not diagnosis.problems:
        return
    found = "; ".join(diagnosis.problems)
    if diagnosis.expression is None:
        fix = "convert the images to a C-ordered uint8 array [N, H, W, 3] in [0, 255] and save them again"
    else:
        fix = f"load it as x, convert with x = {diagnosis.expression}, and save x again"
    raise _fail(path, f"{stream.label}must be uint8 [N, H, W, 3] in [0, 255], found {found}", fix)


def _check_image_size(header: _Header, path: Path) -> None:
    """Images with no pixels cannot be fed to the network."""
    height, width = header.shape[1:3]
    if height == 0 or width == 0:
        raise _fail(path, f"images have shape {header.shape[1:]} with no pixels",
                    "save images of at least 1 x 1 pixels")


def _inspect(path: Path, key: str) -> _Header:
    """Validate the file completely without reading more than a small sample of its data."""
    with _open_npy_stream(path, key) as stream:
        header = _read_header(stream, path)
        _check_storable(header, stream, path)
        _check_complete(header, stream, path)
        _check_image_array(header, stream, path)
        _check_image_size(header, path)
        return header


# ---------------------------------------------------------------------------------------------
# Reading


def _read_into(handle: BinaryIO, buffer: memoryview) -> int:
    """Fill `buffer` from `handle` in bounded chunks; returns the bytes read (less only at EOF)."""
    filled = 0
    while filled < len(buffer):
        got = handle.readinto(buffer[filled: filled + READ_CHUNK_BYTES])
        if not got:
            break
        filled += got
    return filled


@dataclass(frozen=True)
class ImageFile:
    """A validated image array on disk: uint8 [count, height, width, 3], read in batches on demand."""

    path: Path
    key: str
    count: int
    height: int
    width: int
    _header: _Header = field(repr=False, compare=False)

    @property
    def dtype(self) -> np.dtype:
        return IMAGE_DTYPE

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (self.count, self.height, self.width, CHANNELS)

    @property
    def image_nbytes(self) -> int:
        return self.height * self.width * CHANNELS * IMAGE_DTYPE.itemsize

    def num_batches(self, batch_size: int) -> int:
        """How many arrays batches(batch_size) yields, for progress bars."""
        _check_batch_size(batch_size)
        return -(-self.count // batch_size)

    def batches(self, batch_size: int) -> Iterator[np.ndarray]:
        """Yield consecutive uint8 [b, H, W, 3] arrays (the last may be shorter).

        Each call opens the file anew, so iterations are independent; memory stays at one batch
        whatever the file's size.
        """
        _check_batch_size(batch_size)
        return self._iterate(batch_size)

    def _iterate(self, batch_size: int) -> Iterator[np.ndarray]:
        with _open_npy_stream(self.path, self.key) as stream:
            if _read_header(stream, self.path) != self._header:
                raise _fail(self.path, "changed since it was opened", "run again on the finished file")
            for start in range(0, self.count, batch_size):
                batch = np.empty((min(batch_size, self.count - start),) + self.shape[1:], IMAGE_DTYPE)
                self._fill(stream, batch, start)
                yield batch

    def _fill(self, stream: _Stream, batch: np.ndarray, start: int) -> None:
        """Read exactly one batch of bytes, turning short reads and damage into SfidError."""
        try:
            got = _read_into(stream.handle, memoryview(batch.reshape(-1)))
        except _CORRUPT_ERRORS as exc:
            raise _fail(self.path, f"is corrupt ({exc}) near image {start}",
                        "re-create or download it again") from exc
        except OSError as exc:
            raise _fail(self.path, f"cannot be read near image {start} ({exc.strerror or exc})",
                        "check the file system") from exc
        if got < batch.nbytes:
            images = start + got // self.image_nbytes
            raise _fail(self.path, f"is truncated: its header promises {self.count} images but the data "
                        f"ends after {images}", "re-create or download it again")


def _check_batch_size(batch_size: int) -> None:
    """A caller's mistake, not the user's file: plain ValueError."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")


def open_images(path: str | os.PathLike[str], key: str = DEFAULT_KEY) -> ImageFile:
    """Validate an image file (.npz member `key`, or a .npy) and return a streaming reader."""
    path = Path(path)
    header = _inspect(path, key)
    count, height, width, _ = header.shape
    return ImageFile(path, key, count, height, width, header)


def has_images(path: str | os.PathLike[str], key: str = DEFAULT_KEY) -> bool:
    """Whether the file holds an array under `key` (a .npy always does); statistics-only .npz do not."""
    path = Path(path)
    with _open_file(path) as handle:
        if _file_kind(handle, path) == "npy":
            return True
        with _open_zip(handle, path) as archive:
            return _find_member(archive, key) is not None


# ---------------------------------------------------------------------------------------------
# Precomputed statistics


def _load_member(archive: np.lib.npyio.NpzFile, key: str, path: Path) -> np.ndarray:
    """One small array from an open NpzFile, pickle-free, errors as SfidError."""
    try:
        return archive[key]
    except (ValueError, OSError, *_CORRUPT_ERRORS) as exc:
        raise _fail(path, f"'{key}' cannot be loaded without unpickling or is damaged ({exc})",
                    f"store '{key}' as a plain float array") from exc


def _check_statistics(stats: dict[str, np.ndarray], path: Path) -> None:
    """Each mean must be a vector and each covariance a square matrix of the same size."""
    for mean_key, cov_key in (STATISTICS_KEYS[:2], STATISTICS_KEYS[2:]):
        mean, cov = stats[mean_key], stats[cov_key]
        for key, array in ((mean_key, mean), (cov_key, cov)):
            if array.dtype.kind not in "fiu" or array.dtype.fields is not None:
                raise _fail(path, f"'{key}' has dtype {array.dtype}, not a number type",
                            "store statistics as float arrays")
        if mean.ndim != 1 or cov.shape != (mean.size, mean.size):
            raise _fail(path, f"'{mean_key}' has shape {mean.shape} and '{cov_key}' {cov.shape}, "
                        "expected [d] and [d, d]", "store the mean vector and covariance matrix as computed")


def read_statistics(path: str | os.PathLike[str]) -> dict[str, np.ndarray] | None:
    """Precomputed reference statistics (mu, sigma, mu_s, sigma_s) as stored, or None if absent.

    Only the four small members are read; arr_0 stays on disk. Dtypes are kept as stored because
    the published reference values were computed from them as they are.
    """
    path = Path(path)
    with _open_file(path) as handle:
        if _file_kind(handle, path) == "npy":
            return None
        _open_zip(handle, path).close()  # a clear message for a damaged archive
        handle.seek(0)
        try:
            archive = np.load(handle, allow_pickle=False)
        except (ValueError, OSError, *_CORRUPT_ERRORS) as exc:
            raise _fail(path, f"cannot be read as .npz ({exc})", "re-create or download it again") from exc
        with archive:
            keys = set(archive.files)
            if STATISTICS_KEYS[0] not in keys:
                return None
            missing = [key for key in STATISTICS_KEYS if key not in keys]
            if missing:
                raise _fail(path, f"has '{STATISTICS_KEYS[0]}' but lacks {', '.join(missing)}",
                            f"store all of {', '.join(STATISTICS_KEYS)} or none of them")
            stats = {key: _load_member(archive, key, path) for key in STATISTICS_KEYS}
    _check_statistics(stats, path)
    return stats
