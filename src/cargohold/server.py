"""Starting the HTTP server: migrate once, then hand the app to granian workers."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from cargohold.config import Settings
from cargohold.logs import configure_logging

log = logging.getLogger("cargohold.server")


def prepare(settings: Settings) -> None:
    """Create the data directory and bring the metadata schema up to date."""
    from cargohold.meta.db import make_engine, migrate

    Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.metadata_url)
    try:
        migrate(engine)
    finally:
        engine.dispose()


def run_server(settings: Settings) -> None:
    from granian import Granian
    from granian.constants import HTTPModes, Interfaces, SSLProtocols

    from cargohold.api.app import SETTINGS_ENV

    configure_logging(settings.log_level, settings.log_format)
    prepare(settings)
    os.environ[SETTINGS_ENV] = settings.to_json()
    scheme = "https" if settings.tls_cert else "http"
    log.info(
        "cargohold listening on %s://%s (data in %s)", scheme, settings.addr, settings.data_dir
    )
    server = Granian(
        "cargohold.api.app:app_from_env",
        address=settings.host,
        port=settings.port,
        interface=Interfaces.ASGI,
        workers=settings.workers,
        factory=True,
        http=HTTPModes.http1,
        websockets=False,
        log_enabled=True,
        log_level=settings.log_level.lower(),  # type: ignore[arg-type]
        log_access=False,
        ssl_cert=Path(settings.tls_cert) if settings.tls_cert else None,
        ssl_key=Path(settings.tls_key) if settings.tls_key else None,
        ssl_protocol_min=SSLProtocols.tls12,
        respawn_failed_workers=True,
    )
    server.serve()
