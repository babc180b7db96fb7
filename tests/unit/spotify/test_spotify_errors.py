"""The error categoriser: every upstream answer lands in the category SPEC §3.4 names."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import requests

from music_time_machine.spotify.errors import (
    AuthorizationError,
    DataError,
    NotFound,
    RateLimited,
    SpotifyError,
    TransientError,
    classify,
)

NOW = datetime(2026, 11, 1, 12, 0, 0)


def make_response(status: int, body: bytes | str = b"", headers: dict[str, str] | None = None):
    response = requests.Response()
    response.status_code = status
    response._content = body.encode() if isinstance(body, str) else body
    response.headers.update(headers or {})
    return response


def api_error(status: int, message: str, reason: str | None = None) -> str:
    reason_part = f', "reason": "{reason}"' if reason else ""
    return f'{{"error": {{"status": {status}, "message": "{message}"{reason_part}}}}}'


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (401, api_error(401, "The access token expired"), AuthorizationError),
        (403, api_error(403, "User not registered in the Developer Dashboard"), AuthorizationError),
        (403, api_error(403, "Insufficient client scope"), AuthorizationError),
        (404, api_error(404, "Resource not found"), NotFound),
        (429, api_error(429, "API rate limit exceeded"), RateLimited),
        (500, api_error(500, "Server error."), TransientError),
        (502, "<html>Bad gateway</html>", TransientError),
        (503, "", TransientError),
        (504, "", TransientError),
        (200, "{not json", DataError),
        (400, api_error(400, "Invalid limit"), SpotifyError),
    ],
)
def test_classify_puts_each_status_in_its_category(status, body, expected):
    error = classify(make_response(status, body))
    assert type(error) is expected
    assert error.status == status
    assert error.message.endswith(".")


def test_401_from_the_api_is_refreshable_not_yet_a_reconnect():
    assert classify(make_response(401, api_error(401, "x"))).needs_reconnect is False


def test_403_missing_scope_asks_for_reconnect_but_allow_list_does_not():
    scope = classify(make_response(403, api_error(403, "Insufficient client scope")))
    allow_list = classify(make_response(403, api_error(403, "User not registered")))
    assert scope.needs_reconnect is True
    assert allow_list.needs_reconnect is False
    assert "allow-list" in allow_list.message


def test_invalid_grant_from_the_token_endpoint_needs_reconnect():
    body = '{"error": "invalid_grant", "error_description": "Invalid refresh token"}'
    error = classify(make_response(400, body))
    assert isinstance(error, AuthorizationError)
    assert error.needs_reconnect is True
    assert error.reason == "invalid_grant"


def test_invalid_client_is_a_configuration_problem_not_a_reconnect():
    error = classify(make_response(401, '{"error": "invalid_client"}'))
    assert isinstance(error, AuthorizationError)
    assert error.needs_reconnect is False
    assert "client id" in error.message


def test_token_endpoint_5xx_is_transient():
    assert isinstance(classify(make_response(503, '{"error": "server_error"}')), TransientError)


def test_token_endpoint_429_is_a_rate_limit_not_a_reconnect():
    error = classify(make_response(429, '{"error": "rate_limited"}', {"Retry-After": "5"}))
    assert isinstance(error, RateLimited)
    assert error.retry_after == 5


def test_short_retry_after_is_read_from_the_header():
    error = classify(make_response(429, api_error(429, "slow down"), {"Retry-After": "7"}))
    assert (error.retry_after, error.quota_exceeded) == (7, False)
    assert error.blocked_until(NOW) == NOW + timedelta(seconds=7)


def test_one_day_retry_after_blocks_for_a_day():
    error = classify(make_response(429, api_error(429, "slow down"), {"Retry-After": "86400"}))
    assert error.blocked_until(NOW) == NOW + timedelta(days=1)


def test_quota_exceeded_is_told_apart():
    body = api_error(429, "Quota exceeded", reason="QUOTA_EXCEEDED")
    error = classify(make_response(429, body))
    assert error.quota_exceeded is True
    assert error.reason == "QUOTA_EXCEEDED"
    assert error.retry_after is None
    assert "quota" in error.message
    assert error.blocked_until(NOW) == NOW + timedelta(hours=1)


def test_unreadable_retry_after_counts_as_missing():
    error = classify(make_response(429, "", {"Retry-After": "soon"}))
    assert error.retry_after is None


@pytest.mark.parametrize(
    ("exc", "ambiguous"),
    [
        (requests.ReadTimeout("read timed out"), True),
        (requests.ConnectTimeout("connect timed out"), False),
        (requests.ConnectionError("connection reset by peer"), False),
        (requests.exceptions.ChunkedEncodingError("truncated"), False),
    ],
)
def test_network_failures_are_transient(exc, ambiguous):
    error = classify(exc)
    assert type(error) is TransientError
    assert error.ambiguous is ambiguous
    assert error.status is None


def test_other_request_failures_are_not_transient():
    assert type(classify(requests.exceptions.InvalidURL("bad"))) is SpotifyError
