"""How each server under test is started (all on 127.0.0.1, data in a scratch folder)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from procs import ServerProc, free_port

REPO = Path(__file__).resolve().parent.parent
DISTRIBUTION_BIN = "/usr/bin/docker-registry"
NGINX_BIN = shutil.which("nginx") or "/usr/sbin/nginx"

DISTRIBUTION_CONFIG = """\
version: 0.1
log:
{log}
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:{port}
"""
# Logs off for the main rows; "as shipped" (the `_shipped` rows) is distribution's default:
# level info, and every request logged to stderr (an access line and a "response completed"
# line per request).
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


def start_cargohold(scratch: Path, workers: int = 2, shipped: bool = False) -> ServerProc:
    """Access log off, or `shipped`: the defaults (access log on, level info), its lines
    written to the server's log file in the scratch folder as `make run` would to a file."""
    port = free_port()
    data = scratch / "cargohold-data"
    data.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    for key in ("CARGOHOLD_ACCESS_LOG", "CARGOHOLD_LOG_LEVEL", "CARGOHOLD_LOG_FORMAT"):
        env.pop(key, None)
    # Loopback only: the workloads do not sign in yet (the access issue's benchmark rows will).
    env["CARGOHOLD_AUTH"] = "off"
    if not shipped:
        env["CARGOHOLD_ACCESS_LOG"] = "false"
        env["CARGOHOLD_LOG_LEVEL"] = "warning"
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
    log = scratch / ("cargohold-shipped.log" if shipped else "cargohold.log")
    server = ServerProc("cargohold", argv, port, log, env=env)
    server.wait_ready()
    return server


def start_distribution(scratch: Path, shipped: bool = False) -> ServerProc:
    port = free_port()
    root = scratch / "distribution-data"
    root.mkdir(parents=True, exist_ok=True)
    config = scratch / ("distribution-shipped.yml" if shipped else "distribution.yml")
    log = DISTRIBUTION_LOG_SHIPPED if shipped else DISTRIBUTION_LOG_OFF
    config.write_text(DISTRIBUTION_CONFIG.format(root=root, port=port, log=log))
    argv = [DISTRIBUTION_BIN, "serve", str(config)]
    output = scratch / ("distribution-shipped.log" if shipped else "distribution.log")
    server = ServerProc("distribution", argv, port, output)
    server.wait_ready()
    return server


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
