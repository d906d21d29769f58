"""What each project role may do, as docs/security.md states it (Harbor's roles), written out
for the tests: the access policy's unit tests and the authorization matrix check the server
against this table, never against the policy's own."""

from __future__ import annotations

from collections.abc import Mapping

# Every action in a project.
ACTIONS = (
    "pull",
    "push",
    "delete",
    "tag-rules",
    "lifecycle",
    "members",
    "policies",
    "delete-project",
)
_GUEST = frozenset({"pull"})
_DEVELOPER = _GUEST | {"push"}
_MAINTAINER = _DEVELOPER | {"delete", "tag-rules", "lifecycle"}
_PROJECT_ADMIN = _MAINTAINER | {"members", "policies", "delete-project"}
# Each role's actions in a project it is a member of, by the role's name.
ROLE_ACTIONS: Mapping[str, frozenset[str]] = {
    "guest": _GUEST,
    "developer": _DEVELOPER,
    "maintainer": _MAINTAINER,
    "project-admin": _PROJECT_ADMIN,
}
