"""The authorization matrix: every route api/route_access.py's ROUTE_NEEDS lists (and the HEAD
Starlette adds to a GET), against every kind of caller, over HTTP, on a private and a public
project.

The cases come from the table, so a new route is covered without touching this file; what each
caller should get comes from the role table (policy/permissions.py `may`) and from a registry
token's claim, never from a per-route list. A request is either let through (the handler runs
on a real repository or project and answers anything but 401 or 403, and never a 5xx), or
refused with exactly the answer docs/security.md gives: 401 and the token flow's challenge on
/v2/ (`Bearer realm=...,service=...,scope=...`), 401 and `Basic realm="cargohold"` on the
admin API, 403 `DENIED` for credentials that do not allow the request, and 401
`error="insufficient_scope"` for a registry token whose claim lacks the action on /v2/.

Users sign in with personal access tokens (a password costs an argon2 check per request, on
purpose): one more caller signs in with a password, on one route per kind of need.
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import httpx
import pytest

from cargohold.api.access_check import DENIED as SCOPE_REFUSED
from cargohold.api.access_check import SIGN_IN_FIRST as ANONYMOUS_REFUSED
from cargohold.api.route_access import (
    ANYONE,
    CATALOG,
    IN_HANDLER,
    LISTING,
    OWN_CREDENTIALS,
    PROJECT,
    REPOSITORY,
    ROUTE_NEEDS,
    SIGNED_IN,
    SYSTEM,
    Need,
    need_for,
)
from cargohold.policy.permissions import (
    NOBODY,
    PROJECT_ACTIONS,
    PULL,
    PUSH,
    REPOSITORY_ACTIONS,
    ROBOT,
    USER,
    Principal,
    Role,
    may,
)
from cargohold.policy.scopes import ResourceScope
from cargohold.services.tokens import TokenService
from cargohold.wiring import token_service
from tests.api.helpers import error_codes
from tests.support.accounts import Accounts, Login, server_with_accounts
from tests.support.oci import digest_of, push_image
from tests.support.server import CargoholdServer

PASSWORD = "correct horse battery"
ROLES = (Role.GUEST, Role.DEVELOPER, Role.MAINTAINER, Role.PROJECT_ADMIN)
OTHER = "other"  # a private project the callers' targets are not in
BASIC_CHALLENGE = 'Basic realm="cargohold"'
# What a monolithic push of this test stores (a push the check lets through completes at once,
# leaving no open upload session behind).
PUSHED = b"pushed by the authorization matrix"


@dataclass(frozen=True)
class Target:
    """The project a request is about, and its repository holding the image `v1`."""

    project: str
    public: bool

    @property
    def repository(self) -> str:
        return f"{self.project}/app"


TARGETS = (Target("team", public=False), Target("open", public=True))


# -- the cases: every route and method of the table ---------------------------------------------


@dataclass(frozen=True)
class Case:
    path: str
    method: str
    # For a route whose handler finds the project in the body or a stored object: whether
    # the request names the target's project (a recipe below) or none (the default request).
    names_project: bool = False

    @property
    def need(self) -> Need:
        need = need_for(self.path, self.method)
        assert need is not None
        return need

    def __str__(self) -> str:
        return f"{self.method} {self.path}" + (" (names the project)" if self.names_project else "")


def _cases() -> list[Case]:
    cases = []
    for path, needs in ROUTE_NEEDS.items():
        methods = set(needs)
        if "GET" in methods:
            methods.add("HEAD")  # Starlette serves HEAD for every GET route
        for method in sorted(methods):
            cases.append(Case(path, method))
            if needs.get(method, Need("")).kind == IN_HANDLER and _can_name_project(path, method):
                cases.append(Case(path, method, names_project=True))
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
    the image `app:v1`; a user per role in `team` and `open`; the callers."""

    def __init__(self, server: CargoholdServer, accounts: Accounts) -> None:
        self.server = server
        self.accounts = accounts
        self.admin = server.client(timeout=60)
        self.digests: dict[str, str] = {}
        for project, public in (("team", False), ("open", True), (OTHER, False)):
            accounts.project(project, public)
            self.digests[project] = push_image(self.admin, f"{project}/app", "v1")[0]
        self.uploads: dict[str, str] = {}
        self.tokens: TokenService = token_service(server.settings())
        self._signed: dict[tuple[str, tuple[ResourceScope, ...]], str] = {}
        self.callers = list(self._callers())
        self.clients = {
            caller.label: httpx.Client(base_url=server.url, auth=caller.auth, timeout=60)
            for caller in self.callers
        }

    def close(self) -> None:
        for client in self.clients.values():
            client.close()
        self.admin.close()

    # -- callers --------------------------------------------------------------------------------

    def _callers(self) -> Iterator[Caller]:
        accounts = self.accounts
        targets = [t.project for t in TARGETS]
        yield Caller("anonymous", principal=NOBODY)
        for role in ROLES:
            name = role.value.replace("-", "")
            accounts.user(name, PASSWORD)
            for project in targets:
                accounts.member(project, name, role)
            roles = dict.fromkeys(targets, role)
            yield Caller(
                f"{name} (personal access token)",
                login=accounts.token(name),
                principal=Principal(USER, name, roles=roles),
            )
        accounts.user("developer-pw", PASSWORD)
        for project in targets:
            accounts.member(project, "developer-pw", Role.DEVELOPER)
        yield Caller(
            "developer (password)",
            login=Login("developer-pw", PASSWORD),
            principal=Principal(USER, "developer-pw", roles=dict.fromkeys(targets, Role.DEVELOPER)),
            sampled=True,
        )
        accounts.user("outsider", PASSWORD)
        accounts.member(OTHER, "outsider", Role.PROJECT_ADMIN)
        yield Caller(
            "user with a role in another project only",
            login=accounts.token("outsider"),
            principal=Principal(USER, "outsider", roles={OTHER: Role.PROJECT_ADMIN}),
        )
        yield Caller(
            "system admin",
            login=Login(self.server.admin_user, self.server.admin_token),
            principal=Principal(USER, self.server.admin_user, system_admin=True),
        )
        # A robot per project and action: the callers below pick the one the need asks for.
        robots: dict[tuple[str, str], Login] = {}
        for project, action in itertools.product(targets, PROJECT_ACTIONS):
            robots[project, action] = accounts.robot(f"{project}-{action}", {project: (action,)})
        yield Caller(
            "robot with the needed scope",
            robots=lambda need, target: robots[target.project, _needed_action(need)],
            robot_scope=lambda need: _needed_action(need),
        )
        yield Caller(
            "robot with another action's scope",
            robots=lambda need, target: robots[target.project, _other_action(need)],
            robot_scope=lambda need: _other_action(need),
        )
        elsewhere = accounts.robot("elsewhere", {OTHER: PROJECT_ACTIONS})
        yield Caller(
            "robot scoped to another project",
            login=elsewhere,
            principal=Principal(ROBOT, elsewhere.name, scopes={OTHER: frozenset(PROJECT_ACTIONS)}),
        )
        everything = dict.fromkeys(targets, PROJECT_ACTIONS)
        yield Caller("expired robot", login=accounts.robot("expired", everything, days_ago=31))
        revoked = accounts.robot("revoked", everything)
        accounts.revoke(revoked)
        yield Caller("revoked robot", login=revoked)
        accounts.user("leaver", PASSWORD)
        for project in targets:
            accounts.member(project, "leaver", Role.PROJECT_ADMIN)
        leaver = accounts.token("leaver")
        accounts.disable("leaver")
        yield Caller("disabled user", login=leaver)
        yield Caller("registry token with the needed access", claim=_needed_claim)
        yield Caller(
            "anonymous registry token with the needed access", claim=_needed_claim, subject=""
        )
        yield Caller("registry token without the needed access", claim=_other_claim)
        yield Caller("registry token for another repository", claim=_elsewhere_claim)

    def bearer(self, subject: str, claim: tuple[ResourceScope, ...]) -> str:
        key = (subject, claim)
        if key not in self._signed:
            self._signed[key] = self.tokens.issue(subject, claim).token
        return self._signed[key]

    # -- requests -------------------------------------------------------------------------------

    def request(self, case: Case, target: Target) -> Request:
        method, path = case.method, case.path

        def value(match: re.Match[str]) -> str:
            return self._param(match.group(1), case, target)

        request = Request(method, _PARAM.sub(value, path))
        need = case.need
        if need.param.startswith("?"):
            request.options["params"] = {need.param[1:]: target.project}
        if case.names_project and (path, method) in NAMED_BODIES:
            request.options["json"] = NAMED_BODIES[path, method](target)
        elif path.startswith("/v2/") and path.rstrip("/").endswith("/blobs/uploads"):
            # A monolithic upload: done in one request.
            request.options["params"] = {"digest": digest_of(PUSHED)}
            request.options["content"] = PUSHED
        elif (path, method) == ("/api/v1/gc", "POST"):
            request.options["params"] = {"dryRun": "true"}
        return request

    def _param(self, name: str, case: Case, target: Target) -> str:
        deleting = case.method == "DELETE"
        match name:
            case "name":
                return target.repository
            case "project":
                return target.project
            case "reference":
                return _unknown_digest() if deleting else "v1"
            case "digest":
                return _unknown_digest() if deleting else self.digests[target.project]
            case "upload_id":
                return self._upload(target, fresh=deleting)
            case _ if name in NAMED_OBJECTS and case.names_project:
                return self._stored_id(NAMED_OBJECTS[name], target)
            case _:
                return "999999"

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


def _needed_action(need: Need) -> str:
    """The project action a need asks for (pull for one that asks none)."""
    return need.action if need.action in PROJECT_ACTIONS else PULL


def _other_action(need: Need) -> str:
    actions = list(PROJECT_ACTIONS)
    return actions[(actions.index(_needed_action(need)) + 1) % len(actions)]


def _repository_actions(need: Need) -> tuple[str, ...]:
    action = _needed_action(need)
    return (action,) if action in REPOSITORY_ACTIONS else ("*",)


def _needed_claim(need: Need, target: Target) -> tuple[ResourceScope, ...]:
    if need.kind == CATALOG:
        return (ResourceScope("registry", "catalog", ("*",)),)
    return (ResourceScope("repository", target.repository, _repository_actions(need)),)


def _other_claim(need: Need, target: Target) -> tuple[ResourceScope, ...]:
    """The target's repository, with the registry actions the need does not ask for."""
    if need.kind == CATALOG:
        return (ResourceScope("repository", target.repository, ("*",)),)
    others = tuple(sorted(REPOSITORY_ACTIONS - set(_repository_actions(need))))
    return (ResourceScope("repository", target.repository, others),)


def _elsewhere_claim(need: Need, target: Target) -> tuple[ResourceScope, ...]:
    return (ResourceScope("repository", f"{target.project}/elsewhere", ("*",)),)


@dataclass(frozen=True)
class Caller:
    """A kind of caller: Basic credentials (a principal the role table decides for, or refused
    credentials), none, or a registry token whose claim follows the need."""

    label: str
    login: Login | None = None
    principal: Principal | None = None  # None with a login: credentials that are refused
    robots: Callable[[Need, Target], Login] | None = None  # a robot chosen by the need
    robot_scope: Callable[[Need], str] | None = None
    claim: Callable[[Need, Target], tuple[ResourceScope, ...]] | None = None
    subject: str = "developer"
    sampled: bool = False  # asked on one route per kind of need only

    @property
    def auth(self) -> httpx.Auth | None:
        return self.login.auth if self.login else None


class Answer(Enum):
    LET_THROUGH = "let through"
    CHALLENGE = "401 with the challenge"
    NOT_ACCEPTED = "401: credentials not accepted"
    DENIED = "403 DENIED"
    INSUFFICIENT_SCOPE = "401 insufficient_scope"
    OWN_CHECK = "the token endpoint's own answer"


def _principal_allows(principal: Principal, case: Case, target: Target) -> bool:
    need = case.need
    if need.kind in (ANYONE, LISTING):
        return True
    if need.kind in (SIGNED_IN, CATALOG):
        return not principal.anonymous
    if need.kind in (REPOSITORY, PROJECT):
        return may(principal, need.action, target.project, target.public)
    if need.kind == SYSTEM:
        return may(principal, need.action, None)
    assert need.kind == IN_HANDLER, f"a kind of need this test does not know: {need}"
    if principal.anonymous:
        return False
    project = target.project if case.names_project else None
    return may(principal, need.action, project, target.public)


def _claim_allows(claim: tuple[ResourceScope, ...], need: Need, target: Target) -> bool:
    if need.kind in (ANYONE, LISTING, SIGNED_IN):
        return True
    if need.kind == CATALOG:
        return any(s.type == "registry" and s.name == "catalog" and "*" in s.actions for s in claim)
    if need.kind == REPOSITORY:
        return any(
            s.type == "repository"
            and s.name == target.repository
            and (need.action in s.actions or "*" in s.actions)
            for s in claim
        )
    # Project, system and in-handler actions: a token carries repository actions only.
    assert need.kind in (PROJECT, SYSTEM, IN_HANDLER), need
    return False


def expected(caller: Caller, case: Case, target: Target) -> Answer:
    need = case.need
    if need.kind == OWN_CREDENTIALS:
        valid = caller.login is None or caller.principal is not None or caller.robots
        return Answer.LET_THROUGH if valid and caller.claim is None else Answer.OWN_CHECK
    if caller.claim is not None:
        if _claim_allows(caller.claim(need, target), need, target):
            return Answer.LET_THROUGH
        return Answer.INSUFFICIENT_SCOPE if _on_registry(case) else Answer.DENIED
    principal = caller.principal
    if caller.robots is not None:
        assert caller.robot_scope is not None
        robot = caller.robots(need, target)
        scopes = {target.project: frozenset({caller.robot_scope(need)})}
        principal = Principal(ROBOT, robot.name, scopes=scopes)
    if principal is None:
        return Answer.NOT_ACCEPTED
    if _principal_allows(principal, case, target):
        return Answer.LET_THROUGH
    return Answer.CHALLENGE if principal.anonymous else Answer.DENIED


# -- checking an answer ----------------------------------------------------------------------------


def _on_registry(case: Case) -> bool:
    return case.path.startswith("/v2")


def _challenge(
    world: World, case: Case, target: Target, error: str = "", description: str = ""
) -> str:
    if not _on_registry(case):
        return BASIC_CHALLENGE
    challenge = f'Bearer realm="{world.server.url}/auth/token",service="cargohold"'
    need = case.need
    if need.kind == CATALOG:
        challenge += ',scope="registry:catalog:*"'
    elif need.kind == REPOSITORY:
        actions = f"{PULL},{PUSH}" if need.action == PUSH else need.action
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
        if status in (401, 403):
            return f"refused ({status}) {response.text[:200]}"
        return None
    if answer is Answer.OWN_CHECK:
        if status == 403 or (status == 401 and challenge != BASIC_CHALLENGE):
            return f"{status} with challenge {challenge!r}"
        return None
    if answer is Answer.DENIED:
        if status != 403 or not code_is("DENIED") or challenge is not None:
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


CASES = _cases()
# The password caller asks one route of each kind of need (an argon2 check per request).
SAMPLED = {
    next(c for c in CASES if c.need == need and c.method != "HEAD")
    for need in {c.need for c in CASES}
}


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.project)
@pytest.mark.parametrize("case", CASES, ids=str)
def test_each_caller_gets_what_the_role_table_says(
    world: World, case: Case, target: Target
) -> None:
    problems = []
    for caller in world.callers:
        if caller.sampled and case not in SAMPLED:
            continue
        answer = expected(caller, case, target)
        request = world.request(case, target)
        headers = {}
        if caller.claim is not None:
            token = world.bearer(caller.subject, caller.claim(case.need, target))
            headers["Authorization"] = f"Bearer {token}"
        client = world.clients[caller.label]
        auth = caller.robots(case.need, target).auth if caller.robots else httpx.USE_CLIENT_DEFAULT
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


def test_the_matrix_left_the_images_in_place(world: World) -> None:
    """Nothing the matrix let through removed what the other cases pull."""
    for project in ("team", "open", OTHER):
        response = world.admin.get(f"/v2/{project}/app/manifests/v1")
        assert response.status_code == 200, response.text
        assert response.headers["Docker-Content-Digest"] == world.digests[project]
