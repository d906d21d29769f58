"""The CLI starts light: importing it, or printing its help, loads none of the server's, the
scanner's or the HTTP client's modules (they are imported by the commands that use them).

A behaviour test, not a timing test: bench/cli_startup.py measures the start-up itself."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# Top-level packages only the server, the scanner or a remote command needs.
HEAVY = {
    "alembic",
    "cvss",
    "cyclonedx",
    "debian",
    "dockerfile_parse",
    "granian",
    "httpcore",
    "httpx",
    "huey",
    "packageurl",
    "psycopg",
    "redis",
    "sqlalchemy",
    "starlette",
    "univers",
    "yaml",
    "zstandard",
}
HEAVY_OWN = (
    "cargohold.api",
    "cargohold.meta",
    "cargohold.services",
    "cargohold.scan.report",
    "cargohold.lint",
)

_PROBE = """
import json, sys
sys.argv = ["cargohold", *json.loads(sys.argv[1])]
from cargohold.cli.main import app
if sys.argv[1:]:
    try:
        app()
    except SystemExit:
        pass
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


def _loaded(*args: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(list(args))],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return set(json.loads(done.stderr.strip().splitlines()[-1]))


# `tag` prints a build's tags without a server: it must stay as quick as `--help`.
TAG = ("tag", "--commit", "4f2a9c1d7e0b3a5c", "--version", "1.2.3", "--time", "@0")


@pytest.mark.parametrize(
    "args",
    [(), ("--help",), ("hold", "list", "--help"), ("login", "--help"), ("lint", "--help"), TAG],
)
def test_the_cli_does_not_load_heavy_modules(args: tuple[str, ...]) -> None:
    loaded = _loaded(*args)
    assert not {name.split(".")[0] for name in loaded} & HEAVY
    assert not [name for name in loaded if name.startswith(HEAVY_OWN)]
