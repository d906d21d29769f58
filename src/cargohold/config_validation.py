"""What makes a setting usable: each setting's range and choices, and the settings that must
be given together (config.py loads them, then asks `validate`)."""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING

from cargohold.jobs.schedule import ScheduleError, parse_schedule
from cargohold.parsing.integers import parse_non_negative
from cargohold.parsing.networks import parse_networks

if TYPE_CHECKING:
    from cargohold.config import Settings

# Blob store drivers (wiring.blob_store_from_settings builds them).
STORAGE_DRIVERS = ("filesystem", "s3")
# The longest a SigV4 presigned URL may be valid (seven days).
MAX_PRESIGN_SECONDS = 7 * 24 * 3600
# The most bytes an upload session keeps in its metadata row (each is also held in memory by
# the request that appends them): an S3 part's minimum size.
MAX_INLINE_UPLOAD_BYTES = 5 * 1024 * 1024
# The longest header read timeout the HTTP server (granian) accepts: 60 s.
MAX_HEADER_READ_SECONDS = 60.0
# Who may read /metrics (api/route_access.py's METRICS need; decision 028).
METRICS_ACCESS = ("admin", "anonymous")
# Ten years: a refresh token is a standing credential, and "never" is not one of its choices.
MAX_REFRESH_TOKEN_EXPIRY_DAYS = 3650
# Password checks running or waiting hold request threads: of a process's 16
# (api/boundary.POOL_THREADS), at least 4 stay for uploads, manifests and pulls.
MAX_PASSWORD_CHECK_PLACES = 12


class ConfigError(ValueError):
    """A setting that cannot be used; the message names the setting and the source."""


def validate(settings: Settings) -> Settings:
    """The settings, or ConfigError naming the first that cannot be used."""
    host, sep, port = settings.addr.rpartition(":")
    try:
        port_number = parse_non_negative(port, 65535)
    except ValueError:
        port_number = 0
    if not sep or not host or port_number == 0:
        raise ConfigError(f"addr must be HOST:PORT, got {settings.addr!r}")
    if settings.log_format not in ("auto", "json", "text"):
        raise ConfigError(f"log_format must be auto, json or text, got {settings.log_format!r}")
    if settings.log_level.lower() not in ("debug", "info", "warning", "error"):
        raise ConfigError(
            f"log_level must be debug, info, warning or error: {settings.log_level!r}"
        )
    if bool(settings.tls_cert) != bool(settings.tls_key):
        raise ConfigError("tls_cert and tls_key must be given together")
    if settings.storage_driver not in STORAGE_DRIVERS:
        raise ConfigError(
            f"storage_driver must be one of {', '.join(STORAGE_DRIVERS)}, "
            f"got {settings.storage_driver!r}"
        )
    if settings.storage_driver == "s3":
        _validate_s3(settings)
    if settings.workers < 1:
        raise ConfigError("workers must be at least 1")
    if settings.disk_reserve_bytes < 0:
        raise ConfigError("disk_reserve_bytes must be 0 (no reserve) or more")
    if settings.job_workers < 0:
        raise ConfigError("job_workers must be 0 or more")
    if settings.job_store and not settings.job_store.startswith(("redis://", "rediss://")):
        raise ConfigError(f"job_store must be empty or a redis:// URL, got {settings.job_store!r}")
    if settings.vulndb_zip_member_max_bytes < 1 or settings.vulndb_zip_max_ratio < 1:
        raise ConfigError("vulndb_zip_member_max_bytes and vulndb_zip_max_ratio must be 1 or more")
    for level in ("critical", "high", "medium", "low"):
        if getattr(settings, f"sla_{level}_days") < 0:
            raise ConfigError(f"sla_{level}_days must be 0 (no deadline) or more")
    if settings.max_json_body_bytes < 1024:
        raise ConfigError("max_json_body_bytes must be at least 1024")
    if settings.max_vulndb_import_bytes < 1024:
        raise ConfigError("max_vulndb_import_bytes must be at least 1024")
    timeout = settings.body_read_timeout_seconds
    if not (timeout > 0 and math.isfinite(timeout)):
        raise ConfigError("body_read_timeout_seconds must be a number of seconds above 0")
    if not 0.001 <= settings.header_read_timeout_seconds <= MAX_HEADER_READ_SECONDS:
        raise ConfigError(
            f"header_read_timeout_seconds must be from 0.001 to {MAX_HEADER_READ_SECONDS:g}"
        )
    if settings.max_uploads_per_client < 0:
        raise ConfigError("max_uploads_per_client must be 0 (no cap) or more")
    if settings.max_client_connections < settings.workers:
        raise ConfigError("max_client_connections must be at least workers (one per worker)")
    try:
        parse_networks(settings.trusted_proxies)
    except ValueError as exc:
        raise ConfigError(f"trusted_proxies: {exc}") from None
    _validate_auth(settings)
    _validate_pull_limits(settings)
    if settings.metrics_access not in METRICS_ACCESS:
        raise ConfigError(
            f"metrics_access must be {' or '.join(METRICS_ACCESS)}, got {settings.metrics_access!r}"
        )
    probe = settings.readiness_timeout_seconds
    if not (0 < probe <= 60 and math.isfinite(probe)):
        raise ConfigError(
            "readiness_timeout_seconds must be a number of seconds above 0, at most 60"
        )
    _validate_admission(settings)
    if settings.audit_retention_days < 0:
        raise ConfigError("audit_retention_days must be 0 (keep every entry) or more")
    for name in ("lifecycle_schedule", "gc_schedule", "vulndb_schedule", "audit_purge_schedule"):
        try:
            parse_schedule(getattr(settings, name))
        except ScheduleError as exc:
            raise ConfigError(f"{name}: {exc}") from None
    return settings


def _validate_s3(settings: Settings) -> None:
    if not settings.s3_bucket:
        raise ConfigError("storage_driver s3 needs s3_bucket")
    if bool(settings.s3_access_key_id) != bool(settings.s3_secret_access_key):
        raise ConfigError("s3_access_key_id and s3_secret_access_key must be given together")
    endpoint = settings.s3_endpoint_url
    if endpoint and not endpoint.startswith(("http://", "https://")):
        raise ConfigError(f"s3_endpoint_url must be an http(s) URL, got {endpoint!r}")
    if not 1 <= settings.s3_redirect_expiry_seconds <= MAX_PRESIGN_SECONDS:
        raise ConfigError(f"s3_redirect_expiry_seconds must be from 1 to {MAX_PRESIGN_SECONDS}")
    if not 0 <= settings.s3_inline_upload_bytes <= MAX_INLINE_UPLOAD_BYTES:
        raise ConfigError(
            f"s3_inline_upload_bytes must be from 0 to {MAX_INLINE_UPLOAD_BYTES}, "
            f"got {settings.s3_inline_upload_bytes}"
        )


def _validate_auth(settings: Settings) -> None:
    if settings.auth not in ("on", "off"):
        raise ConfigError(f"auth must be on or off, got {settings.auth!r}")
    realm = settings.auth_token_realm
    if realm and (not realm.startswith(("http://", "https://")) or any(c in realm for c in '" \\')):
        raise ConfigError(f"auth_token_realm must be an http(s) URL, got {realm!r}")
    if settings.auth_token_expiry_seconds < 60:
        # The token spec: "a token should never be returned with less than 60 seconds to live".
        raise ConfigError("auth_token_expiry_seconds must be at least 60")
    if not settings.auth_token_issuer or not settings.auth_token_service:
        raise ConfigError("auth_token_issuer and auth_token_service must not be empty")
    if settings.auth_token_keys:
        from cargohold.services.token_keys import TokenKeyError, configured_keys

        if settings.auth_token_key_dir:
            raise ConfigError(
                "set auth_token_keys or auth_token_key_dir, not both (moving to auth_token_keys:"
                " put the directory's keys in it, the highest-numbered last)"
            )

        try:
            configured_keys(settings.auth_token_keys)
        except TokenKeyError as exc:
            raise ConfigError(str(exc)) from None
    _check_password_checks(settings)
    if settings.auth_lockout_threshold < 1 or settings.auth_address_lockout_threshold < 1:
        raise ConfigError(
            "auth_lockout_threshold and auth_address_lockout_threshold must be 1 or more"
        )
    for name in (
        "auth_lockout_seconds",
        "auth_slowdown_base_seconds",
        "auth_slowdown_max_seconds",
        "auth_token_reuse_seconds",
    ):
        value = getattr(settings, name)
        if not (value >= 0 and math.isfinite(value)):
            raise ConfigError(f"{name} must be a number of seconds, 0 or more")
    prefix = settings.auth_robot_prefix
    if not prefix or ":" in prefix or "/" in prefix:
        # A robot's name goes into Basic credentials (user:secret) and must not look like a
        # repository path.
        raise ConfigError(f"auth_robot_prefix must be non-empty without ':' or '/': {prefix!r}")
    if settings.auth_robot_expiry_days < 1:
        raise ConfigError("auth_robot_expiry_days must be 1 or more")
    if not 1 <= settings.auth_refresh_token_expiry_days <= MAX_REFRESH_TOKEN_EXPIRY_DAYS:
        raise ConfigError(
            f"auth_refresh_token_expiry_days must be from 1 to {MAX_REFRESH_TOKEN_EXPIRY_DAYS}"
        )


# What the admission webhook does with an image of another registry.
FOREIGN_IMAGE_CHOICES = ("allow", "warn", "deny")
# A cluster's name: a path segment of the webhook's URL (a DNS label, as Kubernetes names).
CLUSTER_NAME = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")


def _check_password_checks(settings: Settings) -> None:
    at_once, waiting = settings.auth_password_checks_at_once, settings.auth_password_checks_waiting
    if at_once < 1 or waiting < 0:
        raise ConfigError(
            "auth_password_checks_at_once must be 1 or more and auth_password_checks_waiting"
            " 0 or more"
        )
    if at_once + waiting > MAX_PASSWORD_CHECK_PLACES:
        raise ConfigError(
            f"auth_password_checks_at_once + auth_password_checks_waiting must be at most"
            f" {MAX_PASSWORD_CHECK_PLACES} (each holds one of a server process's 16 request"
            f" threads), got {at_once + waiting}"
        )


def _validate_admission(settings: Settings) -> None:
    if settings.admission_foreign_images not in FOREIGN_IMAGE_CHOICES:
        raise ConfigError(
            "admission_foreign_images must be allow, warn or deny, got "
            f"{settings.admission_foreign_images!r}"
        )
    if settings.admission_keep_days < 0:
        raise ConfigError("admission_keep_days must be 0 (keep nothing) or a number of days")
    history, keep = settings.admission_history_days, settings.admission_keep_days
    if history < 0 or 0 < history < keep:
        raise ConfigError(
            "admission_history_days must be 0 (keep every record) or at least "
            f"admission_keep_days ({keep}), got {history}"
        )
    for item in settings.admission_tokens.split(","):
        if not item.strip():
            continue
        cluster, equals, digest = item.strip().partition("=")
        hexdigits = digest.strip().removeprefix("sha256:")
        if (
            not equals
            or not CLUSTER_NAME.fullmatch(cluster.strip())
            or not re.fullmatch(r"[0-9a-fA-F]{64}", hexdigits)
        ):
            # Never the value itself: it is a digest, but the operator may have pasted a token.
            raise ConfigError(
                "admission_tokens must be comma-separated CLUSTER=sha256:<64 hex digits> (the "
                "SHA-256 of each cluster's token; CLUSTER a DNS label)"
            )


# The classes of caller a pull rate limit is set for (pull_limit_<class>, ..._window_seconds).
PULL_LIMIT_CLASSES = ("anonymous", "user", "robot")


def _validate_pull_limits(settings: Settings) -> None:
    for kind in PULL_LIMIT_CLASSES:
        if getattr(settings, f"pull_limit_{kind}") < 0:
            raise ConfigError(f"pull_limit_{kind} must be 0 (no limit) or a number of pulls")
        if getattr(settings, f"pull_limit_{kind}_window_seconds") < 1:
            raise ConfigError(f"pull_limit_{kind}_window_seconds must be 1 or more")
    store = settings.pull_limit_store
    if store and not store.startswith(("redis://", "rediss://")):
        raise ConfigError(f"pull_limit_store must be empty or a redis:// URL, got {store!r}")
