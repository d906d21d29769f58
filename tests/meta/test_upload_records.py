"""Upload sessions' rows on SQLite and PostgreSQL: the offset moves by compare-and-set, a
session's bytes can ride in its row with the offset, and a request's hold on the row keeps a
second request out until it ends or runs out."""

from __future__ import annotations

from cargohold.meta.database import Database
from cargohold.meta.uploads import UploadRecords

NOW = 1_800_000_000.0
ID = "ab" * 16


def test_bytes_kept_in_the_row_move_with_the_offset(database: Database) -> None:
    uploads = UploadRecords(database)
    uploads.create(ID, "team/app")
    fresh = uploads.get(ID)
    assert fresh is not None and fresh.offset == 0 and not fresh.inline
    assert uploads.staged(ID) is None
    assert uploads.advance(ID, 0, 3, b"abc")
    moved = uploads.get(ID)
    assert moved is not None and moved.offset == 3 and moved.inline
    assert uploads.staged(ID) == b"abc"
    # A request that read the old offset changes nothing.
    assert not uploads.advance(ID, 0, 5, b"vwxyz")
    assert uploads.staged(ID) == b"abc"
    # Bytes that moved to the blob store leave the row.
    assert uploads.advance(ID, 3, 2_000_000)
    spilled = uploads.get(ID)
    assert spilled is not None and not spilled.inline and uploads.staged(ID) is None


def test_one_request_holds_a_session_until_it_ends_or_its_hold_runs_out(
    database: Database,
) -> None:
    uploads = UploadRecords(database)
    uploads.create(ID, "team/app")
    assert uploads.claim(ID, 0, NOW, NOW + 120)
    assert not uploads.claim(ID, 0, NOW + 1, NOW + 121)  # held
    uploads.release(ID, NOW + 999)  # someone else's hold: not released
    assert not uploads.claim(ID, 0, NOW + 2, NOW + 122)
    uploads.release(ID, NOW + 120)
    assert uploads.claim(ID, 0, NOW + 3, NOW + 123)
    # Recording the offset ends the hold; a hold at an old offset is refused.
    assert uploads.advance(ID, 0, 4, b"data")
    assert not uploads.claim(ID, 0, NOW + 4, NOW + 124)
    assert uploads.claim(ID, 4, NOW + 4, NOW + 124)
    # A hold past its time counts as none (its holder died or stalled).
    assert uploads.claim(ID, 4, NOW + 125, NOW + 245)
    assert not uploads.claim("cd" * 16, 0, NOW, NOW + 1)  # no such session
