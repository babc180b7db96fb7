"""Reading a big export in a second process while the importing one stores what it has read.

Reading and parsing a file (unzip, JSON, fields) costs about as much as storing it, and the
machine has at least two cores: `read_in_background` runs `read_export` in a child Python
(`python -m music_time_machine.importers.reader`), which writes each file's FileResult to its
stdout as a length-prefixed msgpack frame (PlayRecords are array-like msgspec Structs, so
encoding and decoding them runs in C: no pickling of a million Python objects). A thread of
the child writes the frames while it parses the next file, with at most two more frames
waiting, so the child is at most about three files ahead and memory stays bounded (one file
ahead, the importer waited about 1 s of a 1M import for it: files vary); when the importing
process goes away, the child's next write fails and it ends. Small exports are read
in-process: starting a Python process takes longer than reading them.

A plain subprocess rather than multiprocessing: multiprocessing's spawn runs the parent's
`__main__` again in the child, which fails or does harm for scripts fed on stdin or without an
`if __name__ == "__main__"` guard.
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Container, Iterator, Sequence
from pathlib import Path

import msgspec

from music_time_machine.importers.detect import ExportFormat
from music_time_machine.importers.export import FileResult, read_export
from music_time_machine.importers.sources import Limits
from music_time_machine.records import PlayRecord

# Exports from this size (the files given, zipped or not) are read in a second process.
BACKGROUND_FROM_BYTES = 4 * 1024 * 1024
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])  # the folder holding music_time_machine

_Request = tuple[list[str], bool, bool, Limits, list[str]]  # paths, keep_personal, keep_incognito, limits, known
_Result = tuple[str, ExportFormat | None, list[PlayRecord], dict[str, int], str | None, str | None, list[str], str | None]  # fmt: skip
_decode_result = msgspec.msgpack.Decoder(_Result).decode


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


def read_in_background(
    paths: Sequence[str | os.PathLike[str]],
    *,
    keep_personal: bool = False,
    keep_incognito: bool = False,
    limits: Limits = Limits(),
    known: Container[str] = frozenset(),
) -> Iterator[FileResult]:
    """What `read_export` yields for the same arguments, read and parsed by a child process."""
    request = ([os.fspath(path) for path in paths], keep_personal, keep_incognito, limits, sorted(known))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (_PACKAGE_ROOT, os.environ.get("PYTHONPATH"))))}
    child = subprocess.Popen(
        [sys.executable, "-m", "music_time_machine.importers.reader"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
    )  # fmt: skip
    try:
        try:
            child.stdin.write(msgspec.msgpack.encode(request))
            child.stdin.close()
        except BrokenPipeError:
            pass  # the child ended before it read the request: its exit status, below, says so
        while size := child.stdout.read(8):
            frame = child.stdout.read(int.from_bytes(size, "little"))
            name, format, records, skipped, error, skip_reason, notes, fingerprint = _decode_result(frame)
            yield FileResult(name, format, records, Counter(skipped), error, skip_reason, notes, fingerprint)
        if child.wait() != 0:
            raise RuntimeError(f"the export reader process failed (exit code {child.returncode}; see its output)")
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()
        for pipe in (child.stdin, child.stdout):
            try:
                pipe.close()
            except BrokenPipeError:  # the request still buffered for a child that is gone
                pass


def main() -> None:
    """The child process: the request from stdin, every FileResult as a frame on stdout."""
    out = sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing else may write between the frames
    paths, keep_personal, keep_incognito, limits, known = msgspec.msgpack.decode(sys.stdin.buffer.read(), type=_Request)
    encode = msgspec.msgpack.Encoder().encode
    # A thread writes the frames: the next file is parsed while the importing process takes in
    # the last one (a pipe holds 64 kB), and up to two more wait their turn.
    frames: queue.Queue[bytes | None] = queue.Queue(maxsize=2)

    def write() -> None:
        while (frame := frames.get()) is not None:
            try:
                out.write(len(frame).to_bytes(8, "little") + frame)
                out.flush()
            except BrokenPipeError:  # the importing process is gone
                os._exit(1)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        for r in read_export(paths, keep_personal=keep_personal, keep_incognito=keep_incognito, limits=limits,
                             known=set(known)):  # fmt: skip
            frames.put(encode((r.name, r.format, r.records, dict(r.skipped_records), r.error, r.skip_reason, r.notes,
                               r.fingerprint)))  # fmt: skip
    finally:
        frames.put(None)
        writer.join()


if __name__ == "__main__":
    main()
