"""The import pipeline every export format feeds: read → resolve identity → dedup → store → report.

An import is a batch (`import_batches`). Each file is stored in one transaction together with
the batch's progress, so a killed import leaves every file fully in or fully out and the batch
row says how far it got; running the import again adds only what is missing (store_plays
dedups). The summary tables are brought up to date once, when the batch ends (`rollups.refresh`);
after a killed import, by whoever reads them next (`analytics.cache_state`) or the next import.
A batch left "running" by a process that is gone is marked failed when the same user next
imports. A big export is read by a second process while this one stores (importers.reader).
"""

from __future__ import annotations

import logging
import os
import socket
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from music_time_machine import rollups
from music_time_machine.clock import utcnow
from music_time_machine.db import transaction
from music_time_machine.history import Catalogue, StoreResult, store_plays
from music_time_machine.importers.export import FileResult, read_export
from music_time_machine.importers.reader import read_in_background, worth_a_process
from music_time_machine.importers.sources import MB, Limits, export_files
from music_time_machine.schema import import_batches, users

log = logging.getLogger(__name__)

INTERRUPTED = "the import stopped before it finished (the process ended); import the same files again to complete it"
INTERNAL_ERROR = "the import stopped on an internal error (details in the server log)"
NOT_STORED = "could not be stored because of an internal error (details in the server log); none of its plays were kept"
# A batch started on another host is taken for dead when it has run this long.
_FOREIGN_BATCH_TIMEOUT = timedelta(hours=24)
_IMPORT_CACHE_KB = 16 * 1024
_IMPORT_CHECKPOINT_BYTES = 64 * 1024 * 1024  # of WAL between checkpoints (SQLite's default: 1,000 pages)
# Batches running in this process: a restarted server may get the same pid (pid 1 in a container).
_running_here: set[int] = set()


@dataclass(frozen=True)
class ImportOptions:
    """What the user chose for an import."""

    keep_personal: bool = False  # store ip_addr, user_agent, username, conn_country
    include_incognito: bool = False  # import plays made in a private session


Progress = Callable[[dict], None]  # called with each file's report as the file is done


@contextmanager
def _import_pragmas(conn: Connection) -> Iterator[None]:
    """On SQLite, for this connection while it imports (call it outside a transaction): a 16 MB
    page cache (SQLite's default is 2 MB), 64 MB of WAL between checkpoints, and no foreign-key
    checks.

    The files only append plays; the summary tables are written once, at the end, whose GROUP
    BYs sort in memory up to about the cache's size: with 64 MB, refreshing 1M plays took the
    importing process's peak RSS from 179 to 257 MB and was no faster; with 2 MB, 8 % slower.
    Checking each play's user, track and batch cost about a quarter of inserting it, and the
    import knows them: the ids come from the database in the same transaction, tracks and
    artists are never deleted, and a user deleted meanwhile takes the batch with them, which
    `_save_progress` and `_finish` notice (the file's transaction is then rolled back).
    """
    if conn.dialect.name != "sqlite":
        yield
        return
    sqlite = conn.connection.dbapi_connection  # straight to sqlite3: no transaction is begun
    checkpoint_pages = _IMPORT_CHECKPOINT_BYTES // sqlite.execute("PRAGMA page_size").fetchone()[0]
    pragmas = {"cache_size": -_IMPORT_CACHE_KB, "wal_autocheckpoint": checkpoint_pages, "foreign_keys": 0}
    before = {name: int(sqlite.execute(f"PRAGMA {name}").fetchone()[0]) for name in pragmas}
    for name, value in pragmas.items():
        sqlite.execute(f"PRAGMA {name} = {value}")
    try:
        yield
    finally:
        for name, value in before.items():
            sqlite.execute(f"PRAGMA {name} = {value}")


def limits_for(config: dict) -> Limits:
    """An import's limits from the app's settings (MTM_IMPORT_MAX_FILE_MB)."""
    return Limits(max_file_bytes=config["IMPORT_MAX_FILE_MB"] * MB)


def count_files(paths: Iterable[str | os.PathLike[str]], limits: Limits = Limits()) -> int:
    """How many files an import of `paths` will report on (zips are listed, not read)."""
    return sum(1 for _ in export_files(paths, limits))


def start_import(
    conn: Connection,
    user_id: int,
    *,
    origin: str,
    label: str,
    options: ImportOptions,
    files_total: int,
    now: datetime | None = None,
) -> int:
    """Create the user's batch with status running (marking their dead batches failed); its id."""
    now = now or utcnow()
    mark_interrupted(conn, user_id, now=now)
    runner = {"host": socket.gethostname(), "pid": os.getpid()}
    batch_id = conn.execute(
        import_batches.insert().values(
            user_id=user_id,
            origin=origin,
            label=label[:500],
            status="running",
            files_total=files_total,
            options=asdict(options),
            report={"runner": runner, "files": []},
            created_at=now,
        )
    ).inserted_primary_key[0]
    _running_here.add(batch_id)  # from now on, also while it waits for a background thread
    return batch_id


def run_import(
    engine: Engine,
    batch_id: int,
    paths: Sequence[str | os.PathLike[str]],
    *,
    limits: Limits = Limits(),
    progress: Progress | None = None,
) -> dict:
    """Import every file of `paths` into the batch's user; returns the batch's final report."""
    with engine.connect() as conn:
        batch = conn.execute(sa.select(import_batches).where(import_batches.c.id == batch_id)).mappings().one()
        threshold_ms = conn.execute(
            sa.select(users.c.listen_threshold_ms).where(users.c.id == batch["user_id"])
        ).scalar_one()
    options = ImportOptions(**batch["options"])
    report = {"runner": batch["report"]["runner"], "files": [], "listen_threshold_s": threshold_ms // 1000}
    try:
        catalogue = Catalogue()
        with engine.connect() as conn:
            known = imported_files(conn, batch["user_id"], options)
        read = read_in_background if worth_a_process(paths) else read_export
        results = read(
            paths, keep_personal=options.keep_personal, keep_incognito=options.include_incognito, limits=limits,
            known=known,
        )  # fmt: skip
        with closing(results), engine.connect() as conn, _import_pragmas(conn):
            conn = conn.execution_options(write=True)
            for result in results:
                entry = file_report(result, threshold_ms)
                report["files"].append(entry)
                try:
                    with conn.begin():
                        if result.records:
                            stored = store_plays(
                                conn, batch["user_id"], result.records, batch_id=batch_id, catalogue=catalogue,
                                refresh=False,  # once at the end (_finish)
                            )
                            _count_stored(entry, stored)
                        _save_progress(conn, batch_id, report, entry["added"] - entry["replaced"])
                except Exception:
                    log.exception("import %s: storing %s failed", batch_id, result.name)
                    catalogue = Catalogue()  # ids created in the rolled-back transaction are gone
                    entry.update(status="failed", error=f"{result.name} {NOT_STORED}.", added=0, duplicates=0)
                    with conn.begin():
                        _save_progress(conn, batch_id, report, 0)
                result.records = []  # free the file's plays before the next file is read
                if progress:
                    progress(entry)
    except BaseException as error:  # also Ctrl+C: the batch must not stay "running"
        if isinstance(error, Exception):
            log.exception("import %s stopped", batch_id)
        report["error"] = INTERNAL_ERROR if isinstance(error, Exception) else INTERRUPTED
        _finish(engine, batch_id, report)
        raise
    finally:
        _running_here.discard(batch_id)
    _finish(engine, batch_id, report)
    return report


def import_paths(
    engine: Engine,
    user_id: int,
    paths: Sequence[str | os.PathLike[str]],
    *,
    origin: str = "cli",
    label: str | None = None,
    options: ImportOptions = ImportOptions(),
    limits: Limits = Limits(),
    progress: Progress | None = None,
) -> tuple[int, dict]:
    """Start a batch and run it: the batch id and its report."""
    label = label or ", ".join(os.path.basename(os.fspath(path).rstrip("/")) for path in paths)
    with transaction(engine) as conn:
        batch_id = start_import(
            conn, user_id, origin=origin, label=label, options=options, files_total=count_files(paths, limits)
        )
    return batch_id, run_import(engine, batch_id, paths, limits=limits, progress=progress)


def file_report(result: FileResult, threshold_ms: int) -> dict:
    """What the report says about one file, before its plays are stored."""
    kinds = Counter(record.kind for record in result.records)
    return {
        "name": result.name,
        "status": result.status,
        "format": str(result.format) if result.format else None,
        "plays_read": len(result.records),
        "added": 0,
        "duplicates": 0,
        "replaced": 0,
        "under_threshold": sum(1 for r in result.records if r.kind == "music" and r.ms_played < threshold_ms),
        "podcasts": kinds["podcast"],
        "audiobooks": kinds["audiobook"],
        "skipped": dict(result.skipped_records),
        "error": result.error,
        "skip_reason": result.skip_reason,
        "notes": list(result.notes),
        "fingerprint": result.fingerprint,
    }


def imported_files(conn: Connection, user_id: int, options: ImportOptions) -> set[str]:
    """Fingerprints of the files the user's past imports with these options stored whole."""
    reports = conn.execute(
        sa.select(import_batches.c.options, import_batches.c.report).where(import_batches.c.user_id == user_id)
    )
    wanted = asdict(options)
    return {
        entry["fingerprint"]
        for batch_options, report in reports
        if batch_options == wanted
        for entry in (report or {}).get("files", [])
        if entry.get("fingerprint") and entry["status"] in ("read", "skipped")
    }


def _count_stored(entry: dict, stored: StoreResult) -> None:
    entry.update(added=stored.added, duplicates=stored.duplicates, replaced=stored.replaced)


TOTALS = ("plays_read", "added", "duplicates", "replaced", "under_threshold", "podcasts", "audiobooks")


def totals(files: list[dict]) -> dict:
    """The report's totals over its files."""
    result = {key: sum(entry[key] for entry in files) for key in TOTALS}
    result["records_skipped"] = sum(sum(entry["skipped"].values()) for entry in files)
    statuses = Counter(entry["status"] for entry in files)
    result.update(files=len(files), files_read=statuses["read"], files_skipped=statuses["skipped"],
                  files_failed=statuses["failed"])  # fmt: skip
    return result


def _save_progress(conn: Connection, batch_id: int, report: dict, added: int) -> None:
    """Count one more file done and `added` more plays (net of the plays they replaced)."""
    updated = conn.execute(
        import_batches.update()
        .where(import_batches.c.id == batch_id)
        .values(
            files_done=import_batches.c.files_done + 1,
            plays_added=import_batches.c.plays_added + added,
            report={**report, "totals": totals(report["files"])},
        )
    ).rowcount
    if updated != 1:
        raise RuntimeError(f"import batch {batch_id} is gone (its user was deleted)")


def _finish(engine: Engine, batch_id: int, report: dict) -> None:
    """End the batch, with the user's summary tables brought up to date in the same transaction."""
    report["totals"] = totals(report["files"])
    failed = "error" in report or report["totals"]["files_failed"] > 0
    with engine.connect() as conn, _import_pragmas(conn), rollups.side_connection(conn) as side:
        # Begun deferred, and writing first (see rollups.side_connection): the write lock is
        # taken before anything is read, and before the side connection's first read.
        with conn.begin():
            user_id = conn.execute(
                import_batches.update()
                .where(import_batches.c.id == batch_id)
                .values(status="failed" if failed else "done", report=report, finished_at=utcnow())
                .returning(import_batches.c.user_id)
            ).scalar_one()
            rollups.refresh(conn, user_id, side)  # side: some of the work on the other core


def is_dead(batch: dict, *, now: datetime) -> bool:
    """Whether a batch marked running has no process running it any more."""
    if batch["status"] != "running":
        return False
    runner = (batch["report"] or {}).get("runner") or {}
    if runner.get("host") != socket.gethostname():
        return now - batch["created_at"] > _FOREIGN_BATCH_TIMEOUT
    if runner.get("pid") == os.getpid():
        return batch["id"] not in _running_here
    return not _process_alive(runner.get("pid"))


def _process_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def mark_interrupted(conn: Connection, user_id: int, *, now: datetime | None = None) -> int:
    """Mark the user's batches whose process is gone as failed; how many there were."""
    now = now or utcnow()
    dead = _dead_batches(conn, user_id, now)
    for batch in dead:
        report = {"files": [], **(batch["report"] or {}), "error": INTERRUPTED}
        report["totals"] = totals(report["files"])
        conn.execute(
            import_batches.update()
            .where(import_batches.c.id == batch["id"], import_batches.c.status == "running")
            .values(status="failed", report=report, finished_at=now)
        )
    return len(dead)


def has_dead_batches(conn: Connection, user_id: int, *, now: datetime | None = None) -> bool:
    """Whether mark_interrupted would change anything (a read, so pages can check cheaply)."""
    return bool(_dead_batches(conn, user_id, now or utcnow()))


def _dead_batches(conn: Connection, user_id: int, now: datetime) -> list[dict]:
    running = conn.execute(
        sa.select(import_batches).where(import_batches.c.user_id == user_id, import_batches.c.status == "running")
    ).mappings()
    return [dict(batch) for batch in running if is_dead(batch, now=now)]
