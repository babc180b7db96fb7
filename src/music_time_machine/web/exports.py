"""Downloads: the user's plays (CSV, JSON Lines) and snapshots (CSV), streamed; the database backup."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from flask import Blueprint, Response, abort, current_app, flash, redirect, send_file, url_for

from .. import db, exports, users
from ..backup import BackupError, backup_to
from ..clock import utcnow
from .views import attachment
from .auth import current_user, login_required

bp = Blueprint("exports", __name__, url_prefix="/export")

_FORMATS = {
    "plays.csv": (exports.plays_csv, "text/csv; charset=utf-8"),
    "plays.jsonl": (exports.plays_jsonl, "application/jsonl; charset=utf-8"),
    "snapshots.csv": (exports.snapshots_csv, "text/csv; charset=utf-8"),
}


def _download_name(user_name: str, name: str) -> str:
    stem, ext = name.split(".")
    return f"music-time-machine-{user_name}-{stem}-{utcnow():%Y-%m-%d}.{ext}"


@bp.get("/<any('plays.csv', 'plays.jsonl', 'snapshots.csv'):name>")
@login_required
def download(name: str):
    """One of the user's exports, streamed as an attachment."""
    export, content_type = _FORMATS[name]
    user = current_user()
    # A plain generator: it has its engine and user id, so it needs no request context while it runs.
    response = Response(export(db.get_engine(), user["id"]), content_type=content_type)
    # User names may be in any script: attachment() gives an ASCII filename and the exact one.
    response.headers["Content-Disposition"] = attachment(_download_name(user["name"], name))
    return response


@bp.get("/backup")
@login_required
def backup():
    """A consistent copy of the whole SQLite database, for an instance with one user."""
    url = current_app.config["DATABASE_URL"]
    if not url.startswith("sqlite"):
        flash("This instance runs on PostgreSQL: back it up on the server with pg_dump -Fc (README: Backups).", "info")
        return redirect(url_for("settings.index", _anchor="backup"))
    if len(users.list_users(db.get_conn())) != 1:
        # The file holds every user's data; on a shared instance only the server's owner may copy it.
        abort(403, "This instance has several users, so the backup is made on the server: mtm backup PATH.")
    fd, tmp = tempfile.mkstemp(prefix="mtm-download-", suffix=".sqlite3")
    os.close(fd)
    try:
        backup_to(url, Path(tmp))
        file = open(tmp, "rb")  # noqa: SIM115 - send_file closes it when the download ends
    except BackupError as error:
        abort(409, str(error))
    finally:
        os.unlink(tmp)  # the open file stays readable until sent; nothing is left behind on disk
    return send_file(
        file, mimetype="application/vnd.sqlite3", as_attachment=True,
        download_name=f"music-time-machine-backup-{utcnow():%Y-%m-%d-%H%M}.sqlite3",
    )  # fmt: skip
