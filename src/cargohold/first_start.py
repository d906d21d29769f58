"""A server's first start: the system admin, created once, however many nodes start at once.

`cargohold serve` calls `ensure_first_admin` after migrating, before the server processes
start. With no user at all, it creates `admin` with the password in CARGOHOLD_ADMIN_PASSWORD,
or with a generated one that is logged once, through the `cargohold.first_start` logger,
with a `docker login` line ready to paste; every later start logs the `docker login` line
alone (`cargohold.sign_in`, at info). Nodes racing to create it make one admin (the
insert is conditional); only the node whose insert won logs a password.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

from cargohold.config import ConfigError, Settings

ADMIN_PASSWORD_ENV = "CARGOHOLD_ADMIN_PASSWORD"
# Unspecified listen addresses are reached as localhost on the server's own machine.
_ANY_HOST = {"0.0.0.0", "::", "[::]", ""}

log = logging.getLogger("cargohold.first_start")
# The generated password is shown this once: whatever log_level says, the line is written.
log.setLevel(logging.WARNING)
# Every later start (access control on) says how to sign in, without any password.
sign_in = logging.getLogger("cargohold.sign_in")


def login_host(settings: Settings) -> str:
    host, _, port = settings.addr.rpartition(":")
    return f"localhost:{port}" if host in _ANY_HOST else settings.addr


def ensure_first_admin(settings: Settings, environ: Mapping[str, str] = os.environ) -> None:
    """Create the system admin if there is no user yet (ConfigError: a password from the
    environment that is too short)."""
    from cargohold.meta.database import Database
    from cargohold.meta.db import make_engine
    from cargohold.services.access_errors import AccessInvalid
    from cargohold.services.users import ADMIN_NAME
    from cargohold.wiring_access import build_access_control

    engine = make_engine(settings.metadata_url)
    database = Database(engine)
    try:
        access = build_access_control(settings, database)
        try:
            generated = access.users.ensure_admin(environ.get(ADMIN_PASSWORD_ENV) or None)
        except AccessInvalid as exc:
            raise ConfigError(f"{ADMIN_PASSWORD_ENV}: {exc}") from None
        admin = access.stores.users.by_name(ADMIN_NAME)
        # The line names `admin`: not once it is gone, disabled or no longer a system admin.
        signs_in = admin is not None and admin.system_admin and not admin.disabled
    finally:
        database.close()
        engine.dispose()
    if generated is None:
        if settings.auth == "on" and signs_in:
            sign_in.info(
                "sign in with: docker login %s --username %s (the password from the first"
                " start; forgotten, `cargohold admin reset-password %s` on this machine sets"
                " another)",
                login_host(settings),
                ADMIN_NAME,
                ADMIN_NAME,
            )
    else:
        log.warning(
            "first start: created the system admin %r with the password %s (shown only this"
            " once; set %s before the first start to choose it, or reset it with `cargohold"
            " admin reset-password %s`). Sign in with: echo '%s' | docker login %s"
            " --username %s --password-stdin",
            ADMIN_NAME,
            generated,
            ADMIN_PASSWORD_ENV,
            ADMIN_NAME,
            generated,
            login_host(settings),
            ADMIN_NAME,
        )
