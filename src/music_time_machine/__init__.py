"""Music Time Machine: keep your Spotify listening history for years and travel through it."""

from __future__ import annotations

import functools
import gc
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported when an app is made: the import's reader process has no use for Flask
    from flask import Flask


def __getattr__(name: str) -> str:
    """`__version__`, read from the installed package's metadata when first asked for (importing
    importlib.metadata took 60 ms of the import's reader process's start, which never asks)."""
    if name == "__version__":
        return _version()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@functools.cache
def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("music-time-machine")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0.0.0"


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the Flask app; `config` overrides the settings read from the environment."""
    from flask import Flask

    from . import db
    from .config import load_config
    from .web import register_blueprints, register_errorhandlers, register_security

    settings = load_config(config)
    app = Flask(__name__, instance_path=settings["INSTANCE_PATH"], static_folder="web/static",
                template_folder="web/templates")  # fmt: skip
    app.config.update(settings)
    register_security(app)
    db.init_app(app)
    register_blueprints(app)
    register_errorhandlers(app)
    # What is loaded by now (modules, SQLAlchemy's tables, Flask's routes: about 90,000 objects)
    # stays for the life of the process: left out of Python's full garbage collections, which
    # otherwise walk all of it and stall the request they fall on for 40-50 ms on this machine.
    gc.freeze()
    return app
