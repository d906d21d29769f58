"""Settings: embedded defaults, then a TOML file, then CARGOHOLD_* variables, then flags
(each checked by config_validation.py)."""

from __future__ import annotations

import dataclasses
import json
import os
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from cargohold.config_validation import ConfigError, validate
from cargohold.parsing.networks import Network, parse_networks

ENV_PREFIX = "CARGOHOLD_"
# How `cargohold serve` hands the settings to the server processes it starts (launch.py and
# the app factory read it back): here, below both, so neither imports the other for it.
SETTINGS_ENV = "CARGOHOLD_SETTINGS_JSON"


@dataclass(frozen=True)
class Settings:
    addr: str = "127.0.0.1:5000"
    data_dir: str = "./data"
    # Where blobs are kept: "filesystem" (under data_dir/blobs) or "s3" (the s3_* settings).
    storage_driver: str = "filesystem"
    # The S3 driver (docs/configuration.md#s3-blob-storage): any S3-compatible store. An empty
    # endpoint is AWS S3; empty keys use boto3's own chain (AWS_* variables, instance roles).
    s3_bucket: str = ""
    s3_endpoint_url: str = ""
    s3_region: str = ""
    s3_access_key_id: str = ""
    s3_secret_access_key: str = dataclasses.field(default="", repr=False)
    s3_prefix: str = ""
    # Path-style URLs (endpoint/bucket/key), as MinIO, Ceph RGW and SeaweedFS usually need.
    s3_path_style: bool = False
    # Blob GETs answered with a 307 to a presigned URL of the object (valid this long)
    # instead of streaming the bytes through the server.
    s3_redirect: bool = False
    s3_redirect_expiry_seconds: int = 1200
    # Upload sessions (PATCH) of at most this many bytes keep them in the metadata store, not
    # in the bucket (docs/decisions/051): one row write per PATCH. 0: every byte in the bucket.
    s3_inline_upload_bytes: int = 1024 * 1024
    # Default: SQLite file inside data_dir.
    database_url: str = ""
    # Reverse proxies and load balancers (comma-separated addresses or networks) whose
    # X-Forwarded-For names the client; empty: every client is its connection's peer.
    trusted_proxies: str = ""
    tls_cert: str = ""
    tls_key: str = ""
    log_level: str = "info"
    # "json" for production, "text" for a terminal, "auto" picks by whether stderr is a tty.
    log_format: str = "auto"
    access_log: bool = True
    workers: int = 2
    # Let several servers listen on one address (SO_REUSEPORT; the kernel spreads connections
    # among them). Off: a server refuses to start on an address something else holds.
    reuse_port: bool = False
    # Maintenance mode: pulls work, every push, upload and delete is refused with DENIED.
    read_only: bool = False
    upload_expiry_seconds: int = 24 * 3600
    # Space held back in data_dir (a preallocated file) so deletes and garbage collection can
    # still write to the metadata database when pushes have filled the disk; 0: none.
    disk_reserve_bytes: int = 32 * 1024 * 1024
    # Blobs linked this recently are never garbage, referenced or not: a client pushes its
    # layers before the manifest that references them.
    gc_grace_seconds: float = 3600.0
    # How often pull times and the audit log's batched entries (pulls, logins, denials) are
    # written.
    pull_flush_seconds: float = 2.0
    # The audit log (docs/security.md#audit-log): entries older than this many days are
    # removed by the `audit-purge` job on its schedule (UTC cron); 0 keeps every entry.
    audit_retention_days: int = 365
    audit_purge_schedule: str = "15 4 * * *"
    # Background jobs (docs/operations.md): "" keeps the queue beside the metadata (a SQLite
    # file, or PostgreSQL when the metadata is there); "redis://host:port/db" puts it in Redis.
    job_store: str = ""
    # Threads per server process that run jobs; 0 runs none here (a `cargohold worker` must).
    job_workers: int = 2
    # Cron expressions in UTC (or @daily, @hourly, ..., or "off").
    lifecycle_schedule: str = "0 3 * * *"
    gc_schedule: str = "30 3 * * *"
    # Whether the scheduled GC also removes untagged manifests nothing tagged needs.
    gc_schedule_untagged: bool = False
    # The scanning extension (docs/configuration.md#extensions): off, the server has no
    # scanning routes or job kinds and never imports the scanner.
    scanning: bool = True
    # The signatures extension (docs/trust.md#enforcing-signatures-on-pull): projects' trusted
    # keys and the signature gate on pull. Off, no trust routes and no gate.
    signatures: bool = True
    # Scanning (docs/scanning.md): scan image manifests when they are pushed (a project's
    # scan policy can override), vulnerability sources imported on a schedule, remediation
    # deadlines in days per severity (0: none).
    scan_on_push: bool = True
    vulndb_sources: str = ""  # comma-separated OSV sources: paths or http(s) URLs of zips
    vulndb_schedule: str = "0 */6 * * *"
    # Zip imports are read member by member: a member larger than this uncompressed, or one
    # (or the whole archive) expanding more than the ratio times, is refused as a zip bomb.
    vulndb_zip_member_max_bytes: int = 32 << 20
    vulndb_zip_max_ratio: int = 100
    sla_critical_days: int = 1
    sla_high_days: int = 7
    sla_medium_days: int = 30
    sla_low_days: int = 0
    # Request bodies (docs/configuration.md#request-bodies-and-slow-clients): the most an admin
    # API JSON body and a vulnerability database upload may hold, how long a body may stall
    # between two pieces, how many requests with a body one client address may have in flight
    # (per server process; 0: no cap), and how many connections the server serves at once.
    max_json_body_bytes: int = 1024 * 1024
    max_vulndb_import_bytes: int = 2 * 1024 * 1024 * 1024
    body_read_timeout_seconds: float = 60.0
    # How long a client may take to send a request's headers (the HTTP server closes the
    # connection after that): a connection sending half a header holds its place until then.
    header_read_timeout_seconds: float = 20.0
    max_uploads_per_client: int = 64
    max_client_connections: int = 1024
    # Access control (docs/security.md): "on" checks every request; "off" lets every request
    # through as anonymous, for local experiments only: refused on a non-loopback address.
    auth: str = "on"
    # The token endpoint a 401 challenge names; "": <scheme>://<host>/auth/token from the
    # request (set it behind a proxy that changes the scheme or host).
    auth_token_realm: str = ""
    # Registry tokens: who issues them (`iss`), for which
    # service (`aud`, the `service` of the challenge), how long they live (at least 60 s, as
    # the token spec asks), and where the ES256 signing keys are ("": data_dir/token-keys;
    # every node must see the same keys), or the keys themselves: PEM private keys one after
    # the other, the last signing (then no directory is read or written).
    auth_token_issuer: str = "cargohold"
    auth_token_service: str = "cargohold"
    auth_token_expiry_seconds: int = 300
    # The same subject granted the same access again within this many seconds gets the token
    # signed for the first request back (0: a new token every time; at most the expiry - 60).
    auth_token_reuse_seconds: float = 10.0
    auth_token_key_dir: str = ""
    auth_token_keys: str = dataclasses.field(default="", repr=False)
    # Failed logins: each failure slows the next attempt on that account and from that
    # address (doubling from the base up to the max), and this many lock it for
    # auth_lockout_seconds; a count is forgotten auth_lockout_seconds after its last failure.
    auth_lockout_threshold: int = 10
    auth_address_lockout_threshold: int = 50
    auth_lockout_seconds: float = 900.0
    auth_slowdown_base_seconds: float = 1.0
    auth_slowdown_max_seconds: float = 30.0
    # Password checks (argon2id, 64 MiB each while it runs) a server process runs at once, and
    # how many more may wait for a turn, each holding one of the process's request threads;
    # past those, a password sign-in is answered 429 at once (docs/security.md#users).
    auth_password_checks_at_once: int = 2
    auth_password_checks_waiting: int = 6
    # Robot accounts: the name prefix that tells them from users, and their default lifetime.
    auth_robot_prefix: str = "robot$"
    auth_robot_expiry_days: int = 30
    # Refresh tokens (`offline_token=true`, `access_type=offline`): how long one keeps working
    # unless its holder is disabled, deleted, revoked or has its password reset first.
    auth_refresh_token_expiry_days: int = 30
    # Pull rate limits (docs/security.md#pull-rate-limits): pulls (GETs of an image manifest)
    # per window, for anonymous callers (by client address), users and robots (by name); 0: no
    # limit. Docker Hub's, as an example: 100 anonymous and 200 authenticated per 21600 s (6 h).
    # The counters live beside the metadata ("") or in Redis ("redis://host:port/db").
    pull_limit_anonymous: int = 0
    pull_limit_anonymous_window_seconds: int = 21600
    pull_limit_user: int = 0
    pull_limit_user_window_seconds: int = 21600
    pull_limit_robot: int = 0
    pull_limit_robot_window_seconds: int = 21600
    pull_limit_store: str = ""
    # Monitoring (docs/monitoring.md): Prometheus metrics at /metrics, and who may read them:
    # "admin" (system admins' credentials) or "anonymous" (anyone who reaches the port).
    metrics: bool = True
    metrics_access: str = "admin"
    # How long /readyz waits for each of its checks (metadata, blobs, jobs) before it calls
    # that one failed.
    readiness_timeout_seconds: float = 1.0
    # The Kubernetes admission webhook (docs/trust.md#the-kubernetes-admission-webhook): the
    # hosts (HOST[:PORT], comma-separated) workloads name this registry by ("": addr); what
    # becomes of an image of another registry (allow, warn, deny); whether a reference must
    # carry a digest; whether an image of this registry needs a valid signature by a trusted
    # key of its project; how long an admitted image is kept from lifecycle and GC (days; 0:
    # not at all); and each cluster's bearer token, as CLUSTER=sha256:<hex of its SHA-256>.
    admission_registry_hosts: str = ""
    admission_foreign_images: str = "deny"
    admission_require_digest: bool = False
    admission_require_signature: bool = True
    admission_keep_days: int = 30
    # Admission records older than this are deleted by garbage collection; 0 keeps them all.
    admission_history_days: int = 365
    admission_tokens: str = dataclasses.field(default="", repr=False)

    @property
    def sla_days(self) -> dict[str, int]:
        days = {
            "CRITICAL": self.sla_critical_days,
            "HIGH": self.sla_high_days,
            "MEDIUM": self.sla_medium_days,
            "LOW": self.sla_low_days,
        }
        return {level: n for level, n in days.items() if n > 0}

    @property
    def admission_hosts(self) -> frozenset[str]:
        """The hosts images of this registry are named by, lower-case."""
        listed = [h.strip().lower() for h in self.admission_registry_hosts.split(",")]
        return frozenset(h for h in listed if h) or frozenset({self.addr.lower()})

    @property
    def admission_token_digests(self) -> dict[str, str]:
        """Each admission token's SHA-256 (hex) -> the cluster it is for."""
        found: dict[str, str] = {}
        for item in self.admission_tokens.split(","):
            if item.strip():
                cluster, _, digest = item.strip().partition("=")
                found[digest.strip().removeprefix("sha256:").lower()] = cluster.strip()
        return found

    @property
    def vulndb_source_list(self) -> list[str]:
        return [s.strip() for s in self.vulndb_sources.split(",") if s.strip()]

    @property
    def trusted_proxy_networks(self) -> tuple[Network, ...]:
        return parse_networks(self.trusted_proxies)

    @property
    def host(self) -> str:
        return self.addr.rsplit(":", 1)[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.addr.rsplit(":", 1)[1])

    @property
    def blob_dir(self) -> Path:
        return Path(self.data_dir) / "blobs"

    @property
    def token_key_dir(self) -> Path:
        return Path(self.auth_token_key_dir or Path(self.data_dir) / "token-keys")

    @property
    def metadata_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{Path(self.data_dir).resolve() / 'cargohold.db'}"

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Settings:
        return cls(**json.loads(text))


def _coerce(name: str, value: Any, source: str) -> Any:
    field_types = {f.name: f.type for f in fields(Settings)}
    if name not in field_types:
        raise ConfigError(f"{source}: unknown setting {name!r}")
    kind = field_types[name]
    try:
        if kind == "bool":
            if isinstance(value, bool):
                return value
            lowered = str(value).strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
        return str(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{source}: setting {name!r} expects {kind}, got {value!r}") from None


# CARGOHOLD_* variables that are not settings: read by the CLI's commands (the registry a
# client command talks to, its credentials, the scanner's database), the first start, and the
# launcher of server workers.
NON_SETTING_ENV = frozenset(
    {
        "CONFIG",
        "SETTINGS_JSON",
        "ADMIN_PASSWORD",
        "REGISTRY",
        "USERNAME",
        "PASSWORD",
        "DB_DIR",
    }
)


def unknown_environment(env: dict[str, str] | None = None) -> list[str]:
    """One line per CARGOHOLD_* variable that is neither a setting nor read by a command
    (a typo, or a setting that was renamed), with the closest setting's name when one is
    close: the variable is ignored, and the server says so at start."""
    import difflib

    env = dict(os.environ) if env is None else env
    known = {f.name for f in fields(Settings)}
    lines = []
    for key in sorted(env):
        if not key.startswith(ENV_PREFIX):
            continue
        name = key[len(ENV_PREFIX) :]
        if name.lower() in known or name in NON_SETTING_ENV:
            continue
        close = difflib.get_close_matches(name.lower(), known, n=1)
        hint = f" (did you mean {ENV_PREFIX}{close[0].upper()}?)" if close else ""
        lines.append(f"ignoring {key}: not a setting{hint}")
    return lines


def load_settings(
    config_file: str | None = None,
    env: dict[str, str] | None = None,
    overrides: dict[str, Any] | None = None,
) -> Settings:
    """Merge defaults < TOML file < environment < explicit overrides (flags)."""
    values: dict[str, Any] = {}
    env = dict(os.environ) if env is None else env
    config_file = config_file or env.get(f"{ENV_PREFIX}CONFIG")
    if config_file:
        path = Path(config_file)
        try:
            document = tomllib.loads(path.read_text())
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {path}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: invalid TOML: {exc}") from None
        for key, value in document.items():
            values[key] = _coerce(key, value, str(path))
    known = {f.name for f in fields(Settings)}
    for key, value in env.items():
        if key.startswith(ENV_PREFIX) and key != f"{ENV_PREFIX}CONFIG":
            name = key[len(ENV_PREFIX) :].lower()
            if name in known:
                values[name] = _coerce(name, value, f"environment {key}")
    for key, value in (overrides or {}).items():
        if value is not None:
            values[key] = _coerce(key, value, f"--{key.replace('_', '-')}")
    return validate(Settings(**values))
