"""Fixtures, in layers: a fresh database per test -> app -> client -> a logged-in client.

Each test gets its own SQLite file, copied from a template migrated once per session, so the
database is real (WAL, foreign keys, the migrations' schema) and still costs about a millisecond.
PostgreSQL tests use the server in MTM_TEST_DATABASE_URL; without it they skip.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from datetime import date
from pathlib import Path
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from hypothesis import settings

from factories import generated, make_user
from music_time_machine import analytics, create_app, db
from music_time_machine.config import load_config
from music_time_machine.history import store_plays
from music_time_machine.schema import metadata

# Property and fuzz tests: `make test` (and so CI) runs them with HYPOTHESIS_PROFILE=thorough; any
# other run, `make test-fast` among them, takes a fifth of the examples (`factories.examples`).
settings.register_profile("thorough", max_examples=100)
settings.register_profile("quick", max_examples=20)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "quick"))

TEST_SECRET_KEY = "test-secret-key-that-is-long-enough"
PG_URL = os.environ.get("MTM_TEST_DATABASE_URL")


@pytest.fixture(scope="session")
def database_dir(tmp_path_factory) -> Path:
    """Where the tests' SQLite files live: in memory-backed /dev/shm when the machine has it.

    They are real files in WAL mode all the same; on a disk, the fsyncs of SQLite's checkpoints
    (at every commit of a big transaction and every close) were most of the suite's time.
    """
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        folder = Path(tempfile.mkdtemp(prefix="mtm-tests-", dir=shm))
        yield folder
        shutil.rmtree(folder, ignore_errors=True)
    else:
        yield tmp_path_factory.mktemp("databases")


@pytest.fixture(scope="session")
def template_db(database_dir) -> str:
    """A SQLite file migrated to the newest schema, copied for every test."""
    path = database_dir / "template.sqlite3"
    engine = db.make_engine(f"sqlite:///{path}")
    db.upgrade(engine)
    engine.dispose()  # the last connection's close checkpoints and removes the WAL: one file to copy
    assert not Path(f"{path}-wal").exists()
    return str(path)


@pytest.fixture(scope="session")
def sqlite_engine(database_dir) -> sa.Engine:
    """One engine for every test's SQLite database: its compiled-statement cache lives as long as
    the session (a new engine compiles every statement anew, which was a fifth of the suite)."""
    engine = db.make_engine(f"sqlite:///{database_dir / 'mtm.sqlite3'}")
    yield engine
    engine.dispose()


@pytest.fixture
def database_url(template_db, sqlite_engine, request) -> str:
    """The URL of this test's own fresh SQLite database (a new file at the session's path)."""
    path = Path(sqlite_engine.url.database)
    _fresh_copy(template_db, path)
    request.addfinalizer(lambda: _close(sqlite_engine))
    return f"sqlite:///{path}"


def _fresh_copy(template: str, path: Path) -> None:
    for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        leftover.unlink(missing_ok=True)  # a connection a test leaked keeps its own (old) file
    shutil.copyfile(template, path)


def _close(engine: sa.Engine) -> None:
    engine.dispose()
    analytics.clear_cache()  # its keys hold the database's URL, which every test shares


@pytest.fixture
def config(database_url, database_dir, request) -> dict:
    """The settings of the test app; tests may change them before asking for `app`."""
    instance = tempfile.mkdtemp(prefix="instance-", dir=database_dir)  # tmp_path's mkdir cost a ms
    request.addfinalizer(lambda: shutil.rmtree(instance, ignore_errors=True))
    return {
        "TESTING": True,
        "SECRET_KEY": TEST_SECRET_KEY,
        "DATABASE_URL": database_url,
        "INSTANCE_PATH": instance,
        "WTF_CSRF_ENABLED": False,  # the CSRF tests turn it back on
    }


@pytest.fixture(autouse=True)
def niceness(monkeypatch) -> SimpleNamespace:
    """No test lowers the test process's CPU priority: os.nice only counts here (`niceness.value`)."""
    state = SimpleNamespace(value=0)

    def nice(increment: int) -> int:
        state.value += increment
        return state.value

    monkeypatch.setattr(os, "nice", nice)
    return state


@pytest.fixture(scope="session")
def shared_app(template_db, tmp_path_factory):
    """The app object, built once: building it (mostly compiling routes) costs more than a test."""
    path = tmp_path_factory.mktemp("shared") / "unused.sqlite3"
    shutil.copyfile(template_db, path)
    app = create_app({"TESTING": True, "SECRET_KEY": TEST_SECRET_KEY, "DATABASE_URL": f"sqlite:///{path}",
                      "INSTANCE_PATH": str(path.parent / "instance")})  # fmt: skip
    app.extensions["mtm_engine"].dispose()
    return app


@pytest.fixture
def app(shared_app, config, sqlite_engine):
    """The app on this test's fresh database, with this test's settings; restored afterwards."""
    saved_config, saved_extensions = dict(shared_app.config), dict(shared_app.extensions)
    saved_instance_path = shared_app.instance_path
    shared_app.config.update(load_config(config))
    shared_app.instance_path = config["INSTANCE_PATH"]
    engine = sqlite_engine if config["DATABASE_URL"] == str(sqlite_engine.url) else db.make_engine(config["DATABASE_URL"])
    shared_app.extensions["mtm_engine"] = engine
    yield shared_app
    if engine is not sqlite_engine:
        engine.dispose()
    shared_app.config.clear()
    shared_app.config.update(saved_config)
    shared_app.extensions.clear()
    shared_app.extensions.update(saved_extensions)
    shared_app.instance_path = saved_instance_path


@pytest.fixture
def engine(app) -> sa.Engine:
    """The test app's database engine."""
    return app.extensions["mtm_engine"]


@pytest.fixture
def client(app):
    """A browser-less client of the app, logged out."""
    return app.test_client()


@pytest.fixture
def runner(database_url, tmp_path, monkeypatch):
    """Runs `mtm` commands against this test's database; invoke with `runner.invoke(cli, [...])`."""
    monkeypatch.chdir(tmp_path)  # keep a developer's own .env out of the tests
    return CliRunner(
        env={"DATABASE_URL": database_url, "SECRET_KEY": TEST_SECRET_KEY, "MTM_INSTANCE_PATH": str(tmp_path)}
    )


@pytest.fixture
def user(engine) -> int:
    """Alice, the default test user; returns her id."""
    with db.transaction(engine) as conn:
        return make_user(conn, "alice")


@pytest.fixture
def logged_in_as(app):
    """A factory: `logged_in_as(user_id)` gives a client whose session belongs to that user."""

    def factory(user_id: int):
        client = app.test_client()
        with client.session_transaction() as session:
            session["user_id"] = user_id
        return client

    return factory


@pytest.fixture
def authenticated_client(logged_in_as, user):
    """A client logged in as alice."""
    return logged_in_as(user)


SEED = dict(plays=2_000, start=date(2025, 1, 1), end=date(2026, 1, 1), seed=7)


@pytest.fixture(scope="session")
def seeded_template(template_db, database_dir) -> str:
    """The template database with alice and her generated history, built once per test process."""
    path = database_dir / "seeded.sqlite3"
    shutil.copyfile(template_db, path)
    engine = db.make_engine(f"sqlite:///{path}")
    with db.transaction(engine) as conn:
        store_plays(conn, make_user(conn, "alice"), list(generated(**SEED)))
    engine.dispose()
    return str(path)


@pytest.fixture
def seeded_db(engine, user, database_url, seeded_template) -> SimpleNamespace:
    """Alice with a small generated history (2,000 plays in 2025); the records are returned too.

    The test's database is swapped for a copy of `seeded_template`: storing the plays anew for
    every test cost a tenth of a second each. Only a database holding just alice can be swapped.
    """
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM users")).scalar() == 1, "seeded_db comes first"
    engine.dispose()
    _fresh_copy(seeded_template, Path(sa.engine.make_url(database_url).database))
    return SimpleNamespace(engine=engine, user_id=user, records=list(generated(**SEED)))


# --- PostgreSQL tier ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def pg_engine() -> sa.Engine:
    """The PostgreSQL server of MTM_TEST_DATABASE_URL, with an empty public schema, migrated."""
    if not PG_URL:
        pytest.skip("PostgreSQL tier: set MTM_TEST_DATABASE_URL to run it")
    engine = db.make_engine(_own_postgres_database(PG_URL))
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA public CASCADE")
        conn.exec_driver_sql("CREATE SCHEMA public")
    db.upgrade(engine)
    yield engine
    engine.dispose()


def _own_postgres_database(url: str) -> str:
    """With pytest-xdist, each worker gets a database of its own on the server (they truncate)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return url
    parsed = sa.engine.make_url(url)
    name = f"{parsed.database}_{worker}"
    server = sa.create_engine(parsed, isolation_level="AUTOCOMMIT")
    with server.connect() as conn:
        if not conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first():
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    server.dispose()
    return parsed.set(database=name).render_as_string(hide_password=False)


def _empty_postgres(engine: sa.Engine) -> None:
    names = ", ".join(table.name for table in metadata.sorted_tables)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def any_engine(request, database_url) -> sa.Engine:
    """A fresh, migrated database on each backend: the data-layer tests run on both."""
    if request.param == "postgresql":
        engine = request.getfixturevalue("pg_engine")
        _empty_postgres(engine)
        yield engine
        return
    yield request.getfixturevalue("sqlite_engine")


@pytest.fixture
def postgres_engine(pg_engine) -> sa.Engine:
    """A fresh, migrated PostgreSQL database, for what only PostgreSQL can show (mark the test
    `postgres`)."""
    _empty_postgres(pg_engine)
    return pg_engine


# --- Spotify ------------------------------------------------------------------------------------


@pytest.fixture
def fake_spotify(config):
    """The fake Spotify served on a free 127.0.0.1 port, the app's settings pointed at it.

    Ask for it before `app` (or anything using the app) so the settings apply; yields the fake's
    state (`fake.fail_next(...)`, `fake.state()`), with its URL as `fake.base_url`.
    """
    from music_time_machine.spotify.fake import create_fake_spotify, serve_fake_spotify

    fake_app = create_fake_spotify()
    base_url, stop = serve_fake_spotify(app=fake_app)
    config.update(SPOTIFY_CLIENT_ID="fake-client", SPOTIFY_ACCOUNTS_URL=base_url, SPOTIFY_API_URL=base_url)
    fake = fake_app.config["FAKE"]
    fake.base_url = base_url
    yield fake
    stop()
