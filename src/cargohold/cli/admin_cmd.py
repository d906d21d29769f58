"""`cargohold admin`: an operator's commands on the server's own stores, for when no one can
sign in through the API (a forgotten or locked-out admin password).

They read the same settings as `cargohold serve` (--config, CARGOHOLD_* variables,
--data-dir) and work on its metadata store directly, whether the server runs or not.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer

from cargohold.cli.common import (
    ConfigOption,
    DataDirOption,
    fail,
    line_from_stdin,
    server_settings,
)
from cargohold.config import Settings

if TYPE_CHECKING:
    from cargohold.meta.database import Database

admin_app = typer.Typer(
    help="Operator commands on the server's own stores (no server needed).",
    no_args_is_help=True,
)

# Who the audit log names for a change made here.
CLI_ACTOR = "cli"


@contextmanager
def _metadata_store(settings: Settings) -> Iterator[Database]:
    """The server's metadata store for one command, closed after it; a store that cannot be
    read or written is the command's one-line error."""
    import sqlite3

    import psycopg
    import sqlalchemy as sa

    from cargohold.meta.database import Database
    from cargohold.meta.db import make_engine

    engine = make_engine(settings.metadata_url)
    database = Database(engine)
    try:
        yield database
    except (sa.exc.SQLAlchemyError, sqlite3.Error, psycopg.Error, OSError) as exc:
        raise fail(f"cannot update the metadata store: {type(exc).__name__}") from None
    finally:
        database.close()
        engine.dispose()


@admin_app.command("reset-password")
def reset_password(
    name: Annotated[str, typer.Argument(help="The user whose password to set.")],
    password_stdin: Annotated[
        bool,
        typer.Option("--password-stdin", help="Read the new password from standard input."),
    ] = False,
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Set a user's password (generated and printed when none is given) and lift any lockout
    of the account. The user's refresh tokens stop working."""
    from cargohold.services.access_errors import AccessError
    from cargohold.services.caller import system_caller
    from cargohold.wiring_access import build_access_control

    settings = server_settings(config, data_dir)
    chosen = line_from_stdin("--password-stdin") if password_stdin else None
    with _metadata_store(settings) as database:
        users = build_access_control(settings, database).users
        try:
            password = users.reset_password(name, chosen, system_caller(CLI_ACTOR))
        except AccessError as exc:
            raise fail(str(exc)) from None
    if chosen is None:
        # Only the password on standard output, for a script to capture.
        print(password)
    print(
        f"password of {name!r} reset; any lockout of the account lifted; its refresh tokens"
        " ended, and its registry tokens within seconds",
        file=sys.stderr,
    )


@admin_app.command("rotate-token-key")
def rotate_token_key(config: ConfigOption = None, data_dir: DataDirOption = None) -> None:
    """Add a signing key for registry tokens: running servers sign with it within seconds;
    tokens signed with the older keys stay valid until they expire."""
    import time

    from cargohold.meta.audit import AuditLog
    from cargohold.services.audit import AuditTrail
    from cargohold.services.caller import system_caller
    from cargohold.services.token_keys import (
        RELOAD_INTERVAL_SECONDS,
        KeysInConfiguration,
        TokenKeyError,
    )
    from cargohold.wiring_access import signing_keys

    settings = server_settings(config, data_dir)
    ring = signing_keys(settings, time.time)
    try:
        older = ring.current()
        added = ring.rotate()
    except KeysInConfiguration as exc:
        raise fail(str(exc)) from None  # nothing to write: it says what to do instead
    except (TokenKeyError, OSError) as exc:
        raise fail(f"cannot rotate the signing key in {settings.token_key_dir}: {exc}") from None
    with _metadata_store(settings) as database:
        trail = AuditTrail(AuditLog(database), settings.audit_retention_days, time.time)
        detail = {"file": f"key-{added.number:04d}.pem", "previousKid": older.kid}
        trail.record(system_caller(CLI_ACTOR), "token-key.rotate", target=added.kid, detail=detail)
    print(added.kid)
    within = f"{RELOAD_INTERVAL_SECONDS:.0f} s"
    print(
        f"key-{added.number:04d}.pem signs registry tokens from now on (servers read it within "
        f"{within}); key-{older.number:04d}.pem and older keep verifying: remove them after "
        f"auth_token_expiry_seconds ({settings.auth_token_expiry_seconds} s)",
        file=sys.stderr,
    )
