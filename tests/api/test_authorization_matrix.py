"""The authorization matrix: every route api/route_access.py's ROUTE_NEEDS lists (and the HEAD
Starlette adds to a GET), against every kind of caller, over HTTP, on a private and a public
project.

What each caller should get is the tests' own statement, in two tables read from nothing in
src: EXPECTED, below, what each route needs (a registry action on the repository, an action in
the project, a system admin, the named user themself...) and what its handler answers once let
through, and ROLE_ACTIONS (tests/support/role_table.py, which the access policy's unit tests
read too), what each project role may do. A route of ROUTE_NEEDS without a row in EXPECTED fails
(`test_the_table_states_every_route`), so a new route cannot go unchecked, and a wrong entry in
the production table or role policy fails a cell rather than passing silently.

A request is either let through (the handler runs on a real repository, project, user or robot
and gives the one answer EXPECTED states for that route, whoever the caller), or refused
with exactly the answer docs/security.md gives: 401 and the token flow's challenge on /v2/
(`Bearer realm=...,service=...,scope=...`), 401 and `Basic realm="cargohold"` on the admin API,
403 `DENIED` for credentials that do not allow the request, 401 `error="insufficient_scope"`
for a registry token whose claim lacks the action on /v2/, and 404 for a robot the caller may
not manage (decision 025: it is not shown to exist).

Users sign in with personal access tokens (a password costs an argon2 check per request, on
purpose): one more caller signs in with a password, on one route per kind of need. Refresh
tokens of the token endpoint stand for their holder, as Bearer or as Basic.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import re
import time
from collections.abc import Callable, Generator, Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from typing import Any

import httpx
import pytest

from cargohold.api.challenges import DENIED as SCOPE_REFUSED
from cargohold.api.challenges import SIGN_IN_FIRST as ANONYMOUS_REFUSED
from cargohold.api.route_access import ROUTE_NEEDS
from cargohold.policy.permissions import Role
from cargohold.policy.scopes import ResourceScope
from cargohold.services.tokens import TokenService
from cargohold.wiring_access import token_service
from tests.api.helpers import error_codes
from tests.support.accounts import Accounts, Login, server_with_accounts
from tests.support.oci import digest_of, push_image
from tests.support.role_table import ACTIONS, ROLE_ACTIONS
from tests.support.server import CargoholdServer

PASSWORD = "correct horse battery"
OTHER = "other"  # a private project the callers' targets are not in
BYSTANDER = "bystander"  # a user no caller is: the "someone else" of the user routes
NO_SUCH_USER = "nosuchuser"  # what a system admin's DELETE of another user names
BASIC_CHALLENGE = 'Basic realm="cargohold"'
# What a monolithic push of this test stores (a push the check lets through completes at once,
# leaving no open upload session behind).
PUSHED = b"pushed by the authorization matrix"


# -- the expectations: what each role may do, and what each route needs ------------------------

EVERY_ACTION = frozenset(ACTIONS)  # a system admin's, in every project
REGISTRY_ACTIONS = frozenset({"pull", "push", "delete"})  # what a registry token can name
# What the robot a robot route names holds (in the target project).
MANAGED_ROBOT_ACTIONS = ("pull",)


class Who(StrEnum):
    """Who a route lets through."""

    ANYONE = "anyone"  # listings too: the handler shows only what the caller may pull
    SIGNED_IN = "signed in"  # any accepted credentials
    CATALOG = "catalog"  # signed in; a registry token needs registry:catalog:*
    REPOSITORY = "repository"  # the registry action on the path's repository
    PROJECT = "project"  # the action in the project the path (or ?project) names
    NAMED_PROJECT = "named project"  # the action in the project the body or a stored object
    # names (a system admin when it names none)
    SYSTEM = "system"  # system admins
    SELF = "self"  # the user the path names, signed in as themself, or a system admin
    OWNER = "owner"  # the user the path names, signed in as themself (not even a system admin)
    ROBOT_MANAGER = "robot manager"  # a system admin, or who has `action` in the named robot's
    # project and every action it holds; 404 to anyone else signed in (decision 025)
    TOKEN_ENDPOINT = "token endpoint"  # the handler reads and judges the credentials itself
    CLUSTER = "cluster"  # the admission webhook: only a cluster's admission token, which no
    # caller here holds (tests/api/test_admission.py calls it with one)


@dataclass(frozen=True)
class Expect:
    """What a route needs, and what its handler answers the matrix's request (World.request
    below) once the check lets it through, whoever the caller: `answer`, or `named` for the
    request that names the target's project, `itself` for the one that names the caller."""

    who: Who
    action: str = ""
    where: str = ""  # "?project": the query names the project (the path does otherwise)
    answer: int | None = None
    named: int | None = None
    itself: int | None = None

    def __call__(self, answer: int, named: int | None = None, itself: int | None = None) -> Expect:
        return dataclasses.replace(self, answer=answer, named=named, itself=itself)

    def __str__(self) -> str:
        return f"{self.who} {self.action}".strip()


def _repository(action: str) -> Expect:
    return Expect(Who.REPOSITORY, action)


def _project(action: str, where: str = "") -> Expect:
    return Expect(Who.PROJECT, action, where)


def _named_project(action: str) -> Expect:
    return Expect(Who.NAMED_PROJECT, action)


ANYONE = Expect(Who.ANYONE)
CATALOG = Expect(Who.CATALOG)
SIGNED_IN = Expect(Who.SIGNED_IN)
SYSTEM = Expect(Who.SYSTEM)
SELF = Expect(Who.SELF)
PULL = _repository("pull")
PUSH = _repository("push")
DELETE = _repository("delete")
ROBOT_MANAGER = Expect(Who.ROBOT_MANAGER, "policies")
TOKEN_ENDPOINT = Expect(Who.TOKEN_ENDPOINT)

# path -> method -> what it needs. A HEAD Starlette adds to a GET route follows the GET.
EXPECTED: Mapping[str, Mapping[str, Expect]] = {
    # -- the registry API -------------------------------------------------------------------
    "/v2/": {"GET": SIGNED_IN(200)},
    "/v2/_catalog": {"GET": CATALOG(200)},
    "/v2/{name:path}/manifests/{reference}": {
        "GET": PULL(200),
        "HEAD": PULL(200),
        "PUT": PUSH(400),
        "DELETE": DELETE(404),
    },
    "/v2/{name:path}/blobs/{digest}": {"GET": PULL(200), "HEAD": PULL(200), "DELETE": DELETE(404)},
    "/v2/{name:path}/tags/list": {"GET": PULL(200)},
    "/v2/{name:path}/referrers/{digest}": {"GET": PULL(200)},
    "/v2/{name:path}/blobs/uploads/": {"POST": PUSH(201)},  # monolithic: done at once
    "/v2/{name:path}/blobs/uploads": {"POST": PUSH(201)},
    "/v2/{name:path}/blobs/uploads/{upload_id}": {
        "GET": PUSH(204),
        "PATCH": PUSH(202),
        "PUT": PUSH(400),  # no digest
        "DELETE": PUSH(204),
    },
    # -- the token endpoint -----------------------------------------------------------------
    "/healthz": {"GET": ANYONE(200)},
    "/readyz": {"GET": ANYONE(200)},
    "/metrics": {"GET": SYSTEM(200)},  # metrics_access = "admin", the default
    "/auth/token": {"GET": TOKEN_ENDPOINT(200), "POST": TOKEN_ENDPOINT(400)},  # no form
    "/auth/revoke": {"POST": TOKEN_ENDPOINT(400)},
    # -- the admin API ----------------------------------------------------------------------
    "/api/v1/openapi.json": {"GET": ANYONE(200)},
    "/api/v1/system": {"GET": SYSTEM(200)},
    "/api/v1/repositories": {"GET": ANYONE(200)},
    "/api/v1/repositories/{name:path}/tags": {"GET": PULL(200)},
    # The matrix's image is no real file system: its analysis and scan failed.
    "/api/v1/repositories/{name:path}/manifests/{reference}/analysis": {"GET": PULL(409)},
    "/api/v1/tag-rules": {"GET": ANYONE(200), "POST": _named_project("tag-rules")(400, named=201)},
    "/api/v1/tag-rules/{rule_id}": {"DELETE": _named_project("tag-rules")(404, named=204)},
    "/api/v1/holds": {"GET": ANYONE(200), "POST": _named_project("policies")(400, named=201)},
    "/api/v1/holds/{hold_id}": {"DELETE": _named_project("policies")(404, named=204)},
    "/api/v1/repositories/{name:path}/lifecycle": {
        "GET": PULL(404),
        "PUT": _project("lifecycle")(400),
        "DELETE": _project("lifecycle")(404),
    },
    "/api/v1/repositories/{name:path}/lifecycle/apply": {"POST": _project("lifecycle")(404)},
    "/api/v1/repositories/{name:path}/lifecycle/preview": {"POST": _project("lifecycle")(404)},
    "/api/v1/projects/{project}/quota": {
        "GET": _project("pull")(200),
        "PUT": SYSTEM(400),
        "DELETE": SYSTEM(404),
    },
    "/api/v1/audit": {"GET": SYSTEM(200)},
    "/api/v1/storage": {"GET": SYSTEM(200)},
    "/api/v1/gc": {"POST": SYSTEM(200)},  # a dry run
    "/api/v1/fsck": {"POST": SYSTEM(200)},
    "/api/v1/jobs": {"GET": SYSTEM(200), "POST": SYSTEM(400)},
    "/api/v1/jobs/{job_id}": {"GET": SYSTEM(404)},
    # -- accounts -----------------------------------------------------------------------------
    "/api/v1/users": {"GET": SYSTEM(200), "POST": SYSTEM(400)},
    "/api/v1/users/me": {"GET": SIGNED_IN(200)},
    "/api/v1/users/{name}": {
        "GET": SELF(200),
        "PATCH": SYSTEM(400),
        # NO_SUCH_USER; a system admin may not delete themself.
        "DELETE": SYSTEM(404, itself=400),
    },
    "/api/v1/users/{name}/password": {"PUT": SELF(400)},
    # A token stands in for its owner's password: only the owner makes one (decision 025).
    "/api/v1/users/{name}/tokens": {"GET": SELF(200), "POST": Expect(Who.OWNER)(400)},
    "/api/v1/users/{name}/tokens/{token}": {"DELETE": SELF(404)},
    "/api/v1/projects": {"GET": ANYONE(200), "POST": SYSTEM(400)},
    "/api/v1/projects/{project}": {
        "GET": _project("pull")(200),
        "PATCH": _project("policies")(400),
        "DELETE": _project("delete-project")(409),  # it still holds its image
    },
    "/api/v1/projects/{project}/members": {
        "GET": _project("members")(200),
        "POST": _project("members")(400),
    },
    "/api/v1/projects/{project}/members/{user}": {
        "PUT": _project("members")(400),
        "DELETE": _project("members")(404),
    },
    # Listing and creating: signed in (the robot service lists what the caller may manage, and
    # refuses grants beyond its rights: tests/api/test_accounts_robots.py).
    "/api/v1/robots": {"GET": SIGNED_IN(200), "POST": SIGNED_IN(400)},
    "/api/v1/robots/{name}": {
        "GET": ROBOT_MANAGER(200),
        "DELETE": ROBOT_MANAGER(204),  # a robot made for the request
    },
    "/api/v1/robots/{name}/refresh": {"POST": ROBOT_MANAGER(200)},
    "/api/v1/robots/{name}/revoke": {"POST": ROBOT_MANAGER(200)},
    # -- the scanning extension -------------------------------------------------------------
    "/api/v1/scan-policies": {"GET": ANYONE(200)},
    "/api/v1/projects/{project}/scan-policy": {
        "GET": _project("pull")(200),
        "PUT": _project("policies")(400),
        "DELETE": _project("policies")(204),
    },
    "/api/v1/cve-allowlist": {"GET": SYSTEM(200), "POST": SYSTEM(400)},
    "/api/v1/cve-allowlist/{entry_id}": {"DELETE": SYSTEM(404)},
    "/api/v1/vulnerabilities/overdue": {"GET": _project("pull", "?project")(200)},
    "/api/v1/vulndb": {"GET": SYSTEM(200)},
    "/api/v1/vulndb/import": {"POST": SYSTEM(400)},
    "/api/v1/repositories/{name:path}/manifests/{reference}/scan": {
        "GET": PULL(409),
        "POST": PUSH(202),
    },
    # -- the signatures extension: project admins manage keys and the switch ---------------
    "/api/v1/projects/{project}/trust": {
        "GET": _project("pull")(200),
        "PUT": _project("policies")(400),
    },
    "/api/v1/projects/{project}/trust/keys": {
        "GET": _project("pull")(200),
        "POST": _project("policies")(400),
    },
    "/api/v1/projects/{project}/trust/keys/{fingerprint}": {"DELETE": _project("policies")(404)},
    # -- the admission webhook: a cluster's token only; its records, whoever may pull ------
    "/api/v1/admission": {"POST": Expect(Who.CLUSTER)},
    "/api/v1/admission/mutate": {"POST": Expect(Who.CLUSTER)},
    "/api/v1/admission/clusters/{cluster}": {"POST": Expect(Who.CLUSTER)},
    "/api/v1/admission/clusters/{cluster}/mutate": {"POST": Expect(Who.CLUSTER)},
    "/api/v1/repositories/{name:path}/admissions": {"GET": PULL(200)},
}


def expectation(path: str, method: str) -> Expect | None:
    found = EXPECTED.get(path, {})
    return found.get(method) or (found.get("GET") if method == "HEAD" else None)


# -- the cases: every route and method of ROUTE_NEEDS ---------------------------------------------

USER_PATH = "/api/v1/users/{name}"  # and the routes under it: their {name} is a user's


@dataclass(frozen=True)
class Target:
    """The project a request is about, and its repository holding the image `v1`."""

    project: str
    public: bool

    @property
    def repository(self) -> str:
        return f"{self.project}/app"


TARGETS = (Target("team", public=False), Target("open", public=True))


@dataclass(frozen=True)
class Case:
    path: str
    method: str
    # For a route whose handler finds the project in the body or a stored object: whether
    # the request names the target's project (a recipe below) or none (the default request).
    names_project: bool = False
    # For a user route: whether the path names the caller itself (or BYSTANDER).
    names_caller: bool = False

    @property
    def expect(self) -> Expect:
        found = expectation(self.path, self.method)
        assert found is not None, f"{self.method} {self.path}: add a row to EXPECTED"
        return found

    @property
    def let_through_status(self) -> int | None:
        """What the handler answers when the check lets the request through."""
        expect = self.expect
        if self.names_project and expect.named is not None:
            return expect.named
        if self.names_caller and expect.itself is not None:
            return expect.itself
        return expect.answer

    def __str__(self) -> str:
        variant = " (names the project)" if self.names_project else ""
        variant += " (names the caller)" if self.names_caller else ""
        return f"{self.method} {self.path}{variant}"


def _cases() -> list[Case]:
    cases = []
    for path, needs in ROUTE_NEEDS.items():
        methods = set(needs)
        if "GET" in methods:
            methods.add("HEAD")  # Starlette serves HEAD for every GET route
        for method in sorted(methods):
            cases.append(Case(path, method))
            expect = expectation(path, method)
            named = expect is not None and expect.who is Who.NAMED_PROJECT
            if named and _can_name_project(path, method):
                cases.append(Case(path, method, names_project=True))
            if path.startswith(USER_PATH):
                cases.append(Case(path, method, names_caller=True))
    return cases


def _can_name_project(path: str, method: str) -> bool:
    return (path, method) in NAMED_BODIES or any(
        name in NAMED_OBJECTS for name in _PARAM.findall(path)
    )


# -- the requests: path parameters filled with real objects ---------------------------------------

_PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")
_counter = itertools.count()


def _unknown_digest() -> str:
    return digest_of(f"never pushed {next(_counter)} {time.time_ns()}".encode())


@dataclass
class Request:
    method: str
    url: str
    options: dict[str, Any] = field(default_factory=dict)


# Bodies of the routes that find their project in the body, naming the target's project.
NAMED_BODIES: dict[tuple[str, str], Callable[[Target], dict[str, Any]]] = {
    ("/api/v1/tag-rules", "POST"): lambda t: {
        "scope": "project",
        "target": t.project,
        "pattern": f"matrix-{next(_counter)}-*",  # never matches the image's tag
    },
    ("/api/v1/holds", "POST"): lambda t: {
        "scope": "image",
        "target": t.repository,
        "digest": _unknown_digest(),  # holds nothing the matrix deletes
        "reason": "authorization matrix",
    },
}
# Path parameters naming a stored object whose project the handler checks: the collection
# that makes one (with the body above).
NAMED_OBJECTS = {"rule_id": "/api/v1/tag-rules", "hold_id": "/api/v1/holds"}


class World:
    """One server: projects `team` (private), `open` (public) and `other` (private), each with
    the image `app:v1`; a user per role in `team` and `open`; a robot each of those projects'
    admins manage; the callers."""

    def __init__(self, server: CargoholdServer, accounts: Accounts) -> None:
        self.server = server
        self.accounts = accounts
        self.admin = server.client(timeout=60)
        self.digests: dict[str, str] = {}  # each project's app:v1, the manifest
        self.layers: dict[str, str] = {}  # and its layer, a blob
        for project, public in (("team", False), ("open", True), (OTHER, False)):
            accounts.project(project, public)
            digest, manifest = push_image(self.admin, f"{project}/app", "v1")
            self.digests[project] = digest
            self.layers[project] = json.loads(manifest)["layers"][0]["digest"]
        for project in self.digests:
            self._wait_for_failed_scan(f"{project}/app")
        accounts.user(BYSTANDER, PASSWORD)
        self.managed = {t.project: self._managed_robot(t) for t in TARGETS}
        self.uploads: dict[str, str] = {}
        self.tokens: TokenService = token_service(server.settings())
        self._signed: dict[tuple[str, tuple[ResourceScope, ...]], str] = {}
        self.callers = list(self._callers())
        self.clients = {
            caller.label: httpx.Client(base_url=server.url, auth=caller.auth, timeout=60)
            for caller in self.callers
        }

    def _wait_for_failed_scan(self, repository: str) -> None:
        """The scan on push of the image (whose layer is no tar) has failed, so a scan GET
        let through answers the same, 409, whenever the matrix asks."""
        deadline = time.monotonic() + 60
        while (
            answer := self.admin.get(f"/api/v1/repositories/{repository}/manifests/v1/scan")
        ).status_code != 409:
            assert time.monotonic() < deadline, answer.text
            time.sleep(0.1)

    def close(self) -> None:
        for client in self.clients.values():
            client.close()
        self.admin.close()

    # -- callers --------------------------------------------------------------------------------

    def _callers(self) -> Iterator[Caller]:
        accounts = self.accounts
        targets = [t.project for t in TARGETS]
        yield Caller("anonymous", rights=ANONYMOUS)
        members: dict[str, Rights] = {}
        for role in (Role.GUEST, Role.DEVELOPER, Role.MAINTAINER, Role.PROJECT_ADMIN):
            name = role.value.replace("-", "")
            accounts.user(name, PASSWORD)
            for project in targets:
                accounts.member(project, name, role)
            members[name] = Rights(name, roles=dict.fromkeys(targets, role.value))
            yield Caller(
                f"{name} (personal access token)", login=accounts.token(name), rights=members[name]
            )
        accounts.user("developer-pw", PASSWORD)
        for project in targets:
            accounts.member(project, "developer-pw", Role.DEVELOPER)
        yield Caller(
            "developer (password)",
            login=Login("developer-pw", PASSWORD),
            rights=Rights("developer-pw", roles=dict.fromkeys(targets, "developer")),
            sampled=True,
        )
        # A refresh token stands for its holder, with the holder's roles: as Bearer, or as
        # Basic with no name (as BuildKit sends it).
        yield Caller(
            "developer (refresh token as Bearer)",
            bearer=self._refresh_token("developer"),
            rights=members["developer"],
        )
        yield Caller(
            "maintainer (refresh token as Basic without a name)",
            login=Login("", self._refresh_token("maintainer")),
            rights=members["maintainer"],
        )
        accounts.user("outsider", PASSWORD)
        accounts.member(OTHER, "outsider", Role.PROJECT_ADMIN)
        yield Caller(
            "user with a role in another project only",
            login=accounts.token("outsider"),
            rights=Rights("outsider", roles={OTHER: "project-admin"}),
        )
        yield Caller(
            "system admin",
            login=Login(self.server.admin_user, self.server.admin_token),
            rights=Rights(self.server.admin_user, system_admin=True),
        )
        # A robot per project and action: the callers below pick the one the need asks for.
        robots: dict[tuple[str, str], Login] = {}
        for project, action in itertools.product(targets, ACTIONS):
            robots[project, action] = accounts.robot(f"{project}-{action}", {project: (action,)})
        yield Caller("robot with the needed scope", robots=robots, robot_action=_needed_action)
        yield Caller("robot with another action's scope", robots=robots, robot_action=_other_action)
        elsewhere = accounts.robot("elsewhere", {OTHER: ACTIONS})
        yield Caller(
            "robot scoped to another project",
            login=elsewhere,
            rights=Rights(elsewhere.name, robot=True, scopes={OTHER: EVERY_ACTION}),
        )
        everything = dict.fromkeys(targets, ACTIONS)
        yield Caller("expired robot", login=accounts.robot("expired", everything, days_ago=31))
        revoked = accounts.robot("revoked", everything)
        accounts.revoke(revoked)
        yield Caller("revoked robot", login=revoked)
        accounts.user("leaver", PASSWORD)
        for project in targets:
            accounts.member(project, "leaver", Role.PROJECT_ADMIN)
        leaver = accounts.token("leaver")
        leaver_refresh = self._refresh_token("leaver")
        accounts.disable("leaver")
        yield Caller("disabled user", login=leaver)
        yield Caller("disabled user's refresh token", bearer=leaver_refresh)
        yield Caller("registry token with the needed access", claim=_needed_claim)
        yield Caller(
            "anonymous registry token with the needed access", claim=_needed_claim, subject=""
        )
        yield Caller("registry token without the needed access", claim=_other_claim)
        yield Caller("registry token for another repository", claim=_elsewhere_claim)

    def _refresh_token(self, user: str) -> str:
        """A refresh token of the user's, as `docker login` gets one."""
        response = httpx.get(
            f"{self.server.url}/auth/token",
            params={"service": "cargohold", "offline_token": "true"},
            auth=(user, PASSWORD),
            timeout=60,
        )
        assert response.status_code == 200, response.text
        token: str = response.json()["refresh_token"]
        return token

    def bearer(self, subject: str, claim: tuple[ResourceScope, ...]) -> str:
        key = (subject, claim)
        if key not in self._signed:
            self._signed[key] = self.tokens.issue(subject, claim).token
        return self._signed[key]

    # -- requests -------------------------------------------------------------------------------

    def request(self, case: Case, target: Target, caller: Caller) -> Request:
        method, path = case.method, case.path

        def value(match: re.Match[str]) -> str:
            return self._param(match.group(1), case, target, caller)

        request = Request(method, _PARAM.sub(value, path))
        if case.expect.where == "?project":
            request.options["params"] = {"project": target.project}
        if case.names_project and (path, method) in NAMED_BODIES:
            request.options["json"] = NAMED_BODIES[path, method](target)
        elif path.startswith("/v2/") and path.rstrip("/").endswith("/blobs/uploads"):
            # A monolithic upload: done in one request.
            request.options["params"] = {"digest": digest_of(PUSHED)}
            request.options["content"] = PUSHED
        elif (path, method) == ("/api/v1/gc", "POST"):
            request.options["params"] = {"dryRun": "true"}
        return request

    def _param(self, name: str, case: Case, target: Target, caller: Caller) -> str:
        deleting = case.method == "DELETE"
        match name:
            case "name" if case.path.startswith(USER_PATH):
                if case.names_caller:
                    return caller.name_for(case.expect, target)
                # A system admin's DELETE goes through: it must not remove a user of the world.
                return (
                    NO_SUCH_USER if (case.path, case.method) == (USER_PATH, "DELETE") else BYSTANDER
                )
            case "name" if case.path.startswith("/api/v1/robots/"):
                # A manager's DELETE, refresh or revoke goes through: on a robot of its own.
                if case.method in ("GET", "HEAD"):
                    return self.managed[target.project]
                return self._managed_robot(target)
            case "name":
                return target.repository
            case "project":
                return target.project
            case "reference":
                return _unknown_digest() if deleting else "v1"
            case "digest" if deleting:
                return _unknown_digest()
            case "digest" if "/blobs/" in case.path:
                return self.layers[target.project]
            case "digest":  # a referrers' subject: the manifest
                return self.digests[target.project]
            case "upload_id":
                return self._upload(target, fresh=deleting)
            case _ if name in NAMED_OBJECTS and case.names_project:
                return self._stored_id(NAMED_OBJECTS[name], target)
            case _:
                return "999999"

    def _managed_robot(self, target: Target) -> str:
        """A new robot of the target's project, holding MANAGED_ROBOT_ACTIONS."""
        name = f"{target.project}-managed-{next(_counter)}"
        return self.accounts.robot(name, {target.project: MANAGED_ROBOT_ACTIONS}).name

    def _upload(self, target: Target, fresh: bool) -> str:
        if fresh or target.project not in self.uploads:
            response = self.admin.post(f"/v2/{target.repository}/blobs/uploads/")
            assert response.status_code == 202, response.text
            upload = response.headers["Location"].rsplit("/", 1)[-1]
            if fresh:
                return upload
            self.uploads[target.project] = upload
        return self.uploads[target.project]

    def _stored_id(self, collection: str, target: Target) -> str:
        """A rule or hold in the target's project, made for this request (a let-through delete
        removes it). Without it, an id that does not exist: a project nobody knows."""
        body = NAMED_BODIES[collection, "POST"](target)
        response = self.admin.post(collection, json=body)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])


# -- the callers, and what each should get -------------------------------------------------------


@dataclass(frozen=True)
class Rights:
    """What a caller whose credentials are accepted may do, as the tables above say."""

    name: str = ""
    anonymous: bool = False
    robot: bool = False
    system_admin: bool = False
    roles: Mapping[str, str] = field(default_factory=dict)  # project -> role
    scopes: Mapping[str, frozenset[str]] = field(default_factory=dict)  # a robot's

    def actions(self, project: str, public: bool) -> frozenset[str]:
        """Its actions in the project: everyone pulls from a public one."""
        if self.system_admin:
            return EVERY_ACTION
        found = ROLE_ACTIONS.get(self.roles.get(project, ""), frozenset())
        found |= self.scopes.get(project, frozenset())
        return (found | {"pull"}) if public else found


ANONYMOUS = Rights(anonymous=True)


def _needed_action(expect: Expect) -> str:
    """The project action a need asks for (pull for one that asks none)."""
    return expect.action if expect.action in EVERY_ACTION else "pull"


def _other_action(expect: Expect) -> str:
    return ACTIONS[(ACTIONS.index(_needed_action(expect)) + 1) % len(ACTIONS)]


def _repository_actions(expect: Expect) -> tuple[str, ...]:
    action = _needed_action(expect)
    return (action,) if action in REGISTRY_ACTIONS else ("*",)


def _needed_claim(expect: Expect, target: Target) -> tuple[ResourceScope, ...]:
    if expect.who is Who.CATALOG:
        return (ResourceScope("registry", "catalog", ("*",)),)
    return (ResourceScope("repository", target.repository, _repository_actions(expect)),)


def _other_claim(expect: Expect, target: Target) -> tuple[ResourceScope, ...]:
    """The target's repository, with the registry actions the need does not ask for."""
    if expect.who is Who.CATALOG:
        return (ResourceScope("repository", target.repository, ("*",)),)
    others = tuple(sorted(REGISTRY_ACTIONS - set(_repository_actions(expect))))
    return (ResourceScope("repository", target.repository, others),)


def _elsewhere_claim(expect: Expect, target: Target) -> tuple[ResourceScope, ...]:
    return (ResourceScope("repository", f"{target.project}/elsewhere", ("*",)),)


class _Bearer(httpx.Auth):
    def __init__(self, token: str) -> None:
        self.token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self.token}"
        yield request


@dataclass(frozen=True)
class Caller:
    """A kind of caller: credentials (Basic, or a refresh token as Bearer) with the rights the
    tables give them, or refused (no rights); none; a robot chosen by the need; or a registry
    token whose claim follows the need."""

    label: str
    rights: Rights | None = None  # None: credentials that are refused
    login: Login | None = None
    bearer: str = ""  # a refresh token, sent as Bearer
    robots: Mapping[tuple[str, str], Login] | None = None  # by project and action
    robot_action: Callable[[Expect], str] | None = None  # the action of the robot it picks
    claim: Callable[[Expect, Target], tuple[ResourceScope, ...]] | None = None
    subject: str = "developer"  # the registry token's
    sampled: bool = False  # asked on one route per kind of need only

    @property
    def auth(self) -> httpx.Auth | None:
        if self.bearer:
            return _Bearer(self.bearer)
        return self.login.auth if self.login else None

    def robot(self, expect: Expect, target: Target) -> Login:
        assert self.robots is not None and self.robot_action is not None
        return self.robots[target.project, self.robot_action(expect)]

    def rights_for(self, expect: Expect, target: Target) -> Rights | None:
        if self.robots is None:
            return self.rights
        assert self.robot_action is not None
        scopes = {target.project: frozenset({self.robot_action(expect)})}
        return Rights(self.robot(expect, target).name, robot=True, scopes=scopes)

    def name_for(self, expect: Expect, target: Target) -> str:
        """The name the caller goes by: what a user route names for `names_caller`."""
        if self.robots is not None:
            return self.robot(expect, target).name
        if self.rights is not None and self.rights.name:
            return self.rights.name
        if self.login is not None and self.login.name:
            return self.login.name
        return self.subject if self.claim is not None and self.subject else "anonymous"


class Answer(Enum):
    LET_THROUGH = "let through"
    CHALLENGE = "401 with the challenge"
    NOT_ACCEPTED = "401: credentials not accepted"
    DENIED = "403 DENIED"
    INSUFFICIENT_SCOPE = "401 insufficient_scope"
    HIDDEN = "404: not shown to exist"
    OWN_CHECK = "the token endpoint's own answer"


def _allows(rights: Rights, case: Case, target: Target) -> bool:
    expect = case.expect
    actions = rights.actions(target.project, target.public)
    signed_in = not rights.anonymous
    itself = case.names_caller and signed_in and not rights.robot
    match expect.who:
        case Who.ANYONE:
            return True
        case Who.SIGNED_IN | Who.CATALOG:
            return signed_in
        case Who.REPOSITORY | Who.PROJECT:
            return expect.action in actions
        case Who.NAMED_PROJECT:
            named = expect.action in actions if case.names_project else rights.system_admin
            return signed_in and named
        case Who.SYSTEM:
            return rights.system_admin
        case Who.SELF:
            return itself or rights.system_admin
        case Who.OWNER:
            return itself
        case Who.ROBOT_MANAGER:
            # The action where it is not given by a public project, and what the robot holds.
            private = rights.actions(target.project, public=False)
            holds = set(MANAGED_ROBOT_ACTIONS) <= actions
            return rights.system_admin or (expect.action in private and holds)
    raise AssertionError(f"a kind of need this test does not know: {expect}")


def _claim_allows(claim: tuple[ResourceScope, ...], expect: Expect, target: Target) -> bool:
    if expect.who in (Who.ANYONE, Who.SIGNED_IN):
        return True
    if expect.who is Who.CATALOG:
        return any(s.type == "registry" and s.name == "catalog" and "*" in s.actions for s in claim)
    if expect.who is Who.REPOSITORY:
        return any(
            s.type == "repository"
            and s.name == target.repository
            and (expect.action in s.actions or "*" in s.actions)
            for s in claim
        )
    # A registry token carries repository actions only: nobody's self, no project action.
    return False


def expected(caller: Caller, case: Case, target: Target) -> Answer:
    expect = case.expect
    rights = caller.rights_for(expect, target)
    if expect.who is Who.CLUSTER:
        # Users, robots and registry tokens are no cluster: asked for its token.
        return Answer.CHALLENGE
    if expect.who is Who.TOKEN_ENDPOINT:
        # It takes Basic credentials or none; what it refuses is its own answer.
        takes = rights is not None and caller.claim is None and not caller.bearer
        return Answer.LET_THROUGH if takes else Answer.OWN_CHECK
    if caller.claim is not None:
        if expect.who is Who.ROBOT_MANAGER:
            return Answer.HIDDEN  # signed in, as a subject that manages no robot
        if _claim_allows(caller.claim(expect, target), expect, target):
            return Answer.LET_THROUGH
        return Answer.INSUFFICIENT_SCOPE if _on_registry(case) else Answer.DENIED
    if rights is None:
        return Answer.NOT_ACCEPTED
    if _allows(rights, case, target):
        return Answer.LET_THROUGH
    if rights.anonymous:
        return Answer.CHALLENGE
    return Answer.HIDDEN if expect.who is Who.ROBOT_MANAGER else Answer.DENIED


# -- checking an answer ----------------------------------------------------------------------------


def _on_registry(case: Case) -> bool:
    return case.path.startswith("/v2")


def _challenge(
    world: World, case: Case, target: Target, error: str = "", description: str = ""
) -> str:
    if not _on_registry(case):
        return BASIC_CHALLENGE
    challenge = f'Bearer realm="{world.server.url}/auth/token",service="cargohold"'
    expect = case.expect
    if expect.who is Who.CATALOG:
        challenge += ',scope="registry:catalog:*"'
    elif expect.who is Who.REPOSITORY:
        actions = "pull,push" if expect.action == "push" else expect.action
        challenge += f',scope="repository:{target.repository}:{actions}"'
    if error:
        challenge += f',error="{error}"'
    if description:
        # What docker, skopeo and containerd show of a refusal (a HEAD's 401 has no body).
        challenge += f',error_description="{description}"'
    return challenge


def _problem(
    world: World,
    case: Case,
    target: Target,
    caller: Caller,
    answer: Answer,
    response: httpx.Response,
) -> str | None:
    """What is wrong with the response, or None."""
    status = response.status_code
    challenge = response.headers.get("WWW-Authenticate")
    head = case.method == "HEAD"

    def code_is(code: str) -> bool:
        return head or code in error_codes(response)

    if status >= 500:
        return f"{status}: {response.text[:200]}"
    if answer is Answer.LET_THROUGH:
        if status != case.let_through_status:
            return f"{status}, wanted {case.let_through_status}: {response.text[:200]}"
        return None
    if answer is Answer.OWN_CHECK:
        if status == 403 or (status == 401 and challenge != BASIC_CHALLENGE):
            return f"{status} with challenge {challenge!r}"
        return None
    if answer is Answer.DENIED:
        if status != 403 or not code_is("DENIED") or challenge is not None:
            return f"{status} (challenge {challenge!r}) {response.text[:200]}"
        return None
    if answer is Answer.HIDDEN:
        if status != 404 or challenge is not None:
            return f"{status} (challenge {challenge!r}) {response.text[:200]}"
        return None
    error, description = "", ""
    if answer is Answer.INSUFFICIENT_SCOPE:
        error = "insufficient_scope"
        description = SCOPE_REFUSED if caller.subject else ANONYMOUS_REFUSED
    wanted = _challenge(world, case, target, error, description)
    if status != 401 or not code_is("UNAUTHORIZED") or challenge != wanted:
        return f"{status} with challenge {challenge!r}, wanted {wanted!r}: {response.text[:200]}"
    return None


# -- the matrix ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    # The refused callers fail a login on every request: no account may lock either.
    data_dir = tmp_path_factory.mktemp("matrix") / "data"
    with server_with_accounts(data_dir, account_lockout=1000000) as (server, accounts):
        built = World(server, accounts)
        yield built
        built.close()


def test_the_table_states_every_route() -> None:
    """EXPECTED has a row for each route and method of ROUTE_NEEDS, and no other."""
    routes = {(path, method) for path, needs in ROUTE_NEEDS.items() for method in needs}
    stated = {(path, method) for path, rows in EXPECTED.items() for method in rows}
    missing = sorted(routes - stated)
    assert not missing, f"add a row to EXPECTED saying what each of these needs: {missing}"
    gone = sorted(stated - routes)
    assert not gone, f"EXPECTED has rows for routes ROUTE_NEEDS no longer lists: {gone}"


def test_the_table_states_the_answer_of_every_route_let_through() -> None:
    """EXPECTED states what the handler answers for each case some caller is let through (not
    the admission webhook's: no caller here holds a cluster's token, tests/api/test_admission.py
    does), and a variant's answer only where there is such a variant."""
    for case in _cases():
        expect = case.expect
        if expect.who is Who.CLUSTER:
            continue
        assert expect.answer in range(200, 500), f"{case}: state its answer in EXPECTED"
    for path, rows in EXPECTED.items():
        for method, expect in rows.items():
            if expect.named is not None:
                assert _can_name_project(path, method), (path, method)
            if expect.itself is not None:
                assert path.startswith(USER_PATH), (path, method)


CASES = _cases()
# The password caller asks one route of each kind of need (an argon2 check per request).
_KINDS = {(expectation(c.path, c.method), c.names_project, c.names_caller) for c in CASES}
SAMPLED = {
    next(
        c
        for c in CASES
        if (expectation(c.path, c.method), c.names_project, c.names_caller) == kind
        and c.method != "HEAD"
    )
    for kind in _KINDS
}


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.project)
@pytest.mark.parametrize("case", CASES, ids=str)
def test_each_caller_gets_what_the_tables_say(world: World, case: Case, target: Target) -> None:
    expect = case.expect
    problems = []
    for caller in world.callers:
        if caller.sampled and case not in SAMPLED:
            continue
        answer = expected(caller, case, target)
        request = world.request(case, target, caller)
        headers = {}
        if caller.claim is not None:
            token = world.bearer(caller.subject, caller.claim(expect, target))
            headers["Authorization"] = f"Bearer {token}"
        client = world.clients[caller.label]
        auth = caller.robot(expect, target).auth if caller.robots else httpx.USE_CLIENT_DEFAULT
        response = client.request(
            request.method, request.url, headers=headers, auth=auth, **request.options
        )
        problem = _problem(world, case, target, caller, answer, response)
        if problem:
            problems.append(f"{caller.label}: expected {answer.value}, got {problem}")
    assert problems == [], f"{case} on {target.repository}:\n" + "\n".join(problems)


@pytest.mark.parametrize("collection", sorted(NAMED_OBJECTS.values()))
def test_an_unreadable_document_or_id_names_no_project(world: World, collection: str) -> None:
    """What the handler cannot read names no project: only a system admin learns what is
    wrong with it, anyone else is refused first (docs/security.md)."""
    project_admin = world.clients["projectadmin (personal access token)"]
    for method, path, options in (
        ("POST", collection, {"content": b"{not json", "headers": {"Content-Type": "x"}}),
        ("DELETE", f"{collection}/not-a-number", {}),
    ):
        refused = project_admin.request(method, path, **options)
        assert refused.status_code == 403, refused.text
        assert "DENIED" in error_codes(refused)
        told = world.admin.request(method, path, **options)
        assert told.status_code in (400, 404), told.text


def test_a_head_changes_nothing(world: World) -> None:
    """A HEAD is let through on its GET's need, so it must not do what PUT or POST need more
    for. The handlers of a project's quota, a repository's lifecycle policy and a project's
    scan policy take anything but GET and DELETE for a PUT: an anonymous HEAD with a body sets
    them on a public project (a pull is all it needs)."""
    world.accounts.project("headcheck", public=True)
    push_image(world.admin, "headcheck/app", "v1")
    policy = {
        "rules": [
            {
                "rulePriority": 1,
                "selection": {
                    "tagStatus": "any",
                    "countType": "imageCountMoreThan",
                    "countNumber": 1,
                },
                "action": {"type": "expire"},
            }
        ]
    }
    anonymous = world.clients["anonymous"]
    for path, body in (
        ("/api/v1/projects/headcheck/quota", {"limitBytes": 1}),
        ("/api/v1/repositories/headcheck/app/lifecycle", policy),
        ("/api/v1/projects/headcheck/scan-policy", {"preventUnscanned": True}),
    ):
        anonymous.request("HEAD", path, json=body)
    changed = []
    if world.admin.get("/api/v1/projects/headcheck/quota").json()["limitBytes"] is not None:
        changed.append("quota")
    if world.admin.get("/api/v1/repositories/headcheck/app/lifecycle").status_code != 404:
        changed.append("lifecycle policy")
    if not world.admin.get("/api/v1/projects/headcheck/scan-policy").json()["default"]:
        changed.append("scan policy")
    assert changed == [], f"an anonymous HEAD set the {', '.join(changed)} of a public project"


def test_the_matrix_left_the_images_in_place(world: World) -> None:
    """Nothing the matrix let through removed what the other cases pull."""
    for project in ("team", "open", OTHER):
        response = world.admin.get(f"/v2/{project}/app/manifests/v1")
        assert response.status_code == 200, response.text
        assert response.headers["Docker-Content-Digest"] == world.digests[project]
