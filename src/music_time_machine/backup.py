"""Backups of a SQLite database (its online-backup API) and restoring one, checked and migrated.

PostgreSQL has its own tools for this (pg_dump -Fc / pg_restore; README: Backups).
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from pathlib import Path

import sqlalchemy as sa

from . import db

SQLITE_HEADER = b"SQLite format 3\x00"
OUR_TABLES = {"alembic_version", "users", "plays", "snapshots"}


class BackupError(Exception):
    """A backup or restore that cannot be done; the message is one sentence for the user."""


def sqlite_path(database_url: str) -> Path:
    """The file behind a SQLite URL; BackupError for PostgreSQL or an in-memory database."""
    url = sa.engine.make_url(database_url)
    if url.get_backend_name() != "sqlite":
        raise BackupError(
            "This instance runs on PostgreSQL: back it up with pg_dump -Fc and restore with pg_restore "
            "(README: Backups)."
        )
    if not url.database or url.database == ":memory:":
        raise BackupError("An in-memory database has no file to back up.")
    return Path(url.database)


def backup_to(database_url: str, target: Path) -> int:
    """Write a consistent copy of the live SQLite database to `target`; returns its size in bytes.

    The copy is made by SQLite's online-backup API (consistent while the app reads and writes)
    into a temporary file next to `target`, then moved into place, so `target` is never half-written.
    """
    source = sqlite_path(database_url)
    if not source.exists():
        raise BackupError(f"There is no database at {source} yet.")
    target = Path(target)
    fd, tmp = tempfile.mkstemp(prefix=".mtm-backup-", suffix=".sqlite3", dir=target.parent)
    os.close(fd)
    try:
        _copy(source, Path(tmp))
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target.stat().st_size


def _copy(source: Path, target: Path) -> None:
    """SQLite online backup of `source` into `target` (a single file, no WAL beside it)."""
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=db.BUSY_TIMEOUT_MS / 1000)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
        dst.execute("PRAGMA journal_mode = DELETE")
    finally:
        dst.close()
        src.close()


def check_backup(path: Path) -> str:
    """The schema revision of a Music Time Machine database file; BackupError for anything else."""
    path = Path(path)
    if not path.is_file():
        raise BackupError(f"{path} is not a file.")
    with path.open("rb") as file:
        if file.read(len(SQLITE_HEADER)) != SQLITE_HEADER:
            raise BackupError(f"{path} is not a SQLite database.")
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            tables = {name for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if not OUR_TABLES <= tables:
                raise BackupError(f"{path} is a SQLite database, but not a Music Time Machine one.")
            revision = (con.execute("SELECT version_num FROM alembic_version").fetchone() or (None,))[0]
            if con.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise BackupError(f"{path} is damaged (SQLite's quick_check failed).")
        finally:
            con.close()
    except sqlite3.DatabaseError as error:
        raise BackupError(f"{path} cannot be read as a SQLite database: {error}.") from None
    if revision not in db.known_revisions():
        raise BackupError(
            f"{path} is at schema revision {revision!r}, which this version does not know "
            "(made by a newer Music Time Machine?): upgrade the app first."
        )
    return revision


def restore_from(path: Path, database_url: str) -> tuple[str, str]:
    """Replace the SQLite database with the backup at `path`, migrated to the newest schema.

    Returns (the backup's revision, the revision now). The backup is checked and migrated in a
    temporary copy beside the database, which is moved into place only when all went well: on
    any failure the current database is untouched. Stop the server and worker first.
    """
    target = sqlite_path(database_url)  # first: on PostgreSQL, pg_restore is the answer whatever the file
    revision = check_backup(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".mtm-restore-", suffix=".sqlite3", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        _copy(Path(path), tmp_path)
        engine = db.make_engine(f"sqlite:///{tmp_path}")
        try:
            db.upgrade(engine)
        finally:
            engine.dispose()
        with sqlite3.connect(tmp_path) as con:  # one self-contained file before it moves
            con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            con.execute("PRAGMA journal_mode = DELETE")
        if target.exists():
            # Fold the current database's WAL in, so no stale WAL is left to pair with the new file.
            with sqlite3.connect(target, timeout=db.BUSY_TIMEOUT_MS / 1000) as con:
                con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        os.replace(tmp_path, target)
        for suffix in ("-wal", "-shm"):
            Path(f"{target}{suffix}").unlink(missing_ok=True)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
    return revision, db.head_revision()
