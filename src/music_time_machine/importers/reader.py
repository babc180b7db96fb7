"""Reading a big export in a second process while the importing one stores what it has read.

Reading and parsing a file (unzip, JSON, fields) costs about as much as storing it, and the
machine has at least two cores: `read_in_background` runs `read_export` in a child process,
which sends each file's FileResult as msgpack (PlayRecords are array-like msgspec Structs, so
encoding and decoding them runs in C: no pickling of a million Python objects). At most two
files wait in the queue, so memory stays bounded. Small exports are read in-process: starting
a Python process takes longer than reading them.
"""

from __future__ import annotations

import multiprocessing
import os
import traceback
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from queue import Empty, Full

import msgspec

from music_time_machine.importers.detect import ExportFormat
from music_time_machine.importers.export import FileResult, read_export
from music_time_machine.records import PlayRecord

# Exports from this size (the files given, zipped or not) are read in a second process.
BACKGROUND_FROM_BYTES = 4 * 1024 * 1024
_WAIT_S = 5  # how often each side checks that the other is still there while it waits

_Message = tuple[str, ExportFormat | None, list[PlayRecord], dict[str, int], str | None, str | None, list[str], str | None]  # fmt: skip
_decode = msgspec.msgpack.Decoder(_Message).decode


def worth_a_process(paths: Sequence[str | os.PathLike[str]]) -> bool:
    """Whether the export is big enough to read in a second process."""
    total = 0
    for given in paths:
        path = Path(given)
        files = (p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            try:
                total += file.stat().st_size
            except OSError:
                continue  # read_export reports it
            if total >= BACKGROUND_FROM_BYTES:
                return True
    return False


def read_in_background(paths: Sequence[str | os.PathLike[str]], **options) -> Iterator[FileResult]:
    """What `read_export(paths, **options)` yields, read and parsed by a child process."""
    # spawn, not fork: forking a process with threads (the web server's) can copy held locks.
    context = multiprocessing.get_context("spawn")
    queue = context.Queue(maxsize=2)
    reader = context.Process(
        target=_read, args=(queue, [os.fspath(path) for path in paths], options, os.getpid()), daemon=True
    )
    reader.start()
    try:
        while True:
            try:
                message = queue.get(timeout=_WAIT_S)
            except Empty:
                if reader.is_alive():
                    continue
                raise RuntimeError(f"the export reader process ended (exit code {reader.exitcode})") from None
            if message is None:
                return
            if isinstance(message, str):
                raise RuntimeError(f"the export reader process failed:\n{message}")
            name, format, records, skipped, error, skip_reason, notes, fingerprint = _decode(message)
            yield FileResult(name, format, records, Counter(skipped), error, skip_reason, notes, fingerprint)
    finally:
        if reader.is_alive():
            reader.kill()
        reader.join()
        queue.close()


def _read(queue, paths: list[str], options: dict, parent: int) -> None:
    """The child process: every FileResult as msgpack, then None (or a traceback, on a bug)."""
    try:
        for r in read_export(paths, **options):
            fields = (r.name, r.format, r.records, dict(r.skipped_records), r.error, r.skip_reason, r.notes, r.fingerprint)
            _put(queue, msgspec.msgpack.encode(fields), parent)
        _put(queue, None, parent)
    except Exception:
        _put(queue, traceback.format_exc(), parent)


def _put(queue, message: bytes | str | None, parent: int) -> None:
    while True:
        try:
            queue.put(message, timeout=_WAIT_S)
            return
        except Full:
            if os.getppid() != parent:  # the importing process is gone: nobody will read this
                os._exit(1)
