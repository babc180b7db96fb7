"""The upload page, its progress and report pages, and the list of past imports."""

from __future__ import annotations

import io
import json
import os
import re
import zipfile
from pathlib import Path

import pytest
import sqlalchemy as sa

from factories import EXPORTS, make_user
from music_time_machine import db
from music_time_machine.importers import pipeline
from music_time_machine.schema import import_batches, plays

AUDIO = "Streaming_History_Audio_2024.json"
jobs: list = []


@pytest.fixture
def queued_imports(app):
    """Background imports are queued here instead of started; `run_all()` runs them."""
    jobs.clear()
    app.extensions["mtm_import_runner"] = lambda job, *args: jobs.append((job, args))

    def run_all():
        while jobs:
            job, args = jobs.pop(0)
            job(*args)

    return run_all


@pytest.fixture
def inline_imports(app):
    """Background imports run before the upload request answers."""
    app.extensions["mtm_import_runner"] = lambda job, *args: job(*args)


def export_zip(**members: bytes) -> io.BytesIO:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(f"Spotify Extended Streaming History/{name}", content)
    buffer.seek(0)
    return buffer


def upload(client, *files, **form):
    data = {"export": [(content, name) for name, content in files], **form}
    return client.post("/import", data=data, content_type="multipart/form-data")


def count_plays(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(plays)).scalar_one()


def test_the_upload_page_has_the_form_and_the_options(authenticated_client):
    page = authenticated_client.get("/import").get_data(as_text=True)
    assert 'enctype="multipart/form-data"' in page and 'name="export"' in page
    assert 'name="include_incognito"' in page and 'name="keep_personal"' in page
    assert 'href="/import" aria-current="page">Import</a>' in page


def test_visitors_are_sent_to_the_start_page(client):
    assert client.get("/import").status_code == 302
    assert client.get("/imports").status_code == 302


def test_an_uploaded_zip_is_imported_in_the_background_with_progress_then_a_report(
    authenticated_client, engine, app, queued_imports
):
    archive = export_zip(**{AUDIO: (EXPORTS / AUDIO).read_bytes(), "ReadMe.pdf": b"%PDF-1.4"})
    response = upload(authenticated_client, ("my_spotify_data.zip", archive))
    assert response.status_code == 302
    url = response.headers["Location"]
    batch_id = int(re.search(r"/import/(\d+)$", url).group(1))

    running = authenticated_client.get(url).get_data(as_text=True)
    assert 'id="import-progress"' in running and 'id="refresh"' in running
    assert "import-progress.js" in running and "<script>" not in running
    assert authenticated_client.get(f"{url}/progress").get_json() == {
        "status": "running", "files_total": 2, "files_done": 0, "plays_added": 0}  # fmt: skip

    queued_imports()

    assert authenticated_client.get(f"{url}/progress").get_json() == {
        "status": "done", "files_total": 2, "files_done": 2, "plays_added": 3}  # fmt: skip
    report = authenticated_client.get(url).get_data(as_text=True)
    assert 'data-status="done"' in report and 'data-total="added">3<' in report
    assert "ReadMe.pdf" in report and "not a JSON file" in report
    assert count_plays(engine) == 3
    assert not list(Path(app.instance_path, "uploads").iterdir())  # the upload is deleted
    listed = authenticated_client.get("/imports").get_data(as_text=True)
    assert f'href="/import/{batch_id}">my_spotify_data.zip</a>' in listed


def test_options_from_the_checkboxes_are_kept(authenticated_client, engine, inline_imports):
    upload(authenticated_client, ("endsong_0.json", io.BytesIO((EXPORTS / "endsong_0.json").read_bytes())),
           include_incognito="on")  # fmt: skip
    with engine.connect() as conn:
        assert conn.execute(sa.select(import_batches.c.options)).scalar_one() == {
            "keep_personal": False, "include_incognito": True}  # fmt: skip


BAD_UPLOADS = {
    "not JSON": b"hello",
    "truncated": b'[{"ts": "2024-01-01T00:00:00Z",',
    "trailing comma": b'[{"ts": "2024-01-01T00:00:00Z"},]',
    "single object": b'{"ts": "2024-01-01T00:00:00Z", "ms_played": 1}',
    "empty file": b"",
    "not UTF-8": '["Caf\xe9"]'.encode("latin-1"),
    "a PDF renamed .json": b"%PDF-1.4 ...",
}


@pytest.mark.parametrize("case", list(BAD_UPLOADS))
def test_a_bad_file_shows_its_sentence_in_the_report_and_keeps_the_data(
    authenticated_client, engine, user, inline_imports, case
):
    upload(authenticated_client, (AUDIO, io.BytesIO((EXPORTS / AUDIO).read_bytes())))
    response = upload(authenticated_client, ("bad.json", io.BytesIO(BAD_UPLOADS[case])))
    page = authenticated_client.get(response.headers["Location"])
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert 'data-status="failed"' in text and 'class="file-failed"' in text
    assert re.search(r'<span class="error-text">bad\.json (is|holds) ', text)
    assert count_plays(engine) == 3


def test_a_zip_with_bad_members_reports_each_and_imports_the_rest(authenticated_client, engine, inline_imports):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("../escape.json", "[]")
        archive.writestr("inner.zip", b"PK\x03\x04")
        archive.writestr(AUDIO, (EXPORTS / AUDIO).read_bytes())
    buffer.seek(0)
    page = authenticated_client.get(upload(authenticated_client, ("x.zip", buffer)).headers["Location"])
    text = page.get_data(as_text=True)
    assert "has a path that leads outside the zip" in text and "nested zip files are not read" in text
    assert count_plays(engine) == 3


def test_uploading_nothing_says_what_to_choose(authenticated_client):
    response = authenticated_client.post("/import", data={}, content_type="multipart/form-data")
    assert response.status_code == 400
    assert "Choose the zip Spotify sent you" in response.get_data(as_text=True)


def test_an_upload_over_the_limit_gets_a_friendly_413(authenticated_client, app):
    app.config["MAX_CONTENT_LENGTH"] = 2 * 2**20
    response = upload(authenticated_client, ("big.json", io.BytesIO(b"[" + b" " * 3 * 2**20 + b"]")))
    assert response.status_code == 413
    text = response.get_data(as_text=True)
    assert "Upload too large" in text and "limit of 2 MB (MTM_MAX_UPLOAD_MB)" in text
    assert "Traceback" not in text


def test_another_users_import_is_not_found(authenticated_client, logged_in_as, engine, inline_imports):
    response = upload(authenticated_client, (AUDIO, io.BytesIO((EXPORTS / AUDIO).read_bytes())))
    url = response.headers["Location"]
    with db.transaction(engine) as conn:
        bob = logged_in_as(make_user(conn, "bob"))
    assert bob.get(url).status_code == 404
    assert bob.get(f"{url}/progress").status_code == 404
    assert "No imports yet" in bob.get("/imports").get_data(as_text=True)


def test_an_import_whose_process_died_shows_as_failed(authenticated_client, engine, user, queued_imports):
    url = upload(authenticated_client, (AUDIO, io.BytesIO((EXPORTS / AUDIO).read_bytes()))).headers["Location"]
    pipeline._running_here.clear()  # nothing runs it: the queued job is dropped, as if the server died
    with engine.begin() as conn:
        conn.execute(import_batches.update().values(report={"runner": {"host": "elsewhere", "pid": 1}, "files": []},
                                                    created_at=sa.func.datetime("now", "-2 days")))  # fmt: skip
    page = authenticated_client.get(url).get_data(as_text=True)
    assert 'data-status="failed"' in page and pipeline.INTERRUPTED in page
    assert authenticated_client.get(f"{url}/progress").get_json()["status"] == "failed"


def test_the_import_page_works_with_csrf_on(app, authenticated_client):
    app.config["WTF_CSRF_ENABLED"] = True
    assert upload(authenticated_client, ("a.json", io.BytesIO(b"[]"))).status_code == 400
    page = authenticated_client.get("/import").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    app.extensions["mtm_import_runner"] = lambda job, *args: job(*args)
    response = upload(authenticated_client, ("a.json", io.BytesIO(json.dumps([]).encode())), csrf_token=token)
    assert response.status_code == 302


def test_an_upload_that_cannot_start_leaves_no_files_behind(authenticated_client, app, monkeypatch):
    from music_time_machine.web import imports

    def fail(*args, **kwargs):
        raise RuntimeError("the database is not writable")

    monkeypatch.setattr(imports, "start_import", fail)
    response = upload(authenticated_client, ("StreamingHistory_music_0.json", io.BytesIO(b"[]")))
    assert response.status_code == 500 and b"nothing was changed" in response.data
    assert not list(Path(app.instance_path, "uploads").iterdir())


@pytest.mark.slow
def test_an_upload_is_imported_by_a_child_process_at_low_priority(authenticated_client, app, engine, user, niceness):
    """The server's default runner: a spawned process, not a thread sharing the requests' interpreter lock."""
    from music_time_machine.web import imports

    app.extensions["mtm_import_runner"] = lambda job, *args: jobs.append((job, args))
    jobs.clear()
    url = upload(authenticated_client, (AUDIO, io.BytesIO((EXPORTS / AUDIO).read_bytes()))).headers["Location"]
    (job, args), = jobs
    batch_id, folder = args[1], args[2]
    imports._in_child_process(job, *args)  # what the background thread does; returns when the child ended
    assert authenticated_client.get(f"{url}/progress").get_json()["status"] == "done"
    assert count_plays(engine) == 3 and not folder.exists()
    assert batch_id not in pipeline._running_here
    with engine.connect() as conn:  # the child named itself the runner: a server restart cannot orphan the batch
        runner = conn.execute(sa.select(import_batches.c.report)).scalar_one()["runner"]
    assert runner["pid"] != os.getpid()
    imports._child(lambda: None)  # the child's first step, here with os.nice counted (conftest)
    assert niceness.value == 10


@pytest.mark.slow
def test_an_import_whose_child_process_died_shows_as_failed(authenticated_client, app, user, queued_imports):
    from music_time_machine.web import imports

    url = upload(authenticated_client, (AUDIO, io.BytesIO((EXPORTS / AUDIO).read_bytes()))).headers["Location"]
    (_job, args), = jobs
    assert authenticated_client.get(f"{url}/progress").get_json()["status"] == "running"
    imports._in_child_process(os._exit, *args[:2])  # a child that ends at once, with an error, importing nothing
    assert authenticated_client.get(f"{url}/progress").get_json()["status"] == "failed"
