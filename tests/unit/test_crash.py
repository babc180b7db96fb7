"""Crash safety: kill -9 the web server and a writer in the middle of their writes; after a restart
the database passes PRAGMA integrity_check and every write that was acknowledged is there."""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from factories import make_user
from music_time_machine import create_app, db, users
from music_time_machine.clock import utcnow

pytestmark = pytest.mark.slow

SECRET = "crash-test-secret-key-long-enough"
SRC = str(Path(__file__).parents[2] / "src")  # this tree's code, whatever is installed
# A stand-in for an import: batches of generated plays through store_plays, one transaction each,
# printing "committed N" only after the commit returned (the acknowledgement the test relies on).
WRITER = """
import sys
from datetime import date
from itertools import islice
from music_time_machine import db
from music_time_machine.generator import generate_history
from music_time_machine.history import store_plays
engine = db.make_engine(sys.argv[1])
records, n = generate_history(40_000, start=date(2020, 1, 1), end=date(2026, 1, 1), seed=11), 0
while batch := list(islice(records, 250)):  # generated as it goes: the first commit comes at once
    with db.transaction(engine) as conn:
        store_plays(conn, int(sys.argv[2]), batch)
    n += len(batch)
    print("committed", n, batch[-1].ended_at, flush=True)
"""
TIME_ZONES = ["Europe/Berlin", "Asia/Tokyo", "America/New_York", "Australia/Sydney"]


def lines_of(process: subprocess.Popen) -> queue.Queue:
    """The process's stdout lines, read by a thread, to wait on with a timeout."""
    out: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [out.put(line) for line in process.stdout], daemon=True).start()
    return out


def wait_for(lines: queue.Queue, pattern: str, seconds: float = 20) -> re.Match:
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=left)
        except queue.Empty:
            break
        if match := re.search(pattern, line):
            return match
    raise AssertionError(f"no line matching {pattern!r} within {seconds} s")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_listening(port: int, seconds: float = 20) -> None:
    """A bounded poll until something accepts connections on the port."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            threading.Event().wait(0.02)
    raise AssertionError(f"nothing listens on port {port} after {seconds} s")


def csrf_token(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_kill_9_of_the_server_and_a_writer_loses_nothing_committed(tmp_path):
    path = tmp_path / "mtm.sqlite3"
    url = f"sqlite:///{path}"
    engine = db.make_engine(url)
    db.upgrade(engine)
    with db.transaction(engine) as conn:
        alice = make_user(conn, "alice")  # the writer's
        bob = make_user(conn, "bob")  # the browser's
        token = users.create_login_token(conn, bob, now=utcnow(), minutes=15)
    engine.dispose()
    env = {**os.environ, "DATABASE_URL": url, "SECRET_KEY": SECRET, "MTM_INSTANCE_PATH": str(tmp_path),
           "PYTHONUNBUFFERED": "1", "PYTHONPATH": SRC}  # fmt: skip
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-c", "from music_time_machine.cli import main; main()", "serve", "--port", str(port)],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    writer = subprocess.Popen([sys.executable, "-c", WRITER, url, str(alice)], cwd=tmp_path, env=env,
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        wait_until_listening(port)
        link = f"http://127.0.0.1:{port}/login/{token}"
        web = requests.Session()
        web.post(link, data={"csrf_token": csrf_token(web.get(link, timeout=5).text)}, timeout=5)
        token = csrf_token(web.get(f"http://127.0.0.1:{port}/settings", timeout=5).text)

        # The browser side: change the time zone again and again; a 302 means it was committed.
        acknowledged: list[str] = []
        sent: list[str] = []
        stop = threading.Event()

        def change_time_zones():
            for n in range(10_000):
                if stop.is_set():
                    return
                zone = TIME_ZONES[n % len(TIME_ZONES)]
                sent.append(zone)
                try:
                    answer = web.post(f"http://127.0.0.1:{port}/settings/preferences", allow_redirects=False,
                                      data={"csrf_token": token, "time_zone": zone, "listen_threshold_s": "30"},
                                      timeout=5)  # fmt: skip
                except requests.RequestException:
                    return  # the server is gone
                assert answer.status_code == 302
                acknowledged.append(zone)

        browser = threading.Thread(target=change_time_zones)
        browser.start()
        writes = lines_of(writer)
        for _ in range(4):  # let both write for a while, then kill them mid-flight
            last = wait_for(writes, r"committed (\d+) (\d+)")
        deadline = time.monotonic() + 10
        while len(acknowledged) < 3 and time.monotonic() < deadline:
            browser.join(timeout=0.05)
        os.kill(writer.pid, signal.SIGKILL)
        os.kill(server.pid, signal.SIGKILL)
        stop.set()
        browser.join(timeout=10)
    finally:
        for process in (writer, server):
            if process.poll() is None:
                process.kill()
            process.wait(timeout=10)
    assert len(acknowledged) >= 3

    con = sqlite3.connect(path)  # the restart: a fresh connection recovers from the WAL
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        stored, newest = con.execute("SELECT count(*), max(ended_at) FROM plays").fetchone()
        time_zone = con.execute("SELECT time_zone FROM users WHERE id = ?", (bob,)).fetchone()[0]
    finally:
        con.close()
    acknowledged_plays, acknowledged_newest = int(last.group(1)), int(last.group(2))
    assert stored >= acknowledged_plays * 0.99  # generated plays may repeat a (second, track): stored once
    assert newest >= acknowledged_newest
    # The last acknowledged change is there, or one sent after it that committed before the kill.
    assert time_zone in sent[len(acknowledged) - 1:]

    app = create_app({"TESTING": True, "SECRET_KEY": SECRET, "DATABASE_URL": url})
    try:
        assert app.test_client().get("/status").get_json()["ok"] is True
    finally:
        app.extensions["mtm_engine"].dispose()
