"""The web layer: one blueprint per feature, plus the app-wide security and error handling."""

from __future__ import annotations

import time

from flask import Flask, render_template, request
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import CSRFError, CSRFProtect
from itsdangerous import BadSignature
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from .. import db

csrf = CSRFProtect()

# No inline scripts or styles anywhere: every script and stylesheet is a file under /static.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


class SessionInterface(SecureCookieSessionInterface):
    """The signed-cookie session, whose cookie is Secure whenever the request came over HTTPS.

    A logged-in session lasts PERMANENT_SESSION_LIFETIME (31 days) from the last visit, as with
    Flask's default, but its cookie is signed again at most once an hour rather than on every
    request (signing it cost about a tenth of a cached page's time)."""

    REFRESH_AFTER_SECONDS = 3600

    def get_cookie_secure(self, app: Flask) -> bool:
        # request.is_secure sees https behind a trusted proxy too (ProxyFix, MTM_TRUST_PROXY=1).
        return bool(app.config["SESSION_COOKIE_SECURE"]) or request.is_secure

    def open_session(self, app: Flask, request):
        """Flask's, also remembering when the cookie was signed."""
        serializer = self.get_signing_serializer(app)
        value = request.cookies.get(self.get_cookie_name(app))
        if serializer is None or not value:
            return super().open_session(app, request)
        try:
            data, signed_at = serializer.loads(
                value, max_age=int(app.permanent_session_lifetime.total_seconds()), return_timestamp=True
            )
        except BadSignature:
            return self.session_class()
        session = self.session_class(data)
        session.signed_at = signed_at.timestamp()
        return session

    def should_set_cookie(self, app: Flask, session) -> bool:
        if session.modified:
            return True
        if not (session.permanent and app.config["SESSION_REFRESH_EACH_REQUEST"]):
            return False
        return time.time() - getattr(session, "signed_at", 0) >= self.REFRESH_AFTER_SECONDS


def register_security(app: Flask) -> None:
    """CSRF on every state-changing request, security headers on every response, safe cookies."""
    if app.config["TRUST_PROXY"]:
        # Behind a reverse proxy that sets X-Forwarded-Proto/Host, so https and the host are seen.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_proto=1, x_host=1)
    app.session_interface = SessionInterface()
    csrf.init_app(app)

    @app.after_request
    def _headers(response):
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        if request.is_secure:
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        return response


class DatabaseId(IntegerConverter):
    """`<int:…>` in every route: a number past a 64-bit integer is a 404, not a database overflow."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", 2**63 - 1)
        super().__init__(map, *args, **kwargs)


def register_blueprints(app: Flask) -> None:
    """Every feature's routes."""
    app.url_map.converters["int"] = DatabaseId
    from . import (
        analytics, api, auth, dashboard, exports, imports, playlists, settings, spotify_auth, status, timemachine,
        views,
    )  # fmt: skip

    for feature in (auth, dashboard, analytics, timemachine, api, status, imports, spotify_auth, settings,
                    playlists, exports):  # fmt: skip
        app.register_blueprint(feature.bp)
    app.context_processor(auth.inject_current_user)
    app.context_processor(lambda: {"import_running": views.import_running})
    app.context_processor(settings.inject_spotify)

    @app.before_request
    def _summaries_up_to_date() -> None:
        # Before any view reads them: summary tables an import left stale when its process died
        # are brought up to date here (analytics.cache_state), whatever the page.
        if request.endpoint != "static" and auth.current_user() is not None:
            views.cache_state()


def register_errorhandlers(app: Flask) -> None:
    """Errors as friendly pages (or JSON for the API), never a traceback."""

    def wants_json() -> bool:
        return request.path.startswith("/api/") or request.path == "/status"

    def error_page(title: str, message: str, code: int, headers: dict | None = None):
        # Without the "import running" notice: an error page asks the database nothing, since
        # the database may be what failed.
        page = render_template("error.html", title=title, message=message, import_running=lambda: False)
        return page, code, headers or {}

    @app.errorhandler(CSRFError)
    def _csrf(error: CSRFError):
        message = "The form expired or was sent from another site; reload the page and try again."
        if wants_json():
            return {"error": message}, 400
        return error_page("Form expired", message, 400)

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException):
        if wants_json():
            return {"error": error.description}, error.code
        return error_page(error.name, error.description, error.code)

    @app.errorhandler(OperationalError)
    def _database(error: OperationalError):
        if not db.is_busy(error):
            return _unexpected(error)
        # Another writer held the database longer than the busy timeout (the end of a big
        # import brings every summary table up to date in one transaction): this request's
        # transaction was rolled back, and trying again shortly works.
        message = "The database is busy (an import is probably finishing); nothing was changed. Try again in a minute."
        app.logger.warning("Database busy on %s %s: %s", request.method, request.path, error.orig)
        headers = {"Retry-After": "60"}
        if wants_json():
            return {"error": message}, 503, headers
        return error_page("Busy", message, 503, headers)

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        app.logger.exception("Unhandled error on %s %s", request.method, request.path)
        message = "Something went wrong on our side; nothing was changed. The details are in the server log."
        if wants_json():
            return {"error": message}, 500
        return error_page("Something went wrong", message, 500)
