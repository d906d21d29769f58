"""Every metric /metrics shows: name, help, labels and buckets (docs/monitoring.md lists them).

Names follow Prometheus' conventions: the `cargohold_` prefix, base units (`_seconds`,
`_bytes`), `_total` on counters. Labels are bounded: a route is its template
(`/v2/{name:path}/manifests/{reference}`), never the path, and every request no route matched
is `route="unmatched"`; methods outside the HTTP methods the API uses are `method="other"`; a
project is one that exists (a request naming an unknown project counts under
`project="other"`); no label ever holds a tag, a digest or a user's name.
"""

from __future__ import annotations

from dataclasses import dataclass

PREFIX = "cargohold_"


@dataclass(frozen=True)
class Family:
    name: str  # without `_total` for counters: prometheus-client adds it to the samples
    help: str
    labels: tuple[str, ...] = ()


# -- requests (metrics/requests.py) -------------------------------------------------------

UNMATCHED_ROUTE = "unmatched"
OTHER = "other"
HTTP_METHODS = frozenset({"GET", "HEAD", "PUT", "POST", "PATCH", "DELETE", "OPTIONS"})

HTTP_REQUESTS = Family(
    "cargohold_http_requests",
    "HTTP requests answered, by route template, method and status code.",
    ("route", "method", "status"),
)
HTTP_DURATION = Family(
    "cargohold_http_request_duration_seconds",
    "Time from a request's arrival to the end of its response, by route template and method.",
    ("route", "method"),
)
# From a manifest GET answered from memory (a tenth of a millisecond) to a large blob upload.
DURATION_BUCKETS: tuple[float, ...] = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)
HTTP_RECEIVED = Family(
    "cargohold_http_received_bytes",
    "Request body bytes received, by route template and method.",
    ("route", "method"),
)
HTTP_SENT = Family(
    "cargohold_http_sent_bytes",
    "Response body bytes sent, by route template and method.",
    ("route", "method"),
)
HTTP_IN_FLIGHT = Family(
    "cargohold_http_requests_in_flight",
    "Requests being answered now, over every worker process of the server.",
)
PUSHES = Family(
    "cargohold_pushes",
    "Manifest pushes (PUT /v2/<name>/manifests/<reference>), by project and result.",
    ("project", "result"),
)
PULLS = Family(
    "cargohold_pulls",
    "Image pulls (GET /v2/<name>/manifests/<reference>), by project and result.",
    ("project", "result"),
)
# A push's or pull's result, from its answer's status.
RESULTS = ("success", "denied", "not_found", "throttled", "invalid", "error")

# -- the services' events (metrics/events.py) ------------------------------------------------

JOB_DURATION = Family(
    "cargohold_job_duration_seconds",
    "How long background jobs run by this server's processes ran, by kind.",
    ("kind",),
)
JOB_BUCKETS: tuple[float, ...] = (0.1, 1.0, 10.0, 60.0, 300.0, 900.0, 3600.0, 14400.0)
GC_RUNS = Family(
    "cargohold_gc_runs", "Garbage collection passes, by mode (run, dry_run).", ("mode",)
)
GC_FREED_BLOBS = Family("cargohold_gc_freed_blobs", "Blobs garbage collection deleted.")
GC_FREED_BYTES = Family(
    "cargohold_gc_freed_bytes", "Bytes of the blobs garbage collection deleted."
)
GC_UNTAGGED = Family(
    "cargohold_gc_removed_manifests",
    "Untagged manifests garbage collection removed (runs with `untagged`).",
)
GC_LAST_RUN = Family(
    "cargohold_gc_last_run_timestamp_seconds",
    "When the last garbage collection pass (not a dry run) ended, in UNIX seconds.",
)
LIFECYCLE_RUNS = Family(
    "cargohold_lifecycle_runs", "Lifecycle policy applications (one per repository)."
)
LIFECYCLE_DELETED = Family(
    "cargohold_lifecycle_deleted_manifests",
    "Manifests lifecycle policies deleted (images and what went with them).",
)
LIFECYCLE_FREED = Family(
    "cargohold_lifecycle_freed_bytes",
    "Bytes of the blobs only the images lifecycle policies deleted referenced, as evaluated "
    "(the next garbage collection removes them).",
)
SCANS = Family(
    "cargohold_scans",
    "Image manifests scanned, by result (scanned, reused, failed).",
    ("result",),
)
SCAN_RESULTS = ("scanned", "reused", "failed")
SCAN_FINDINGS = Family(
    "cargohold_scan_findings",
    "Vulnerability findings fresh scans reported, by severity.",
    ("severity",),
)
SEVERITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN")

# -- what the stores hold, read when scraped (metrics/store.py) ---------------------------------

REPOSITORIES = Family("cargohold_repositories", "Repositories listed in the catalog.")
MANIFESTS = Family("cargohold_manifests", "Manifests stored.")
TAGS = Family("cargohold_tags", "Tags.")
BLOBS = Family("cargohold_blobs", "Blobs stored (each digest once, however many repositories).")
STORED_BYTES = Family(
    "cargohold_stored_bytes",
    "Bytes stored, by kind: blob (each digest once) and manifest.",
    ("kind",),
)
UPLOAD_SESSIONS = Family("cargohold_upload_sessions", "Upload sessions open.")
JOB_QUEUE_DEPTH = Family("cargohold_job_queue_depth", "Jobs queued and not yet taken.")
JOB_RUNS = Family(
    "cargohold_job_runs",
    "Background jobs run to their end, by kind and result (succeeded, failed), by any process "
    "(servers and workers alike, on every machine): read from the metadata store, the same on "
    "every node.",
    ("kind", "result"),
)
STORE_UP = Family(
    "cargohold_store_totals_up",
    "1 when the figures above were read from the stores for this scrape (or within the last "
    "seconds), 0 when the read failed or timed out (the figures are then absent).",
)
STORE_AGE = Family(
    "cargohold_store_totals_age_seconds",
    "How long ago the store figures were read (they are cached for a few seconds).",
)
