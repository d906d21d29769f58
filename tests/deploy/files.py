"""The deployment files under deploy/, and the settings they give cargohold.

load_settings ignores a CARGOHOLD_* variable whose name is no setting, so a misspelt name in
a compose file or a ConfigMap would be dropped without a word: `unknown_settings` finds them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import fields
from pathlib import Path

from cargohold.config import ENV_PREFIX, Settings, load_settings
from tests.support.nginx import NGINX_CONF as NGINX_CONF  # the shipped site, for test_compose

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
DEPLOY = REPOSITORY_ROOT / "deploy"
COMPOSE = DEPLOY / "compose"
KUBERNETES = DEPLOY / "kubernetes"

# Read by cargohold, though not settings: the first admin's password and the settings file.
NOT_SETTINGS = {"CARGOHOLD_ADMIN_PASSWORD", "CARGOHOLD_CONFIG"}


def known_variables() -> set[str]:
    return {ENV_PREFIX + f.name.upper() for f in fields(Settings)} | NOT_SETTINGS


def unknown_settings(variables: Iterable[str]) -> list[str]:
    """The CARGOHOLD_* names among `variables` that cargohold would not read."""
    known = known_variables()
    return sorted(v for v in variables if v.startswith(ENV_PREFIX) and v not in known)


def load(variables: Mapping[str, str]) -> Settings:
    """The settings cargohold makes of these variables (ConfigError: a value it refuses)."""
    return load_settings(env=dict(variables))
