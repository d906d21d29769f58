"""Prometheus metrics of a server: what it counts, where, and how /metrics shows it.

- `multiproc`: the per-server directory of prometheus-client's multiprocess files (made by the
  launcher before the workers start, removed when it stops) and dead workers' files.
- `families`: every metric's name, help, labels and buckets, in one place.
- `requests`: the request path's counts, kept per process in plain dicts and written to the
  multiprocess files by a thread once a second (decision 028: a prometheus-client increment
  on the request path cost more than the whole budget).
- `events`: the services' event sink (services/events.py): jobs, GC, lifecycle, scans.
- `store`: what the metadata store and the job queue hold, read when scraped (cached, bounded).
- `exposition`: the text /metrics answers, merged over every process of the server.

Nothing here is imported by services/; the API and the composition root (wiring.py) use it.
prometheus-client is imported only after `multiproc` has set PROMETHEUS_MULTIPROC_DIR.
"""
