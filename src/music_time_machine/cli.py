"""The `mtm` command: each subcommand calls the same functions the web app uses."""

from __future__ import annotations

import functools
import os
import re
import secrets
from pathlib import Path
from typing import Any

import click
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
    with click.progressbar(length=plays, label="Generating the demo history") as bar:
        user_id = ensure_demo_user(db_engine(app), plays=plays, progress=bar.update)
    click.echo(f"\nDemo ready. Open {app.config['BASE_URL']}/ and click 'Enter the demo', or use this login link:")
    click.echo(f"    {_login_url(app, user_id)}\n")
    click.echo("Press Ctrl+C to stop.")
    serve(app, host=host, port=port)


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


def main() -> None:
    """Entry point of the `mtm` console script."""
    cli()
