"""Settings: defaults, file and environment overrides, clear errors for bad values."""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from server.app import create_app, site_from
from server.database import close_database, open_database
from server.settings import JobSettings, Settings, SettingsError, load_settings

from .conftest import Api, assert_problem
from .pagehelpers import Browser
from . import dbutil


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
        ({"TALLYSTICK_LIMITS__NO_SUCH_KEY": "1"}, "TALLYSTICK_LIMITS__NO_SUCH_KEY"),
        ({"TALLYSTICK_PORT__X": "1"}, "TALLYSTICK_PORT"),  # a path past a setting is a typo too
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


async def test_settings__page_sizes_reach_every_list(aiohttp_client: Any, tmp_path: Path, database_url: str) -> None:
    """limits.default_page_size is the page a list answers without page_size; max_page_size is the cap."""
    settings = dbutil.test_settings(tmp_path, database_url, limits={"default_page_size": 2, "max_page_size": 3})
    api = Api(await aiohttp_client(create_app(settings)), settings)
    alice = await api.user("alice")
    for index in range(4):
        created = await api.post("/api/v1/groups", {"name": f"Group {index}"}, token=alice)
        assert created.status == 201, created
    first = await api.get("/api/v1/groups", token=alice)
    assert first.status == 200, first
    assert len(first.body["items"]) == 2 and first.body["page_size"] == 2 and first.body["next"]
    largest = await api.get("/api/v1/groups", token=alice, params={"page_size": "3"})
    assert largest.status == 200 and len(largest.body["items"]) == 3, largest
    problem = assert_problem(await api.get("/api/v1/groups", token=alice, params={"page_size": "4"}), 400, "validation-failed")
    assert "less than or equal to 3" in problem["detail"]
    # The same limits apply to set search, which pages its matches itself.
    shelf = await api.post("/api/v1/sets", {"name": "Shelf"}, token=alice)
    assert shelf.status == 201, shelf
    search = await api.post(f"/api/v1/sets/{shelf.body['id']}/search", {"filters": []})
    assert search.status == 200 and search.body["page_size"] == 2, search
    assert_problem(await api.post(f"/api/v1/sets/{shelf.body['id']}/search", {"page_size": 4}), 400, "validation-failed")
    # Pages ask for up to 50 rows; with a smaller maximum they list that many instead of failing.
    browser = Browser(api.client)
    signed_in = await browser.sign_in("alice")
    assert signed_in.status == 200, signed_in.text[:500]
    for path in ("/", "/app/sets", "/app/jobs", "/app/follows", "/app/copies"):
        shown = await browser.get(path)
        assert shown.status == 200, (path, shown.text[:500])


def test_settings__default_page_size_must_fit_the_largest_page(tmp_path: Path) -> None:
    environ = {"TALLYSTICK_DATA_DIR": str(tmp_path), "TALLYSTICK_LIMITS__DEFAULT_PAGE_SIZE": "40",
               "TALLYSTICK_LIMITS__MAX_PAGE_SIZE": "30"}
    with pytest.raises(SettingsError, match="default_page_size"):
        load_settings(environ)


def _setting_paths(model: type[BaseModel], prefix: str = "") -> list[tuple[str, str]]:
    """(dotted key, attribute name) of every leaf setting."""
    leaves = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            leaves.extend(_setting_paths(annotation, f"{prefix}{name}."))
        else:
            leaves.append((f"{prefix}{name}", name))
    return leaves


def test_settings__every_setting_is_read_somewhere() -> None:
    """A setting nothing reads is a promise the server does not keep (default_page_size was one).

    A read is an attribute access `.name` in server/, federation/ or models/. Copying settings
    into the domain's Site (server.app.site_from) does not count: the Site field must be read.
    """
    root = Path(__file__).resolve().parent.parent
    copies = inspect.getsource(site_from)
    sources = [
        path.read_text().replace(copies, "")
        for package in ("server", "federation", "models")
        for path in (root / package).rglob("*.py")
    ]
    site_field = {setting: field for field, setting in re.findall(r"(\w+)=[\w.]*\.(\w+)\b", copies)}
    unread = [
        key
        for key, name in _setting_paths(Settings)
        if not any(re.search(rf"\.{site_field.get(name, name)}\b", text) for text in sources)
    ]
    assert unread == [], f"settings read nowhere: {unread}"


def test_settings__site_reads_the_loaded_sections_not_copies(tmp_path: Path) -> None:
    """The domain's Site carries the settings sections as loaded: a default is written once
    (models/settings.py), and a setting changed by an operator reaches the domain unchanged."""
    settings = load_settings(
        {
            "TALLYSTICK_DATA_DIR": str(tmp_path),
            "TALLYSTICK_LIMITS__MAX_ATTRIBUTES": "7",
            "TALLYSTICK_FEDERATION__ALLOW_PRIVATE_ADDRESSES": "true",
            "TALLYSTICK_JOBS__STUCK_AFTER_SECONDS": "60",
        }
    )
    site = site_from(settings)
    assert site.limits is settings.limits and site.federation is settings.federation and site.jobs is settings.jobs
    assert (site.limits.max_attributes, site.federation.allow_private_addresses, site.jobs.stuck_after_seconds) == (7, True, 60)
    assert site.login_throttle is not None and site.login_throttle.limits is settings.limits


def test_settings__a_section_may_be_one_json_variable(tmp_path: Path) -> None:
    """TALLYSTICK_<SECTION> may hold the section as a JSON object; its own keys still win."""
    settings = load_settings(
        {
            "TALLYSTICK_DATA_DIR": str(tmp_path),
            "TALLYSTICK_LIMITS": '{"max_body_bytes": 2048, "max_page_size": 40}',
            "TALLYSTICK_LIMITS__MAX_PAGE_SIZE": "30",
        }
    )
    assert (settings.limits.max_body_bytes, settings.limits.max_page_size) == (2048, 30)
    with pytest.raises(SettingsError) as error:
        load_settings({"TALLYSTICK_DATA_DIR": str(tmp_path), "TALLYSTICK_JOBS": "fast"})
    assert str(error.value).count("\n") == 1 and "TALLYSTICK_JOBS" in str(error.value) and "'fast'" in str(error.value)


def test_settings__overrides_then_environment_then_file_then_defaults(tmp_path: Path) -> None:
    config = tmp_path / "site.toml"
    config.write_text('port = 7000\nhost = "0.0.0.0"\n[jobs]\nworkers = 5\nlease_seconds = 12\n')
    settings = load_settings(
        {"TALLYSTICK_CONFIG": str(config), "TALLYSTICK_JOBS__WORKERS": "6", "TALLYSTICK_PORT": "7001"},
        data_dir=str(tmp_path),
        port=7002,
    )
    assert (settings.port, settings.host, settings.jobs.workers, settings.jobs.lease_seconds) == (7002, "0.0.0.0", 6, 12)
    assert settings.jobs.max_attempts == JobSettings().max_attempts  # not named anywhere: the default


def test_settings__default_file_agrees_with_the_defaults() -> None:
    """config/default.toml documents every setting; its values are the defaults of the models."""
    import tomllib

    from server.settings import DEFAULT_FILE

    with DEFAULT_FILE.open("rb") as handle:
        written = tomllib.load(handle)
    defaults = Settings.model_construct().model_dump(mode="json")
    defaults["data_dir"] = str(defaults["data_dir"])
    assert written == defaults
