"""Retention holds as pure decisions: what they cover, when they end, what is refused."""

from __future__ import annotations

import pytest

from cargohold.policy.holds import Hold, HoldInvalid, holding, validate_hold

NOW = 1_800_000_000.0
D1, D2 = "sha256:" + "1" * 64, "sha256:" + "2" * 64


@pytest.mark.parametrize(
    ("hold", "repository", "digest", "covered"),
    [
        (Hold(1, "project", "legal", None, "case 7", None), "legal/app", D1, True),
        (Hold(1, "project", "legal", None, "case 7", None), "legal", None, True),
        (Hold(1, "project", "legal", None, "case 7", None), "legalese/app", D1, False),
        (Hold(2, "repository", "team/app", None, "audit", None), "team/app", D2, True),
        (Hold(2, "repository", "team/app", None, "audit", None), "team/app/sub", D2, False),
        (Hold(3, "image", "team/app", D1, "incident", None), "team/app", D1, True),
        (Hold(3, "image", "team/app", D1, "incident", None), "team/app", D2, False),
        (Hold(3, "image", "team/app", D1, "incident", None), "team/app", None, False),
    ],
)
def test_what_a_hold_covers(hold: Hold, repository: str, digest: str | None, covered: bool) -> None:
    assert (holding([hold], repository, digest, NOW) is not None) is covered


def test_a_hold_ends_at_its_end_date() -> None:
    hold = Hold(1, "repository", "team/app", None, "until spring", NOW + 10)
    assert holding([hold], "team/app", D1, NOW) is hold
    assert holding([hold], "team/app", D1, NOW + 10) is None
    assert (
        "until 2027-01-15 08:00 UTC"
        in Hold(1, "project", "x", None, "r", 1_800_000_000.0).describe()
    )


@pytest.mark.parametrize(
    ("hold", "message"),
    [
        (Hold(0, "image", "team/app", None, "r", None), "needs a digest"),
        (Hold(0, "repository", "team/app", D1, "r", None), "needs a digest"),
        (Hold(0, "project", "team/app", None, "r", None), "one path component"),
        (Hold(0, "project", "team", None, "  ", None), "needs a reason"),
        (Hold(0, "project", "team", None, "r", NOW - 1), "already past"),
        (Hold(0, "galaxy", "team", None, "r", None), "scope must be"),
    ],
)
def test_invalid_holds(hold: Hold, message: str) -> None:
    with pytest.raises(HoldInvalid, match=message):
        validate_hold(hold, NOW)
