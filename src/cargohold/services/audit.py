"""The audit trail: recording what no stored change carries (logins, denials, pulls), reading
the log page by page, and purging it past its retention.

Changes audit themselves inside their own transaction (pushes, deletes, tag moves, policy,
membership and robot changes: the meta modules call `Database.audit`). What happens often and
changes nothing (a pull, a login, a refusal) is *noted*: the note goes to memory, and `flush`
writes one entry per distinct (actor, method, address, user agent, action, project,
repository, reference, digest, result, reason) with how many times it happened
(`detail.count`). The pull recorder's thread flushes every `pull_flush_seconds`, so a pull
never waits for a write (services/pulls.py). A logged-in denial or a login that is noted is
written within that interval; a clean stop writes what is left.

Entries never carry a secret: callers hand over names, addresses and reasons, never
credentials, and `record`'s detail is the caller's own dictionary of facts.
"""

from __future__ import annotations

import base64
import binascii
import collections
import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from cargohold.errors import QueryInvalid
from cargohold.meta.audit import AuditEvent, AuditFilter, AuditLog
from cargohold.meta.audit_fields import DENIED, FAILED, OK, RESULTS, Actor, AuditEntry
from cargohold.oci.names import project_of
from cargohold.services.caller import Caller

log = logging.getLogger("cargohold.audit")

Clock = Callable[[], float]

# The most entries a page of the admin API holds, and what it holds when not told.
MAX_PAGE = 1000
DEFAULT_PAGE = 100
# Rows removed per purge transaction (each also records its own `audit.purge` entry).
PURGE_BATCH = 20_000
# Notes (and, apart, distinct pulls) kept in memory between flushes, and distinct entries
# kept for a retry while the database cannot take them; past either, notes are dropped and
# counted (a stalled database must not grow memory without bound, nor slow a pull).
MAX_NOTES = 200_000
MAX_UNWRITTEN = 50_000

LOGIN = "login"
PULL = "manifest.pull"
PURGE = "audit.purge"

_CURSOR_PREFIX = b"audit:"


@dataclass(frozen=True)
class AuditPage:
    """A page of entries, newest first, and the cursor of the next page (None: the last)."""

    events: list[AuditEvent]
    next_cursor: str | None


@dataclass(frozen=True)
class PurgeOutcome:
    removed: int
    # Entries written before this (UNIX seconds) were removed; None when retention is off.
    before: float | None
    retention_days: int

    def as_record(self) -> dict[str, Any]:
        """The job's result (job_runs), times in RFC 3339 like the admin API's."""
        return {
            "removed": self.removed,
            "before": None if self.before is None else _rfc3339(self.before),
            "retentionDays": self.retention_days,
        }


def encode_cursor(before_id: int) -> str:
    """An opaque cursor: the id the next page starts below."""
    return base64.urlsafe_b64encode(_CURSOR_PREFIX + str(before_id).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The id a cursor names; QUERY_INVALID for anything encode_cursor did not make."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        if not raw.startswith(_CURSOR_PREFIX):
            raise ValueError(cursor)
        digits = raw[len(_CURSOR_PREFIX) :].decode("ascii")
        if not digits.isdigit() or len(digits) > 18:
            raise ValueError(cursor)
        return int(digits)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise QueryInvalid(
            "cursor is not one this server handed out: pass the `next` value of the previous"
            " page unchanged",
            detail={"parameter": "cursor"},
        ) from None


def _rfc3339(stamp: float) -> str:
    return dt.datetime.fromtimestamp(stamp, dt.UTC).isoformat().replace("+00:00", "Z")


def _target(project: str, repository: str, reference: str) -> str:
    if repository and reference:
        separator = "@" if ":" in reference else ":"
        return f"{repository}{separator}{reference}"
    return repository or project


# A note as it waits in memory: (id(who), action, project, repository, reference, digest,
# result, reason, target, time, who). `who` is the Caller as given (made an Actor only at the
# flush, once per distinct caller object: requests of one anonymous client share one, see
# api/callers.py) or an Actor. The first nine fields group notes without touching `who`.
_Note = tuple[int, str, str, str, str, str, str, str, str, float, "Caller | Actor"]
_EVENT = slice(1, 9)
# What an entry is written per: the actor's four fields, then the note's fields from `action`
# to `target`; per key a flush keeps [count, first time, last time].
_Key = tuple[str, ...]


class AuditTrail:
    def __init__(self, audit_log: AuditLog, retention_days: int, clock: Clock) -> None:
        self.audit_log = audit_log
        self.retention_days = retention_days
        self.clock = clock
        self._notes: collections.deque[_Note] = collections.deque()
        # Pulls, counted as they come: (actor's fields, repository, reference, digest) ->
        # [count, first time, last time].
        self._pulls: dict[tuple[str, ...], list[Any]] = {}
        self._pulls_lock = threading.Lock()
        # Aggregated entries a failed flush keeps for the next one.
        self._unwritten: dict[_Key, list[float]] = {}
        self._flush_lock = threading.Lock()
        self._dropped = 0

    # -- recording --------------------------------------------------------------------------

    def record(
        self,
        caller: Caller,
        action: str,
        *,
        project: str = "",
        repository: str = "",
        reference: str = "",
        digest: str = "",
        result: str = OK,
        target: str = "",
        detail: dict[str, Any] | None = None,
    ) -> None:
        """Write one entry now, in a transaction of its own: for an event that is rare and
        not part of a stored change (a change records itself in its own transaction)."""
        self.audit_log.append(
            [
                AuditEntry(
                    caller.as_actor(),
                    action,
                    target or _target(project, repository, reference),
                    dict(detail or {}),
                    project=project,
                    repository=repository,
                    reference=reference,
                    digest=digest,
                    result=_checked_result(result),
                    at=self.clock(),
                )
            ]
        )

    def note(
        self,
        who: Caller | Actor,
        action: str,
        project: str = "",
        repository: str = "",
        reference: str = "",
        digest: str = "",
        result: str = OK,
        reason: str = "",
        target: str = "",
    ) -> None:
        """Count an event for the next flush (no write now). Cheap enough for the pull path:
        one tuple appended to a deque, which is safe across threads."""
        if len(self._notes) >= MAX_NOTES:
            self._drop(1)
            return
        note = (id(who), action, project, repository, reference, digest, result, reason, target)
        self._notes.append((*note, time.time(), who))

    def pulled(
        self, caller: Caller, repository: str, reference: str, digest: str, at: float
    ) -> None:
        """A manifest GET answered at `at`. On every pull, so counted in place rather than
        noted: one dict update per pull, keyed by who pulled what, and a flush handles one
        item per distinct pull instead of one per request (with thousands of pulls a second,
        grouping the notes at flush time held the GIL long enough to show in pull latency)."""
        key = (caller.actor, caller.method, caller.address, caller.user_agent, repository,
               reference, digest)  # fmt: skip
        with self._pulls_lock:
            counted = self._pulls.get(key)
            if counted is not None:
                counted[0] += 1
                counted[2] = at
            elif len(self._pulls) < MAX_NOTES:
                self._pulls[key] = [1, at, at]
            else:
                self._drop(1)

    def denied(
        self,
        caller: Caller,
        action: str,
        reason: str,
        *,
        project: str = "",
        repository: str = "",
        reference: str = "",
        digest: str = "",
        target: str = "",
    ) -> None:
        """A refusal: `action` is what was attempted (e.g. `manifest.push`), `reason` says
        why in words that name no secret; `target` names what it was about when no
        repository does (a user, a robot). Noted, so a client retrying in a loop costs one
        entry per flush, not one write per attempt."""
        self.note(caller, action, project, repository, reference, digest, DENIED, reason, target)

    def login(self, origin: Caller, account: str, method: str, ok: bool, reason: str = "") -> None:
        """A login attempt on `account` (a user or robot name) with `method` (password,
        robot, token, refresh...), from the request `origin` (its address and user agent).
        Recorded under the account's name, result ok or failed; `reason` (failures only)
        says why without repeating what was sent. Noted, like every other login."""
        actor = Actor(account, method, origin.address, origin.user_agent)
        result = OK if ok else FAILED
        self.note(actor, LOGIN, result=result, reason=reason, target=account)

    # -- writing the notes ------------------------------------------------------------------

    def flush(self) -> None:
        """Write what was noted since the last flush, one entry per distinct event with its
        count; kept for the next flush if the database refuses (bounded, see MAX_UNWRITTEN)."""
        with self._flush_lock:
            pending = self._unwritten
            self._unwritten = {}
            notes = self._notes
            # Taken out first, so every noted object stays alive while ids group them.
            batch = [notes.popleft() for _ in range(len(notes))]
            groups: dict[tuple[Any, ...], list[Any]] = {}
            for note in batch:
                group = groups.get(note[:9])
                at = note[9]
                if group is None:
                    groups[note[:9]] = [1, at, at, note[10]]
                else:
                    group[0] += 1
                    if at < group[1]:
                        group[1] = at
                    elif at > group[2]:
                        group[2] = at
            counted_pulls = self._take_pulls()
            merged = [
                (
                    (name, method, address, agent, PULL, "", repository, reference, digest, OK,
                     "", ""),
                    counted,
                )
                for (name, method, address, agent, repository, reference, digest), counted
                in counted_pulls.items()
            ]  # fmt: skip
            for grouped, (count, first, last, who) in groups.items():
                actor = who.as_actor() if isinstance(who, Caller) else who
                key = (actor.name, actor.method, actor.address, actor.user_agent, *grouped[_EVENT])
                merged.append((key, [count, first, last]))
            for key, (count, first, last) in merged:
                counted = pending.get(key)
                if counted is None:
                    if len(pending) >= MAX_UNWRITTEN:
                        self._drop(count)
                        continue
                    pending[key] = [count, first, last]
                else:
                    counted[0] += count
                    counted[1] = min(counted[1], first)
                    counted[2] = max(counted[2], last)
            if not pending:
                return
            try:
                self.audit_log.append([_entry(key, counted) for key, counted in pending.items()])
            except Exception:
                log.exception("could not write %d audit entries; will retry", len(pending))
                self._unwritten = pending
                return
            if self._dropped:
                log.warning("dropped %d audit notes while the log could not keep up", self._dropped)
                self._dropped = 0

    def _take_pulls(self) -> dict[tuple[str, ...], list[Any]]:
        with self._pulls_lock:
            taken, self._pulls = self._pulls, {}
        return taken

    def _drop(self, count: int) -> None:
        if self._dropped == 0:
            log.warning("audit notes are being dropped: the audit log cannot keep up")
        self._dropped += count

    # -- reading ----------------------------------------------------------------------------

    def page(self, where: AuditFilter, cursor: str | None, limit: int) -> AuditPage:
        """The newest `limit` matching entries below the cursor, and the next page's cursor.

        Pages are in id order (the order entries were written), newest first: an entry
        written while a client pages through has a higher id than the first page's, so it
        shows up in no later page, and no entry is shown twice or skipped."""
        _check_filter(where)
        before = decode_cursor(cursor) if cursor else None
        events = self.audit_log.page(where, before, limit + 1)
        if len(events) > limit:
            events = events[:limit]
            return AuditPage(events, encode_cursor(events[-1].id))
        return AuditPage(events, None)

    def export(self, where: AuditFilter, cursor: str | None, batch: int) -> Iterator[AuditEvent]:
        """Every matching entry below the cursor, newest first, read `batch` at a time."""
        _check_filter(where)
        before = decode_cursor(cursor) if cursor else None
        while True:
            events = self.audit_log.page(where, before, batch)
            yield from events
            if len(events) < batch:
                return
            before = events[-1].id

    # -- retention --------------------------------------------------------------------------

    def purge(self, caller: Caller) -> PurgeOutcome:
        """Remove the entries older than `audit_retention_days` (0 keeps every entry and
        removes nothing). Each transaction that removes entries records an `audit.purge`
        entry with how many it removed and up to when (`before`), so the log says when and by
        whom it was shortened; a run that finds nothing to remove says so in one entry."""
        if self.retention_days <= 0:
            return PurgeOutcome(0, None, 0)
        now = self.clock()
        before = now - self.retention_days * 86400.0
        detail = {"before": _rfc3339(before), "retentionDays": self.retention_days}
        total = 0
        while True:
            removed = self.audit_log.purge_batch(
                before, PURGE_BATCH, caller.as_actor(), detail, now
            )
            total += removed
            if removed < PURGE_BATCH:
                return PurgeOutcome(total, before, self.retention_days)


def _checked_result(result: str) -> str:
    if result not in RESULTS:
        raise ValueError(f"an audit result is one of {', '.join(RESULTS)}, not {result!r}")
    return result


def _check_filter(where: AuditFilter) -> None:
    if where.result is not None and where.result not in RESULTS:
        raise QueryInvalid(
            f"result must be one of {', '.join(RESULTS)}, got {where.result[:40]!r}",
            detail={"parameter": "result"},
        )
    if where.since is not None and where.until is not None and where.since >= where.until:
        raise QueryInvalid("since must be before until", detail={"parameter": "since"})


def _entry(key: _Key, counted: list[float]) -> AuditEntry:
    name, method, address, user_agent, action, project, repository, reference, digest = key[:9]
    result, reason, target = key[9:]
    count, first, last = counted
    detail: dict[str, Any] = {"count": int(count)}
    if count > 1:
        detail["lastAt"] = _rfc3339(last)
    if reason:
        detail["reason"] = reason
    return AuditEntry(
        Actor(name, method, address, user_agent),
        action,
        target or _target(project, repository, reference),
        detail,
        project=project or (project_of(repository) if repository else ""),
        repository=repository,
        reference=reference,
        digest=digest,
        result=result,
        at=first,
    )
