"""Playlists (SPEC §3.8): preview a source, save it to Spotify (form or JSON), refresh, history, exports.

Every query is scoped to the logged-in user; another user's playlist is a 404 like a missing one.
"""

from __future__ import annotations

import json
from urllib.parse import urlencode

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from werkzeug.datastructures import MultiDict

from .. import db
from .. import playlists as pl
from ..clock import utcnow
from ..spotify.errors import SpotifyError
from .auth import current_user, login_required
from .spotify_auth import spotify_app
from ..jobs import remember_refusal
from .upstream import Failure, still_blocked, upstream_failure
from .views import attachment, local_today

bp = Blueprint("playlists", __name__)

FORMATS = {
    "csv": "text/csv; charset=utf-8",
    # The de-facto type of plain (extended) M3U; application/vnd.apple.mpegurl is registered for
    # HLS stream playlists, which this is not.
    "m3u": "audio/x-mpegurl; charset=utf-8",
    "jspf": "application/jspf+json",
}
FORM_ONLY = ("csrf_token", "playlist_name", "auto_refresh", "source", "rules_of")


def _uid() -> int:
    return current_user()["id"]


def _raw_rules(values: MultiDict) -> dict:
    """Rule fields of a form or query (excluded artists: a textarea or one field per name)."""
    raw = {key: value for key, value in values.items() if key not in FORM_ONLY}
    raw["excluded_artists"] = "\n".join(values.getlist("excluded_artists"))
    return raw


def _save(source: pl.Source, rules: dict, name: str, auto_refresh: bool) -> pl.SavedPlaylist | Failure:
    """Save to Spotify for the logged-in user, or the Failure to answer with."""
    user, now = current_user(), utcnow()
    blocked = still_blocked(user, now)
    if blocked is not None:
        return blocked
    engine = db.get_engine()
    try:
        return pl.save_playlist(
            engine, user["id"], spotify_app().client_for(engine, user["id"]), source, rules,
            name=name, auto_refresh=auto_refresh, today=local_today(user), now=now,
        )  # fmt: skip
    except pl.NoCandidates as exc:
        return Failure(422, exc.message)
    except SpotifyError as exc:
        remember_refusal(engine, user["id"], exc, now)
        return upstream_failure(exc, url_for("playlists.index"))


@bp.get("/playlists")
@login_required
def index():
    """Pick a source, adjust its rules, preview the tracks and why each is there."""
    today, args = local_today(current_user()), request.args
    source = pl.source_for(args.get("source"))
    error, chosen, rules = None, None, None
    if "source" in args and source is None:
        error = "Pick one of the playlist sources."
    shown = source or pl.SOURCES["forgotten_gems"]
    if source is not None:
        # The rule fields on the page were those of the source shown; after picking another
        # source its own defaults apply (a forgotten-gems minimum means nothing for another).
        raw = _raw_rules(args) if args.get("rules_of", source.key) == source.key else {}
        try:
            rules = pl.parse_rules(source, raw, today)
        except pl.RuleError as exc:
            error = str(exc)
        else:
            chosen = pl.generate(db.get_conn(), _uid(), source, rules, today)
    values = {**shown.defaults(today), **(rules or {k: v for k, v in args.items() if v and k != "excluded_artists"})}
    values["excluded_artists"] = rules["excluded_artists"] if rules else args.get("excluded_artists", "").splitlines()
    return render_template(
        "playlists.html", sources=pl.SOURCES, source=shown, values=values, rules=rules, chosen=chosen, error=error,
        today=today, default_name=shown.default_name(today), name=args.get("playlist_name", ""),
        missing=shown.missing(rules) if rules else "", query=_query(shown, rules) if rules else {},
    ), 400 if error else 200  # fmt: skip


def _query(source: pl.Source, rules: dict) -> dict:
    return {"source": source.key, **{k: v for k, v in rules.items() if k != "excluded_artists"},
            "excluded_artists": "\n".join(rules["excluded_artists"])}  # fmt: skip


@bp.post("/playlists")
@login_required
def save():
    """The form: save to Spotify, then show the result; on any failure, flash and go back to the form."""
    form, today = request.form, local_today(current_user())
    # Back to the form with what was sent, as a query string (not url_for keywords: a field
    # named like one of url_for's own arguments would break the URL).
    back = url_for("playlists.index") + "?" + urlencode(
        [(key, "\n".join(form.getlist(key))) for key in form if key != "csrf_token"]
    )
    source = pl.source_for(form.get("source"))
    if source is None:
        flash("Pick one of the playlist sources.", "error")
        return redirect(url_for("playlists.index"))
    try:
        rules = pl.parse_rules(source, _raw_rules(form), today)
    except pl.RuleError as exc:
        flash(str(exc), "error")
        return redirect(back)
    result = _save(source, rules, pl.clean_name(form.get("playlist_name"), source, today), form.get("auto_refresh") == "on")
    if isinstance(result, Failure):
        flash(result.message, "error")
        return redirect(back)
    flash(f"Saved “{result.name}” to Spotify with {result.track_count} tracks.", "success")
    return redirect(url_for("playlists.show", playlist_id=result.id))


@bp.post("/api/generate-playlist")
def generate_playlist():
    """The JSON way in (SPEC §3.8): {source, playlist_name?, rules?, auto_refresh?} → 201 or {"error"}."""
    if current_user() is None:
        return Failure(401, "Log in first.").json_response()
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return Failure(400, "No JSON body provided").json_response()
    source = pl.source_for(body.get("source"))
    if source is None:
        return Failure(400, "Invalid playlist source").json_response()
    name = body.get("playlist_name")
    if name is not None and not isinstance(name, str):
        return Failure(400, "playlist_name must be text").json_response()
    raw = body.get("rules") if body.get("rules") is not None else {}
    if not isinstance(raw, dict):
        return Failure(400, "rules must be an object").json_response()
    today = local_today(current_user())
    try:
        rules = pl.parse_rules(source, raw, today)
    except pl.RuleError as exc:
        return Failure(400, str(exc)).json_response()
    result = _save(source, rules, pl.clean_name(name, source, today), body.get("auto_refresh") is True)
    if isinstance(result, Failure):
        return result.json_response()
    return {"id": result.spotify_id, "url": result.url, "name": result.name, "track_count": result.track_count,
            "playlist_id": result.id, "page_url": url_for("playlists.show", playlist_id=result.id)}, 201  # fmt: skip


def _own_playlist(playlist_id: int):
    row = pl.get_playlist(db.get_conn(), _uid(), playlist_id)
    if row is None:
        abort(404, "No such playlist among yours.")
    return row


@bp.get("/playlists/history")
@login_required
def history():
    """Every playlist made here: source, rules, date, count, link."""
    return render_template("playlist_history.html", playlists=pl.list_playlists(db.get_conn(), _uid()), sources=pl.SOURCES)


@bp.get("/playlists/<int:playlist_id>")
@login_required
def show(playlist_id: int):
    """One saved playlist: its link, rules, tracks and reasons, exports, refresh."""
    row = _own_playlist(playlist_id)
    tracks = pl.stored_tracks(db.get_conn(), _uid(), playlist_id)
    return render_template("playlist.html", playlist=row, tracks=tracks, source=pl.SOURCES.get(row["source"]))


@bp.post("/playlists/<int:playlist_id>/refresh")
@login_required
def refresh(playlist_id: int):
    """Regenerate with the stored rules and replace the items on Spotify."""
    row = _own_playlist(playlist_id)
    user, now = current_user(), utcnow()
    engine = db.get_engine()
    failure = still_blocked(user, now)
    if failure is None:
        try:
            saved = pl.refresh_playlist(engine, user["id"], playlist_id, spotify_app().client_for(engine, user["id"]),
                                        today=local_today(user), now=now)  # fmt: skip
        except pl.PlaylistNotFound:
            abort(404, "No such playlist among yours.")
        except pl.NoCandidates as exc:
            failure = Failure(422, exc.message)
        except SpotifyError as exc:
            remember_refusal(engine, user["id"], exc, now)
            failure = upstream_failure(exc, url_for("playlists.show", playlist_id=playlist_id))
    if failure is not None:
        flash(f"“{row['name']}” was not refreshed: {failure.message}", "error")
    else:
        flash(f"Refreshed “{saved.name}”: {saved.track_count} tracks.", "success")
    return redirect(url_for("playlists.show", playlist_id=playlist_id))


@bp.get("/playlists/<int:playlist_id>.<any(csv, m3u, jspf):fmt>")
@login_required
def export(playlist_id: int, fmt: str):
    """A saved playlist as CSV, M3U or JSPF."""
    row = _own_playlist(playlist_id)
    tracks = pl.stored_tracks(db.get_conn(), _uid(), playlist_id)
    return _download(fmt, row["name"], row["refreshed_at"] or row["created_at"], tracks)


@bp.get("/playlists/preview.<any(csv, m3u, jspf):fmt>")
@login_required
def preview_export(fmt: str):
    """The previewed list (same query as /playlists) as CSV, M3U or JSPF."""
    today = local_today(current_user())
    source = pl.source_for(request.args.get("source"))
    if source is None:
        abort(400, "Pick one of the playlist sources.")
    try:
        rules = pl.parse_rules(source, _raw_rules(request.args), today)
    except pl.RuleError as exc:
        abort(400, str(exc))
    chosen = pl.generate(db.get_conn(), _uid(), source, rules, today)
    return _download(fmt, pl.clean_name(request.args.get("playlist_name"), source, today), utcnow(), chosen)


def _download(fmt: str, title: str, made_at, tracks) -> Response:
    user = current_user()
    if fmt == "csv":
        body = pl.to_csv(tracks)
    elif fmt == "m3u":
        body = pl.to_m3u(title, tracks)
    else:
        body = json.dumps(pl.to_jspf(title, user["display_name"] or user["name"], made_at, tracks), ensure_ascii=False, indent=2)
    response = Response(body.encode("utf-8"), content_type=FORMATS[fmt])
    response.headers["Content-Disposition"] = attachment(f"{title}.{fmt}")
    return response


