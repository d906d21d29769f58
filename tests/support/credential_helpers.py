"""A docker credential helper for tests: `docker-credential-NAME`, a script that keeps what it
is given in a JSON file beside it, as a keychain would (the helper protocol docker, podman and
cargohold speak: `store`, `get`, `erase`, `list` with JSON on standard input and output)."""

from __future__ import annotations

import sys
from pathlib import Path


def store_helper(env: dict[str, str], name: str) -> Path:
    """Write `docker-credential-NAME` into the first directory of `env`'s PATH (made if
    missing); returns the file where it keeps what it is given (`store-NAME.json`)."""
    bin_dir = Path(env["PATH"].split(":", 1)[0])
    bin_dir.mkdir(exist_ok=True)
    kept = bin_dir / f"store-{name}.json"
    script = bin_dir / f"docker-credential-{name}"
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, pathlib, sys\n"
        f"kept = pathlib.Path({str(kept)!r})\n"
        "creds = json.loads(kept.read_text()) if kept.exists() else {}\n"
        "action, given = sys.argv[1], sys.stdin.read()\n"
        "if action == 'store':\n"
        "    entry = json.loads(given)\n"
        "    creds[entry['ServerURL']] = entry\n"
        "elif action == 'list':\n"
        "    print(json.dumps({k: v['Username'] for k, v in creds.items()}))\n"
        "elif given.strip() not in creds:\n"
        "    print('credentials not found in native keychain')\n"
        "    sys.exit(1)\n"
        "elif action == 'get':\n"
        "    print(json.dumps(creds[given.strip()]))\n"
        "elif action == 'erase':\n"
        "    del creds[given.strip()]\n"
        "kept.write_text(json.dumps(creds))\n"
    )
    script.chmod(0o755)
    return kept
