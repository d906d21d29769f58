"""The Docker token scope grammar and the grant: what a token may carry.

    scope         := resourcescope [ ' ' resourcescope ]*
    resourcescope := resourcetype ":" resourcename ":" action [ ',' action ]*

(distribution docs/content/spec/auth/scope.md). A resource name may itself hold a colon (a
registry host with a port), so the actions are split off at the LAST colon. The type may
carry a class in parentheses (`repository(plugin)`), which is deprecated and ignored.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from cargohold.oci.names import project_of
from cargohold.policy.permissions import (
    PULL,
    PUSH,
    REPOSITORY_ACTIONS,
    Principal,
    Visibility,
)
from cargohold.policy.permissions import repository_actions as allowed_repository_actions

REPOSITORY = "repository"
REGISTRY = "registry"
CATALOG = "catalog"
ALL = "*"

_TYPE = re.compile(r"[a-z0-9]+(?:\([a-z0-9]+\))?")
_ACTION = re.compile(r"[a-z0-9*-]+")
_CLASS = re.compile(r"\(.*\)$")


class ScopeError(ValueError):
    """A scope that does not follow the grammar (the token endpoint answers 400)."""


@dataclass(frozen=True)
class ResourceScope:
    type: str
    name: str
    actions: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.type}:{self.name}:{','.join(self.actions)}"

    def as_claim(self) -> dict[str, object]:
        """The entry of a token's `access` claim."""
        return {"type": self.type, "name": self.name, "actions": list(self.actions)}


def _ordered(actions: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(set(actions)))


def parse_resource_scope(text: str) -> ResourceScope:
    kind, sep, rest = text.partition(":")
    name, sep2, actions = rest.rpartition(":")
    if not sep or not sep2 or not name or not _TYPE.fullmatch(kind):
        raise ScopeError(f"invalid scope {text[:300]!r}: expected type:name:actions")
    parsed = [a for a in actions.split(",")]
    if not actions or not all(_ACTION.fullmatch(a) for a in parsed):
        raise ScopeError(f"invalid scope {text[:300]!r}: expected comma-separated actions")
    return ResourceScope(_CLASS.sub("", kind), name, _ordered(parsed))


def parse_scopes(values: Iterable[str]) -> list[ResourceScope]:
    """The scopes of a token request: each value may hold several, separated by spaces (the
    POST form's single `scope` field); a GET repeats `scope` instead. Requests for the same
    resource are merged."""
    merged: dict[tuple[str, str], set[str]] = {}
    for value in values:
        for text in value.split(" "):
            if not text:
                continue
            scope = parse_resource_scope(text)
            merged.setdefault((scope.type, scope.name), set()).update(scope.actions)
    return [ResourceScope(t, n, _ordered(a)) for (t, n), a in merged.items()]


def granted_actions(
    principal: Principal, scope: ResourceScope, is_public: Callable[[str], bool]
) -> tuple[str, ...]:
    """The requested actions the principal has on the resource: an intersection, empty when
    it has none of them (not an error: the client learns from the empty grant)."""
    if scope.type == REGISTRY:
        # Everyone may ask for the catalog; the listing shows only what the caller may pull.
        if scope.name == CATALOG and ALL in scope.actions:
            return (ALL,)
        return ()
    if scope.type != REPOSITORY:
        return ()
    allowed = allowed_repository_actions(principal, scope.name, False)
    if PULL not in allowed and not {PULL, ALL}.isdisjoint(scope.actions):
        # A public project adds pull and nothing else: asked only when that could matter (a
        # robot or member that may pull anyway costs its token no query).
        project = scope.name.split("/", 1)[0]
        allowed = allowed_repository_actions(principal, scope.name, is_public(project))
    granted = set(scope.actions) & allowed
    if ALL in scope.actions and allowed >= REPOSITORY_ACTIONS:
        granted.add(ALL)
    return _ordered(granted)


def grant(
    principal: Principal, requested: Iterable[ResourceScope], is_public: Callable[[str], bool]
) -> list[ResourceScope]:
    """The `access` of a token for the request: each requested resource with the granted
    actions, which may be none."""
    return [
        ResourceScope(s.type, s.name, granted_actions(principal, s, is_public)) for s in requested
    ]


def covers(access: Iterable[ResourceScope], repository: str, action: str) -> bool:
    """Whether a token's access allows the action on the repository (`*` allows all)."""
    return any(
        s.type == REPOSITORY and s.name == repository and (action in s.actions or ALL in s.actions)
        for s in access
    )


def pulled_projects(access: Iterable[ResourceScope]) -> set[str]:
    """The projects of the repositories a token's access may pull from."""
    return {
        project_of(s.name)
        for s in access
        if s.type == REPOSITORY and (PULL in s.actions or ALL in s.actions)
    }


def without_pull(access: Iterable[ResourceScope], projects: set[str]) -> tuple[ResourceScope, ...]:
    """The access less pull (and `*`, which holds it) on the repositories of these projects;
    their other actions stay."""
    kept = []
    for s in access:
        if s.type == REPOSITORY and project_of(s.name) in projects:
            actions = REPOSITORY_ACTIONS - {PULL} if ALL in s.actions else set(s.actions)
            s = ResourceScope(s.type, s.name, _ordered(actions - {PULL, ALL}))
        kept.append(s)
    return tuple(kept)


def covers_catalog(access: Iterable[ResourceScope]) -> bool:
    """Whether a token's access allows listing the catalog (`registry:catalog:*`)."""
    return any(s.type == REGISTRY and s.name == CATALOG and ALL in s.actions for s in access)


def token_visibility(access: Iterable[ResourceScope]) -> Visibility:
    """What a token's bearer may see in a listing: the repositories it may pull."""
    return Visibility(
        repositories=frozenset(
            s.name
            for s in access
            if s.type == REPOSITORY and (PULL in s.actions or ALL in s.actions)
        )
    )


# The scope a 401 challenge names for the catalog.
CATALOG_SCOPE = f"{REGISTRY}:{CATALOG}:{ALL}"


def challenge_scope(repository: str, action: str) -> str:
    """The scope a 401 challenge names for an action on a repository. A push asks for pull
    too, as distribution's challenge does: a client checks which blobs exist before it
    uploads them."""
    actions = f"{PULL},{PUSH}" if action == PUSH else action
    return f"{REPOSITORY}:{repository}:{actions}"
