"""The JSON API: every endpoint answers what the OpenAPI document says, user-scoped, never 500."""

import re

import pytest

from factories import add_plays, make_user, play
from music_time_machine.db import transaction
from music_time_machine.web.openapi import document

DOC = document()


def validate(value, schema, path="$"):
    """A small JSON-schema check for the subset the document uses (type, nullable, properties,
    required, items, enum, pattern, $ref)."""
    if "$ref" in schema:
        return validate(value, DOC["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]], path)
    if value is None:
        assert schema.get("nullable"), f"{path}: null where {schema} expected"
        return
    kind = schema.get("type")
    checks = {"object": dict, "array": list, "string": str, "boolean": bool}
    if kind == "integer":
        assert isinstance(value, int) and not isinstance(value, bool), f"{path}: {value!r} is not an integer"
    elif kind == "number":
        assert isinstance(value, int | float) and not isinstance(value, bool), f"{path}: {value!r} is not a number"
    elif kind:
        assert isinstance(value, checks[kind]), f"{path}: {value!r} is not {kind}"
    if "enum" in schema:
        assert value in schema["enum"], f"{path}: {value!r} not in {schema['enum']}"
    if "pattern" in schema:
        assert re.search(schema["pattern"], value), f"{path}: {value!r} does not match {schema['pattern']}"
    if kind == "object":
        for name in schema.get("required", []):
            assert name in value, f"{path}: missing {name}"
        for name, sub in schema.get("properties", {}).items():
            if name in value:
                validate(value[name], sub, f"{path}.{name}")
    if kind == "array":
        for i, item in enumerate(value):
            validate(item, schema["items"], f"{path}[{i}]")


@pytest.fixture
def api(app, engine, logged_in_as):
    with transaction(engine) as conn:
        alice = make_user(conn, "alice", time_zone="Europe/Berlin")
        make_user(conn, "bob")
        add_plays(conn, alice, play("A", "A1", "2025-01-06T09:00:00", album_name="X"),
                  play("B", "B1", "2025-02-03T09:00:00"), play("B", "B2", "2025-02-04T09:00:00", ms=5_000))  # fmt: skip
    return logged_in_as(alice)


def urls(client):
    top = client.get("/api/v1/top/tracks?range=all").get_json()["items"][0]
    return {
        "/overview": "/api/v1/overview",
        "/top/{kind}": "/api/v1/top/artists?range=6m&by=minutes&limit=5",
        "/growth": "/api/v1/growth?range=all",
        "/diversity": "/api/v1/diversity?from=2025-01-01&to=2025-02-28",
        "/time": "/api/v1/time?range=24m",
        "/consistency": "/api/v1/consistency?range=all",
        "/clock": "/api/v1/clock?range=all",
        "/skips": "/api/v1/skips?range=all",
        "/taste-shift": "/api/v1/taste-shift?range=all",
        "/months": "/api/v1/months",
        "/charts/{month}": "/api/v1/charts/2025-02",
        "/month/{month}": "/api/v1/month/2025-01",
        "/compare": "/api/v1/compare?a=2025-01&b=2025-02&kind=tracks",
        "/on-this-day": "/api/v1/on-this-day?date=2026-02-03",
        "/year/{year}": "/api/v1/year/2025",
        "/artist/{artist_id}": f"/api/v1/artist/{top['artist_id']}",
        "/track/{track_id}": f"/api/v1/track/{top['id']}",
    }


def test_every_endpoint_matches_the_openapi_document(api):
    assert set(urls(api)) == set(DOC["paths"])  # every documented path is exercised
    for template, url in urls(api).items():
        response = api.get(url)
        assert response.status_code == 200, (url, response.get_json())
        schema = DOC["paths"][template]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        validate(response.get_json(), schema, url)
    assert api.get("/api/v1/on-this-day?date=2026-02-03").get_json()["years"][0]["plays"] == 1


def test_top_lists_carry_the_period_and_items(api):
    body = api.get("/api/v1/top/tracks?range=all").get_json()
    assert (body["range"], body["from"], [t["title"] for t in body["items"]]) == ("all", None, ["A1", "B1"])
    for item in body["items"]:
        validate(item, {"$ref": "#/components/schemas/TrackEntry"})


def test_openapi_document_is_public_and_the_rest_needs_a_login(client, app):
    assert client.get("/api/v1/openapi.json").get_json()["openapi"].startswith("3.")
    response = client.get("/api/v1/top/tracks")
    assert response.status_code == 401 and "error" in response.get_json()


BAD = ["/api/v1/top/tracks?range=7m", "/api/v1/top/tracks?by=loudness", "/api/v1/top/tracks?limit=0",
     "/api/v1/top/tracks?limit=abc", "/api/v1/top/tracks?from=2025-02-30", "/api/v1/growth?from=2025-03-01&to=2025-01-01",
     "/api/v1/charts/2025-13", "/api/v1/charts/2025-1", "/api/v1/charts/2025-01?source=radio", "/api/v1/month/garbage",
     "/api/v1/compare?a=2025-01", "/api/v1/compare?a=2025-01&b=x", "/api/v1/compare?a=2025-01&b=2025-02&kind=albums",
     "/api/v1/on-this-day?date=yesterday", "/api/v1/year/99999", "/api/v1/top/artists?to=9999-12-31",
     "/api/v1/top/artists?from=9999-12-05"]  # fmt: skip


def test_bad_parameters_are_400_with_an_error(api):
    for url in BAD:
        response = api.get(url)
        assert response.status_code == 400, (url, response.get_json())
        assert response.get_json()["error"]


def test_another_users_or_unknown_ids_are_404(api, engine, logged_in_as):
    track = api.get("/api/v1/top/tracks?range=all").get_json()["items"][0]
    bob = logged_in_as(2)
    assert bob.get(f"/api/v1/track/{track['id']}").status_code == 404
    assert bob.get(f"/api/v1/artist/{track['artist_id']}").status_code == 404
    assert bob.get("/api/v1/top/tracks?range=all").get_json()["items"] == []
    assert api.get("/api/v1/artist/999999").get_json()["error"]
    assert api.get("/api/v1/top/genres").status_code == 404


def test_a_limit_in_other_digits_is_a_400_not_a_500(api):
    for limit in ("²", "٣", "５"):
        assert api.get(f"/api/v1/top/tracks?limit={limit}").status_code == 400, limit


def test_an_id_beyond_a_64_bit_integer_is_a_404_not_a_500(api):
    for url in ("/api/v1/track/99999999999999999999", "/api/v1/artist/9223372036854775808", "/track/99999999999999999999"):
        assert api.get(url).status_code == 404, url
