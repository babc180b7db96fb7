"""Load benchmark: the production server under 50 concurrent clients while an import writes.

    PYTHONPATH=src python bench/load.py [--plays 1000000] [--clients 50] [--seconds 60]

The 1M-play history of bench/pages.py (generated once, cached in bench/out/) is copied to
bench/out/load.sqlite3; `mtm serve` (waitress) serves it on 127.0.0.1; each client is a thread
with its own requests.Session, logged in through a one-time link, requesting a mix of pages and
API calls for the given time, after a warm-up that asks each URL once (as a server that has
been running has computed them; `--cold` measures a fresh start instead). Meanwhile `mtm import` (another process, at the low CPU priority
it gives itself) imports a generated extended-history export (bench/import.py's, cached in
bench/out/) into the same database. Prints requests/s, p50/p95/p99, errors, how often "database
is locked" was seen (in answers or the server's log) and the CPU seconds of server, clients and
import; every request's time goes to bench/out/load-requests.csv. Target: 0 errors, 0 locked,
p99 ≤ 500 ms. Loopback only; every loop is bounded by the deadline.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import random
import re
import resource
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

import pages  # noqa: E402
from music_time_machine import create_app, db, users  # noqa: E402
from music_time_machine.clock import utcnow  # noqa: E402

SECRET = "load-bench-secret-key-long-enough"
TARGET_P99_MS = 500.0
LOCKED = "database is locked"
MTM = "from music_time_machine.cli import main; main()"  # `mtm` from this tree



def bench_import():
    """bench/import.py as a module (its name is a keyword): it makes and caches generated exports."""
    spec = importlib.util.spec_from_file_location("bench_import", ROOT / "bench" / "import.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_listening(port: int, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"the server did not start listening on {port} within {seconds} s")


def urls_for(path: Path) -> list[str]:
    """bench/pages.py's pages and API calls, plus settings and status."""
    app = create_app({"TESTING": True, "SECRET_KEY": SECRET, "DATABASE_URL": f"sqlite:///{path}"})
    client = app.test_client()
    with client.session_transaction() as session:
        session["user_id"] = 1
    found = pages.endpoints(client) + ["/settings", "/status"]
    app.extensions["mtm_engine"].dispose()
    return found


def other_user(path: Path) -> str:
    engine = db.make_engine(f"sqlite:///{path}")
    with db.transaction(engine) as conn:
        users.create_user(conn, "importer", now=utcnow())
    engine.dispose()
    return "importer"


def login_links(path: Path, count: int, base: str) -> list[str]:
    engine = db.make_engine(f"sqlite:///{path}")
    with db.transaction(engine) as conn:
        links = [f"{base}/login/{users.create_login_token(conn, 1, now=utcnow(), minutes=30)}"
                 for _ in range(count)]  # fmt: skip
    engine.dispose()
    return links


def log_in(link: str) -> requests.Session:
    session = requests.Session()
    token = re.search(r'name="csrf_token" value="([^"]+)"', session.get(link, timeout=30).text).group(1)
    answer = session.post(link, data={"csrf_token": token}, timeout=30, allow_redirects=False)
    if answer.status_code != 302:
        raise SystemExit(f"logging in failed: {answer.status_code}")
    return session


def client_loop(session, base, urls, deadline, seed, think, results, lock) -> None:
    """Request random URLs of the mix until the deadline; record (ms, status, locked, error, url, started)."""
    rng = random.Random(seed)
    mine = []
    while time.monotonic() < deadline:
        if think:
            time.sleep(rng.uniform(0, 2 * think))  # a person reading the page; mean `think` seconds
        url = rng.choice(urls)
        started = time.perf_counter()
        try:
            answer = session.get(base + url, timeout=30)
            mine.append(((time.perf_counter() - started) * 1000, answer.status_code, LOCKED in answer.text, None, url,
                         started))  # fmt: skip
        except requests.RequestException as error:
            mine.append(((time.perf_counter() - started) * 1000, 0, False, type(error).__name__, url, started))
    with lock:
        results.extend(mine)


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], share: float) -> float:
    return pages.percentile(values, share)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plays", type=int, default=1_000_000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--import-plays", type=int, default=1_000_000, help="size of the export imported meanwhile")
    parser.add_argument("--think", type=float, default=0.0, help="mean pause between a client's requests (s)")
    parser.add_argument("--cold", action="store_true",
                        help="no warm-up: the clients start on a server that has computed nothing yet")
    parser.add_argument("--import-into", choices=["same", "other"], default="same",
                        help="import into the browsing user (their views' cache is invalidated by every batch) "
                             "or into another user")  # fmt: skip
    args = parser.parse_args()

    cached = pages.OUT / f"bench-{args.plays}.sqlite3"
    if not cached.exists():
        pages.OUT.mkdir(parents=True, exist_ok=True)
        print(f"Generating {args.plays:,} plays into {cached} (once) …")
        pages.build(cached, args.plays)
    path = pages.OUT / "load.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(cached, path)
    engine = db.make_engine(f"sqlite:///{path}")
    db.upgrade(engine)  # the cached database may be from an older schema; the users below need the newest
    engine.dispose()
    importer = "bench" if args.import_into == "same" else other_user(path)
    export = bench_import().export_path(args.import_plays)  # 2014–2026, seed 1: cached in bench/out
    urls = urls_for(path)

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{path}", "SECRET_KEY": SECRET, "PYTHONPATH": str(ROOT / "src"),
           "MTM_INSTANCE_PATH": str(pages.OUT / "instance"), "MTM_BASE_URL": base}  # fmt: skip
    server_log = (pages.OUT / "load-server.log").open("w")
    server = subprocess.Popen([sys.executable, "-c", MTM, "serve",
                               "--port", str(port)], env=env, stdout=server_log, stderr=subprocess.STDOUT)  # fmt: skip
    writer = None
    try:
        wait_until_listening(port)
        sessions = [log_in(link) for link in login_links(path, args.clients, base)]
        if not args.cold:  # a server that has been running: each URL asked once, one at a time, not counted
            first = []
            for url in urls:
                started = time.perf_counter()
                sessions[0].get(base + url, timeout=60)
                first.append((time.perf_counter() - started) * 1000)
            print(f"warm-up (not counted; --cold skips it): {len(urls)} URLs once each in {sum(first) / 1000:.1f} s, "
                  f"the slowest {max(first):.0f} ms")  # fmt: skip
        print(f"{args.clients} clients × {args.seconds:.0f} s (think {args.think} s) on {len(urls)} pages and API "
              f"calls, {args.plays:,} plays, while an import (mtm import, at its own low priority) writes into the {args.import_into} user …")  # fmt: skip
        import_started = time.monotonic()
        writer = subprocess.Popen([sys.executable, "-c", MTM, "import", str(export), "--user", importer],
                                  env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
        finished: dict = {}

        def wait_for_import() -> None:  # reads its output as it comes, and notes when it ended
            finished["output"] = writer.communicate()[0]
            finished["at"], finished["perf"] = time.monotonic(), time.perf_counter()

        waiter = threading.Thread(target=wait_for_import)
        waiter.start()
        results: list[tuple] = []
        lock = threading.Lock()
        deadline = time.monotonic() + args.seconds
        threads = [threading.Thread(target=client_loop, args=(s, base, urls, deadline, n, args.think, results, lock))
                   for n, s in enumerate(sessions)]  # fmt: skip
        started = time.monotonic()
        t0, client_cpu, server_cpu = time.perf_counter(), time.process_time(), cpu_seconds(server.pid)
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=args.seconds + 60)
        elapsed = time.monotonic() - started
        client_cpu = time.process_time() - client_cpu
        server_cpu = cpu_seconds(server.pid) - server_cpu
        waiter.join(timeout=args.seconds + 600)  # the import runs to its end
        if waiter.is_alive():
            raise SystemExit(f"the import did not end within {args.seconds + 600:.0f} s after the clients")
        writer_out, import_seconds = finished["output"], finished["at"] - import_started
        import_cpu = resource.getrusage(resource.RUSAGE_CHILDREN)  # the import: the only child reaped so far
        import_cpu = import_cpu.ru_utime + import_cpu.ru_stime
    finally:
        if writer is not None and writer.poll() is None:
            writer.kill()
        server.terminate()
        server.wait(timeout=30)
        server_log.close()
    locked_in_log = (pages.OUT / "load-server.log").read_text().count(LOCKED)

    with (pages.OUT / "load-requests.csv").open("w") as out:  # every request, for a closer look
        out.write("second,ms,status,url\n")
        out.writelines(f"{r[5] - t0:.3f},{r[0]:.1f},{r[1]},{r[4]}\n" for r in sorted(results, key=lambda r: r[5]))
    times = [r[0] for r in results]
    errors = [r for r in results if r[3] or r[1] >= 400]
    locked = sum(1 for r in results if r[2]) + locked_in_log
    p50, p95, p99 = (percentile(times, share) for share in (0.50, 0.95, 0.99))
    total = re.search(r"^Total\s.*$", writer_out, re.M)
    print(f"mtm import of {export.name} into the {args.import_into} user: exit {writer.returncode}, "
          f"{import_seconds:.0f} s{'; ' + ' '.join(total.group(0).split()) if total else ''}")
    if writer.returncode:
        print(writer_out[-2000:])
    print(f"requests: {len(results):,} in {elapsed:.1f} s = {len(results) / elapsed:,.1f} requests/s")
    print(f"latency: p50 {p50:.0f} ms, p95 {p95:.0f} ms, p99 {p99:.0f} ms, max {max(times):.0f} ms")
    during = [r[0] for r in results if r[5] < finished["perf"]]
    after = [r[0] for r in results if r[5] >= finished["perf"]]
    for name, part in (("while the import ran", during), ("after it ended", after)):
        if part:
            print(f"  {name}: {len(part):,} requests, p99 {percentile(part, 0.99):.0f} ms, max {max(part):.0f} ms")
    print(f"errors: {len(errors)}; \"{LOCKED}\": {locked}")
    print(f"CPU seconds: server {server_cpu:.0f} (in the {elapsed:.0f} s of requests), clients {client_cpu:.0f}, "
          f"import {import_cpu:.0f} (all of it); {os.cpu_count()} cores")  # fmt: skip
    if errors:
        print("first errors:", errors[:5])
    ok = not errors and not locked and p99 <= TARGET_P99_MS and writer.returncode == 0
    print(f"target (0 errors, 0 locked, p99 ≤ {TARGET_P99_MS:.0f} ms): {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
