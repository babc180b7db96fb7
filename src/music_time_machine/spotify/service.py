"""The Spotify developer app this instance uses, built from the settings: sign-in and clients.

Web views, jobs and the CLI get their Spotify clients here. The web layer asks
`app.extensions["mtm_spotify"]` (a `config -> SpotifyApp` factory, `SpotifyApp.from_config`
by default) so a test or the demo can put another in its place; the base URLs are settings, so
pointing them at the fake Spotify (`spotify.fake`) is usually all a test needs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import requests
from cryptography.fernet import Fernet
from sqlalchemy.engine import Engine

from ..clock import utcnow
from . import oauth
from .client import SpotifyClient
from .tokens import TokenGuard, bound_refresh, make_fernet


@dataclass(frozen=True)
class SpotifyApp:
    """Credentials, addresses and plumbing shared by every Spotify call of this instance."""

    client_id: str
    client_secret: str
    redirect_uri: str
    accounts_url: str
    api_url: str
    retry_after_cap: float
    fernet: Fernet = field(repr=False)
    session: requests.Session = field(default_factory=requests.Session, repr=False)
    sleep: Callable[[float], None] = time.sleep

    @classmethod
    def from_config(cls, config: Mapping[str, Any], **overrides: Any) -> SpotifyApp:
        """Built from the app's settings (SPOTIFY_*, TOKEN_KEY/SECRET_KEY, RETRY_AFTER_CAP_SECONDS)."""
        return cls(
            client_id=config["SPOTIFY_CLIENT_ID"],
            client_secret=config["SPOTIFY_CLIENT_SECRET"],
            redirect_uri=config["SPOTIFY_REDIRECT_URI"],
            accounts_url=config["SPOTIFY_ACCOUNTS_URL"],
            api_url=config["SPOTIFY_API_URL"],
            retry_after_cap=config["RETRY_AFTER_CAP_SECONDS"],
            fernet=make_fernet(config["TOKEN_KEY"], config["SECRET_KEY"]),
            **overrides,
        )

    @property
    def configured(self) -> bool:
        """Whether a Spotify app is set up (else the instance runs in local mode only)."""
        return bool(self.client_id)

    def authorize_url(self, state: str, code_challenge: str) -> str:
        """Spotify's consent page for one sign-in attempt."""
        return oauth.authorize_url(
            self.accounts_url, self.client_id, self.redirect_uri, oauth.SCOPES, state, code_challenge
        )

    def exchange_code(self, code: str, verifier: str, now: datetime) -> oauth.TokenSet:
        """The callback's code traded for the user's first tokens."""
        return oauth.exchange_code(
            self.session, self.accounts_url, self.client_id, self.client_secret or None,
            code, self.redirect_uri, verifier, now,
        )  # fmt: skip

    def client_with_token(self, access_token: str) -> SpotifyClient:
        """A client for a token in hand (the profile call right after sign-in)."""
        return SpotifyClient(
            self.api_url, lambda: access_token, session=self.session, sleep=self.sleep,
            retry_after_cap=self.retry_after_cap,
        )  # fmt: skip

    def client_for(self, engine: Engine, user_id: int, clock: Callable[[], datetime] = utcnow) -> SpotifyClient:
        """A client for a user's stored tokens, refreshed by the token guard."""
        guard = TokenGuard(
            engine, self.fernet, user_id,
            bound_refresh(self.session, self.accounts_url, self.client_id, self.client_secret or None),
            clock, self.sleep,
        )  # fmt: skip
        return SpotifyClient(
            self.api_url, guard.access_token, session=self.session, sleep=self.sleep,
            retry_after_cap=self.retry_after_cap, on_unauthorized=guard.refresh,
        )  # fmt: skip
