"""Everything that talks to Spotify: sign-in, the API client, error categories, the retry harness.

`fake` (a stand-in Spotify server for tests and the demo) is imported on its own, not from here.
"""

from .client import (
    TIME_RANGES,
    TOP_KINDS,
    Playlist,
    Profile,
    RecentPlay,
    RecentPlays,
    SpotifyClient,
    TopItem,
)
from .errors import (
    AuthorizationError,
    DataError,
    NotFound,
    RateLimited,
    SpotifyError,
    TransientError,
    classify,
)
from .oauth import (
    RECONNECT_WARNING_DAYS,
    REFRESH_TOKEN_LIFETIME,
    SCOPES,
    TokenSet,
    authorize_url,
    exchange_code,
    make_pkce_pair,
    make_state,
    needs_refresh,
    refresh,
    refresh_token_days_left,
)
from .retry import call_with_retry

__all__ = [
    "RECONNECT_WARNING_DAYS",
    "REFRESH_TOKEN_LIFETIME",
    "SCOPES",
    "TIME_RANGES",
    "TOP_KINDS",
    "AuthorizationError",
    "DataError",
    "NotFound",
    "Playlist",
    "Profile",
    "RateLimited",
    "RecentPlay",
    "RecentPlays",
    "SpotifyClient",
    "SpotifyError",
    "TokenSet",
    "TopItem",
    "TransientError",
    "authorize_url",
    "call_with_retry",
    "classify",
    "exchange_code",
    "make_pkce_pair",
    "make_state",
    "needs_refresh",
    "refresh",
    "refresh_token_days_left",
]
