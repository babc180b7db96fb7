"""The `mtm` command: each subcommand calls the same functions the web app uses."""

from __future__ import annotations

import functools
import os
import re
import secrets
from pathlib import Path
from typing import Any

import click
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from . import __version__, create_app, db, users
from .clock import utcnow
from .config import ConfigError, load_config


def _database_error(error: SQLAlchemyError, url: str | None) -> click.ClickException:
    shown = make_url(url).render_as_string(hide_password=True) if url else "DATABASE_URL"
    reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
    return click.ClickException(f"Cannot use the database at {shown}: {reason}")


def friendly_errors(command):
    """Turn configuration and database failures into a one-line message and exit status 1."""

    @functools.wraps(command)
    def wrapped(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except ConfigError as error:
            raise click.ClickException(str(error)) from None
        except SQLAlchemyError as error:
            raise _database_error(error, os.environ.get("DATABASE_URL")) from None

    return wrapped


def _app(**overrides: Any) -> Flask:
    return create_app(overrides or None)


def _login_url(app: Flask, user_id: int) -> str:
    with db.transaction(db_engine(app)) as conn:
        token = users.create_login_token(conn, user_id, now=utcnow(), minutes=app.config["LOGIN_LINK_MINUTES"])
    return f"{app.config['BASE_URL']}/login/{token}"


def db_engine(app: Flask):
    """The engine of an app built by the CLI."""
    return app.extensions["mtm_engine"]


def _base_url_for(host: str, port: int) -> dict[str, str]:
    if os.environ.get("MTM_BASE_URL"):
        return {}
    shown = f"[{host}]" if ":" in host else host
    return {"BASE_URL": f"http://{shown}:{port}"}


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mtm")
def cli() -> None:
    """Music Time Machine: keep your Spotify listening history and travel through it.

    Settings come from the environment or a .env file in the current folder (see .env.example).
    """


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=5000, show_default=True, help="Port to listen on.")
@click.option("--plays", default=60_000, show_default=True, help="Size of the generated history.")
@click.option("--fresh", is_flag=True, help="Throw away the demo database and generate it again.")
@friendly_errors
def demo(host: str, port: int, plays: int, fresh: bool) -> None:
    """Serve a demo with a generated history and one-click login."""
    from .demo import ensure_demo_user
    from .server import serve

    instance = Path(os.environ.get("MTM_INSTANCE_PATH") or Path.cwd() / "instance")
    instance.mkdir(parents=True, exist_ok=True)
    database = instance / "demo.sqlite3"
    if fresh:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{database}{suffix}").unlink(missing_ok=True)
    key_file = instance / "demo-secret-key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(48))
        key_file.chmod(0o600)
    app = _app(
        DATABASE_URL=f"sqlite:///{database}",
        SECRET_KEY=os.environ.get("SECRET_KEY") or key_file.read_text().strip(),
        DEMO_MODE=True,
        INSTANCE_PATH=str(instance),
        **_base_url_for(host, port),
    )
    if not app.config["SPOTIFY_CLIENT_ID"]:
        _use_fake_spotify(app)
    with click.progressbar(length=plays, label="Generating the demo history") as bar:
        user_id = ensure_demo_user(db_engine(app), plays=plays, progress=bar.update)
    click.echo(f"\nDemo ready. Open {app.config['BASE_URL']}/ and click 'Enter the demo', or use this login link:")
    click.echo(f"    {_login_url(app, user_id)}\n")
    click.echo("Press Ctrl+C to stop.")
    serve(app, host=host, port=port)


def _use_fake_spotify(app: Flask) -> None:
    """Point the demo at a fake Spotify on 127.0.0.1, so "Connect Spotify" works offline."""
    from .spotify.fake import serve_fake_spotify

    fake_url, _stop = serve_fake_spotify()  # a daemon thread: it ends with the demo
    app.config.update(
        SPOTIFY_CLIENT_ID="demo-client", SPOTIFY_CLIENT_SECRET="", SPOTIFY_ACCOUNTS_URL=fake_url,
        SPOTIFY_API_URL=fake_url, SPOTIFY_REDIRECT_URI=f"{app.config['BASE_URL']}/callback",
    )  # fmt: skip
    click.echo(f"No Spotify app configured: the demo uses a fake Spotify at {fake_url}.")


@cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=5000, show_default=True, help="Port to listen on.")
@friendly_errors
def serve_command(host: str, port: int) -> None:
    """Serve the app with the production WSGI server (waitress)."""
    from .server import serve

    app = _app(**_base_url_for(host, port))
    with db_engine(app).connect() as conn:
        everyone = users.list_users(conn)
    if len(everyone) == 1:
        click.echo(f"Log in as {everyone[0]['name']} with this one-time link:")
        click.echo(f"    {_login_url(app, everyone[0]['id'])}")
    else:
        click.echo("Make a one-time login link with: mtm login-link NAME")
    click.echo(f"Serving on http://{host}:{port}/ (Ctrl+C to stop)")
    serve(app, host=host, port=port)


@cli.command("login-link")
@click.argument("name")
@friendly_errors
def login_link(name: str) -> None:
    """Print a one-time login link for user NAME (created if new)."""
    if not re.match(users.NAME_PATTERN, name):
        raise click.BadParameter("use letters, digits and . _ @ + - (at most 100)", param_hint="NAME")
    app = _app()
    with db.transaction(db_engine(app)) as conn:
        user = users.find_user(conn, name)
        user_id = user["id"] if user else users.create_user(conn, name, now=utcnow())
    if user is None:
        click.echo(f"Created user {name}.", err=True)
    click.echo(_login_url(app, user_id))
    click.echo(f"The link works once, within {app.config['LOGIN_LINK_MINUTES']} minutes.", err=True)


@cli.command("users")
@friendly_errors
def list_users() -> None:
    """List the users of this instance."""
    app = _app()
    with db_engine(app).connect() as conn:
        everyone = users.list_users(conn)
    if not everyone:
        click.echo("No users yet: mtm login-link NAME creates one.")
    for user in everyone:
        spotify = f"Spotify {user['spotify_id']}" if user["spotify_id"] else "local only"
        click.echo(f"{user['name']}\t{user['display_name'] or ''}\t{spotify}")


@cli.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--user", "user_name", help="Whose history it is (needed when there are several users).")
@click.option("--keep-personal", is_flag=True, help="Also store IP address, user agent, username and country.")
@click.option("--include-incognito", is_flag=True, help="Also import plays made in a private session.")
@friendly_errors
def import_command(paths: tuple[Path, ...], user_name: str | None, keep_personal: bool, include_incognito: bool) -> None:
    """Import Spotify data exports: zips, folders or JSON files (extended history or account data)."""
    from .importers.pipeline import ImportOptions, count_files, limits_for, run_import, start_import
    from .niceness import lower_priority

    lower_priority()  # an import takes a whole core for minutes; served pages come first
    for path in paths:
        if not path.exists():
            raise click.ClickException(f"{path} does not exist.")
    app = _app()
    engine = db_engine(app)
    limits = limits_for(app.config)
    with db.transaction(engine) as conn:
        user_id = _import_user(conn, user_name)
        files_total = count_files(paths, limits)
        batch_id = start_import(
            conn, user_id, origin="cli", label=", ".join(str(path) for path in paths), files_total=files_total,
            options=ImportOptions(keep_personal=keep_personal, include_incognito=include_incognito),
        )  # fmt: skip
    with click.progressbar(
        length=files_total, label="Importing", item_show_func=lambda name: name and name.rsplit("/", 1)[-1]
    ) as bar:
        try:
            report = run_import(engine, batch_id, paths, limits=limits, progress=lambda entry: bar.update(1, entry["name"]))
        except Exception as error:  # the batch is marked failed and the details are logged
            raise click.ClickException(f"The import stopped on an internal error: {error}") from None
    click.echo()
    click.echo(report_table(report))
    failed = report["totals"]["files_failed"]
    if failed or report.get("error"):
        raise click.ClickException(report.get("error") or f"{failed} of {report['totals']['files']} files could not be read.")


def _import_user(conn, name: str | None) -> int:
    if name is not None:
        user = users.find_user(conn, name)
        if user is None:
            raise click.ClickException(f"There is no user {name!r}; `mtm users` lists them.")
        return user["id"]
    everyone = users.list_users(conn)
    if len(everyone) == 1:
        return everyone[0]["id"]
    if not everyone:
        raise click.ClickException("There are no users yet: create one with `mtm login-link NAME`.")
    raise click.ClickException("There are several users: say whose history it is with --user NAME.")


def report_table(report: dict) -> str:
    """An import report as aligned plain text: a row per file, the totals, then what went wrong."""
    short = f"Under {report.get('listen_threshold_s', 30)} s"
    header = ("File", "Status", "Added", "Duplicates", "Replaced", short, "Podcasts", "Skipped")

    def row(name: str, status: str, entry: dict) -> tuple:
        skipped = entry["records_skipped"] if "records_skipped" in entry else sum(entry["skipped"].values())
        numbers = (entry["added"], entry["duplicates"], entry["replaced"], entry["under_threshold"],
                   entry["podcasts"] + entry["audiobooks"], skipped)  # fmt: skip
        return (name, status, *(f"{n:,}" for n in numbers))

    rows = [header] + [row(e["name"].rsplit("/", 1)[-1], e["status"], e) for e in report["files"]]
    rows.append(row("Total", f"{report['totals']['files']} files", report["totals"]))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) if i < 2 else cell.rjust(w) for i, (cell, w) in enumerate(zip(r, widths)))
             for r in rows]  # fmt: skip
    lines.insert(1, "  ".join("-" * w for w in widths))
    for entry in report["files"]:
        name = entry["name"]
        if entry["error"]:
            lines.append(f"failed:  {entry['error']}")
        elif entry["skip_reason"]:
            lines.append(f"skipped: {name}: {entry['skip_reason']}")
        for reason, count in sorted(entry["skipped"].items()):
            lines.append(f"note:    {name}: {count:,} records skipped ({reason})")
        for note in entry["notes"]:
            lines.append(f"note:    {name}: {note}")
    return "\n".join(lines)


@cli.group("db")
def db_group() -> None:
    """Database maintenance."""


@db_group.command("upgrade")
@friendly_errors
def db_upgrade() -> None:
    """Migrate the database to the newest schema (the app also does this when it starts)."""
    config = load_config()
    engine = db.make_engine(config["DATABASE_URL"])
    try:
        migrated = db.upgrade(engine)
    except SQLAlchemyError as error:
        raise _database_error(error, config["DATABASE_URL"]) from None
    state = "migrated to" if migrated else "already at"
    click.echo(f"Database {state} revision {db.head_revision()}.")


@db_group.command("revision")
@click.argument("message")
@friendly_errors
def db_revision(message: str) -> None:
    """For developers: write a migration for the changes made to schema.py."""
    from alembic import command

    config = load_config()
    engine = db.make_engine(config["DATABASE_URL"])
    db.upgrade(engine)
    with engine.connect() as conn:
        command.revision(db.alembic_config(conn), message=message, autogenerate=True)


# --- Spotify jobs -------------------------------------------------------------------------------


def _spotify_users(app: Flask, name: str | None) -> list[tuple[int, str]]:
    """(id, name) of the user NAME, or of every user with a Spotify connection."""
    from .schema import spotify_tokens
    from .schema import users as users_table

    with db_engine(app).connect() as conn:
        if name is not None:
            user = _user_named(conn, name)
            if not conn.execute(sa.select(sa.exists().where(spotify_tokens.c.user_id == user["id"]))).scalar():
                raise click.ClickException(f"{name} has not connected Spotify: log in with Spotify first.")
            return [(user["id"], name)]
        query = sa.select(users_table.c.id, users_table.c.name).join(spotify_tokens).order_by(users_table.c.id)
        return [(user_id, user_name) for user_id, user_name in conn.execute(query)]


def _run_spotify_job(job: str, name: str | None) -> None:
    from .jobs import run_spotify_job
    from .spotify.service import SpotifyApp

    app = _app()
    spotify = SpotifyApp.from_config(app.config)
    if not spotify.configured:
        raise click.ClickException("Spotify is not set up: set SPOTIFY_CLIENT_ID (README: Connect Spotify).")
    engine = db_engine(app)
    chosen = _spotify_users(app, name)
    if not chosen:
        click.echo("Nobody has connected Spotify yet.")
    failed = []
    for user_id, user_name in chosen:
        run = run_spotify_job(engine, job, user_id, spotify.client_for(engine, user_id), now=utcnow())
        click.echo(f"{user_name}: {run.message}")
        if not run.ok:
            failed.append(f"{user_name}: {run.message}")
    if failed:
        raise click.ClickException(f"{job} did not run for {len(failed)} user(s); first: {failed[0]}")


@cli.command("snapshot")
@click.option("--user", "name", help="Only this user (default: everyone connected to Spotify).")
@friendly_errors
def snapshot_command(name: str | None) -> None:
    """Take today's snapshot of Spotify's top lists (or complete it), once."""
    _run_spotify_job("snapshot", name)


@cli.command("sync")
@click.option("--user", "name", help="Only this user (default: everyone connected to Spotify).")
@friendly_errors
def sync_command(name: str | None) -> None:
    """Fetch recently played tracks from Spotify, once."""
    _run_spotify_job("sync", name)


@cli.command("worker")
@friendly_errors
def worker_command() -> None:
    """Run the schedule: sync every MTM_SYNC_INTERVAL_MINUTES, snapshot monthly (Ctrl+C stops)."""
    import logging
    from datetime import timedelta

    from .spotify.service import SpotifyApp
    from .worker import Worker, run_forever

    app = _app()
    spotify = SpotifyApp.from_config(app.config)
    if not spotify.configured:
        raise click.ClickException("Spotify is not set up: set SPOTIFY_CLIENT_ID (README: Connect Spotify).")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    engine = db_engine(app)
    worker = Worker(
        engine,
        lambda user_id: spotify.client_for(engine, user_id),
        sync_interval=timedelta(minutes=app.config["SYNC_INTERVAL_MINUTES"]),
    )
    click.echo(f"Worker running (sync every {app.config['SYNC_INTERVAL_MINUTES']} min). Ctrl+C stops it.")
    try:
        run_forever(worker, sleep=worker_sleep)
    except KeyboardInterrupt:
        click.echo("Worker stopped.")


def worker_sleep(seconds: float) -> None:
    """The worker's pause between ticks."""
    import time

    time.sleep(seconds)


# --- your data: stats, export, backup, restore ----------------------------------------------------


def _user_named(conn, name: str | None):
    """The user NAME, or the only user when no name is given."""
    if name is not None:
        user = users.find_user(conn, name)
        if user is None:
            raise click.ClickException(f"No user named {name!r} (mtm users lists them).")
        return user
    everyone = users.list_users(conn)
    if len(everyone) != 1:
        raise click.ClickException("There are no users yet." if not everyone else "Several users: say which with --user NAME.")
    return everyone[0]


@cli.command("stats")
@click.option("--user", "name", help="Whose statistics (needed when there are several users).")
@click.option("--range", "range_key", type=click.Choice(["6m", "12m", "24m", "all"]), default="12m", show_default=True)
@click.option("--by", type=click.Choice(["listens", "minutes"]), default="listens", show_default=True)
@click.option("--limit", type=click.IntRange(1, 50), default=10, show_default=True)
@friendly_errors
def stats_command(name: str | None, range_key: str, by: str, limit: int) -> None:
    """Print the top artists and tracks of a range."""

    from . import analytics
    from .rollups import local_date

    app = _app()
    with db_engine(app).connect() as conn:
        user = _user_named(conn, name)
        today = local_date(user["time_zone"], utcnow())
        period = analytics.resolve_period(range_key, None, None, today)
        overview = analytics.overview(conn, user["id"])
        artists = analytics.top_artists(conn, user["id"], period, by, limit)
        tracks = analytics.top_tracks(conn, user["id"], period, by, limit)
    click.echo(f"{user['name']}: {overview.plays:,} plays, {overview.listening_hours:,} hours "
               f"({'all time' if range_key == 'all' else 'last ' + range_key} below, by {by})")  # fmt: skip
    unit = "listens" if by == "listens" else "min"
    for title, entries, label in (("Top artists", artists, lambda e: e["name"]),
                                  ("Top tracks", tracks, lambda e: f"{e['artist']} – {e['title']}")):  # fmt: skip
        click.echo(f"\n{title}")
        if not entries:
            click.echo("  nothing in this range yet")
        for entry in entries:
            click.echo(f"  {entry['rank']:>2}. {label(entry)}  ({entry[by]:,} {unit})")


@cli.command("export")
@click.option("--user", "name", help="Whose plays (needed when there are several users).")
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), default="csv", show_default=True)
@click.option("-o", "--output", type=click.Path(allow_dash=True, dir_okay=False, path_type=Path), default="-",
              help="File to write (default: standard output).")  # fmt: skip
@friendly_errors
def export_command(name: str | None, fmt: str, output: Path) -> None:
    """Export a user's plays as CSV or JSON Lines."""
    from . import exports

    app = _app()
    engine = db_engine(app)
    with engine.connect() as conn:
        user = _user_named(conn, name)
    chunks = (exports.plays_csv if fmt == "csv" else exports.plays_jsonl)(engine, user["id"])
    with click.open_file(str(output), "w", encoding="utf-8", atomic=str(output) != "-") as out:
        for chunk in chunks:
            out.write(chunk)
    if str(output) != "-":
        click.echo(f"Wrote {user['name']}'s plays to {output}.", err=True)


@cli.command("backup")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@friendly_errors
def backup_command(path: Path) -> None:
    """Write a consistent copy of the SQLite database to PATH (safe while the app runs)."""
    from .backup import BackupError, backup_to

    config = load_config()
    try:
        size = backup_to(config["DATABASE_URL"], path)
    except BackupError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Backup written to {path} ({size / 1_048_576:,.1f} MB).")


@cli.command("restore")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@friendly_errors
def restore_command(path: Path) -> None:
    """Replace the SQLite database with the backup at PATH (checked, migrated). Stop the server first."""
    from .backup import BackupError, restore_from

    config = load_config()
    try:
        was, now = restore_from(path, config["DATABASE_URL"])
    except BackupError as error:
        raise click.ClickException(str(error)) from None
    migrated = f", migrated from revision {was} to {now}" if was != now else f" (revision {now})"
    click.echo(f"Restored the database from {path}{migrated}.")


def main() -> None:
    """Entry point of the `mtm` console script."""
    cli()
