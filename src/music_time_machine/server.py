"""Serving the app with the production WSGI server (waitress), never Flask's debug server."""

from __future__ import annotations

from flask import Flask
from waitress import serve as waitress_serve

THREADS = 8


def serve(app: Flask, host: str = "127.0.0.1", port: int = 5000) -> None:
    """Serve `app` on host:port until interrupted."""
    waitress_serve(app, host=host, port=port, threads=THREADS, ident="music-time-machine")
