"""Settings read from the environment (and `.env` when present); fails fast in production.

Every variable is listed, with its default, in `.env.example` at the top of the repository.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import load_dotenv
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

# Keys people copy from examples and tutorials; the app refuses them outside debug/test.
KNOWN_DEFAULT_KEYS = {"", "dev", "secret", "change-me", "changeme", "replace-me-with-a-long-random-string"}
MIN_SECRET_KEY_LENGTH = 16


class ConfigError(Exception):
    """A setting is missing or wrong; the message is one sentence for the user."""


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def _int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}.") from None


def load_config(overrides: dict[str, Any] | None = None, *, read_dotenv: bool = True) -> dict[str, Any]:
    """Build the app's settings from the environment, then `overrides` (used by tests and the CLI)."""
    overrides = dict(overrides or {})
    if read_dotenv and not overrides.get("TESTING"):
        load_dotenv(Path.cwd() / ".env", override=False)
    env = dict(os.environ)

    instance_path = Path(overrides.get("INSTANCE_PATH") or env.get("MTM_INSTANCE_PATH") or Path.cwd() / "instance")
    config: dict[str, Any] = {
        "SECRET_KEY": env.get("SECRET_KEY", ""),
        "DATABASE_URL": env.get("DATABASE_URL") or f"sqlite:///{instance_path / 'mtm.sqlite3'}",
        "INSTANCE_PATH": str(instance_path),
        "DEBUG": _flag(env.get("MTM_DEBUG")),
        "TESTING": False,
        "DEMO_MODE": False,
        "BASE_URL": env.get("MTM_BASE_URL", "http://127.0.0.1:5000").rstrip("/"),
        "TOKEN_KEY": env.get("MTM_TOKEN_KEY", ""),
        "SPOTIFY_CLIENT_ID": env.get("SPOTIFY_CLIENT_ID", ""),
        "SPOTIFY_CLIENT_SECRET": env.get("SPOTIFY_CLIENT_SECRET", ""),
        "SPOTIFY_REDIRECT_URI": env.get("SPOTIFY_REDIRECT_URI", "http://127.0.0.1:5000/callback"),
        "SPOTIFY_ACCOUNTS_URL": env.get("SPOTIFY_ACCOUNTS_URL", "https://accounts.spotify.com").rstrip("/"),
        "SPOTIFY_API_URL": env.get("SPOTIFY_API_URL", "https://api.spotify.com").rstrip("/"),
        "DEFAULT_TIME_ZONE": env.get("MTM_TIME_ZONE", "UTC"),
        "LISTEN_THRESHOLD_MS": _int(env, "MTM_LISTEN_THRESHOLD_MS", 30_000),
        "SYNC_INTERVAL_MINUTES": _int(env, "MTM_SYNC_INTERVAL_MINUTES", 30),
        "RETRY_AFTER_CAP_SECONDS": _int(env, "MTM_RETRY_AFTER_CAP", 30),
        "LOGIN_LINK_MINUTES": _int(env, "MTM_LOGIN_LINK_MINUTES", 15),
        "MAX_CONTENT_LENGTH": _int(env, "MTM_MAX_UPLOAD_MB", 512) * 1024 * 1024,
        "IMPORT_MAX_FILE_MB": _int(env, "MTM_IMPORT_MAX_FILE_MB", 64),
        "TRUST_PROXY": _flag(env.get("MTM_TRUST_PROXY")),
        # Cookies: HttpOnly and SameSite=Lax always; Secure when the site is served over HTTPS.
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_NAME": "mtm_session",
        "WTF_CSRF_TIME_LIMIT": None,  # the token lives as long as the session
    }
    config.update(overrides)
    config["SESSION_COOKIE_SECURE"] = config.get(
        "SESSION_COOKIE_SECURE", config["BASE_URL"].startswith("https://")
    )
    validate(config)
    return config


def validate(config: dict[str, Any]) -> None:
    """Refuse settings that would run the app unsafely or not at all, with a one-line reason."""
    key = config.get("SECRET_KEY") or ""
    relaxed = config.get("DEBUG") or config.get("TESTING")
    if not relaxed and (key.strip().lower() in KNOWN_DEFAULT_KEYS or len(key) < MIN_SECRET_KEY_LENGTH):
        raise ConfigError(
            "SECRET_KEY is missing or a known default: set it to a long random string "
            "(python -c 'import secrets; print(secrets.token_urlsafe(48))')."
        )
    try:
        url = make_url(config["DATABASE_URL"])
    except ArgumentError:
        raise ConfigError(f"DATABASE_URL is not a database URL: {config['DATABASE_URL']!r}.") from None
    if url.get_backend_name() not in {"sqlite", "postgresql"}:
        raise ConfigError(
            f"DATABASE_URL must be sqlite:///… or postgresql+psycopg://…, not {url.get_backend_name()!r}."
        )
    try:
        ZoneInfo(config["DEFAULT_TIME_ZONE"])
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"MTM_TIME_ZONE is not a known time zone: {config['DEFAULT_TIME_ZONE']!r}.") from None
    if config["LISTEN_THRESHOLD_MS"] < 0:
        raise ConfigError("MTM_LISTEN_THRESHOLD_MS must not be negative.")
