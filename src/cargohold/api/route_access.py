"""What every route needs from its caller: the one table the access check enforces
(api/access_check.py) and the authorization-matrix test reads.

Each route of the app, the core's (api/app.py `ROUTES`) and each extension's, has an entry for
each of its methods here (a HEAD that Starlette adds to a GET route follows the GET); the app
refuses to start when one is missing (`needs_of`), so a new route cannot be forgotten. The
actions are policy/permissions.py's; docs/security.md lists this table for users.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cargohold.policy.permissions import (
    DELETE,
    DELETE_PROJECT,
    LIFECYCLE,
    MEMBERS,
    POLICIES,
    PULL,
    PUSH,
    TAG_RULES,
)

# Kinds of need.
ANYONE = "anyone"  # no credentials needed (the caller is still identified, and recorded)
SIGNED_IN = "signed-in"  # any accepted credentials, whoever they name
CATALOG = (
    "catalog"  # credentials (a token: registry:catalog:*); the handler lists what they may pull
)
LISTING = "listing"  # anyone; the handler lists only what the caller may pull
REPOSITORY = "repository"  # a registry action (pull, push, delete) on the repository in `param`
PROJECT = "project"  # an action in the project `param` names (see Need.param)
SYSTEM = "system"  # a system action: system admins only
OWN_CREDENTIALS = "own-credentials"  # the handler reads and checks the credentials itself
# (the token endpoint: a refused password is its 401, not the check's)
SELF = "self"  # the user the path parameter `param` names (not through a registry token),
# or whoever has the system action `system` (a system admin)
IN_HANDLER = "in-handler"  # credentials; the handler checks the action on the project its
# body or stored object names (route_guard.require), before it changes anything
METRICS = "metrics"  # as the `metrics_access` setting says: anyone ("anonymous"), or the
# system action METRICS_ACTION, system admins only ("admin", the default; decision 028)
METRICS_ACTION = "metrics"
ADMISSION = "admission"  # a cluster's admission token (the admission_tokens setting), on the
# webhook URL of that cluster: the path parameter `cluster`, or "default" without one


@dataclass(frozen=True)
class Need:
    kind: str
    action: str = ""
    # Where the repository or project is: a path parameter ("name": a repository, whose first
    # component is the project; "project"), or "?project", the query parameter.
    param: str = ""
    # For "?project": the system action needed when no project is named.
    system: str = ""

    def __str__(self) -> str:
        where = f" on {self.param}" if self.param else ""
        return f"{self.kind} {self.action}{where}".strip()


def _repository(action: str) -> Need:
    return Need(REPOSITORY, action, "name")


def _project(action: str, param: str = "project", system: str = "") -> Need:
    return Need(PROJECT, action, param, system)


def _system(action: str) -> Need:
    return Need(SYSTEM, action)


def _self(param: str = "name") -> Need:
    return Need(SELF, param=param, system=USERS)


USERS = "users"
PROJECTS = "projects"
_PULL = _repository(PULL)
_PUSH = _repository(PUSH)
_DELETE = _repository(DELETE)
_ANYONE = Need(ANYONE)
_LISTING = Need(LISTING)

# path -> method -> need. Pushes need push, and a cross-repository mount also pull on the
# source (the upload handler falls back to a plain upload without it, as distribution does).
ROUTE_NEEDS: Mapping[str, Mapping[str, Need]] = {
    # -- the registry API (OCI distribution) ------------------------------------------------
    "/v2/": {"GET": Need(SIGNED_IN)},
    "/v2/_catalog": {"GET": Need(CATALOG)},
    "/v2/{name:path}/manifests/{reference}": {
        "GET": _PULL,
        "HEAD": _PULL,
        "PUT": _PUSH,
        "DELETE": _DELETE,
    },
    "/v2/{name:path}/blobs/{digest}": {"GET": _PULL, "HEAD": _PULL, "DELETE": _DELETE},
    "/v2/{name:path}/tags/list": {"GET": _PULL},
    "/v2/{name:path}/referrers/{digest}": {"GET": _PULL},
    "/v2/{name:path}/blobs/uploads/": {"POST": _PUSH},
    "/v2/{name:path}/blobs/uploads": {"POST": _PUSH},
    "/v2/{name:path}/blobs/uploads/{upload_id}": {
        "GET": _PUSH,
        "PATCH": _PUSH,
        "PUT": _PUSH,
        "DELETE": _PUSH,
    },
    # -- probes and metrics (api/health.py): a load balancer or Kubernetes asks without
    # credentials; Prometheus as metrics_access says --------------------------------------
    "/healthz": {"GET": _ANYONE},
    "/readyz": {"GET": _ANYONE},
    "/metrics": {"GET": Need(METRICS)},
    # -- the token endpoint (api/auth/) -------------------------------------------------------
    "/auth/token": {"GET": Need(OWN_CREDENTIALS), "POST": Need(OWN_CREDENTIALS)},
    "/auth/revoke": {"POST": Need(OWN_CREDENTIALS)},
    # -- the admin API ----------------------------------------------------------------------
    "/api/v1/openapi.json": {"GET": _ANYONE},
    "/api/v1/system": {"GET": _system("storage")},
    "/api/v1/repositories": {"GET": _LISTING},
    "/api/v1/repositories/{name:path}/tags": {"GET": _PULL},
    # The analysis of an image (api/analysis.py): whoever may pull it; computed once, stored.
    "/api/v1/repositories/{name:path}/manifests/{reference}/analysis": {"GET": _PULL},
    "/api/v1/tag-rules": {"GET": _LISTING, "POST": Need(IN_HANDLER, TAG_RULES)},
    "/api/v1/tag-rules/{rule_id}": {"DELETE": Need(IN_HANDLER, TAG_RULES)},
    "/api/v1/holds": {"GET": _LISTING, "POST": Need(IN_HANDLER, POLICIES)},
    "/api/v1/holds/{hold_id}": {"DELETE": Need(IN_HANDLER, POLICIES)},
    "/api/v1/repositories/{name:path}/lifecycle": {
        "GET": _PULL,
        "PUT": _project(LIFECYCLE, "name"),
        "DELETE": _project(LIFECYCLE, "name"),
    },
    "/api/v1/repositories/{name:path}/lifecycle/apply": {"POST": _project(LIFECYCLE, "name")},
    "/api/v1/repositories/{name:path}/lifecycle/preview": {"POST": _project(LIFECYCLE, "name")},
    "/api/v1/projects/{project}/quota": {
        "GET": _project(PULL),
        "PUT": _system("quotas"),
        "DELETE": _system("quotas"),
    },
    "/api/v1/audit": {"GET": _system("audit")},
    "/api/v1/storage": {"GET": _system("storage")},
    "/api/v1/gc": {"POST": _system("gc")},
    "/api/v1/fsck": {"POST": _system("storage")},
    "/api/v1/jobs": {"GET": _system("jobs"), "POST": _system("jobs")},
    "/api/v1/jobs/{job_id}": {"GET": _system("jobs")},
    # -- accounts (api/accounts.py): who may do what to whom is the services' to check too:
    # a robot gets only what its granter has (services/robots.py) --------------------------
    "/api/v1/users": {"GET": _system(USERS), "POST": _system(USERS)},
    "/api/v1/users/me": {"GET": Need(SIGNED_IN)},
    "/api/v1/users/{name}": {
        "GET": _self(),
        "PATCH": _system(USERS),
        "DELETE": _system(USERS),
    },
    "/api/v1/users/{name}/password": {"PUT": _self()},
    "/api/v1/users/{name}/tokens": {"GET": _self(), "POST": _self()},
    "/api/v1/users/{name}/tokens/{token}": {"DELETE": _self()},
    "/api/v1/projects": {"GET": _LISTING, "POST": _system(PROJECTS)},
    "/api/v1/projects/{project}": {
        "GET": _project(PULL),
        "PATCH": _project(POLICIES),
        "DELETE": _project(DELETE_PROJECT),
    },
    "/api/v1/projects/{project}/members": {"GET": _project(MEMBERS), "POST": _project(MEMBERS)},
    "/api/v1/projects/{project}/members/{user}": {
        "PUT": _project(MEMBERS),
        "DELETE": _project(MEMBERS),
    },
    # Signed in; the robot service shows and changes only the robots the caller could have
    # made (scopes within its own rights), and refuses grants beyond them.
    "/api/v1/robots": {"GET": Need(SIGNED_IN), "POST": Need(SIGNED_IN)},
    "/api/v1/robots/{name}": {"GET": Need(SIGNED_IN), "DELETE": Need(SIGNED_IN)},
    "/api/v1/robots/{name}/refresh": {"POST": Need(SIGNED_IN)},
    "/api/v1/robots/{name}/revoke": {"POST": Need(SIGNED_IN)},
    # -- the scanning extension's admin routes (api/scanning.py) -----------------------------
    "/api/v1/scan-policies": {"GET": _LISTING},
    "/api/v1/projects/{project}/scan-policy": {
        "GET": _project(PULL),
        "PUT": _project(POLICIES),
        "DELETE": _project(POLICIES),
    },
    "/api/v1/cve-allowlist": {"GET": _system("allowlist"), "POST": _system("allowlist")},
    "/api/v1/cve-allowlist/{entry_id}": {"DELETE": _system("allowlist")},
    "/api/v1/vulnerabilities/overdue": {"GET": _project(PULL, "?project", system="vulndb")},
    "/api/v1/vulndb": {"GET": _system("vulndb")},
    "/api/v1/vulndb/import": {"POST": _system("vulndb")},
    "/api/v1/repositories/{name:path}/manifests/{reference}/scan": {
        "GET": _PULL,
        "POST": _PUSH,
    },
    # -- the Kubernetes admission webhook (api/admission.py): the API server of the cluster
    # the URL names, with that cluster's token; where an image was admitted, whoever may
    # pull it -------------------------------------------------------------------------------
    "/api/v1/admission": {"POST": Need(ADMISSION)},
    "/api/v1/admission/mutate": {"POST": Need(ADMISSION)},
    "/api/v1/admission/clusters/{cluster}": {"POST": Need(ADMISSION)},
    "/api/v1/admission/clusters/{cluster}/mutate": {"POST": Need(ADMISSION)},
    "/api/v1/repositories/{name:path}/admissions": {"GET": _PULL},
    # -- the signatures extension's admin routes (api/trust.py): project admins manage keys
    # and the switch; whoever may pull sees them ---------------------------------------------
    "/api/v1/projects/{project}/trust": {"GET": _project(PULL), "PUT": _project(POLICIES)},
    "/api/v1/projects/{project}/trust/keys": {"GET": _project(PULL), "POST": _project(POLICIES)},
    "/api/v1/projects/{project}/trust/keys/{fingerprint}": {"DELETE": _project(POLICIES)},
}


class RouteWithoutNeed(Exception):
    """A route (or one of its methods) the table above does not list: the app must not
    start with it, or it would answer everyone."""


def need_for(path: str, method: str) -> Need | None:
    needs = ROUTE_NEEDS.get(path, {})
    found = needs.get(method)
    if found is None and method == "HEAD":
        return needs.get("GET")
    return found


def needs_of(path: str, methods: set[str]) -> dict[str, Need]:
    """Each method's need; raises RouteWithoutNeed naming what the table lacks."""
    found: dict[str, Need] = {}
    for method in sorted(methods):
        need = need_for(path, method)
        if need is None:
            raise RouteWithoutNeed(
                f"route {method} {path} is not in api/route_access.py's ROUTE_NEEDS: say what "
                "it needs before adding it"
            )
        found[method] = need
    return found
