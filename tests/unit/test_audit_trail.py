"""The audit trail's notes, cursors and purge, over a real metadata store (SQLite and
PostgreSQL): notes are counted in memory and written one entry per distinct event."""

from __future__ import annotations

import pytest

from cargohold.errors import QueryInvalid
from cargohold.meta.audit import AuditFilter
from cargohold.meta.audit_fields import Actor
from cargohold.meta.store import MetadataStore
from cargohold.services import audit as audit_module
from cargohold.services.audit import AuditTrail, decode_cursor, encode_cursor
from cargohold.services.caller import anonymous_caller, system_caller
from tests.support.callers import TESTER

NOW = 1_800_000_000.0
FROM = anonymous_caller("198.51.100.4", "skopeo/1.9")


def _trail(meta: MetadataStore, retention_days: int = 0) -> AuditTrail:
    return AuditTrail(meta.audit_log, retention_days, lambda: NOW)


def _all(trail: AuditTrail) -> list[audit_module.AuditEvent]:
    return trail.page(AuditFilter(), None, 1000).events


def test_notes_are_written_at_the_flush_one_entry_per_distinct_event(meta: MetadataStore) -> None:
    trail = _trail(meta)
    for _ in range(5):
        trail.pulled(FROM, "team/app", "v1", "sha256:" + "a" * 64, NOW)
    trail.pulled(TESTER, "team/app", "v1", "sha256:" + "a" * 64, NOW + 1)
    trail.denied(TESTER, "manifest.push", "tag 'v1' is immutable", repository="team/app")
    trail.login(FROM, "alice", "password", False, "wrong password")
    trail.login(FROM, "alice", "password", False, "wrong password")
    trail.login(FROM, "alice", "password", True)
    assert _all(trail) == []  # nothing written before the flush
    trail.flush()
    events = _all(trail)
    pulls = {e.actor: e for e in events if e.action == "manifest.pull"}
    assert pulls["anonymous"].detail["count"] == 5 and "lastAt" in pulls["anonymous"].detail
    assert (pulls["anonymous"].address, pulls["anonymous"].user_agent) == (
        "198.51.100.4",
        "skopeo/1.9",
    )
    assert pulls["tester"].detail == {"count": 1}
    assert (pulls["tester"].method, pulls["tester"].project) == ("password", "team")
    denied = [e for e in events if e.result == "denied"]
    assert [(e.action, e.detail["reason"]) for e in denied] == [
        ("manifest.push", "tag 'v1' is immutable")
    ]
    logins = sorted((e.result, e.detail["count"]) for e in events if e.action == "login")
    assert logins == [("failed", 2), ("ok", 1)]
    failed = next(e for e in events if e.action == "login" and e.result == "failed")
    assert (failed.actor, failed.method, failed.address, failed.target) == (
        "alice",
        "password",
        "198.51.100.4",
        "alice",
    )
    trail.flush()  # nothing new: nothing written
    assert len(_all(trail)) == len(events)


def test_a_flush_the_database_refuses_keeps_its_entries_and_bounds_them(
    meta: MetadataStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    trail = _trail(meta)
    monkeypatch.setattr(audit_module, "MAX_UNWRITTEN", 1)
    monkeypatch.setattr(audit_module, "MAX_NOTES", 2)
    # Pulls are counted per distinct pull in memory, at most MAX_NOTES of them: v2 is dropped.
    for n in range(12):
        trail.pulled(FROM, "team/app", f"v{n % 3}", "sha256:" + "b" * 64, NOW)
    real_append = trail.audit_log.append

    def refuse(entries: list[object]) -> None:
        raise RuntimeError("database down")

    monkeypatch.setattr(trail.audit_log, "append", refuse)
    trail.flush()  # refused: the one entry it may keep (MAX_UNWRITTEN) waits for the next
    monkeypatch.setattr(trail.audit_log, "append", real_append)
    trail.flush()
    assert [(e.reference, e.detail["count"]) for e in _all(trail)] == [("v0", 4)]


def test_cursors_are_opaque_and_checked(meta: MetadataStore) -> None:
    assert decode_cursor(encode_cursor(12345)) == 12345
    assert "12345" not in encode_cursor(12345)
    for bad in ("", "12345", "not base64 !", encode_cursor(1)[:-2] + "zz"):
        with pytest.raises(QueryInvalid):
            decode_cursor(bad)
    trail = _trail(meta)
    with pytest.raises(QueryInvalid):
        trail.page(AuditFilter(result="maybe"), None, 10)
    with pytest.raises(QueryInvalid):
        trail.page(AuditFilter(since=NOW, until=NOW), None, 10)


def test_purge_removes_only_entries_past_retention_in_batches_each_recorded(
    meta: MetadataStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    trail = _trail(meta, retention_days=10)
    old = Actor("old")
    meta.audit_log.append(
        [
            audit_module.AuditEntry(old, "tag.delete", "a:v", at=NOW - days * 86400)
            for days in (11, 12, 13, 30, 9)
        ]
    )
    monkeypatch.setattr(audit_module, "PURGE_BATCH", 3)
    outcome = trail.purge(system_caller("schedule"))
    assert (outcome.removed, outcome.before) == (4, NOW - 10 * 86400)
    left = _all(trail)
    assert [e.at for e in left if e.actor == "old"] == [NOW - 9 * 86400]
    purges = [e for e in left if e.action == "audit.purge"]
    # Two transactions (3, then 1), each recording what it removed; newest first.
    assert [e.detail["removed"] for e in purges] == [1, 3]
    assert all(
        (e.actor, e.method, e.detail["retentionDays"]) == ("schedule", "system", 10) for e in purges
    )
    assert _trail(meta, retention_days=0).purge(TESTER).removed == 0  # 0 keeps everything
