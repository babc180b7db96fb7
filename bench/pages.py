"""Page benchmark: every dashboard page and API endpoint on a generated 1M-play history.

    PYTHONPATH=src python bench/pages.py [--plays 1000000] [--repeat 20] [--fresh]

The history (package generator, seed 1, Nov 2022 – Nov 2026) is stored once through
`history.store_plays` (so the rollups are built the way imports build them) into
bench/out/bench-<plays>.sqlite3 and reused on later runs. Requests go through the real WSGI app
(Flask's test client: routing, sessions, templates, the per-request connection), logged in as
the benchmark user. Prints p50/p95 per endpoint, the slowest first, and the database size
against the size of the raw plays (the `plays` table and its indexes).
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import time
from datetime import date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from music_time_machine import create_app, db  # noqa: E402
from music_time_machine.generator import generate_history  # noqa: E402
from music_time_machine.history import Catalogue, store_plays  # noqa: E402
from music_time_machine.users import create_user  # noqa: E402

OUT = ROOT / "bench" / "out"
TARGET_MS = 50.0
RANGES = ["6m", "12m", "24m", "all"]


def build(path: Path, plays: int) -> None:
    """Generate and store the history (about a minute for 1M plays)."""
    engine = db.make_engine(f"sqlite:///{path}")
    db.upgrade(engine)
    started = time.perf_counter()
    records = generate_history(plays, start=date(2022, 11, 1), end=date(2026, 11, 1), seed=1)
    catalogue = Catalogue()
    with db.transaction(engine) as conn:
        user_id = create_user(conn, "bench", now=datetime(2026, 11, 1), time_zone="Europe/Berlin")
    batch: list = []
    stored = 0
    for record in records:
        batch.append(record)
        if len(batch) == 20_000:
            with db.transaction(engine) as conn:
                stored += store_plays(conn, user_id, batch, catalogue=catalogue).added
            batch = []
            print(f"\r  stored {stored:,} plays ({time.perf_counter() - started:.0f} s)", end="", flush=True)
    if batch:
        with db.transaction(engine) as conn:
            stored += store_plays(conn, user_id, batch, catalogue=catalogue).added
    print(f"\r  stored {stored:,} plays in {time.perf_counter() - started:.0f} s")
    engine.dispose()
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("ANALYZE")
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()


def sizes(path: Path) -> dict[str, int]:
    """Bytes per table (indexes counted with their table), from SQLite's dbstat."""
    con = sqlite3.connect(path)
    try:
        owner = dict(con.execute("SELECT name, tbl_name FROM sqlite_master WHERE type IN ('table', 'index')"))
        out: dict[str, int] = {}
        for name, size in con.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name"):
            out[owner.get(name, name)] = out.get(owner.get(name, name), 0) + size
        return out
    finally:
        con.close()


def endpoints(client) -> list[str]:
    top = client.get("/api/v1/top/tracks?range=all").get_json()["items"][0]
    months = client.get("/api/v1/months").get_json()["plays"]
    latest, middle = months[-1], months[len(months) // 2]
    urls = ["/", "/months", f"/month/{latest}", f"/month/{middle}?by=minutes", f"/compare?a={months[-2]}&b={latest}",
            f"/compare?a={middle}&b={latest}&kind=tracks", "/on-this-day", "/year/2025", f"/artist/{top['artist_id']}",
            f"/track/{top['id']}",
            "/api/v1/overview", "/api/v1/months", f"/api/v1/charts/{latest}", f"/api/v1/charts/{middle}?by=minutes",
            f"/api/v1/month/{middle}", f"/api/v1/compare?a={months[-2]}&b={latest}", "/api/v1/on-this-day",
            "/api/v1/year/2024", f"/api/v1/artist/{top['artist_id']}", f"/api/v1/track/{top['id']}"]  # fmt: skip
    for r in RANGES:
        urls += [f"/analytics?range={r}", f"/analytics?range={r}&by=minutes"]
        urls += [f"/api/v1/{name}?range={r}" for name in
                 ("top/artists", "top/tracks", "top/albums", "growth", "diversity", "time", "consistency", "clock",
                  "skips", "taste-shift")]  # fmt: skip
        urls.append(f"/api/v1/top/tracks?range={r}&by=minutes")
    urls.append("/analytics?from=2024-02-09&to=2024-08-20")
    return urls


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered) + 0.5) - 1))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plays", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--fresh", action="store_true", help="generate the database again")
    args = parser.parse_args()

    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"bench-{args.plays}.sqlite3"
    if args.fresh or not path.exists():
        path.unlink(missing_ok=True)
        print(f"Generating {args.plays:,} plays into {path} …")
        build(path, args.plays)

    app = create_app({"TESTING": True, "SECRET_KEY": "bench-secret-key-long-enough-to-pass",
                      "DATABASE_URL": f"sqlite:///{path}", "INSTANCE_PATH": str(OUT / "instance")})  # fmt: skip
    client = app.test_client()
    with client.session_transaction() as session:
        session["user_id"] = 1

    results = []
    for url in endpoints(client):
        times = []
        for _ in range(args.repeat + 1):
            started = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise SystemExit(f"{url} answered {response.status_code}")
        first, rest = times[0], times[1:]
        results.append((url, first, statistics.median(rest), percentile(rest, 0.95)))

    print(f"\n{len(results)} endpoints × {args.repeat} requests (after one first request), {args.plays:,} plays")
    print(f"{'endpoint':<58} {'first':>8} {'p50':>8} {'p95':>8}")
    for url, first, p50, p95 in sorted(results, key=lambda r: -r[3]):
        flag = "" if p95 <= TARGET_MS else "  > target"
        print(f"{url:<58} {first:8.1f} {p50:8.1f} {p95:8.1f}{flag}")
    worst = max(r[3] for r in results)
    print(f"\nworst p95: {worst:.1f} ms (target ≤ {TARGET_MS:.0f} ms): {'met' if worst <= TARGET_MS else 'NOT met'}")

    table_sizes = sizes(path)
    total = path.stat().st_size
    raw = table_sizes.get("plays", 0)
    rollups = sum(table_sizes.get(t, 0) for t in ("daily_plays", "monthly_tracks", "monthly_artists", "monthly_charts",
                                                 "hourly_plays", "track_totals", "rollup_state"))  # fmt: skip
    mb = 1024 * 1024
    print(f"database {total / mb:.1f} MB; plays table with its indexes {raw / mb:.1f} MB; rollups {rollups / mb:.1f} MB; "
          f"database / raw plays = {total / raw:.2f}× (target ≤ 3×)")  # fmt: skip
    return 0 if worst <= TARGET_MS and total <= 3 * raw else 1


if __name__ == "__main__":
    raise SystemExit(main())
