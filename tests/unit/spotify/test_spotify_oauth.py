"""Sign-in helpers and the token endpoint, with Spotify mocked at the HTTP boundary."""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses

from music_time_machine.spotify import oauth
from music_time_machine.spotify.errors import AuthorizationError, DataError, TransientError

ACCOUNTS = "https://accounts.example"
TOKEN_URL = f"{ACCOUNTS}/api/token"
NOW = datetime(2026, 11, 1, 12, 0, 0)


def form_of(call) -> dict[str, list[str]]:
    return parse_qs(call.request.body)


def test_pkce_pair_is_s256_of_a_long_verifier_from_the_allowed_alphabet():
    verifier, challenge = oauth.make_pkce_pair()
    assert 64 <= len(verifier) <= 128
    assert re.fullmatch(r"[A-Za-z0-9\-._~]+", verifier)
    digest = hashlib.sha256(verifier.encode()).digest()
    assert challenge == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert oauth.make_pkce_pair()[0] != verifier


def test_state_is_long_and_fresh_each_time():
    assert len(oauth.make_state()) >= 32
    assert oauth.make_state() != oauth.make_state()


def test_authorize_url_carries_pkce_state_and_the_three_scopes():
    url = oauth.authorize_url(
        ACCOUNTS + "/", "cid", "http://127.0.0.1:5000/callback", oauth.SCOPES, "st", "chal"
    )
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{ACCOUNTS}/authorize"
    assert parse_qs(parts.query) == {
        "client_id": ["cid"],
        "response_type": ["code"],
        "redirect_uri": ["http://127.0.0.1:5000/callback"],
        "scope": ["user-top-read user-read-recently-played playlist-modify-private"],
        "state": ["st"],
        "code_challenge_method": ["S256"],
        "code_challenge": ["chal"],
    }


@responses.activate
def test_exchange_code_without_secret_sends_client_id_and_verifier():
    responses.post(
        TOKEN_URL,
        json={
            "access_token": "AT1",
            "token_type": "Bearer",
            "expires_in": 3600,
            "refresh_token": "RT1",
            "scope": "user-top-read",
        },
    )
    tokens = oauth.exchange_code(
        requests.Session(), ACCOUNTS, "cid", None, "the-code", "http://127.0.0.1:5000/callback",
        "the-verifier", NOW,
    )
    assert tokens == oauth.TokenSet("AT1", "RT1", NOW + timedelta(hours=1), "user-top-read")
    call = responses.calls[0]
    assert call.request.method == "POST"
    assert form_of(call) == {
        "grant_type": ["authorization_code"],
        "code": ["the-code"],
        "redirect_uri": ["http://127.0.0.1:5000/callback"],
        "code_verifier": ["the-verifier"],
        "client_id": ["cid"],
    }
    assert "Authorization" not in call.request.headers
    assert call.request.req_kwargs["timeout"] == (5, 20)


@responses.activate
def test_exchange_code_with_secret_uses_basic_auth():
    responses.post(TOKEN_URL, json={"access_token": "A", "expires_in": 60, "refresh_token": "R"})
    oauth.exchange_code(requests.Session(), ACCOUNTS, "cid", "sec", "c", "r", "v", NOW)
    call = responses.calls[0]
    assert call.request.headers["Authorization"] == "Basic " + base64.b64encode(b"cid:sec").decode()
    assert "client_id" not in form_of(call)


@responses.activate
def test_refresh_keeps_the_old_refresh_token_when_none_comes_back():
    responses.post(TOKEN_URL, json={"access_token": "AT2", "expires_in": 3600, "scope": "s"})
    tokens = oauth.refresh(requests.Session(), ACCOUNTS, "cid", None, "RT-old", NOW)
    assert (tokens.access_token, tokens.refresh_token) == ("AT2", "RT-old")
    assert tokens.expires_at == NOW + timedelta(seconds=3600)
    assert form_of(responses.calls[0]) == {
        "grant_type": ["refresh_token"],
        "refresh_token": ["RT-old"],
        "client_id": ["cid"],
    }


@responses.activate
def test_refresh_replaces_the_refresh_token_when_a_new_one_comes_back():
    responses.post(
        TOKEN_URL, json={"access_token": "AT2", "expires_in": 3600, "refresh_token": "RT-new"}
    )
    tokens = oauth.refresh(requests.Session(), ACCOUNTS, "cid", None, "RT-old", NOW)
    assert tokens.refresh_token == "RT-new"


@responses.activate
def test_invalid_grant_on_refresh_means_reconnect():
    responses.post(
        TOKEN_URL,
        status=400,
        json={"error": "invalid_grant", "error_description": "Refresh token revoked"},
    )
    with pytest.raises(AuthorizationError) as caught:
        oauth.refresh(requests.Session(), ACCOUNTS, "cid", None, "RT-secret-value", NOW)
    assert caught.value.needs_reconnect is True
    assert "RT-secret-value" not in str(caught.value)


@responses.activate
def test_token_endpoint_timeout_is_transient_and_not_retried():
    responses.post(TOKEN_URL, body=requests.ReadTimeout("slow"))
    with pytest.raises(TransientError):
        oauth.refresh(requests.Session(), ACCOUNTS, "cid", None, "RT", NOW)
    assert len(responses.calls) == 1


@pytest.mark.parametrize(
    "body",
    [
        "{not json",
        '{"token_type": "Bearer"}',
        '["AT"]',
        '{"access_token": "A", "expires_in": "1h"}',
    ],
)
@responses.activate
def test_unreadable_token_answer_is_a_data_error(body):
    responses.post(TOKEN_URL, body=body, content_type="application/json")
    with pytest.raises(DataError):
        oauth.refresh(requests.Session(), ACCOUNTS, "cid", None, "RT", NOW)


@responses.activate
def test_code_exchange_without_refresh_token_is_a_data_error():
    responses.post(TOKEN_URL, json={"access_token": "A", "expires_in": 3600})
    with pytest.raises(DataError):
        oauth.exchange_code(requests.Session(), ACCOUNTS, "cid", None, "c", "r", "v", NOW)


def test_token_set_repr_never_shows_tokens():
    text = repr(oauth.TokenSet("AT-secret", "RT-secret", NOW, "s"))
    assert "secret" not in text
    assert "2026" in text


@pytest.mark.parametrize(
    ("seconds_left", "expected"),
    [(-10, True), (0, True), (299, True), (300, True), (301, False), (3600, False)],
)
def test_token_guard_refreshes_with_300_seconds_or_less_left(seconds_left, expected):
    assert oauth.needs_refresh(NOW + timedelta(seconds=seconds_left), NOW) is expected


@pytest.mark.parametrize(
    ("elapsed", "days_left"),
    [
        (timedelta(0), 180),
        (timedelta(days=166), 14),
        (timedelta(days=179, hours=23), 0),
        (timedelta(days=180), 0),
        (timedelta(days=400), 0),
    ],
)
def test_refresh_token_days_left_counts_down_from_sign_in(elapsed, days_left):
    assert oauth.refresh_token_days_left(NOW, NOW + elapsed) == days_left


def test_refresh_token_lifetime_is_not_longer_than_any_six_months():
    assert oauth.REFRESH_TOKEN_LIFETIME <= timedelta(days=181)
