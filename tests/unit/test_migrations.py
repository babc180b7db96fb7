import sqlite3
from contextlib import closing

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from factories import NOW, make_user, play
from music_time_machine import db, userdata
from music_time_machine.history import store_plays
from music_time_machine.schema import artists, import_batches, metadata, plays

SUMMARIES = ("daily_plays", "hourly_plays", "monthly_tracks", "monthly_artists", "monthly_charts", "track_totals")


def test_migrations_build_an_empty_database_that_matches_the_tables(any_engine):
    # any_engine is migrated (template copy or a migrated PostgreSQL schema): nothing may differ.
    with any_engine.connect() as conn:
        assert db.current_revision(conn) == db.head_revision()
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    assert diff == []


def test_upgrade_on_a_new_file_creates_every_table_once(tmp_path):
    engine = db.make_engine(f"sqlite:///{tmp_path / 'new.sqlite3'}")
    assert db.upgrade(engine) is True
    assert db.upgrade(engine) is False  # already at head: nothing to do
    names = set(sa.inspect(engine).get_table_names())
    assert {table.name for table in metadata.sorted_tables} <= names
    engine.dispose()


def test_sqlite_connections_have_wal_foreign_keys_and_busy_timeout(engine):
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == db.BUSY_TIMEOUT_MS


def test_a_new_sqlite_database_gets_the_page_size_and_an_existing_one_keeps_its_own(tmp_path):
    engine = db.make_engine(f"sqlite:///{tmp_path / 'new.sqlite3'}")
    db.upgrade(engine)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA page_size").scalar() == db.PAGE_SIZE != 4096
    engine.dispose()

    old = tmp_path / "old.sqlite3"
    with closing(sqlite3.connect(old)) as made_before:  # SQLite's default page size: 4 KB
        made_before.executescript("PRAGMA journal_mode = WAL; CREATE TABLE t (x); INSERT INTO t VALUES (1);")
    engine = db.make_engine(f"sqlite:///{old}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA page_size").scalar() == 4096
        assert conn.exec_driver_sql("SELECT x FROM t").scalar() == 1
    engine.dispose()


def test_sqlite_insert_rows_skips_conflicts_and_keeps_the_order_over_many_statements(engine):
    # 500 rows a statement, the rest one at a time: repeats within a statement, across
    # statements and in the rest are skipped; what goes in keeps the order given.
    rows = [(f"Artist {i}", f"artist {i % 1_000}") for i in range(1_234)]
    with db.transaction(engine) as conn:
        assert db.sqlite_insert_rows(conn, artists, ["name", "name_key"], rows) == 1_000
        stored = conn.execute(sa.select(artists.c.name).order_by(artists.c.id)).scalars().all()
    assert stored == [name for name, _ in rows[:1_000]]


def test_revision_0006_keeps_every_play_and_deleting_an_import_no_longer_looks_at_plays(any_engine):
    """0006 drops plays.batch_id's index and foreign key (on SQLite by rebuilding the table)."""
    with any_engine.begin() as conn:
        command.downgrade(db.alembic_config(conn), "0005")
    with db.transaction(any_engine) as conn:
        alice, bob = make_user(conn, "alice"), make_user(conn, "bob")
        batch = conn.execute(import_batches.insert().values(
            user_id=alice, origin="cli", label="export", status="done", options={}, created_at=NOW
        ).returning(import_batches.c.id)).scalar_one()  # fmt: skip
        store_plays(conn, alice, [play("A", "a", "2026-01-01T10:00:00"), play("B", "b", "2026-01-02T10:00:00")],
                    batch_id=batch)  # fmt: skip
        store_plays(conn, bob, [play("A", "a", "2026-01-01T10:00:00")])
        before = conn.execute(sa.select(plays).order_by(plays.c.id)).all()
    assert before and db.upgrade(any_engine)

    with any_engine.connect() as conn:
        assert conn.execute(sa.select(plays).order_by(plays.c.id)).all() == before
        assert db.current_revision(conn) == db.head_revision()
    inspector = sa.inspect(any_engine)
    assert [fk["constrained_columns"] for fk in inspector.get_foreign_keys("plays")
            if "batch_id" in fk["constrained_columns"]] == []  # fmt: skip
    assert [ix["name"] for ix in inspector.get_indexes("plays") if "batch_id" in ix["column_names"]] == []
    with db.transaction(any_engine) as conn:  # the one way batches go: with the user's plays
        userdata.clear_data(conn, alice)
        assert conn.execute(sa.select(plays.c.user_id)).scalars().all() == [bob]
        assert conn.execute(sa.select(sa.func.count()).select_from(import_batches)).scalar_one() == 0


def test_revision_0007_keeps_every_summary_row_and_stores_them_without_rowid_on_sqlite(any_engine):
    """0007 rebuilds the summary tables as WITHOUT ROWID tables on SQLite (PostgreSQL: nothing to do)."""
    summaries = [metadata.tables[name] for name in SUMMARIES]
    with any_engine.begin() as conn:
        command.downgrade(db.alembic_config(conn), "0006")
    with db.transaction(any_engine) as conn:
        alice = make_user(conn, "alice")
        store_plays(conn, alice, [play("A", "a", "2026-01-01T10:00:00"), play("B", "b", "2026-02-02T10:00:00"),
                                  play("A", "a", "2026-02-03T23:00:00", ms=1_000)])  # fmt: skip
        before = {table.name: conn.execute(sa.select(table).order_by(*table.primary_key)).all() for table in summaries}
    assert all(before.values()) and db.upgrade(any_engine)

    with any_engine.connect() as conn:
        assert {table.name: conn.execute(sa.select(table).order_by(*table.primary_key)).all() for table in summaries} == before
        if conn.dialect.name == "sqlite":
            created = dict(conn.exec_driver_sql("SELECT name, sql FROM sqlite_master WHERE type = 'table'").all())
            assert all(created[name].rstrip().endswith("WITHOUT ROWID") for name in SUMMARIES)
    with db.transaction(any_engine) as conn:  # still written by the summaries' code
        store_plays(conn, alice, [play("C", "c", "2026-03-01T10:00:00")])
        assert conn.execute(sa.select(sa.func.count()).select_from(metadata.tables["daily_plays"])).scalar_one() == 4
