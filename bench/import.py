"""Import benchmark: generated extended-history exports of 100k and 1M plays into a fresh SQLite.

    PYTHONPATH=src python bench/import.py [--sizes 100000 1000000]

Each export is generated once (package generator, seeded) in Spotify's layout and cached under
bench/out/. The import runs in a child process, so its peak RSS is the import's alone; it
imports the export into a fresh database, then the same export again (which must add nothing).
Big exports are read by a second process (importers.reader): its peak RSS is watched from
/proc and reported too.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import threading
import time
import zipfile
from datetime import date
from pathlib import Path

OUT = Path(__file__).parent / "out"
FOLDER = "Spotify Extended Streaming History"
PER_FILE = 16_000  # Spotify's files hold roughly 15-20k records each


def export_path(plays: int) -> Path:
    """The cached export of `plays` plays, generated when missing."""
    import orjson

    from music_time_machine.generator import generate_history, to_extended_record

    path = OUT / f"my_spotify_data_{plays}.zip"
    if path.exists():
        return path
    OUT.mkdir(exist_ok=True)
    history = generate_history(plays, start=date(2014, 1, 1), end=date(2026, 1, 1), seed=1)
    partial = path.with_suffix(".part")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        chunk, number = [], 0

        def write(records: list) -> None:
            years = sorted({time.gmtime(r.ended_at).tm_year for r in records})
            span = f"{years[0]}" if len(years) == 1 else f"{years[0]}-{years[-1]}"
            name = f"{FOLDER}/Streaming_History_Audio_{span}_{number}.json"
            archive.writestr(name, orjson.dumps([to_extended_record(r) for r in records], option=orjson.OPT_INDENT_2))

        for record in history:
            chunk.append(record)
            if len(chunk) == PER_FILE:
                write(chunk)
                chunk, number = [], number + 1
        if chunk:
            write(chunk)
        archive.writestr(f"{FOLDER}/ReadMeFirst_ExtendedStreamingHistory.pdf", b"%PDF-1.4\n")
    partial.rename(path)
    return path


def watch_children(peaks: dict[int, int]) -> None:
    """Keep the peak RSS (VmHWM, kB) of every child of this process in `peaks`, until it exits."""
    me = os.getpid()
    while True:
        for task in os.listdir(f"/proc/{me}/task"):
            try:
                with open(f"/proc/{me}/task/{task}/children") as children:
                    pids = [int(pid) for pid in children.read().split()]
            except OSError:
                continue
            for pid in pids:
                try:
                    with open(f"/proc/{pid}/status") as status:
                        found = re.search(r"VmHWM:\s+(\d+)", status.read())
                except OSError:
                    continue
                if found:
                    peaks[pid] = max(peaks.get(pid, 0), int(found.group(1)))
        time.sleep(0.05)


def run_import(zip_path: str, database: str) -> None:
    """Child process: import the export twice into a fresh database; print the figures as JSON."""
    from music_time_machine import db, users
    from music_time_machine.clock import utcnow
    from music_time_machine.importers.pipeline import import_paths

    engine = db.make_engine(f"sqlite:///{database}")
    db.upgrade(engine)
    with db.transaction(engine) as conn:
        user_id = users.create_user(conn, "bench", now=utcnow())
    figures = {}
    peaks: dict[int, int] = {}
    threading.Thread(target=watch_children, args=(peaks,), daemon=True).start()
    for run in ("first", "second"):
        peaks.clear()
        started = time.perf_counter()
        _, report = import_paths(engine, user_id, [zip_path])
        figures[run] = {
            "seconds": time.perf_counter() - started,
            "plays_read": report["totals"]["plays_read"],
            "added": report["totals"]["added"],
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "reader_peak_rss_mb": max(peaks.values(), default=0) / 1024,
        }
    print(json.dumps(figures))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--run-import", nargs=2, metavar=("ZIP", "DATABASE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run_import:
        run_import(*args.run_import)
        return
    for plays in args.sizes:
        zip_path = export_path(plays)
        database = OUT / f"bench_{plays}.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{database}{suffix}").unlink(missing_ok=True)
        child = subprocess.run(
            [sys.executable, __file__, "--run-import", str(zip_path), str(database)],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        figures = json.loads(child.stdout)
        first, second = figures["first"], figures["second"]
        print(f"{plays:>9,} entries  ({zip_path.stat().st_size / 2**20:.0f} MB zip)")
        for run, f in (("first import", first), ("second import", second)):
            rate = plays / f["seconds"]
            print(f"  {run:<14} {f['seconds']:7.2f} s  {rate:>9,.0f} entries/s  added {f['added']:>9,}  "
                  f"peak RSS {f['peak_rss_mb']:.0f} MB (+ reader process {f['reader_peak_rss_mb']:.0f} MB)")  # fmt: skip
        print(f"  second/first time: {second['seconds'] / first['seconds']:.2f}")
        if second["added"]:
            raise SystemExit(f"the second import added {second['added']:,} plays; it must add none")


if __name__ == "__main__":
    main()
