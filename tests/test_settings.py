"""Settings: defaults, file and environment overrides, clear errors for bad values."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from server.database import close_database, open_database
from server.settings import SettingsError, load_settings


def test_settings__defaults_and_environment_overrides(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "TALLYSTICK_DATA_DIR": str(tmp_path),
            "TALLYSTICK_PORT": "9000",
            "TALLYSTICK_BASE_URL": "https://tokens.example/",
            "TALLYSTICK_LIMITS__MAX_BODY_BYTES": "2048",
            "TALLYSTICK_FEDERATION__ALLOW_PRIVATE_ADDRESSES": "true",
        }
    )
    assert settings.port == 9000 and settings.domain == "tokens.example"
    assert settings.base_url == "https://tokens.example"
    assert settings.limits.max_body_bytes == 2048 and settings.limits.max_page_size == 50
    assert settings.federation.allow_private_addresses is True
    assert settings.resolved_database_url == f"sqlite://{tmp_path.resolve() / 'tallystick.sqlite3'}"
    # A generated secret is kept in the data dir so restarts agree on it.
    assert settings.secret_key and load_settings({"TALLYSTICK_DATA_DIR": str(tmp_path)}).secret_key == settings.secret_key


def test_settings__config_file_then_environment(tmp_path: Path) -> None:
    config = tmp_path / "site.toml"
    config.write_text('port = 7000\nhost = "0.0.0.0"\n[limits]\nmax_page_size = 40\n')
    settings = load_settings(
        {"TALLYSTICK_CONFIG": str(config), "TALLYSTICK_PORT": "7001", "TALLYSTICK_DATA_DIR": str(tmp_path)}
    )
    assert (settings.host, settings.port, settings.limits.max_page_size) == ("0.0.0.0", 7001, 40)


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"TALLYSTICK_PORT": "eighty"}, "TALLYSTICK_PORT"),
        ({"TALLYSTICK_PORT": "70000"}, "less than or equal to 65535"),
        ({"TALLYSTICK_BASE_URL": "tokens.example"}, "absolute http(s) URL"),
        ({"TALLYSTICK_BASE_URL": "https://tokens.example/app"}, "must not have a path"),
        ({"TALLYSTICK_DATABASE_URL": "mysql://x"}, "sqlite://"),
        ({"TALLYSTICK_LIMITS__MAX_BODY_BYTES": "10"}, "TALLYSTICK_LIMITS__MAX_BODY_BYTES"),
        ({"TALLYSTICK_NO_SUCH_KEY": "1"}, "no_such_key"),
        ({"TALLYSTICK_DATABASE__SQLITE_SYNCHRONOUS": "off"}, "TALLYSTICK_DATABASE__SQLITE_SYNCHRONOUS"),
    ],
)
def test_settings__bad_values_name_the_key_and_value(tmp_path: Path, environ: dict[str, str], expected: str) -> None:
    with pytest.raises(SettingsError) as error:
        load_settings({"TALLYSTICK_DATA_DIR": str(tmp_path), **environ})
    assert expected in str(error.value)


def test_settings__missing_or_broken_config_file(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings({"TALLYSTICK_CONFIG": str(tmp_path / "nope.toml")})
    broken = tmp_path / "broken.toml"
    broken.write_text("port = = 1")
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings({"TALLYSTICK_CONFIG": str(broken)})


def test_settings__frozen_after_loading(tmp_path: Path) -> None:
    settings = load_settings({"TALLYSTICK_DATA_DIR": str(tmp_path)})
    with pytest.raises(ValidationError, match="frozen"):
        settings.port = 1  # type: ignore[misc]


@pytest.mark.parametrize(("environ", "expected"), [({}, 2), ({"TALLYSTICK_DATABASE__SQLITE_SYNCHRONOUS": "normal"}, 1)])
async def test_settings__sqlite_synchronous_reaches_the_connection(
    tmp_path: Path, environ: dict[str, str], expected: int
) -> None:
    """WAL with FULL by default (an fsync per commit); NORMAL (an fsync per checkpoint) when asked."""
    from models import sql

    settings = load_settings({"TALLYSTICK_DATA_DIR": str(tmp_path), **environ})
    orm = await open_database(settings)
    try:
        assert (await sql.fetch("PRAGMA synchronous"))[0]["synchronous"] == expected
        assert (await sql.fetch("PRAGMA journal_mode"))[0]["journal_mode"] == "wal"
    finally:
        await close_database(orm)
