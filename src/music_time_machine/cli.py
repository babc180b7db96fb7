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
