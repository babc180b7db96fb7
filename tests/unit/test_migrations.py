import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from music_time_machine import db
from music_time_machine.schema import metadata


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


def test_sqlite_insert_rows_skips_conflicts_and_keeps_the_order_over_many_statements(engine):
    # 500 rows a statement, the rest one at a time: repeats within a statement, across
    # statements and in the rest are skipped; what goes in keeps the order given.
    from music_time_machine.schema import artists

    rows = [(f"Artist {i}", f"artist {i % 1_000}") for i in range(1_234)]
    with db.transaction(engine) as conn:
        assert db.sqlite_insert_rows(conn, artists, ["name", "name_key"], rows) == 1_000
        stored = conn.execute(sa.select(artists.c.name).order_by(artists.c.id)).scalars().all()
    assert stored == [name for name, _ in rows[:1_000]]
