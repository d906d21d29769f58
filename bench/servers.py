"""How each server under test is started (all on 127.0.0.1, data in a scratch folder)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from access_setup import BENCH_ADMIN_PASSWORD
from procs import ServerProc, free_port

REPO = Path(__file__).resolve().parent.parent
DISTRIBUTION_BIN = "/usr/bin/docker-registry"
NGINX_BIN = shutil.which("nginx") or "/usr/sbin/nginx"

DISTRIBUTION_CONFIG = """\
version: 0.1
log:
{log}
storage:
{storage}
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:{port}
{auth}"""
# distribution's htpasswd authentication: Basic credentials checked (bcrypt) on every request.
DISTRIBUTION_HTPASSWD = """\
auth:
  htpasswd:
    realm: cargohold-bench
    path: {path}
"""
# Logs off for the main rows; "as shipped" (the `_shipped` rows) is distribution's default:
# level info, and every request logged to stderr (an access line and a "response completed"
# line per request).
DISTRIBUTION_FILESYSTEM = "  filesystem:\n    rootdirectory: {root}"
# distribution's own S3 driver (s3-aws). With `regionendpoint` set, distribution 2.8 uses
# path-style URLs (its `forcepathstyle` option came with 3.0). `redirect` (distribution's
# default) answers blob GETs with a 307 to a presigned URL; `disable: true` streams them.
DISTRIBUTION_S3 = """\
  s3:
    regionendpoint: {endpoint}
    region: {region}
    bucket: {bucket}
    rootdirectory: {rootdirectory}
    accesskey: {access_key}
    secretkey: {secret_key}
    secure: false
    v4auth: true
  redirect:
    disable: {disable}"""
DISTRIBUTION_LOG_OFF = "  level: error\n  accesslog:\n    disabled: true"
DISTRIBUTION_LOG_SHIPPED = "  level: info"

NGINX_CONFIG = """\
worker_processes 2;
daemon off;
master_process on;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  default_type application/octet-stream;
  client_body_temp_path {root}/client_body;
  proxy_temp_path {root}/proxy;
  fastcgi_temp_path {root}/fastcgi;
  uwsgi_temp_path {root}/uwsgi;
  scgi_temp_path {root}/scgi;
  server {{
    listen 127.0.0.1:{port};
    location /files/ {{ alias {files}/; }}
  }}
}}
"""


def cargohold_bin() -> str:
    """The `cargohold` script next to the running interpreter (the project venv)."""
    candidate = Path(sys.executable).parent / "cargohold"
    if candidate.exists():
        return str(candidate)
    return str(REPO / ".venv" / "bin" / "cargohold")


def start_cargohold(
    scratch: Path,
    workers: int = 2,
    shipped: bool = False,
    auth: bool = True,
    label: str = "cargohold",
    extra_env: dict[str, str] | None = None,
) -> ServerProc:
    """Access log off, or `shipped`: the defaults (access log on, level info), its lines
    written to the server's log file in the scratch folder as `make run` would to a file.
    Access control is on, as shipped, unless `auth` is false (`auth = off`: the baseline the
    auth rows compare with). Its data is in scratch/<label>-data; the first start makes the
    system admin with the bench's password. `extra_env` adds CARGOHOLD_* settings (another
    metadata or blob store: bench/s3_run.py)."""
    port = free_port()
    data = scratch / f"{label}-data"
    data.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    for key in (
        "CARGOHOLD_ACCESS_LOG",
        "CARGOHOLD_LOG_LEVEL",
        "CARGOHOLD_LOG_FORMAT",
        "CARGOHOLD_AUTH",
        "CARGOHOLD_ADMIN_PASSWORD",
    ):
        env.pop(key, None)
    env["CARGOHOLD_ADMIN_PASSWORD"] = BENCH_ADMIN_PASSWORD
    if not auth:
        env["CARGOHOLD_AUTH"] = "off"
    if not shipped:
        env["CARGOHOLD_ACCESS_LOG"] = "false"
        env["CARGOHOLD_LOG_LEVEL"] = "warning"
    env.update(extra_env or {})
    argv = [
        cargohold_bin(),
        "serve",
        "--addr",
        f"127.0.0.1:{port}",
        "--data-dir",
        str(data),
        "--workers",
        str(workers),
    ]
    log = scratch / (f"{label}-shipped.log" if shipped else f"{label}.log")
    server = ServerProc(label, argv, port, log, env=env)
    server.wait_ready()
    return server


def start_distribution(
    scratch: Path,
    shipped: bool = False,
    htpasswd: Path | None = None,
    label: str = "distribution",
    storage: str = "",
) -> ServerProc:
    """distribution over scratch/distribution-data (every instance shares it: its storage is
    the filesystem and nothing else), or over `storage` (a YAML block such as
    distribution_s3_storage() gives), with htpasswd authentication when `htpasswd` is given
    (the main rows) or open to anonymous clients."""
    port = free_port()
    root = scratch / "distribution-data"
    root.mkdir(parents=True, exist_ok=True)
    storage = storage or DISTRIBUTION_FILESYSTEM.format(root=root)
    config = scratch / (f"{label}-shipped.yml" if shipped else f"{label}.yml")
    log = DISTRIBUTION_LOG_SHIPPED if shipped else DISTRIBUTION_LOG_OFF
    auth = DISTRIBUTION_HTPASSWD.format(path=htpasswd) if htpasswd else ""
    config.write_text(DISTRIBUTION_CONFIG.format(storage=storage, port=port, log=log, auth=auth))
    argv = [DISTRIBUTION_BIN, "serve", str(config)]
    output = scratch / (f"{label}-shipped.log" if shipped else f"{label}.log")
    # No AWS_* variables from the caller's environment: with AWS_CA_BUNDLE set (as on machines
    # behind a TLS-inspecting proxy), distribution's S3 driver panics at start ("unable to load
    # custom CA bundle, HTTPClient's transport unsupported type"); the bench's store is http.
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    server = ServerProc(label, argv, port, output, env=env)
    server.wait_ready()
    return server


def distribution_s3_storage(
    endpoint: str,
    region: str,
    bucket: str,
    access_key: str,
    secret_key: str,
    redirect: bool,
    rootdirectory: str = "/distribution",
) -> str:
    """The `storage:` block of a distribution on an S3 store (its bucket must exist)."""
    return DISTRIBUTION_S3.format(
        endpoint=endpoint,
        region=region,
        bucket=bucket,
        rootdirectory=rootdirectory,
        access_key=access_key,
        secret_key=secret_key,
        disable="false" if redirect else "true",
    )


def start_nginx(scratch: Path, files: Path) -> ServerProc:
    """nginx serving `files` under /files/ (sendfile on, 2 workers): the machine's ceiling."""
    port = free_port()
    root = scratch / "nginx"
    root.mkdir(parents=True, exist_ok=True)
    config = root / "nginx.conf"
    config.write_text(NGINX_CONFIG.format(root=root, port=port, files=files))
    argv = [NGINX_BIN, "-c", str(config), "-p", str(root), "-e", str(root / "error.log")]
    server = ServerProc("nginx", argv, port, scratch / "nginx.log")
    server.wait_ready("/files/")
    return server
