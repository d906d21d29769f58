"""Starting the HTTP server: migrate once, then hand the app to granian workers.

`cargohold serve` migrates the schema in the CLI process (and, on the first start, creates
the system admin: first_start.py), then replaces itself (`exec`) with
`python -m cargohold.launch`, a small launcher that imports only granian, the settings and
the standard library (it makes the server's metrics directory: metrics/multiproc.py).
The supervisor process that stays resident, and the workers it forks, so never carry the
CLI's, Alembic's or the migration's memory.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from cargohold.config import SETTINGS_ENV, Settings
from cargohold.first_start import ADMIN_PASSWORD_ENV, ensure_first_admin


def prepare(settings: Settings) -> None:
    """Check the blob store, create the data directory and bring the metadata schema up to
    date."""
    from cargohold.jobs.queue import open_huey
    from cargohold.meta.db import make_engine, migrate
    from cargohold.wiring import check_blob_store

    check_blob_store(settings)
    Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.metadata_url)
    try:
        migrate(engine)
    finally:
        engine.dispose()
    queue = open_huey(
        settings.job_store, settings.metadata_url, settings.data_dir, create_tables=True
    )
    queue.storage.close()
    _take_disk_reserve(settings)


def _take_disk_reserve(settings: Settings) -> None:
    """Preallocate the space kept for deletes on a full disk (storage/space.py)."""
    import logging

    from cargohold.storage.space import SpaceReserve

    space = SpaceReserve(settings.data_dir, settings.disk_reserve_bytes)
    if not space.restore():
        free, _ = space.free_bytes()
        logging.getLogger("cargohold.disk").error(
            "disk full: data directory %s has %d bytes free, less than twice disk_reserve_bytes "
            "(%d); pushes are refused until deletes and garbage collection free space",
            Path(settings.data_dir).resolve(),
            free,
            settings.disk_reserve_bytes,
        )


def refuse_to_share(settings: Settings) -> None:
    """Refuse to start beside another server on this data directory or address (StartRefused).

    The lock is for the embedded SQLite store, which one server's processes must own; with
    PostgreSQL the data directory may be shared by several servers (e.g. on shared storage).
    """
    from cargohold.serve_guard import (
        ensure_address_free,
        lock_address,
        lock_data_dir,
        refuse_open_access,
    )

    refuse_open_access(settings.auth, settings.host, settings.port)
    if settings.metadata_url.startswith("sqlite"):
        data_dir = Path(settings.data_dir)
        data_dir.mkdir(parents=True, exist_ok=True)
        lock_data_dir(data_dir)
    if not settings.reuse_port:
        lock_address(settings.host, settings.port)
        ensure_address_free(settings.host, settings.port)


def run_server(settings: Settings) -> None:
    from cargohold.logs import configure_logging

    configure_logging(settings.log_level, settings.log_format)
    refuse_to_share(settings)
    prepare(settings)
    ensure_first_admin(settings)
    env = dict(os.environ)
    # Read once, above: the server processes have no use for it.
    env.pop(ADMIN_PASSWORD_ENV, None)
    env[SETTINGS_ENV] = settings.to_json()
    # Worker threads (uploads, database) would each grow a glibc malloc arena.
    env.setdefault("MALLOC_ARENA_MAX", "2")
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, "-m", "cargohold.launch"], env)


def run_worker(settings: Settings, threads: int) -> None:
    """Run background jobs without serving HTTP, until SIGINT or SIGTERM.

    For nodes that should keep scans and collections away from the request path: run the
    servers with `job_workers = 0` and one or more `cargohold worker` on the same stores.
    """
    import signal
    import threading

    from cargohold.logs import configure_logging
    from cargohold.wiring import build_services

    configure_logging(settings.log_level, settings.log_format)
    prepare(settings)
    context = build_services(settings, lean=True)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    context.jobs.queue.start(threads)
    print(f"cargohold worker: {threads} job threads; Ctrl-C stops", file=sys.stderr, flush=True)
    try:
        stop.wait()
    finally:
        context.jobs.queue.stop()
        context.pulls.close()
