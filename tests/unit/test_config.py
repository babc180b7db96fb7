import gc

import pytest

from music_time_machine import create_app
from music_time_machine.config import ConfigError, load_config

GOOD_KEY = "a-real-secret-key-of-some-length"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch, tmp_path):
    for name in ("SECRET_KEY", "DATABASE_URL", "MTM_DEBUG", "MTM_TIME_ZONE", "MTM_BASE_URL", "MTM_LISTEN_THRESHOLD_MS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.mark.parametrize("key", [None, "", "dev", "change-me", "short"])
def test_production_refuses_missing_or_default_secret_key(monkeypatch, key):
    if key is not None:
        monkeypatch.setenv("SECRET_KEY", key)
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        load_config()


def test_debug_and_test_modes_accept_any_key(monkeypatch):
    monkeypatch.setenv("MTM_DEBUG", "1")
    assert load_config()["DEBUG"] is True
    assert load_config({"TESTING": True, "DEBUG": False})["SECRET_KEY"] == ""


def test_defaults(monkeypatch, tmp_path):
    monkeypatch.setenv("SECRET_KEY", GOOD_KEY)
    config = load_config()
    assert config["DEBUG"] is False
    assert config["DATABASE_URL"] == f"sqlite:///{tmp_path / 'instance' / 'mtm.sqlite3'}"
    assert config["SPOTIFY_REDIRECT_URI"] == "http://127.0.0.1:5000/callback"
    assert config["LISTEN_THRESHOLD_MS"] == 30_000
    assert config["SESSION_COOKIE_HTTPONLY"] is True
    assert config["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert config["SESSION_COOKIE_SECURE"] is False


def test_https_base_url_makes_the_cookie_secure(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", GOOD_KEY)
    monkeypatch.setenv("MTM_BASE_URL", "https://music.example.org")
    assert load_config()["SESSION_COOKIE_SECURE"] is True


def test_dotenv_file_is_read(tmp_path):
    (tmp_path / ".env").write_text(f"SECRET_KEY={GOOD_KEY}\nMTM_TIME_ZONE=Europe/Berlin\n")
    config = load_config()
    assert config["SECRET_KEY"] == GOOD_KEY
    assert config["DEFAULT_TIME_ZONE"] == "Europe/Berlin"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("DATABASE_URL", "not a url", "DATABASE_URL is not a database URL"),
        ("DATABASE_URL", "mysql://localhost/x", "must be sqlite"),
        ("MTM_TIME_ZONE", "Mars/Olympus", "not a known time zone"),
        ("MTM_LISTEN_THRESHOLD_MS", "thirty", "whole number"),
    ],
)
def test_bad_settings_give_one_sentence(monkeypatch, name, value, message):
    monkeypatch.setenv("SECRET_KEY", GOOD_KEY)
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=message) as error:
        load_config()
    assert "\n" not in str(error.value)


def test_every_variable_is_in_env_example():
    import pathlib
    import re

    example = (pathlib.Path(__file__).parents[2] / ".env.example").read_text()
    source = (pathlib.Path(__file__).parents[2] / "src/music_time_machine/config.py").read_text()
    used = set(re.findall(r'env(?:\.get\(|, )"([A-Z_]+)"', source)) | {"MTM_INSTANCE_PATH"}
    documented = set(re.findall(r"^#?\s*([A-Z_]+)=", example, re.MULTILINE))
    assert used <= documented, f"not in .env.example: {sorted(used - documented)}"


def test_app_has_debug_off_and_the_config(database_url, tmp_path):
    app = create_app({"TESTING": True, "SECRET_KEY": GOOD_KEY, "DATABASE_URL": database_url,
                      "INSTANCE_PATH": str(tmp_path)})  # fmt: skip
    assert app.debug is False
    assert app.config["DATABASE_URL"] == database_url


def test_the_app_leaves_what_it_loaded_out_of_full_garbage_collections(database_url, tmp_path):
    # gc.freeze(): a full collection walked ~90,000 start-up objects and stalled the request it
    # fell on for 40-50 ms (bench/pages.py's worst p95).
    gc.unfreeze()
    create_app({"TESTING": True, "SECRET_KEY": GOOD_KEY, "DATABASE_URL": database_url, "INSTANCE_PATH": str(tmp_path)})
    assert gc.get_freeze_count() > 10_000
