"""The files of an export: what the user gave (zips, folders, single files), one file at a time.

Zip members are read into memory, never extracted, and only when asked, so an import holds one
file at a time. A zip header can lie: unpacking stops at the size it says (a byte more is an
error), so every limit holds for the bytes really read.
"""

from __future__ import annotations

import functools
import hashlib
import os
import stat
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path, PurePosixPath

from zlib_ng import zlib_ng

MB = 1024 * 1024
NESTED_ZIP = "nested zip files are not read; unzip it first"
_BOMB = "unpacks to far more than it takes in the zip (a zip bomb?); it was not read"
# Below this size a file's compression ratio does not matter: it cannot hurt.
_RATIO_FLOOR = 4 * MB


class UnreadableFile(Exception):
    """A file that cannot be read; its message is one sentence naming the file and the problem."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"{name} {problem}.")
        self.name = name
        self.problem = problem


@dataclass(frozen=True, slots=True)
class Limits:
    """How much an import may read; checked against the real bytes, not the zip's headers."""

    # Spotify's files are 10–15 MB; a file at this limit still parses within the import's
    # 300 MB memory target.
    max_file_bytes: int = 64 * MB
    max_total_bytes: int = 2048 * MB
    # JSON deflates about 10:1; a zip bomb deflates about 1000:1.
    max_ratio: int = 100


@dataclass(frozen=True, slots=True)
class ExportFile:
    """One file of the export, read only when asked (and before the next file is asked for)."""

    # The file's name, or its path inside the folder or the zip given, after that folder or
    # zip's name: "my_spotify_data.zip/Spotify Extended Streaming History/….json".
    name: str
    read: Callable[[], bytes | bytearray]  # raises UnreadableFile
    # A zip member's fingerprint, taken from its packed bytes without unpacking them (None when
    # they cannot be read); None for other files, whose fingerprint is a hash of what `read`
    # returns (export.read_file).
    fingerprint: Callable[[], str | None] | None = None


@dataclass(frozen=True, slots=True)
class SkippedFile:
    """A file of the export that is not read, on purpose."""

    name: str
    reason: str


class _Budget:
    """The total number of bytes an import may still read."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.left = limits.max_total_bytes

    def take(self, name: str, size: int) -> None:
        self.left -= size
        if self.left < 0:
            limit = _size(self.limits.max_total_bytes)
            raise UnreadableFile(name, f"was not read: the import is over its {limit} limit")


def export_files(
    paths: Iterable[str | os.PathLike[str]], limits: Limits = Limits()
) -> Iterator[ExportFile | SkippedFile]:
    """Every file in the given zips, folders and files, in a stable order, lazily."""
    budget = _Budget(limits)
    for given in paths:
        path = Path(given)
        if path.is_dir():
            for folder, subfolders, files in os.walk(path):
                subfolders.sort()
                for file in sorted(files):
                    full = Path(folder, file)
                    yield from _from_path(full, full.relative_to(path.parent).as_posix(), budget)
        elif not path.exists():
            yield _unreadable(path.name, "does not exist")
        else:
            yield from _from_path(path, path.name, budget)


def _from_path(path: Path, name: str, budget: _Budget) -> Iterator[ExportFile | SkippedFile]:
    if zipfile.is_zipfile(path):
        yield from _from_zip(path, name, budget)
    elif path.suffix.lower() == ".zip":
        yield _unreadable(name, "is not a readable zip file")
    elif (reason := _skip_reason(name)) is not None:
        yield SkippedFile(name, reason)
    else:
        yield ExportFile(name, partial(_read_path, path, name, budget))


def _skip_reason(name: str) -> str | None:
    """Why a file is skipped by its name alone, or None when it should be read."""
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if not parts:  # "" or "." as a member name: nothing to read
        return "not a JSON file"
    if "__MACOSX" in parts or parts[-1].startswith("._"):
        return "macOS metadata, not part of the export"
    suffix = PurePosixPath(parts[-1]).suffix.lower()
    if suffix == ".zip":
        return NESTED_ZIP
    if suffix != ".json":
        return "not a JSON file"
    return None


def _read_path(path: Path, name: str, budget: _Budget) -> bytes:
    limit = budget.limits.max_file_bytes
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            raise UnreadableFile(name, "is not a regular file")
        with path.open("rb") as file:
            data = file.read(limit + 1)
    except OSError as error:
        raise UnreadableFile(name, f"cannot be read ({error.strerror or error})") from None
    if len(data) > limit:
        raise UnreadableFile(name, f"is larger than the limit of {_size(limit)} per file")
    budget.take(name, len(data))
    return data


def _from_zip(path: Path, zip_name: str, budget: _Budget) -> Iterator[ExportFile | SkippedFile]:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        yield _unreadable(zip_name, f"is not a readable zip file ({error})")
        return
    with archive:
        for member in archive.infolist():
            if member.is_dir():
                continue
            name = f"{zip_name}/{member.filename}"
            if not _inside_zip(member.filename):
                yield _unreadable(name, "has a path that leads outside the zip; it was not read")
            elif (reason := _skip_reason(member.filename)) is not None:
                yield SkippedFile(name, reason)
            else:
                packed = functools.cache(partial(_packed, archive, member))  # read once for both
                yield ExportFile(name, partial(_read_member, archive, member, name, budget, packed),
                                 partial(_packed_fingerprint, member, budget.limits, packed))  # fmt: skip


def _inside_zip(member_name: str) -> bool:
    """False for absolute paths, drive letters and `..` parts (in either slash direction)."""
    path = member_name.replace("\\", "/")
    return not (path.startswith("/") or path[1:2] == ":" or ".." in path.split("/"))


def _read_member(
    archive: zipfile.ZipFile, member: zipfile.ZipInfo, name: str, budget: _Budget, packed: Callable[[], bytes]
) -> bytes:
    limits = budget.limits
    if member.flag_bits & 0x1:
        raise UnreadableFile(name, "is encrypted; unzip it first")
    if max(member.file_size, member.compress_size) > limits.max_file_bytes:
        raise UnreadableFile(name, f"is larger than the limit of {_size(limits.max_file_bytes)} per file")
    # Unpacking stops at the size the zip says (a byte more is an error), so these checks hold
    # for the bytes really read even when the zip's header lies.
    if member.file_size > _RATIO_FLOOR and member.file_size > member.compress_size * limits.max_ratio:
        raise UnreadableFile(name, _BOMB)
    budget.take(name, member.file_size)
    try:
        if member.compress_type == zipfile.ZIP_DEFLATED:
            return _inflated(member, packed())
        with archive.open(member) as file:  # stored; another method is refused (NotImplementedError)
            return file.read()
    except (zipfile.BadZipFile, zlib.error, zlib_ng.error, EOFError, NotImplementedError, OSError) as error:
        raise UnreadableFile(name, f"cannot be read from the zip ({error})") from None


_LOCAL_HEADER = struct.Struct("<4s22xHH")  # signature, 22 bytes not needed, name and extra field lengths


def _packed(archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> bytes:
    """A member's packed (compressed) bytes (the caller keeps their size within the limits).

    The member's place comes from zipfile's listing; only its local header (APPNOTE 4.3.7: 30
    bytes, then the name and an extra field) is read here, to find where the data starts.
    """
    with open(archive.filename, "rb") as file:
        file.seek(member.header_offset)
        header = file.read(_LOCAL_HEADER.size)
        if len(header) < _LOCAL_HEADER.size or header[:4] != b"PK\x03\x04":
            raise zipfile.BadZipFile("its local file header is damaged")
        _, name_length, extra_length = _LOCAL_HEADER.unpack(header)
        file.seek(name_length + extra_length, os.SEEK_CUR)
        packed = file.read(member.compress_size)
    if len(packed) < member.compress_size:
        raise zipfile.BadZipFile("the zip ends in the middle of its data")
    return packed


def _inflated(member: zipfile.ZipInfo, packed: bytes) -> bytes:
    """A deflated member's bytes from its packed ones, checked as zipfile checks them (size, CRC-32).

    Inflated by zlib-ng rather than through zipfile, which uses zlib: the same format at three
    times the speed (a 1M-play export, 780 MB of JSON: 0.3 s instead of 0.9 s). In one piece:
    unpacked 1 MB at a time, the pieces' fresh memory cost the reader process 0.5 s of page
    faults.
    """
    inflater = zlib_ng.decompressobj(-zlib_ng.MAX_WBITS)  # raw deflate, as in a zip
    data = inflater.decompress(packed, member.file_size + 1)  # a byte more: a header that lies
    if len(data) > member.file_size:
        raise zipfile.BadZipFile("it unpacks to more bytes than the zip says")
    if not inflater.eof:
        raise zipfile.BadZipFile("its data ends before the end of its deflate stream")
    if len(data) != member.file_size or zlib_ng.crc32(data) != member.CRC:
        raise zipfile.BadZipFile("its size or CRC-32 does not match the zip's: the zip is damaged")
    return data


def _packed_fingerprint(member: zipfile.ZipInfo, limits: Limits, packed: Callable[[], bytes]) -> str | None:
    """A zip member's fingerprint: sha256 of its packed bytes, method, CRC-32 and size, which
    pin down what it unpacks to. The same member in any zip gets the same one, and an import
    knows an imported file again without unpacking it (a fifteenth of the bytes to hash). None
    when the packed bytes are over the file limit or cannot be read: reading says why."""
    if member.compress_size > limits.max_file_bytes:
        return None
    try:
        data = packed()
    except (zipfile.BadZipFile, OSError):
        return None
    return hashlib.sha256(b"%d %d %d %b" % (member.compress_type, member.CRC, member.file_size, data)).hexdigest()[:32]


def _unreadable(name: str, problem: str) -> ExportFile:
    """A file whose problem is known before reading: reading it reports the problem."""

    def fail() -> bytes:
        raise UnreadableFile(name, problem)

    return ExportFile(name, fail)


def _size(size: int) -> str:
    return f"{size // MB} MB" if size >= MB else f"{size} bytes"
