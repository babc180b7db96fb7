"""The OpenAPI 3.0 document of /api/v1/, written by hand next to the endpoints it describes.

tests/web/test_api.py calls every endpoint and checks each answer against these schemas.
"""

from __future__ import annotations

from .. import __version__


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(required: dict, optional: dict | None = None) -> dict:
    props = {**required, **(optional or {})}
    return {"type": "object", "required": list(required), "properties": props}


def _arr(items: dict) -> dict:
    return {"type": "array", "items": items}


INT = {"type": "integer"}
NUM = {"type": "number"}
STR = {"type": "string"}
BOOL = {"type": "boolean"}
MONTH = {"type": "string", "pattern": r"^\d{4}-\d{2}$"}
DATE = {"type": "string", "format": "date"}


def _nullable(schema: dict) -> dict:
    return {**schema, "nullable": True}


MEASURES = {"rank": INT, "listens": INT, "minutes": NUM}
TRACK = {"id": INT, "title": STR, "album": _nullable(STR), "uri": _nullable(STR), "artist_id": INT, "artist": STR}
PERIOD = {"range": {"type": "string", "enum": ["6m", "12m", "24m", "all", "custom"]}, "from": _nullable(DATE),
          "to": _nullable(DATE)}  # fmt: skip

SCHEMAS = {
    "Error": _obj({"error": STR}),
    "Track": _obj(TRACK),
    "TrackEntry": _obj({**MEASURES, **TRACK}),
    "ArtistEntry": _obj({**MEASURES, "id": INT, "name": STR}),
    "AlbumEntry": _obj({**MEASURES, "album": STR, "artist_id": INT, "artist": STR}),
    "TopList": _obj({**PERIOD, "by": STR, "items": _arr({"type": "object"})}),
    "MonthlySeries": _obj({**PERIOD, "months": _arr(_obj({"month": MONTH}, {
        "new_tracks": INT, "total_tracks": INT, "artists": INT, "minutes": NUM, "plays": INT, "listens": INT,
        "skips": INT, "skip_rate": NUM}))}),  # fmt: skip
    "Consistency": _obj({**PERIOD, "months": INT, "artists": _arr(_obj({"id": INT, "name": STR, "months_charted": INT,
                                                                        "listens": INT}))}),  # fmt: skip
    "Clock": _obj({**PERIOD, "time_zone": STR, "weekdays": _arr(STR), "hours": _arr(INT),
                   "listens": _arr(_arr(INT))}),  # fmt: skip
    "Skips": _obj({**PERIOD, "plays": INT, "skips": INT, "skip_rate": NUM,
                   "months": _arr(_obj({"month": MONTH, "skip_rate": NUM}))}),  # fmt: skip
    "TasteShift": _obj({**PERIOD, "months": _arr(MONTH), "artists": _arr(_obj({"id": INT, "name": STR,
                                                                              "ranks": _arr(_nullable(INT))}))}),  # fmt: skip
    "Coverage": _arr(_obj({"month": MONTH, "sources": _arr({"type": "string", "enum": ["extended", "account", "api", "snapshot"]})})),
    "Months": _obj({"plays": _arr(MONTH), "snapshots": _arr(MONTH), "coverage": _ref("Coverage")}),
    "Chart": _obj(
        {"month": MONTH, "source": {"type": "string", "enum": ["plays", "snapshots"]},
         "tracks": _arr(_obj({"rank": INT, **TRACK}, {"listens": INT, "minutes": NUM})),
         "artists": _arr(_obj({"rank": INT, "id": INT, "name": STR}, {"listens": INT, "minutes": NUM}))},
        {"by": STR, "taken_on": _nullable(DATE), "time_range": STR},
    ),  # fmt: skip
    "Discoveries": _obj({"count": INT, "tracks": _arr(_ref("Track"))}),
    "MonthTotals": _obj({"month": MONTH, "minutes": NUM, "plays": INT, "listens": INT, "skips": INT, "skip_rate": NUM}),
    "MonthPage": _obj({"month": MONTH, "has_data": BOOL, "totals": _ref("MonthTotals"), "tracks": _arr(_ref("TrackEntry")),
                       "artists": _arr(_ref("ArtistEntry")), "discoveries": _ref("Discoveries"),
                       "previous_month": _nullable(MONTH), "next_month": _nullable(MONTH)}),  # fmt: skip
    "CompareEntry": _obj({"id": INT, "name": STR, "listens": INT, "minutes": NUM, "rank": INT},
                         {"previous_rank": INT, "change": INT, "artist": STR}),  # fmt: skip
    "Compare": _obj({"a": MONTH, "b": MONTH, "kind": STR, "by": STR, "new": _arr(_ref("CompareEntry")),
                     "dropped": _arr(_ref("CompareEntry")), "risers": _arr(_ref("CompareEntry")),
                     "fallers": _arr(_ref("CompareEntry")), "a_has_data": BOOL, "b_has_data": BOOL}),  # fmt: skip
    "OnThisDay": _obj({"date": DATE, "years": _arr(_obj({"year": INT, "date": DATE, "plays": INT, "minutes": NUM,
                                                         "tracks": _arr(_ref("TrackEntry"))}))}),  # fmt: skip
    "Year": _obj({"year": INT, "has_data": BOOL, "minutes": NUM, "plays": INT, "listens": INT,
                  "top_artists": _arr(_ref("ArtistEntry")), "top_tracks": _arr(_ref("TrackEntry")),
                  "top_albums": _arr(_ref("AlbumEntry")), "discoveries": _ref("Discoveries"),
                  "busiest_month": _nullable(MONTH), "months": _arr(_obj({"month": MONTH, "minutes": NUM})),
                  "years": _arr(INT)}),  # fmt: skip
    "ItemMonth": _obj({"month": MONTH, "listens": INT, "minutes": NUM, "rank": _nullable(INT)}),
    "Artist": _obj({"id": INT, "name": STR, "first_listen": DATE, "last_listen": DATE, "plays": INT, "listens": INT,
                    "minutes": NUM, "tracks_count": INT, "months": _arr(_ref("ItemMonth")),
                    "top_tracks": _arr(_ref("TrackEntry"))}),  # fmt: skip
    "TrackPage": _obj({**TRACK, "first_listen": DATE, "last_listen": DATE, "plays": INT, "listens": INT,
                       "minutes": NUM, "months": _arr(_ref("ItemMonth"))}),  # fmt: skip
    "Overview": _obj(
        {"plays": INT, "listening_hours": NUM, "distinct_tracks": INT, "distinct_artists": INT, "podcast_plays": INT,
         "first_play": _nullable(STR), "last_play": _nullable(STR), "needs_reconnect": BOOL,
         "blocked_until": _nullable(STR),
         "track_turnover": _nullable(_obj({"month": MONTH, "previous": MONTH, "new": INT, "size": INT, "share": NUM})),
         "most_consistent_artist": _nullable(_obj({"id": INT, "name": STR, "months_charted": INT, "listens": INT})),
         "coverage": _ref("Coverage"), "new_tracks_per_month": _arr(_obj({"month": MONTH, "new_tracks": INT})),
         "latest_day": _nullable(DATE), "snapshot_months": _arr(MONTH)}
    ),  # fmt: skip
}

RANGE_PARAMS = [
    {"name": "range", "in": "query", "schema": {"type": "string", "enum": ["6m", "12m", "24m", "all"], "default": "12m"},
     "description": "6m = 180 days, 12m = 365, 24m = 730, all = no cutoff; the cutoff is today minus that many days"},
    {"name": "from", "in": "query", "schema": DATE, "description": "custom period start (wins over range)"},
    {"name": "to", "in": "query", "schema": DATE, "description": "custom period end, inclusive"},
]  # fmt: skip
BY = {"name": "by", "in": "query", "schema": {"type": "string", "enum": ["listens", "minutes"], "default": "listens"}}
LIMIT = {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 50}}


def _path_param(name: str, schema: dict) -> dict:
    return {"name": name, "in": "path", "required": True, "schema": schema}


def _get(summary: str, schema: str, params: list | None = None, not_found: bool = False) -> dict:
    responses = {
        "200": {"description": "OK", "content": {"application/json": {"schema": _ref(schema)}}},
        "400": {"description": "Bad parameters", "content": {"application/json": {"schema": _ref("Error")}}},
        "401": {"description": "Not logged in", "content": {"application/json": {"schema": _ref("Error")}}},
        "503": {"description": "The database is busy (another writer held it too long); try again after Retry-After seconds",
                "content": {"application/json": {"schema": _ref("Error")}}},
    }  # fmt: skip
    if not_found:
        responses["404"] = {"description": "Not in your history", "content": {"application/json": {"schema": _ref("Error")}}}
    return {"get": {"summary": summary, "parameters": params or [], "responses": responses}}


PATHS = {
    "/overview": _get("Home page numbers", "Overview"),
    "/top/{kind}": _get("Top artists, tracks or albums of a period", "TopList",
                        [_path_param("kind", {"type": "string", "enum": ["artists", "tracks", "albums"]}),
                         *RANGE_PARAMS, BY, LIMIT], not_found=True),  # fmt: skip
    "/growth": _get("Catalogue growth: new distinct tracks per month, cumulative", "MonthlySeries", RANGE_PARAMS),
    "/diversity": _get("Distinct artists per month", "MonthlySeries", RANGE_PARAMS),
    "/time": _get("Listening time, plays, skips per month", "MonthlySeries", RANGE_PARAMS),
    "/consistency": _get("Months each artist charted in", "Consistency", [*RANGE_PARAMS, LIMIT]),
    "/clock": _get("Listens by hour and weekday (user's time zone)", "Clock", RANGE_PARAMS),
    "/skips": _get("Skip rate", "Skips", RANGE_PARAMS),
    "/taste-shift": _get("Monthly ranks of the top artists", "TasteShift", RANGE_PARAMS),
    "/months": _get("Months with data and their sources", "Months"),
    "/charts/{month}": _get("A month's top 50 from plays or from Spotify's snapshots", "Chart",
                            [_path_param("month", MONTH), BY,
                             {"name": "source", "in": "query", "schema": {"type": "string", "enum": ["plays", "snapshots"]}}]),  # fmt: skip
    "/month/{month}": _get("The time machine's month page", "MonthPage", [_path_param("month", MONTH), BY]),
    "/compare": _get("Compare two months", "Compare",
                     [{"name": "a", "in": "query", "required": True, "schema": MONTH},
                      {"name": "b", "in": "query", "required": True, "schema": MONTH},
                      {"name": "kind", "in": "query", "schema": {"type": "string", "enum": ["artists", "tracks"]}}, BY]),  # fmt: skip
    "/on-this-day": _get("This date in earlier years", "OnThisDay", [{"name": "date", "in": "query", "schema": DATE}]),
    "/year/{year}": _get("Year in review", "Year", [_path_param("year", {**INT, "minimum": 1900, "maximum": 2999})]),
    "/artist/{artist_id}": _get("An artist in your history", "Artist", [_path_param("artist_id", INT)], not_found=True),
    "/track/{track_id}": _get("A track in your history", "TrackPage", [_path_param("track_id", INT)], not_found=True),
}


def document() -> dict:
    """The OpenAPI 3.0 document."""
    return {
        "openapi": "3.0.3",
        "info": {"title": "Music Time Machine API", "version": __version__,
                 "description": "Your listening history as JSON; every answer is about the logged-in user only."},
        "servers": [{"url": "/api/v1"}],
        "paths": PATHS,
        "components": {"schemas": SCHEMAS},
    }  # fmt: skip
