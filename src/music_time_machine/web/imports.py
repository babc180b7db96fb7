"""Importing from the browser: upload an export, follow its progress, read its report and past ones.

The upload is saved under the instance folder and imported by a child process at low CPU
priority (a thread of the server would share its interpreter lock with the requests), with its
own database connections (the pipeline opens a transaction per file), so the page answers at once.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import socket
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import sqlalchemy as sa
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.utils import secure_filename

from .. import db
from ..importers import pipeline
from ..importers.pipeline import (
    ImportOptions,
    count_files,
    has_dead_batches,
    limits_for,
    mark_interrupted,
    run_import,
    start_import,
)
from ..niceness import lower_priority
from ..schema import import_batches
from .auth import current_user, login_required

bp = Blueprint("imports", __name__)
log = logging.getLogger(__name__)

# One import at a time per server: imports are write-heavy, and SQLite has one writer anyway.
_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mtm-import")


def submit(app, job, *args) -> None:
    """Run `job(*args)` in the background (tests put a runner in app.extensions to run it inline)."""
    runner = app.extensions.get("mtm_import_runner")
    if runner is not None:
        runner(job, *args)
    else:
        _executor.submit(_in_child_process, job, *args)


def _in_child_process(job, database_url: str, batch_id: int, *args) -> None:
    """Run the job in a fresh child process (at low priority) and wait for it to end."""
    child = multiprocessing.get_context("spawn").Process(
        target=_child, args=(job, database_url, batch_id, *args), name=f"mtm-import-{batch_id}"
    )
    try:
        child.start()
        child.join()
    finally:
        # No longer running here: if the child died midway, the next page marks the batch failed.
        pipeline._running_here.discard(batch_id)


def _child(job, *args) -> None:
    lower_priority()
    job(*args)


def _import_upload(database_url: str, batch_id: int, folder: Path, paths: list[Path], limits) -> None:
    """The background job: import the saved upload, then delete it."""
    engine = db.make_engine(database_url)
    try:
        _claim(engine, batch_id)
        run_import(engine, batch_id, paths, limits=limits)
    except Exception:  # run_import has marked the batch failed and logged why
        log.warning("import %s ended with an error", batch_id)
    finally:
        engine.dispose()
        shutil.rmtree(folder, ignore_errors=True)


def _claim(engine, batch_id: int) -> None:
    """Name this process the batch's runner: whether it still runs is then known from its pid,
    also after the server that started it was restarted."""
    with db.transaction(engine) as conn:
        report = conn.execute(sa.select(import_batches.c.report).where(import_batches.c.id == batch_id)).scalar_one()
        runner = {"host": socket.gethostname(), "pid": os.getpid()}
        conn.execute(import_batches.update().where(import_batches.c.id == batch_id).values(report={**report, "runner": runner}))


def _batch_or_404(batch_id: int) -> dict:
    _tidy()
    batch = db.get_conn().execute(
        sa.select(import_batches).where(import_batches.c.id == batch_id, import_batches.c.user_id == current_user()["id"])
    ).mappings().first()
    if batch is None:
        abort(404)
    return dict(batch)


def _tidy() -> None:
    """Mark the user's imports whose process is gone as failed (only writes when there are some)."""
    user_id = current_user()["id"]
    if has_dead_batches(db.get_conn(), user_id):
        with db.write() as conn:
            mark_interrupted(conn, user_id)
        db.get_conn().rollback()  # see the change in this request's read transaction
        db.get_conn().begin()


@bp.get("/import")
@login_required
def form():
    """The upload form."""
    return render_template("imports/form.html", max_mb=current_app.config["MAX_CONTENT_LENGTH"] // 2**20)


@bp.post("/import")
@login_required
def upload():
    """Save the uploaded files and start importing them in the background."""
    files = [file for file in request.files.getlist("export") if file.filename]
    if not files:
        flash("Choose the zip Spotify sent you, or the JSON files from it.", "error")
        return render_template("imports/form.html", max_mb=current_app.config["MAX_CONTENT_LENGTH"] // 2**20), 400
    folder = Path(current_app.instance_path, "uploads", uuid.uuid4().hex)
    folder.mkdir(parents=True)
    try:
        paths = []
        for number, file in enumerate(files):
            # A folder per file keeps two uploads of the same name apart, and the report's names plain.
            path = folder / f"{number:03d}" / (secure_filename(file.filename) or "upload")
            path.parent.mkdir()
            file.save(path)
            paths.append(path)
        options = ImportOptions(
            keep_personal=request.form.get("keep_personal") == "on",
            include_incognito=request.form.get("include_incognito") == "on",
        )
        limits = limits_for(current_app.config)
        with db.write() as conn:
            batch_id = start_import(
                conn, current_user()["id"], origin="web", label=", ".join(file.filename for file in files),
                options=options, files_total=count_files(paths, limits),
            )  # fmt: skip
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)  # the background import never started: nothing will
        raise
    submit(current_app, _import_upload, current_app.config["DATABASE_URL"], batch_id, folder, paths, limits)
    return redirect(url_for("imports.show", batch_id=batch_id))


@bp.get("/import/<int:batch_id>")
@login_required
def show(batch_id: int):
    """An import's progress while it runs, its report when it is over."""
    return render_template("imports/batch.html", batch=_batch_or_404(batch_id))


@bp.get("/import/<int:batch_id>/progress")
@login_required
def progress(batch_id: int):
    """How far an import is, for the progress page's script."""
    batch = _batch_or_404(batch_id)
    return {
        "status": batch["status"],
        "files_total": batch["files_total"],
        "files_done": batch["files_done"],
        "plays_added": batch["plays_added"],
    }


@bp.get("/imports")
@login_required
def history():
    """The user's past imports, newest first."""
    _tidy()
    batches = db.get_conn().execute(
        sa.select(import_batches)
        .where(import_batches.c.user_id == current_user()["id"])
        .order_by(import_batches.c.created_at.desc(), import_batches.c.id.desc())
    ).mappings().all()
    return render_template("imports/list.html", batches=batches)


@bp.app_errorhandler(RequestEntityTooLarge)
def too_large(_error):
    """An upload over MTM_MAX_UPLOAD_MB: say the limit and what to do instead."""
    limit = current_app.config["MAX_CONTENT_LENGTH"] // 2**20
    message = (
        f"The upload is larger than this server's limit of {limit} MB (MTM_MAX_UPLOAD_MB). Upload the "
        "JSON files of the export a few at a time, or import the zip on the server with `mtm import`."
    )
    return render_template("error.html", title="Upload too large", message=message), 413
