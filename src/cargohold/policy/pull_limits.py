"""Pull rate limits: which limit a caller is under, what counts as a pull, and the window.

A pull is a GET of an image manifest (an OCI image manifest or a Docker schema2 manifest):
what a client fetches once per platform it pulls. An index or manifest list GET is not one
(Docker Hub counts one pull per architecture), and a HEAD never is.

Each class of caller may have a limit of `pulls` per `window_seconds`: anonymous callers by
their address (an IPv6 address by its /64 network, the least a host is given), users and
robots by their name. The window is fixed and starts at the caller's first counted pull:
within it at most `pulls` are counted; it ends `window_seconds` later and the next pull starts
a new one (docs/decisions/024-pull-rate-limit-counters.md says why not a sliding log).
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass

from cargohold.meta.pull_counters import PullWindow
from cargohold.oci.mediatypes import IMAGE_MANIFESTS
from cargohold.policy.permissions import ANONYMOUS, ROBOT, USER, Principal

# The IPv6 prefix an anonymous caller is counted by.
IPV6_PREFIX = 64


@dataclass(frozen=True)
class RateLimit:
    pulls: int
    window_seconds: int


@dataclass(frozen=True)
class PullLimits:
    """The limit of each class; None: that class pulls without a limit."""

    anonymous: RateLimit | None = None
    user: RateLimit | None = None
    robot: RateLimit | None = None

    @property
    def any(self) -> bool:
        return any(limit is not None for limit in (self.anonymous, self.user, self.robot))


@dataclass(frozen=True)
class Budget:
    """What a caller's pulls are counted against: whose counter, and its limit."""

    subject: str
    limit: RateLimit


@dataclass(frozen=True)
class RateStatus:
    """A caller's standing in its window, as the rate-limit headers tell it."""

    limit: RateLimit
    remaining: int
    # Whole seconds until a pull is counted again: 0 while some remain, else until the window
    # ends (at least 1, at most the window).
    retry_after: int
    # False: this pull was refused (over the limit) and not counted.
    allowed: bool = True


def counts_as_pull(media_type: str) -> bool:
    return media_type in IMAGE_MANIFESTS


def address_subject(address: str) -> str:
    """The part of a client address an anonymous caller is counted by."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, IPV6_PREFIX), strict=False))
    return str(ip)


def budget_for(limits: PullLimits, principal: Principal, address: str) -> Budget | None:
    """The budget a caller's pulls are counted against; None when its class has no limit."""
    if principal.kind == USER and limits.user is not None:
        return Budget(f"{USER}:{principal.name}", limits.user)
    if principal.kind == ROBOT and limits.robot is not None:
        return Budget(f"{ROBOT}:{principal.name}", limits.robot)
    if principal.kind == ANONYMOUS and limits.anonymous is not None:
        return Budget(f"{ANONYMOUS}:{address_subject(address)}", limits.anonymous)
    return None


def status_of(
    limit: RateLimit, pulls: int, seconds_left: float, allowed: bool = True
) -> RateStatus:
    """The status of a window holding `pulls`, which ends in `seconds_left`."""
    remaining = max(0, limit.pulls - pulls)
    retry_after = 0
    if remaining == 0:
        retry_after = min(limit.window_seconds, max(1, math.ceil(seconds_left)))
    return RateStatus(limit, remaining, retry_after, allowed)


def current_window(window: PullWindow | None, limit: RateLimit, now: float) -> PullWindow | None:
    """The window as it stands at `now`: None when there is none or it has ended."""
    if window is None or window.pulls <= 0 or now >= window.started_at + limit.window_seconds:
        return None
    return window


def peek(window: PullWindow | None, limit: RateLimit, now: float) -> RateStatus:
    """The status without counting anything (a HEAD, an index GET)."""
    current = current_window(window, limit, now)
    if current is None:
        return status_of(limit, 0, limit.window_seconds)
    return status_of(limit, current.pulls, current.started_at + limit.window_seconds - now)


def take(
    window: PullWindow | None, limit: RateLimit, now: float
) -> tuple[PullWindow | None, RateStatus]:
    """Count one pull at `now`: the window to store (None when the pull is refused and nothing
    changes) and the status after it."""
    current = current_window(window, limit, now)
    if current is None:
        new = PullWindow(now, 1)
    elif current.pulls >= limit.pulls:
        seconds_left = current.started_at + limit.window_seconds - now
        return None, status_of(limit, current.pulls, seconds_left, allowed=False)
    else:
        new = PullWindow(current.started_at, current.pulls + 1)
    return new, status_of(limit, new.pulls, new.started_at + limit.window_seconds - now)
