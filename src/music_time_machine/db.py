"""The database: engine, SQLite pragmas, transactions, per-request connection, migrations."""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from itertools import chain
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask, current_app, g
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

MIGRATIONS = Path(__file__).parent / "migrations"
BUSY_TIMEOUT_MS = 10_000
# A new SQLite database's page size (SQLite's default is 4 KB; an existing database keeps its
# own). Importing 1M plays stored them in 0.4-0.8 s less with 16 KB pages, 32 KB gained little
# more, and the pages' benchmark was a little slower, well within its target (README: Performance).
PAGE_SIZE = 16 * 1024


def make_engine(url: str) -> Engine:
    """An engine for `url`; SQLite gets WAL, foreign keys, a busy timeout and explicit BEGINs."""
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return sa.create_engine(url, pool_pre_ping=True)

    database = parsed.database or ""
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    # isolation_level=None stops Python's sqlite3 from opening transactions behind our back, so
    # the "begin" hook below decides: writers take the write lock up front (BEGIN IMMEDIATE),
    # which makes them wait for each other (busy timeout) instead of failing with "database is
    # locked" when a read transaction later tries to write.
    # pool_size: one connection for each of the server's threads (8) and then some, kept open; with
    # SQLAlchemy's default of 5, busy moments closed and reopened connections, and every new one
    # reads the schema again before its first query.
    engine = sa.create_engine(url, pool_size=16, connect_args={"check_same_thread": False, "isolation_level": None})

    @sa.event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: sqlite3.Connection, _record) -> None:
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA page_size = {PAGE_SIZE}")  # only a database with no tables yet takes it
        cur.execute("PRAGMA foreign_keys = ON")
        cur.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if database and database != ":memory:":
            cur.execute("PRAGMA journal_mode = WAL")
            cur.execute("PRAGMA synchronous = NORMAL")  # safe with WAL; durable at checkpoints
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("write") else "BEGIN")

    return engine


@contextmanager
def transaction(engine: Engine, *, write: bool = True) -> Iterator[Connection]:
    """A connection in one transaction: committed when the block ends, rolled back on error."""
    with engine.connect() as conn:
        conn = conn.execution_options(write=write)
        with conn.begin():
            yield conn


CHUNK = 500  # keeps IN (...) lists under every database's parameter limit


def chunks(items: Sequence, size: int = CHUNK) -> Iterator[Sequence]:
    """`items` in slices of `size`, for statements with an IN (...) list."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def dialect_insert(conn: Connection, table: sa.Table):
    """The database's own INSERT, which knows ON CONFLICT (the same on SQLite and PostgreSQL)."""
    return (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(table)


def sqlite_insert_rows(conn: Connection, table: sa.Table, columns: Sequence[str], rows: list[tuple]) -> int:
    """SQLite only: INSERT … ON CONFLICT DO NOTHING of tuples straight through sqlite3, in the
    order given; how many went in. For the big inserts of an import, where building a dict per
    row for SQLAlchemy costs more than SQLite's own work.

    Up to 500 rows a statement (a VALUES list, within SQLite's limit of bound values): a third
    cheaper than sqlite3's executemany, which steps and resets the statement once per row
    (1M plays: about 1 s less).
    """
    limit = conn.connection.dbapi_connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    size = max(1, min(500, limit // len(columns)))
    whole = len(rows) - len(rows) % size

    names, row = ", ".join(columns), f"({', '.join('?' * len(columns))})"

    def insert(values: int, parameters) -> int:
        return conn.exec_driver_sql(
            f"INSERT INTO {table.name} ({names}) VALUES {', '.join([row] * values)} ON CONFLICT DO NOTHING",
            parameters,
            execution_options={"preserve_rowcount": True},
        ).rowcount

    # The rest one row at a time: one statement more to prepare and keep, not one per length.
    added = sum(insert(size, tuple(chain.from_iterable(rows[start : start + size]))) for start in range(0, whole, size))
    return added + (insert(1, rows[whole:]) if whole < len(rows) else 0)


def sqlite_insert_new(conn: Connection, table: sa.Table, columns: Sequence[str], rows: list[tuple],
                      returning: Sequence[str]) -> list[tuple]:  # fmt: skip
    """SQLite only: `sqlite_insert_rows`, then the `returning` columns of the rows it added, in
    the order of their ids, read straight through sqlite3 (a tuple a row, no SQLAlchemy Row).

    The added rows are those with ids above the largest before: SQLite has one writer, and a
    write after another writer's commit fails (busy snapshot) instead of going on with an old
    view. (SQLAlchemy's INSERT … RETURNING for the 60,000 tracks of a 1M-play import cost 1 s;
    this a tenth of that.)
    """
    sqlite = conn.connection.dbapi_connection
    before = sqlite.execute(f"SELECT coalesce(max(id), 0) FROM {table.name}").fetchone()[0]
    sqlite_insert_rows(conn, table, columns, rows)
    return sqlite.execute(f"SELECT {', '.join(returning)} FROM {table.name} WHERE id > ? ORDER BY id", (before,)).fetchall()


def insert_ignoring_conflicts(conn: Connection, table: sa.Table):
    """An INSERT that skips rows violating a unique constraint (ON CONFLICT DO NOTHING)."""
    return dialect_insert(conn, table).on_conflict_do_nothing()


def is_busy(error: sa.exc.OperationalError) -> bool:
    """Whether SQLite gave up waiting for another writer (the busy timeout ran out)."""
    return isinstance(error.orig, sqlite3.OperationalError) and str(error.orig) in ("database is locked", "database is busy")


# --- migrations -------------------------------------------------------------------------------


def alembic_config(conn: Connection) -> AlembicConfig:
    """Alembic's settings for migrating the database behind `conn`."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = conn
    return cfg


@functools.cache
def _scripts() -> ScriptDirectory:
    # The migration files cannot change while the process runs: read them once (/status asks often).
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(cfg)


def head_revision() -> str:
    """The newest schema revision this code knows."""
    return _scripts().get_current_head()


def known_revisions() -> set[str]:
    """Every schema revision this code can migrate from."""
    return {rev.revision for rev in _scripts().walk_revisions()}


def current_revision(conn: Connection) -> str | None:
    """The schema revision of the connected database (None for an empty one)."""
    return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine) -> bool:
    """Bring the database to the newest schema; returns whether anything was migrated."""
    with engine.connect() as conn:
        if current_revision(conn) == head_revision():
            return False
    with transaction(engine) as conn:
        if conn.dialect.name == "postgresql":
            # Two processes starting at once must not both migrate.
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7351)")
        command.upgrade(alembic_config(conn), "head")
    return True


# --- Flask integration ------------------------------------------------------------------------


def init_app(app: Flask) -> None:
    """Create the engine, migrate the database up to date, and close connections per request."""
    engine = make_engine(app.config["DATABASE_URL"])
    app.extensions["mtm_engine"] = engine
    upgrade(engine)
    app.teardown_appcontext(_close_connection)


def get_engine() -> Engine:
    """The app's engine."""
    return current_app.extensions["mtm_engine"]


def get_conn() -> Connection:
    """A read connection for this request (one transaction, rolled back when the request ends)."""
    if "db_conn" not in g:
        conn = get_engine().connect()
        conn.begin()
        g.db_conn = conn
    return g.db_conn


def write() -> "contextmanager[Connection]":
    """A write transaction on the app's engine, committed when the block ends."""
    return transaction(get_engine(), write=True)


def _close_connection(_exc: BaseException | None) -> None:
    conn = g.pop("db_conn", None)
    if conn is not None:
        conn.close()
