"""Debian's nginx running the shipped deploy/nginx/cargohold.conf in front of cargohold nodes.

Only what a compose host would differ in is changed: the listen port and the upstream
addresses (the nodes on loopback instead of `cargohold-N:5000`). The rest of the file (body
limits, buffering, timeouts, which requests go to another node) is what ships.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from tests.support.ports import free_port, wait_for_port
from tests.support.processes import spawn, stop_group

NGINX = "/usr/sbin/nginx"
NGINX_CONF = Path(__file__).resolve().parents[2] / "deploy" / "nginx" / "cargohold.conf"
MAIN_CONFIG = """\
worker_processes 1;
daemon off;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 256; }}
http {{
  access_log {root}/access.log;
  client_body_temp_path {root}/client_body;
  proxy_temp_path {root}/proxy;
  fastcgi_temp_path {root}/fastcgi;
  uwsgi_temp_path {root}/uwsgi;
  scgi_temp_path {root}/scgi;
  include {site};
}}
"""


def shipped_site(port: int, upstreams: tuple[str, str]) -> str:
    """The shipped file with the listen port and the two upstream addresses replaced (each
    must occur exactly once, or the file changed shape and the tests must follow)."""
    text = NGINX_CONF.read_text()
    replacements = {
        r"^(\s*)listen 5000;": rf"\1listen 127.0.0.1:{port};",
        r"^(\s*)server cargohold-1:5000 ": rf"\1server {upstreams[0]} ",
        r"^(\s*)server cargohold-2:5000 ": rf"\1server {upstreams[1]} ",
    }
    for pattern, replacement in replacements.items():
        text, count = re.subn(pattern, replacement, text, flags=re.MULTILINE)
        assert count == 1, pattern
    return text


class NginxBalancer:
    """nginx with the shipped site, on a free loopback port, in front of two `HOST:PORT`s."""

    def __init__(self, root: Path, upstreams: tuple[str, str]) -> None:
        if not os.access(NGINX, os.X_OK):
            raise RuntimeError(f"{NGINX} is missing: install the Debian package nginx")
        self.root = root
        self.upstreams = upstreams
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def start(self) -> NginxBalancer:
        self.root.mkdir(parents=True, exist_ok=True)
        site = self.root / "cargohold.conf"
        site.write_text(shipped_site(self.port, self.upstreams))
        main = self.root / "nginx.conf"
        main.write_text(MAIN_CONFIG.format(root=self.root, site=site))
        checked = subprocess.run(
            [NGINX, "-t", "-c", str(main)], capture_output=True, text=True, timeout=30
        )
        assert checked.returncode == 0, checked.stderr
        self._process = spawn([NGINX, "-c", str(main)], dict(os.environ), self.root / "nginx.out")
        wait_for_port(self.port)
        return self

    def stop(self) -> None:
        stop_group(self._process)
        self._process = None
