"""Chart.js configurations built from analytics data: pure functions, no Flask, no SQL.

The templates put each configuration in a `data-chart` attribute; static/js/charts.js draws it
(the CSP allows no inline scripts).
"""

from __future__ import annotations

PALETTE = ["#1f2a44", "#f2b134", "#3a7ca5", "#c0504d", "#6a994e", "#8e6c8a", "#d17a22", "#4b8f8c", "#9a8f97", "#5b6478"]


def line(labels: list, datasets: list[tuple[str, list]], *, y_reverse: bool = False, fill: bool = False) -> dict:
    """A line chart; each dataset is (label, values)."""
    return {
        "type": "line",
        "data": {"labels": labels, "datasets": [
            {"label": label, "data": values, "borderColor": PALETTE[i % len(PALETTE)],
             "backgroundColor": PALETTE[i % len(PALETTE)], "fill": fill, "spanGaps": False, "tension": 0.2}
            for i, (label, values) in enumerate(datasets)]},
        "options": {"scales": {"y": {"reverse": y_reverse, "beginAtZero": not y_reverse}}},
    }  # fmt: skip


def bar(labels: list, datasets: list[tuple[str, list]], *, horizontal: bool = False) -> dict:
    """A bar chart; each dataset is (label, values)."""
    return {
        "type": "bar",
        "data": {"labels": labels, "datasets": [
            {"label": label, "data": values, "backgroundColor": PALETTE[i % len(PALETTE)]}
            for i, (label, values) in enumerate(datasets)]},
        "options": {"indexAxis": "y" if horizontal else "x"},
    }  # fmt: skip




def figure(name: str, title: str, config: dict, headers: list[str], rows: list[list]) -> dict:
    """A chart with its text alternative: what the `chart` macro of _charts.html renders."""
    return {"name": name, "title": title, "config": config, "headers": headers, "rows": rows}


def analytics_charts(data: dict, by: str = "listens", time_zone: str = "UTC") -> list[dict]:
    """Every chart of the analytics page, in page order."""
    growth, time_, taste, clock = data["growth"], data["time"], data["taste"], data["clock"]
    diversity, consistent = data["diversity"], data["consistency"]
    months = [m["month"] for m in time_]
    per_hour = [sum(day[h] for day in clock["listens"]) for h in clock["hours"]]
    return [
        figure("growth", "Catalogue growth: new tracks per month", _with_cumulative(growth),
               ["Month", "New tracks", "All tracks so far"], [[g["month"], g["new_tracks"], g["total_tracks"]] for g in growth]),
        figure("diversity", "Artist diversity: artists per month",
               line([d["month"] for d in diversity], [("Artists", [d["artists"] for d in diversity])]),
               ["Month", "Artists"], [[d["month"], d["artists"]] for d in diversity]),
        figure("consistency", f"Most consistent artists: months in the monthly top 50 (of {consistent['months']})",
               bar([a["name"] for a in consistent["artists"]], [("Months in the chart", [a["months_charted"] for a in consistent["artists"]])], horizontal=True),
               ["Artist", "Months"], [[a["name"], a["months_charted"]] for a in consistent["artists"]]),
        figure("time", "Listening time per month", bar(months, [("Minutes", [m["minutes"] for m in time_])]),
               ["Month", "Minutes", "Plays"], [[m["month"], m["minutes"], m["plays"]] for m in time_]),
        figure("skips", "Skip rate per month", line(months, [("Skip rate (%)", [round(m["skip_rate"] * 100, 1) for m in time_])]),
               ["Month", "Skips", "Plays", "Skip rate"], [[m["month"], m["skips"], m["plays"], f"{m['skip_rate']:.1%}"] for m in time_]),
        figure("clock", f"Listening clock: listens by hour ({time_zone})", bar([f"{h:02d}" for h in clock["hours"]], [("Listens", per_hour)]),
               ["Hour", "Listens"], [[f"{h:02d}:00", per_hour[h]] for h in clock["hours"]]),
        figure("taste", "Taste shift: monthly chart rank of your top artists",
               line(taste["months"], [(a["name"], a["ranks"]) for a in taste["artists"]], y_reverse=True),
               ["Artist", *taste["months"]], [[a["name"], *a["ranks"]] for a in taste["artists"]]),
    ]  # fmt: skip


def _with_cumulative(growth: list[dict]) -> dict:
    chart = bar([g["month"] for g in growth], [("New tracks", [g["new_tracks"] for g in growth])])
    chart["data"]["datasets"].append({"type": "line", "label": "All tracks so far", "yAxisID": "y1",
                                      "data": [g["total_tracks"] for g in growth], "borderColor": PALETTE[1],
                                      "backgroundColor": PALETTE[1]})  # fmt: skip
    chart["options"] = {"scales": {"y": {"beginAtZero": True}, "y1": {"position": "right", "beginAtZero": True}}}
    return chart


def heat_levels(grid: list[list[int]]) -> list[list[int]]:
    """0–5 intensity of each clock cell (CSS classes heat-0…heat-5; no inline styles)."""
    top = max((v for row in grid for v in row), default=0)
    return [[0 if not v or not top else 1 + min(4, int(5 * v / (top + 1))) for v in row] for row in grid]


def monthly(labels: list, label: str, values: list) -> dict:
    """A simple per-month bar chart."""
    return bar(labels, [(label, values)])


def item_months(months: list[dict]) -> dict:
    """Listens per month with the chart rank on a second, reversed axis (artist and track pages)."""
    chart = bar([m["month"] for m in months], [("Listens", [m["listens"] for m in months])])
    chart["data"]["datasets"].append({"type": "line", "label": "Chart rank", "yAxisID": "y1", "spanGaps": False,
                                      "data": [m["rank"] for m in months], "borderColor": PALETTE[1],
                                      "backgroundColor": PALETTE[1]})  # fmt: skip
    chart["options"] = {"scales": {"y": {"beginAtZero": True}, "y1": {"position": "right", "reverse": True, "min": 1}}}
    return chart
