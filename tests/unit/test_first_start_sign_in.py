"""What `cargohold serve` logs about signing in before it serves: the generated password with a
ready `docker login` line on the first start, then on every later start the `docker login` line
alone, without any password, while `admin` is a system admin who can sign in."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from cargohold.config import Settings, load_settings
from cargohold.first_start import ensure_first_admin
from cargohold.meta.audit_fields import Actor
from cargohold.meta.database import Database
from cargohold.meta.db import make_engine, migrate
from cargohold.meta.users import UserRecords

SIGN_IN = "cargohold.sign_in"
FIRST_START = "cargohold.first_start"


def _settings(tmp_path: Path, auth: str = "on") -> Settings:
    settings = load_settings(
        env={},
        overrides={"data_dir": str(tmp_path), "addr": "127.0.0.1:5000", "auth": auth},
    )
    engine = make_engine(settings.metadata_url)
    migrate(engine)
    engine.dispose()
    return settings


def _start(settings: Settings, caplog: pytest.LogCaptureFixture) -> dict[str, list[str]]:
    caplog.clear()
    with caplog.at_level(logging.INFO, logger=SIGN_IN):
        ensure_first_admin(settings, environ={})
    lines: dict[str, list[str]] = {}
    for record in caplog.records:
        lines.setdefault(record.name, []).append(record.getMessage())
    return lines


def test_later_starts_log_the_docker_login_line_without_a_password(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = _settings(tmp_path)
    first = _start(settings, caplog)
    [shown] = first[FIRST_START]
    password = shown.split("with the password ", 1)[1].split(" ", 1)[0]
    assert SIGN_IN not in first  # the first start's line says it all
    for _ in range(2):
        [line] = _start(settings, caplog)[SIGN_IN]
        assert "docker login 127.0.0.1:5000 --username admin " in line
        assert password not in line
    # Disabled (another system admin runs the registry), `admin` is named no more.
    engine = make_engine(settings.metadata_url)
    database = Database(engine)
    try:
        UserRecords(database).set_flags("admin", Actor("ops", "password"), 0.0, disabled=True)
    finally:
        database.close()
        engine.dispose()
    assert _start(settings, caplog) == {}


def test_with_access_control_off_nothing_is_said_about_signing_in(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = _settings(tmp_path, auth="off")
    _start(settings, caplog)
    assert SIGN_IN not in _start(settings, caplog)
