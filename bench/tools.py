"""Wrappers around the external load generators: wrk (GETs), ab (HEAD) and curl (big GETs)."""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass
class LoadResult:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int  # connection errors, timeouts and non-2xx/3xx answers


WRK_LUA = """\
local paths = {{
{paths}
}}
-- Per path, the Authorization header to send with it ("": none).
local auths = {{
{auths}
}}
local npaths = #paths
local hdrs = {{}}
for i = 1, npaths do
  hdrs[i] = {{ ["Accept"] = "{accept}" }}
  if auths[i] ~= "" then hdrs[i]["Authorization"] = auths[i] end
end

request = function()
  local i = math.random(npaths)
  return wrk.format("GET", paths[i], hdrs[i])
end
{delay}
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {{"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,' ..
    '"errors":%d}}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout))
end
"""

ACCEPT = ", ".join(
    [
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    ]
)


def write_wrk_script(
    path: Path,
    paths: list[str],
    delay_ms: int | None = None,
    auth: list[dict[str, str]] | None = None,
) -> Path:
    """A wrk script GETting a random one of `paths`, each with its headers out of `auth` (the
    same index; absent or empty: no Authorization header)."""
    body = ",\n".join(f'  "{p}"' for p in paths)
    values = [(auth[i] if auth else {}).get("Authorization", "") for i in range(len(paths))]
    auths = ",\n".join(f'  "{v}"' for v in values)
    delay = f"\ndelay = function()\n  return {delay_ms}\nend\n" if delay_ms else ""
    path.write_text(WRK_LUA.format(paths=body, auths=auths, accept=ACCEPT, delay=delay))
    return path


def run_wrk(
    base: str, script: Path, seconds: float, connections: int, threads: int = 2
) -> LoadResult:
    threads = max(1, min(threads, connections))
    argv = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        base + "/",
    ]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    match = re.search(r"^WRKJSON (\{.*\})$", out.stdout, re.M)
    if out.returncode != 0 or match is None:
        raise RuntimeError(
            f"wrk failed ({out.returncode}): {out.stdout[-500:]} {out.stderr[-500:]}"
        )
    data = json.loads(match.group(1))
    return LoadResult(
        rps=data["requests"] / (data["duration_us"] / 1e6),
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        requests=data["requests"],
        errors=data["errors"],
    )


def header_args(flag: str, headers: dict[str, str] | None) -> list[str]:
    return [arg for key, value in (headers or {}).items() for arg in (flag, f"{key}: {value}")]


def run_ab_head(
    url: str, seconds: float, connections: int, headers: dict[str, str] | None = None
) -> LoadResult:
    """`ab -i -k`: HEAD with keep-alive on one URL (wrk cannot do HEAD). ms are whole numbers."""
    argv = [
        "ab",
        *header_args("-H", headers),
        "-q",
        "-i",
        "-k",
        "-c",
        str(connections),
        "-t",
        str(max(1, round(seconds))),
        "-n",
        "10000000",
        "-s",
        "10",
        url,
    ]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    text = out.stdout
    rps = re.search(r"^Requests per second:\s+([\d.]+)", text, re.M)
    done = re.search(r"^Complete requests:\s+(\d+)", text, re.M)
    if out.returncode != 0 or rps is None or done is None:
        raise RuntimeError(f"ab failed ({out.returncode}): {text[-500:]} {out.stderr[-500:]}")
    failed = re.search(r"^Failed requests:\s+(\d+)", text, re.M)
    non2xx = re.search(r"^Non-2xx responses:\s+(\d+)", text, re.M)
    p50 = re.search(r"^\s+50%\s+(\d+)", text, re.M)
    p99 = re.search(r"^\s+99%\s+(\d+)", text, re.M)
    return LoadResult(
        rps=float(rps.group(1)),
        p50_ms=float(p50.group(1)) if p50 else float("nan"),
        p99_ms=float(p99.group(1)) if p99 else float("nan"),
        requests=int(done.group(1)),
        errors=(int(failed.group(1)) if failed else 0) + (int(non2xx.group(1)) if non2xx else 0),
    )


def curl_get(
    url: str, timeout: float = 300, headers: dict[str, str] | None = None, follow: bool = False
) -> tuple[int, float]:
    """GET into /dev/null with curl: (bytes received, seconds). `follow`: follow a redirect
    (curl drops `headers`' Authorization when it leads to another host or port, as a presigned
    URL of an object store needs), the time being that of both requests."""
    argv = [
        "curl",
        *(["-L"] if follow else []),
        *header_args("-H", headers),
        "-sS",
        "--max-time",
        str(int(timeout)),
        "-o",
        "/dev/null",
        "-w",
        "%{http_code} %{size_download} %{time_total}",
        url,
    ]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout + 30)
    code, size, seconds = out.stdout.split()
    if code != "200":
        raise RuntimeError(f"curl GET {url}: HTTP {code} {out.stderr.strip()}")
    return int(size), float(seconds)


def curl_put(url: str, path: Path, timeout: float = 300) -> float:
    """PUT a file with `curl -T` (no `Expect: 100-continue`), answered 200: seconds."""
    argv = ["curl", "-sS", "--max-time", str(int(timeout)), "-H", "Expect:", "-T", str(path)]
    argv += ["-o", "/dev/null", "-w", "%{http_code} %{time_total}", url]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout + 30)
    code, seconds = out.stdout.split()
    if code != "200":
        raise RuntimeError(f"curl PUT: HTTP {code} {out.stderr.strip()}")
    return float(seconds)
