"""The deployment files under deploy/, and the settings they give cargohold.

load_settings ignores a CARGOHOLD_* variable whose name is no setting, so a misspelt name in
a compose file or a ConfigMap would be dropped without a word: `unknown_settings` finds them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import fields
from pathlib import Path

from cargohold.config import ENV_PREFIX, STORAGE_DRIVERS, Settings, load_settings

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
DEPLOY = REPOSITORY_ROOT / "deploy"
COMPOSE = DEPLOY / "compose"
KUBERNETES = DEPLOY / "kubernetes"
NGINX_CONF = DEPLOY / "nginx" / "cargohold.conf"

# Read by cargohold, though not settings: the first admin's password and the settings file.
NOT_SETTINGS = {"CARGOHOLD_ADMIN_PASSWORD", "CARGOHOLD_CONFIG"}
# The S3 driver's settings, named as its author names them, until it is merged: while "s3" is
# no storage driver here, these names are taken on trust; once it is, they must be settings.
S3_SETTINGS = {
    "CARGOHOLD_S3_ENDPOINT_URL",
    "CARGOHOLD_S3_REGION",
    "CARGOHOLD_S3_BUCKET",
    "CARGOHOLD_S3_PATH_STYLE",
    "CARGOHOLD_S3_ACCESS_KEY_ID",
    "CARGOHOLD_S3_SECRET_ACCESS_KEY",
}


def known_variables() -> set[str]:
    names = {ENV_PREFIX + f.name.upper() for f in fields(Settings)} | NOT_SETTINGS
    if "s3" not in STORAGE_DRIVERS:
        names |= S3_SETTINGS
    return names


def unknown_settings(variables: Iterable[str]) -> list[str]:
    """The CARGOHOLD_* names among `variables` that cargohold would not read."""
    known = known_variables()
    return sorted(v for v in variables if v.startswith(ENV_PREFIX) and v not in known)


def load(variables: Mapping[str, str]) -> Settings:
    """The settings cargohold makes of these variables (ConfigError: a value it refuses).

    Before the S3 driver is merged, `CARGOHOLD_STORAGE_DRIVER=s3` is left out: everything
    else must already be accepted as it is."""
    env = dict(variables)
    if "s3" not in STORAGE_DRIVERS and env.get("CARGOHOLD_STORAGE_DRIVER") == "s3":
        del env["CARGOHOLD_STORAGE_DRIVER"]
    return load_settings(env=env)
