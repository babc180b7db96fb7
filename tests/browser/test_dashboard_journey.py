"""Dashboard → analytics → every range button → a month → compare → year in review, in Chromium."""

import re
from datetime import date
from pathlib import Path

from factories import generated
from music_time_machine import db, users
from music_time_machine.clock import utcnow
from music_time_machine.history import store_plays

ARTIFACTS = Path(__file__).parents[2] / "test-artifacts"


def log_in(page, engine, name="alice"):
    records = list(generated(1_500, date(2024, 6, 1), date(2026, 11, 1), seed=11))
    with db.transaction(engine) as conn:
        user = users.create_user(conn, name, now=utcnow(), time_zone="Europe/Berlin")
        store_plays(conn, user, records)
        token = users.create_login_token(conn, user, now=utcnow(), minutes=15)
    page.goto(f"/login/{token}")
    page.click("#use-login-link")
    page.wait_for_url("**/")


def shot(page, name: str) -> None:
    """Keep a screenshot of each page of the journey for CI's artifacts."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"journey-{name}.png"), full_page=True)


def charts_drawn(page) -> int:
    page.wait_for_function("document.documentElement.getAttribute('data-charts-drawn') !== null")
    return page.evaluate("document.querySelectorAll('canvas[data-drawn]').length")


def test_dashboard_analytics_ranges_month_compare_year(page, engine):
    log_in(page, engine)
    assert page.locator('[data-stat="turnover"]').inner_text().endswith("%")
    assert charts_drawn(page) == 1  # new tracks per month
    shot(page, "1-dashboard")

    page.click("nav.site-nav >> text=Analytics")
    page.wait_for_url("**/analytics")
    assert page.locator("a.range.active").get_attribute("data-range") == "12m"
    for key in ("6m", "24m", "all", "12m"):
        page.click(f'a.range[data-range="{key}"]')
        page.wait_for_url(re.compile(rf"range={key}"))
        active = page.locator("a.range.active")
        assert active.count() == 1 and active.get_attribute("data-range") == key
        assert charts_drawn(page) >= 7  # every chart redrawn for the new range
    page.locator("#chart-growth summary").click()
    assert page.locator("#chart-growth table tbody tr").count() > 0  # the text alternative
    shot(page, "2-analytics")

    page.click("nav.site-nav >> text=Time machine")
    page.locator(".month-list a").last.click()
    page.wait_for_url(re.compile(r"/month/\d{4}-\d{2}$"))
    assert page.locator('[data-stat="listens"]').count() == 1
    shot(page, "3-month")
    page.click("a.compare-link")
    page.wait_for_url(re.compile(r"/compare\?"))
    page.select_option("select[name=kind]", "tracks")
    page.click("form.compare-form button")
    page.wait_for_url(re.compile(r"kind=tracks"))
    assert page.locator("#comparison h2").count() == 4
    shot(page, "4-compare")

    page.goto("/year/2025")
    assert "2025 in review" in page.locator("h1").inner_text()
    assert charts_drawn(page) == 1
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_analytics_and_year_fit_a_phone(new_page, engine):
    tab = new_page(viewport={"width": 375, "height": 740})
    log_in(tab, engine, "phone")
    for url in ("/", "/analytics?range=all", "/months", "/year/2025", "/compare", "/on-this-day"):
        tab.goto(url)
        assert tab.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), url
        shot(tab, "phone-" + (url.strip("/").split("?")[0].replace("/", "-") or "home"))
