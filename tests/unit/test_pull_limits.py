"""Pull rate limits: the fixed window with an injected clock, what counts as a pull, and
which budget each kind of caller is counted against."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cargohold.config import Settings, load_settings
from cargohold.errors import Denied, ManifestUnknown, TooManyRequests
from cargohold.meta.manifests import StoredManifest
from cargohold.meta.pull_counters import PullCounterRecords, PullWindow
from cargohold.oci import mediatypes as mt
from cargohold.policy.permissions import ROBOT, USER, Principal
from cargohold.policy.pull_limits import (
    Budget,
    PullLimits,
    RateLimit,
    RateStatus,
    address_subject,
    counts_as_pull,
    peek,
    take,
)
from cargohold.server import prepare
from cargohold.services.caller import PASSWORD_METHOD, ROBOT_METHOD, Caller, anonymous_caller
from cargohold.services.extension_points import PullGate
from cargohold.services.pull_counters import DatabasePullCounters
from cargohold.services.pull_limits import PullRateLimiter
from cargohold.services.registry import RegistryService
from cargohold.wiring import build_services
from cargohold.wiring_access import pull_limits_of
from tests.unit.test_extension_points import ARTIFACT

LIMIT = RateLimit(pulls=3, window_seconds=100)
T0 = 1_800_000_000.0


def _pulls(times: list[float]) -> tuple[PullWindow | None, list[RateStatus]]:
    """Take a pull at each time, storing what take returns, as a counter store does."""
    window: PullWindow | None = None
    statuses = []
    for now in times:
        new, status = take(window, LIMIT, now)
        if new is not None:
            window = new
        statuses.append(status)
    return window, statuses


def test_a_window_counts_up_to_the_limit_then_refuses_until_it_ends() -> None:
    window, statuses = _pulls([T0, T0 + 10, T0 + 20, T0 + 30, T0 + 99.5])
    assert [s.allowed for s in statuses] == [True, True, True, False, False]
    assert [s.remaining for s in statuses] == [2, 1, 0, 0, 0]
    # Retry-After: whole seconds until the window that started at T0 ends (at T0 + 100).
    assert [s.retry_after for s in statuses] == [0, 0, 80, 70, 1]
    # A refused pull is not counted: the stored window is the one the third pull left.
    assert window == PullWindow(T0, 3)


def test_the_next_window_starts_at_the_first_pull_after_the_last_one_ended() -> None:
    window, statuses = _pulls([T0, T0 + 1, T0 + 2, T0 + 100, T0 + 150])
    assert [s.allowed for s in statuses] == [True] * 5
    assert window == PullWindow(T0 + 100, 2)
    assert statuses[-1].remaining == 1


def test_peek_counts_nothing() -> None:
    assert peek(None, LIMIT, T0) == RateStatus(LIMIT, 3, 0)
    window = PullWindow(T0, 3)
    assert peek(window, LIMIT, T0 + 40) == RateStatus(LIMIT, 0, 60)
    assert peek(window, LIMIT, T0 + 100) == RateStatus(LIMIT, 3, 0)


def test_retry_after_stays_within_one_second_and_the_window() -> None:
    # A window stored by a node whose clock runs ahead still tells a client to wait at most
    # one window.
    _, status = take(PullWindow(T0 + 500, 3), LIMIT, T0)
    assert (status.allowed, status.retry_after) == (False, 100)


@pytest.mark.parametrize(
    ("media_type", "counts"),
    [
        ("application/vnd.oci.image.manifest.v1+json", True),
        ("application/vnd.docker.distribution.manifest.v2+json", True),
        ("application/vnd.oci.image.index.v1+json", False),
        ("application/vnd.docker.distribution.manifest.list.v2+json", False),
    ],
)
def test_only_an_image_manifest_is_a_pull(media_type: str, counts: bool) -> None:
    assert counts_as_pull(media_type) is counts


def test_an_ipv6_caller_is_counted_by_its_64_network() -> None:
    assert address_subject("2001:db8:1:2:aaaa::1") == "2001:db8:1:2::/64"
    assert address_subject("2001:db8:1:2:bbbb::9") == "2001:db8:1:2::/64"
    assert address_subject("::ffff:192.0.2.7") == "192.0.2.7"
    assert address_subject("192.0.2.7") == "192.0.2.7"
    assert address_subject("") == ""


ALICE = Caller(Principal(USER, "alice"), PASSWORD_METHOD, "192.0.2.1")
CI_ROBOT = Caller(Principal(ROBOT, "robot$ci"), ROBOT_METHOD, "192.0.2.1")
STRANGER = anonymous_caller("192.0.2.1")


def _limiter(limits: PullLimits) -> PullRateLimiter:
    # budget_of decides from memory: no counters or registry are reached.
    return PullRateLimiter(limits, counters=None, registry=None)  # type: ignore[arg-type]


def test_each_class_of_caller_has_its_own_limit_and_key() -> None:
    anonymous, user, robot = RateLimit(100, 21600), RateLimit(200, 21600), RateLimit(1000, 3600)
    limiter = _limiter(PullLimits(anonymous=anonymous, user=user, robot=robot))
    assert limiter.enabled
    assert limiter.budget_of(STRANGER) == Budget("anonymous:192.0.2.1", anonymous)
    assert limiter.budget_of(anonymous_caller("192.0.2.2")) == Budget(
        "anonymous:192.0.2.2", anonymous
    )
    # Signed-in callers are counted by name, wherever they pull from.
    assert limiter.budget_of(ALICE) == Budget("user:alice", user)
    assert limiter.budget_of(CI_ROBOT) == Budget("robot:robot$ci", robot)


def test_a_class_without_a_limit_is_not_counted() -> None:
    limiter = _limiter(PullLimits(anonymous=RateLimit(100, 21600)))
    assert limiter.budget_of(ALICE) is None
    assert limiter.budget_of(CI_ROBOT) is None
    assert limiter.budget_of(STRANGER) is not None
    off = _limiter(PullLimits())
    assert not off.enabled
    assert off.budget_of(STRANGER) is None


def test_the_settings_give_each_class_its_count_and_window() -> None:
    env = {
        "CARGOHOLD_PULL_LIMIT_ANONYMOUS": "100",
        "CARGOHOLD_PULL_LIMIT_USER": "200",
        "CARGOHOLD_PULL_LIMIT_ROBOT_WINDOW_SECONDS": "60",
    }
    limits = pull_limits_of(load_settings(env=env))
    assert limits == PullLimits(
        anonymous=RateLimit(100, 21600), user=RateLimit(200, 21600), robot=None
    )
    assert not pull_limits_of(load_settings(env={})).any


def _index_of(child: bytes, digest: str) -> bytes:
    entry = {"mediaType": mt.OCI_MANIFEST, "digest": digest, "size": len(child)}
    return json.dumps(
        {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": [entry]}
    ).encode()


def test_only_a_served_image_pull_is_counted(tmp_path: Path) -> None:
    """Through the limiter over the embedded store: a pull a gate refuses, a missing
    manifest, an index GET and a HEAD count nothing; the third image GET is refused with the
    limit's headers and Retry-After."""
    settings = Settings(data_dir=str(tmp_path), scanning=False, job_workers=0)
    prepare(settings)
    services = build_services(settings)
    old = services.registry

    def deny(repository: str, stored: StoredManifest) -> None:
        raise Denied("a scan policy refuses it")

    gate = PullGate(applies=lambda r: r == "team/closed", check=deny, refresh=lambda: None)
    registry = RegistryService(
        old.meta, old.blobs, old.access, old.pulls, old.tag_rules, old.holds, old.trail, [], [gate]
    )
    clock_now = [T0]
    counters = DatabasePullCounters(PullCounterRecords(old.meta.db), 100, lambda: clock_now[0])
    limiter = PullRateLimiter(PullLimits(anonymous=RateLimit(2, 100)), counters, registry)
    budget = limiter.budget_of(STRANGER)
    assert budget is not None
    for repository in ("team/app", "team/closed"):
        image = registry.put_manifest(repository, "v1", ARTIFACT, mt.OCI_MANIFEST, STRANGER)
        registry.put_manifest(
            repository, "multi", _index_of(ARTIFACT, image.digest), mt.OCI_INDEX, STRANGER
        )

    with pytest.raises(Denied):
        limiter.manifest("team/closed", "v1", STRANGER, budget)
    with pytest.raises(ManifestUnknown):
        limiter.manifest("team/app", "missing", STRANGER, budget)
    assert limiter.manifest("team/app", "multi", STRANGER, budget)[1] == RateStatus(
        RateLimit(2, 100), 2, 0
    )
    assert limiter.manifest("team/app", "v1", None, budget)[1] == RateStatus(
        RateLimit(2, 100), 2, 0
    )
    assert [limiter.manifest("team/app", "v1", STRANGER, budget)[1] for _ in range(2)] == [
        RateStatus(RateLimit(2, 100), 1, 0),
        RateStatus(RateLimit(2, 100), 0, 100),
    ]
    clock_now[0] = T0 + 30
    with pytest.raises(TooManyRequests) as refused:
        limiter.manifest("team/app", "v1", STRANGER, budget)
    assert refused.value.headers == {
        "ratelimit-limit": "2;w=100",
        "ratelimit-remaining": "0;w=100",
        "Retry-After": "70",
    }
    # An index is still served over the limit: it is not a pull.
    assert limiter.manifest("team/app", "multi", STRANGER, budget)[1] == RateStatus(
        RateLimit(2, 100), 0, 70
    )
    services.jobs.queue.stop()
