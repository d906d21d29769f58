"""The resident server process: granian with cargohold's ASGI app in its workers.

Started by `cargohold serve` (see server.py) with the settings in the environment.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import NamedTuple

from granian import Granian
from granian.constants import HTTPModes, Interfaces, SSLProtocols
from granian.http import HTTP1Settings

from cargohold.config import SETTINGS_ENV, Settings
from cargohold.logs import configure_logging, granian_log_config
from cargohold.metrics.multiproc import create_server_dir, remove_server_dir

log = logging.getLogger("cargohold.server")


class ConnectionLimits(NamedTuple):
    backlog: int
    per_worker: int


def connection_limits(settings: Settings) -> ConnectionLimits:
    """granian's listen backlog and its cap on connections per worker ("backpressure").

    A connection holds its place under the cap from accept until it closes, requests with a
    slow body included; past the cap, new connections wait in the listen backlog. The app keeps
    slow bodies from holding places for long (api/bodyguard.py); granian closes connections
    whose headers take longer than header_read_timeout_seconds.
    """
    total = settings.max_client_connections
    return ConnectionLimits(backlog=max(1024, total), per_worker=max(1, total // settings.workers))


def main() -> None:
    settings = Settings.from_json(os.environ[SETTINGS_ENV])
    configure_logging(settings.log_level, settings.log_format)
    scheme = "https" if settings.tls_cert else "http"
    limits = connection_limits(settings)
    log.info(
        "cargohold listening on %s://%s (data in %s)", scheme, settings.addr, settings.data_dir
    )
    # The workers inherit the directory of this server's metrics (metrics/multiproc.py).
    metrics_dir = create_server_dir() if settings.metrics else None
    if metrics_dir is not None:
        log.info("metrics of this server's processes in %s", metrics_dir)
    try:
        _serve(settings, limits)
    finally:
        if metrics_dir is not None:
            remove_server_dir(metrics_dir)


def _serve(settings: Settings, limits: ConnectionLimits) -> None:
    Granian(
        "cargohold.api.app:app_from_env",
        address=settings.host,
        port=settings.port,
        interface=Interfaces.ASGI,
        workers=settings.workers,
        factory=True,
        http=HTTPModes.http1,
        http1_settings=HTTP1Settings(
            header_read_timeout=max(1, round(settings.header_read_timeout_seconds * 1000))
        ),
        backlog=limits.backlog,
        backpressure=limits.per_worker,
        websockets=False,
        log_enabled=True,
        log_level=settings.log_level.lower(),  # type: ignore[arg-type]
        log_dictconfig=granian_log_config(settings.log_format),
        log_access=False,
        ssl_cert=Path(settings.tls_cert) if settings.tls_cert else None,
        ssl_key=Path(settings.tls_key) if settings.tls_key else None,
        ssl_protocol_min=SSLProtocols.tls12,
        respawn_failed_workers=True,
    ).serve()


if __name__ == "__main__":
    main()
