"""Retention holds: managing them, and refusing every delete they cover."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from cargohold.errors import Denied, HoldRequestInvalid, HoldUnknown
from cargohold.meta.holds import HoldRecords, HoldRow
from cargohold.oci.digests import is_valid_digest
from cargohold.oci.names import is_valid_name, project_of
from cargohold.policy.holds import Hold, HoldInvalid, holding, validate_hold
from cargohold.services.caller import Caller


def _hold(row: HoldRow) -> Hold:
    return Hold(row.id, row.scope, row.target, row.digest, row.reason, row.ends_at)  # type: ignore[arg-type]


def covering_hold(rows: list[HoldRow], repository: str, digest: str, now: float) -> HoldRow | None:
    """The first of those stored holds active at `now` that covers an image (policy/holds.py).

    The store calls it on hold rows it read inside a delete transaction (a HoldMatcher).
    """
    found = holding(map(_hold, rows), repository, digest, now)
    return None if found is None else next(row for row in rows if row.id == found.id)


def _parse_until(value: Any) -> float | None:
    """`until`: an ISO 8601 date or time (UTC when no zone is given); exclusive."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise HoldRequestInvalid("until must be an ISO 8601 date such as 2027-01-31")
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise HoldRequestInvalid(f"until {value!r} is not an ISO 8601 date") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


class HoldService:
    def __init__(self, records: HoldRecords) -> None:
        self.records = records

    def list(self) -> list[Hold]:
        return [_hold(row) for row in self.records.all()]

    def get(self, hold_id: int) -> Hold | None:
        return next((hold for hold in self.list() if hold.id == hold_id), None)

    def add(self, document: Any, caller: Caller) -> Hold:
        if not isinstance(document, dict):
            raise HoldRequestInvalid("a hold must be a JSON object")
        unknown = set(document) - {"scope", "target", "digest", "reason", "until"}
        if unknown:
            raise HoldRequestInvalid(f"unknown field(s): {', '.join(sorted(unknown))}")
        scope, target = document.get("scope"), document.get("target")
        reason, digest = document.get("reason", ""), document.get("digest")
        if not all(isinstance(v, str) for v in (scope, target, reason)):
            raise HoldRequestInvalid("scope, target and reason must be strings")
        if not is_valid_name(target):
            raise HoldRequestInvalid(f"target {target!r} is not a valid repository name")
        if digest is not None and (not isinstance(digest, str) or not is_valid_digest(digest)):
            raise HoldRequestInvalid(f"digest {digest!r} is not a valid digest")
        hold = Hold(0, scope, target, digest, reason, _parse_until(document.get("until")))
        try:
            validate_hold(hold, time.time())
        except HoldInvalid as exc:
            raise HoldRequestInvalid(str(exc)) from None
        row = HoldRow(0, hold.scope, hold.target, hold.digest, hold.reason, hold.ends_at)
        hold_id = self.records.add(row, caller.as_actor())
        return Hold(hold_id, hold.scope, hold.target, hold.digest, hold.reason, hold.ends_at)

    def release(self, hold_id: int, caller: Caller) -> Hold:
        removed = self.records.remove(hold_id, caller.as_actor())
        if removed is None:
            raise HoldUnknown(detail={"id": hold_id})
        return _hold(removed)

    def active_for(self, repository: str) -> list[Hold]:
        now = time.time()
        rows = self.records.for_repository(repository, project_of(repository))
        return [h for h in map(_hold, rows) if h.active(now) and h.covers(repository, h.digest)]

    def refuse_delete(self, repository: str, digest: str | None, what: str) -> None:
        """Raise DENIED if an active hold covers this repository (or image)."""
        found = holding(self.active_for(repository), repository, digest, time.time())
        if found is not None:
            raise Denied(f"cannot delete {what}: {found.describe()}", detail={"hold": found.id})
