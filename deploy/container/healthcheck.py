#!/usr/bin/python3
"""The container's HEALTHCHECK: GET /healthz on the address cargohold serves (CARGOHOLD_ADDR).

Standard library only, so a check costs a Python start and one request, not cargohold's
imports. Exit 0 when the server answers 200, 1 otherwise (what docker expects).
"""

import os
import ssl
import sys
import urllib.request

addr = os.environ.get("CARGOHOLD_ADDR", "0.0.0.0:5000")
host, _, port = addr.rpartition(":")
if host in ("", "0.0.0.0", "::", "[::]"):
    host = "127.0.0.1"
tls = bool(os.environ.get("CARGOHOLD_TLS_CERT"))
url = f"{'https' if tls else 'http'}://{host}:{port}/healthz"
# The check asks the server itself, on its own address: its certificate names the public host.
context = ssl._create_unverified_context() if tls else None
try:
    with urllib.request.urlopen(url, timeout=4, context=context) as response:
        sys.exit(0 if response.status == 200 else 1)
except Exception as exc:
    print(f"{url}: {exc}", file=sys.stderr)
    sys.exit(1)
