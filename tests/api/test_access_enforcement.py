"""Every route checks its caller: anonymous, users by role, robots, personal access tokens and
registry tokens, on /v2/ and on the admin API, with the answers clients rely on (401 with the
token flow's challenge, 403, 429) and listings that show only what the caller may pull."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cargohold.policy.permissions import Role
from cargohold.policy.scopes import ResourceScope
from tests.api.helpers import assert_error
from tests.support.accounts import Accounts, Login, registry_token, server_with_accounts
from tests.support.oci import digest_of, push_blob, push_image
from tests.support.server import CargoholdServer

PASSWORD = "correct horse battery"
ROLES = (Role.GUEST, Role.DEVELOPER, Role.MAINTAINER, Role.PROJECT_ADMIN)


class World:
    """A server with projects `team` (private), `open` (public) and `other` (private), an
    image in each, a user per role in `team`, an outsider and robots."""

    def __init__(self, server: CargoholdServer, accounts: Accounts) -> None:
        self.server = server
        self.accounts = accounts
        self.admin = server.client()
        for project, public in (("team", False), ("open", True), ("other", False)):
            accounts.project(project, public)
            self.digest = push_image(self.admin, f"{project}/app", "v1")[0]
        # Each role's user signs in with a personal access token (a password costs an argon2
        # check per request).
        self.roles: dict[Role, Login] = {}
        for role in ROLES:
            name = role.value.replace("-", "")
            self.roles[role] = accounts.token(accounts.user(name, PASSWORD).name)
            accounts.member("team", name, role)
        self.outsider = accounts.user("outsider", PASSWORD)
        self.locky = accounts.user("locky", PASSWORD)

    def as_(self, login: Login | None) -> httpx.Client:
        auth = login.auth if login else None
        return httpx.Client(base_url=self.server.url, auth=auth, timeout=30)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    # An account locks at its third failure.
    data_dir = tmp_path_factory.mktemp("access") / "data"
    with server_with_accounts(data_dir, account_lockout=3) as (server, accounts):
        built = World(server, accounts)
        yield built
        built.admin.close()


def _challenge(world: World) -> str:
    return f'Bearer realm="{world.server.url}/auth/token",service="cargohold"'


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# -- anonymous ------------------------------------------------------------------------------


def test_the_version_check_challenges_without_credentials(world: World) -> None:
    with world.as_(None) as anonymous:
        response = anonymous.get("/v2/")
    assert_error(response, 401, "UNAUTHORIZED")
    assert response.headers["WWW-Authenticate"] == _challenge(world)
    assert response.headers["Docker-Distribution-API-Version"] == "registry/2.0"
    assert world.admin.get("/v2/").status_code == 200


def test_anonymous_pulls_public_projects_only(world: World) -> None:
    with world.as_(None) as anonymous:
        assert anonymous.get("/v2/open/app/manifests/v1").status_code == 200
        assert anonymous.get("/v2/open/app/tags/list").json()["tags"] == ["v1"]
        private = anonymous.get("/v2/team/app/manifests/v1")
        assert_error(private, 401, "UNAUTHORIZED")
        assert private.headers["WWW-Authenticate"] == (
            _challenge(world) + ',scope="repository:team/app:pull"'
        )
        head = anonymous.head("/v2/team/app/manifests/v1")
        assert head.status_code == 401 and head.content == b""
        assert "scope=" in head.headers["WWW-Authenticate"]
        # A repository that does not exist is not told apart from one that does.
        missing = anonymous.get("/v2/team/nothing/manifests/v1")
        assert missing.status_code == 401


def test_anonymous_pushes_and_deletes_are_challenged(world: World) -> None:
    with world.as_(None) as anonymous:
        for repository in ("open/app", "team/app"):
            push = anonymous.post(f"/v2/{repository}/blobs/uploads/")
            assert_error(push, 401, "UNAUTHORIZED")
            assert push.headers["WWW-Authenticate"] == (
                _challenge(world) + f',scope="repository:{repository}:pull,push"'
            )
            delete = anonymous.delete(f"/v2/{repository}/manifests/{world.digest}")
            assert delete.status_code == 401
            assert delete.headers["WWW-Authenticate"].endswith(
                f',scope="repository:{repository}:delete"'
            )
        catalog = anonymous.get("/v2/_catalog")
        assert_error(catalog, 401, "UNAUTHORIZED")
        assert catalog.headers["WWW-Authenticate"] == (
            _challenge(world) + ',scope="registry:catalog:*"'
        )


def test_anonymous_admin_api_asks_for_basic_credentials(world: World) -> None:
    with world.as_(None) as anonymous:
        for method, path in (
            ("POST", "/api/v1/gc"),
            ("GET", "/api/v1/system"),
            ("POST", "/api/v1/holds"),
            ("DELETE", "/api/v1/tag-rules/1"),
            ("PUT", "/api/v1/projects/open/quota"),
        ):
            response = anonymous.request(method, path, json={})
            assert_error(response, 401, "UNAUTHORIZED")
            assert response.headers["WWW-Authenticate"] == 'Basic realm="cargohold"'
        names = [r["name"] for r in anonymous.get("/api/v1/repositories").json()["repositories"]]
        assert names == ["open/app"]
        assert anonymous.get("/api/v1/openapi.json").status_code == 200


def test_the_realm_follows_the_host_the_client_used(world: World) -> None:
    response = httpx.get(
        f"{world.server.url}/v2/", headers={"Host": "registry.example:8443"}, timeout=30
    )
    assert response.headers["WWW-Authenticate"].startswith(
        'Bearer realm="http://registry.example:8443/auth/token",'
    )


# -- users by role --------------------------------------------------------------------------

# What each role may do in its project: pull a manifest, push a blob, delete a manifest, add a
# tag rule (tag-rules), add a hold (policies); nothing in another private project.
EXPECTED = {
    Role.GUEST: {"pull"},
    Role.DEVELOPER: {"pull", "push"},
    Role.MAINTAINER: {"pull", "push", "delete", "tag-rules"},
    Role.PROJECT_ADMIN: {"pull", "push", "delete", "tag-rules", "policies"},
}


def _attempts(client: httpx.Client, project: str, digest: str) -> dict[str, int]:
    """The status of each kind of request in the project (deletes of an unknown digest: a
    permitted one answers 404)."""
    unknown = digest_of(f"{project}-{time.time_ns()}".encode())
    return {
        "pull": client.get(f"/v2/{project}/app/manifests/v1").status_code,
        "push": client.post(
            f"/v2/{project}/app/blobs/uploads/",
            params={"digest": digest_of(b"layer")},
            content=b"layer",
        ).status_code,
        "delete": client.delete(f"/v2/{project}/app/manifests/{unknown}").status_code,
        "tag-rules": client.post(
            "/api/v1/tag-rules",
            json={"scope": "project", "target": project, "pattern": f"r{time.time_ns()}-*"},
        ).status_code,
        "policies": client.post(
            "/api/v1/holds",
            json={"scope": "image", "target": f"{project}/app", "digest": unknown, "reason": "x"},
        ).status_code,
    }


@pytest.mark.parametrize("role", ROLES, ids=lambda role: role.value)
def test_each_role_may_do_what_it_grants_and_nothing_more(world: World, role: Role) -> None:
    allowed = {"pull": 200, "push": 201, "delete": 404, "tag-rules": 201, "policies": 201}
    with world.as_(world.roles[role]) as client:
        in_team = _attempts(client, "team", world.digest)
        elsewhere = _attempts(client, "other", world.digest)
        system = client.post("/api/v1/gc", params={"dryRun": "true"})
        assert_error(system, 403, "DENIED")
    assert {action for action, status in in_team.items() if status == allowed[action]} == (
        EXPECTED[role]
    )
    assert {status for action, status in in_team.items() if action not in EXPECTED[role]} <= {403}
    assert set(elsewhere.values()) == {403}


def test_an_outsider_is_denied_private_and_served_public(world: World) -> None:
    with world.as_(world.outsider) as outsider:
        assert_error(outsider.get("/v2/team/app/manifests/v1"), 403, "DENIED")
        assert outsider.get("/v2/open/app/manifests/v1").status_code == 200
        push = outsider.post("/v2/open/app/blobs/uploads/")
        assert_error(push, 403, "DENIED")
        assert "WWW-Authenticate" not in push.headers


def test_listings_show_only_what_the_caller_may_pull(world: World) -> None:
    with world.as_(world.roles[Role.GUEST]) as guest, world.as_(world.outsider) as outsider:
        assert guest.get("/v2/_catalog").json()["repositories"] == ["open/app", "team/app"]
        assert outsider.get("/v2/_catalog").json()["repositories"] == ["open/app"]
        # Pages fill up past what is hidden, and say where the next one starts.
        first = guest.get("/v2/_catalog", params={"n": 1})
        assert first.json()["repositories"] == ["open/app"]
        following = guest.get("/v2/_catalog", params={"n": 1, "last": "open/app"})
        assert following.json()["repositories"] == ["team/app"]
        assert "Link" in first.headers
        repositories = guest.get("/api/v1/repositories").json()["repositories"]
        assert [r["name"] for r in repositories] == ["open/app", "team/app"]
        hold = {"scope": "repository", "target": "team/app", "reason": "listed"}
        assert world.admin.post("/api/v1/holds", json=hold).status_code == 201
        targets = [h["target"] for h in guest.get("/api/v1/holds").json()["holds"]]
        assert "team/app" in targets
        assert outsider.get("/api/v1/holds").json()["holds"] == []
        rules = outsider.get("/api/v1/tag-rules").json()["rules"]
        assert all(rule["target"].split("/")[0] == "open" for rule in rules)
    admin_catalog = world.admin.get("/v2/_catalog").json()["repositories"]
    assert {"open/app", "other/app", "team/app"} <= set(admin_catalog)


def test_rules_and_holds_are_changed_only_by_who_may_in_their_project(world: World) -> None:
    rule = world.admin.post(
        "/api/v1/tag-rules", json={"scope": "project", "target": "other", "pattern": "x-*"}
    ).json()
    hold = world.admin.post(
        "/api/v1/holds", json={"scope": "project", "target": "other", "reason": "legal"}
    ).json()
    with world.as_(world.roles[Role.PROJECT_ADMIN]) as team_admin:
        assert_error(team_admin.delete(f"/api/v1/tag-rules/{rule['id']}"), 403, "DENIED")
        assert_error(team_admin.delete(f"/api/v1/holds/{hold['id']}"), 403, "DENIED")
        # An id that does not exist is refused the same way: its project is unknown.
        assert_error(team_admin.delete("/api/v1/holds/999999"), 403, "DENIED")
        # A document without a project is for system admins; they get its validation error.
        assert_error(team_admin.post("/api/v1/holds", json={"reason": "x"}), 403, "DENIED")
    assert world.admin.post("/api/v1/holds", json={"reason": "x"}).status_code == 400
    assert world.admin.delete(f"/api/v1/tag-rules/{rule['id']}").status_code == 204
    assert world.admin.delete(f"/api/v1/holds/{hold['id']}").status_code == 204


def test_a_mount_needs_pull_on_its_source(world: World) -> None:
    secret = b"only for the other project"
    digest = push_blob(world.admin, "other/app", secret)
    with world.as_(world.roles[Role.DEVELOPER]) as developer:
        refused = developer.post(
            "/v2/team/app/blobs/uploads/", params={"mount": digest, "from": "other/app"}
        )
        # Not an error: a plain upload session instead, as distribution answers.
        assert refused.status_code == 202
        anywhere = developer.post("/v2/team/app/blobs/uploads/", params={"mount": digest})
        assert anywhere.status_code == 202
        assert developer.head(f"/v2/team/app/blobs/{digest}").status_code == 404
        shared = push_blob(world.admin, "open/app", b"shared layer")
        mounted = developer.post(
            "/v2/team/app/blobs/uploads/", params={"mount": shared, "from": "open/app"}
        )
        assert mounted.status_code == 201


def test_admin_routes_need_a_system_admin(world: World) -> None:
    with world.as_(world.roles[Role.PROJECT_ADMIN]) as team_admin:
        for method, path in (
            ("GET", "/api/v1/system"),
            ("GET", "/api/v1/audit"),
            ("GET", "/api/v1/storage"),
            ("GET", "/api/v1/jobs"),
            ("PUT", "/api/v1/projects/team/quota"),
            ("POST", "/api/v1/vulndb/import"),
            ("GET", "/api/v1/cve-allowlist"),
        ):
            assert_error(team_admin.request(method, path, json={}), 403, "DENIED")
        # Reading the project's own settings is a pull.
        assert team_admin.get("/api/v1/projects/team/scan-policy").status_code == 200
        assert team_admin.get("/api/v1/repositories/team/app/tags").status_code == 200
    assert world.admin.get("/api/v1/system").status_code == 200


# -- credentials ----------------------------------------------------------------------------


def test_a_password_a_token_and_basic_straight_on_v2(world: World) -> None:
    with world.as_(Login("guest", PASSWORD)) as by_password:
        assert by_password.get("/v2/team/app/manifests/v1").status_code == 200
    token = world.roles[Role.GUEST]
    with world.as_(token) as by_token:
        assert by_token.get("/v2/team/app/manifests/v1").status_code == 200
    with world.as_(Login("outsider", token.secret)) as borrowed:
        # A personal access token works only under its owner's name.
        response = borrowed.get("/v2/team/app/manifests/v1")
        assert_error(response, 401, "UNAUTHORIZED")
        assert response.headers["WWW-Authenticate"].startswith("Bearer realm=")


def test_robots_act_within_their_scopes_until_revoked_or_expired(world: World) -> None:
    accounts = world.accounts
    ci = accounts.robot("ci", {"team": ("pull", "push")})
    old = accounts.robot("old", {"team": ("pull",)}, days_ago=31)
    gone = accounts.robot("gone", {"team": ("pull",)})
    accounts.revoke(gone)
    with world.as_(ci) as robot:
        assert robot.get("/v2/team/app/manifests/v1").status_code == 200
        assert push_blob(robot, "team/app", b"from ci")
        unknown = digest_of(b"never pushed")
        assert_error(robot.delete(f"/v2/team/app/manifests/{unknown}"), 403, "DENIED")
        assert_error(robot.get("/v2/other/app/manifests/v1"), 403, "DENIED")
        assert robot.get("/v2/_catalog").json()["repositories"] == ["open/app", "team/app"]
    for refused in (old, gone):
        with world.as_(refused) as robot:
            assert_error(robot.get("/v2/team/app/manifests/v1"), 401, "UNAUTHORIZED")


def test_a_disabled_user_is_refused(world: World) -> None:
    accounts = world.accounts
    auth = accounts.token(accounts.user("leaver", PASSWORD).name)
    accounts.member("team", "leaver", Role.DEVELOPER)
    with world.as_(auth) as leaver:
        assert leaver.get("/v2/team/app/manifests/v1").status_code == 200
        accounts.disable("leaver")
        assert_error(leaver.get("/v2/team/app/manifests/v1"), 401, "UNAUTHORIZED")


def test_failed_logins_lock_the_account_with_retry_after(world: World) -> None:
    with world.as_(Login("locky", "wrong password")) as wrong:
        for _ in range(3):
            assert wrong.get("/v2/").status_code == 401
    with world.as_(world.locky) as right:
        locked = right.get("/v2/open/app/manifests/v1")
        assert_error(locked, 429, "TOOMANYREQUESTS")
        assert 0 < int(locked.headers["Retry-After"]) <= 900
        admin_api = right.get("/api/v1/repositories")
        assert admin_api.status_code == 429 and "Retry-After" in admin_api.headers


@pytest.mark.parametrize(
    "header",
    [
        "Basic",
        "Basic !!!",
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Basic " + base64.b64encode(b":no-name").decode(),
        "Basic " + base64.b64encode(b"\xff\xfe:x").decode(),
        "Bearer",
        "Bearer two parts",
        "Bearer not.a.jwt",
        "Bearer eyJhbGciOiJub25lIn0.e30.",
        "Digest username=x",
        "Basic " + "A" * 17000,
    ],
)
def test_malformed_authorization_is_401_never_500(world: World, header: str) -> None:
    for path in ("/v2/open/app/manifests/v1", "/api/v1/repositories"):
        response = httpx.get(
            f"{world.server.url}{path}", headers={"Authorization": header}, timeout=30
        )
        assert_error(response, 401, "UNAUTHORIZED")
        assert "WWW-Authenticate" in response.headers


# -- registry tokens ------------------------------------------------------------------------
# Signed with the server's own keys (tests/support/accounts.registry_token): these check what
# the routes do with a token; logging in to get one is the token endpoint's.


def test_a_token_allows_exactly_its_access_claim(world: World) -> None:
    pull = registry_token(
        world.server, "guest", [ResourceScope("repository", "team/app", ("pull",))]
    )
    with world.as_(None) as client:
        headers = _bearer(pull)
        assert client.get("/v2/", headers=headers).status_code == 200
        assert client.get("/v2/team/app/manifests/v1", headers=headers).status_code == 200
        # Not in the claim, whatever its subject could do with a password: 401 naming the
        # scope to ask for, so the client fetches a wider token.
        push = client.post("/v2/team/app/blobs/uploads/", headers=headers)
        assert_error(push, 401, "UNAUTHORIZED")
        assert push.headers["WWW-Authenticate"] == (
            _challenge(world) + ',scope="repository:team/app:pull,push",error="insufficient_scope"'
            ',error_description="requested access to the resource is denied"'
        )
        other = client.get("/v2/open/app/manifests/v1", headers=headers)
        assert other.status_code == 401
        # The admin API takes tokens too, with the same claim: no project or system action.
        assert client.get("/api/v1/repositories/team/app/tags", headers=headers).status_code == 200
        listed = client.get("/api/v1/repositories", headers=headers).json()["repositories"]
        assert [r["name"] for r in listed] == ["team/app"]
        assert_error(client.post("/api/v1/gc", headers=headers), 403, "DENIED")


def test_a_refused_token_says_why_in_its_challenge(world: World) -> None:
    """A HEAD's 401 has no body: docker, skopeo and containerd show the challenge's
    error_description (as `denied: ...`). An anonymous token is told to sign in."""
    # What the token endpoint gives anyone: pull on a public project.
    anonymous = registry_token(
        world.server, "", [ResourceScope("repository", "open/app", ("pull",))]
    )
    with world.as_(None) as client:
        head = client.head("/v2/open/app/manifests/v1", headers=_bearer(anonymous))
        assert head.status_code == 200
        for response in (
            client.post("/v2/open/app/blobs/uploads/", headers=_bearer(anonymous)),
            client.head("/v2/team/app/manifests/v1", headers=_bearer(anonymous)),
        ):
            assert response.status_code == 401
            assert response.headers["WWW-Authenticate"].endswith(
                ',error="insufficient_scope",error_description="authentication required:'
                ' anonymous access allows only pulls from public projects"'
            )
        push = client.post("/v2/open/app/blobs/uploads/", headers=_bearer(anonymous))
        assert push.json()["errors"][0]["message"].startswith("authentication required")


def test_the_catalog_needs_its_scope_and_shows_what_the_subject_may_pull(world: World) -> None:
    catalog = [ResourceScope("registry", "catalog", ("*",))]
    with world.as_(None) as client:
        narrow = registry_token(
            world.server, "guest", [ResourceScope("repository", "team/app", ("pull",))]
        )
        response = client.get("/v2/_catalog", headers=_bearer(narrow))
        assert response.status_code == 401
        assert (
            'scope="registry:catalog:*",error="insufficient_scope"'
            in (response.headers["WWW-Authenticate"])
        )
        for subject, expected in (
            ("guest", ["open/app", "team/app"]),
            ("", ["open/app"]),
            ("robot$nobody", ["open/app"]),
        ):
            token = registry_token(world.server, subject, catalog)
            listed = client.get("/v2/_catalog", headers=_bearer(token)).json()["repositories"]
            assert listed == expected, subject


def test_tokens_the_server_did_not_sign_or_that_expired_are_refused(
    world: World, tmp_path: Path
) -> None:
    access = [ResourceScope("repository", "team/app", ("pull",))]
    expired = registry_token(world.server, "guest", access, clock=lambda: time.time() - 3600)
    genuine = registry_token(world.server, "guest", access)
    header, payload, signature = genuine.split(".")
    claims = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    widened = base64.urlsafe_b64encode(claims.replace(b"team/app", b"other/app")).rstrip(b"=")
    stranger = CargoholdServer(tmp_path / "stranger")  # another key directory, never started
    foreign = registry_token(stranger, "guest", access)
    with world.as_(None) as client:
        # The genuine token's verdict is cached; a payload changed under its signature is not
        # taken for it.
        assert client.get("/v2/team/app/manifests/v1", headers=_bearer(genuine)).status_code == 200
        for token in (expired, f"{header}.{widened.decode()}.{signature}", foreign):
            response = client.get("/v2/team/app/manifests/v1", headers=_bearer(token))
            assert_error(response, 401, "UNAUTHORIZED")
            assert response.headers["WWW-Authenticate"].endswith(',error="invalid_token"')


# -- what is written down -------------------------------------------------------------------


def test_no_secret_reaches_the_server_log(world: World) -> None:
    accounts = world.accounts
    robot = accounts.robot("logged", {"team": ("pull",)})
    token = accounts.token("guest", "logged")
    bearer = registry_token(world.server, "guest", [])
    admin = Login("admin", world.server.admin_password)
    logins = [robot, token, Login("guest", PASSWORD), admin]
    for login in logins:
        with world.as_(login) as client:
            assert client.get("/v2/team/app/manifests/v1").status_code == 200
    for wrong in ("guest", "robot$logged", "nobody"):
        with world.as_(Login(wrong, PASSWORD + "!")) as client:
            assert client.get("/v2/").status_code == 401
    with world.as_(None) as client:
        assert client.get("/v2/", headers=_bearer(bearer)).status_code == 200
        assert client.get("/v2/", headers=_bearer(bearer[:-4] + "AAAA")).status_code == 401
    log = world.server.log_path.read_text()
    assert "login refused for 'nobody'" in log  # failed logins are logged, by name only
    secrets = [login.secret for login in logins] + [
        bearer.rsplit(".", 1)[1],
        world.server.admin_token,
    ]
    assert [secret for secret in secrets if secret in log] == []


def test_a_configured_robot_prefix_names_robots_end_to_end(tmp_path: Path) -> None:
    """With `auth_robot_prefix` set, robots are made under it, sign in under it (Basic and
    the token endpoint) and their registry tokens stand for a robot; the default `robot$`
    prefix is then an ordinary (and impossible) user name."""
    server = CargoholdServer(
        tmp_path / "data", extra_env={"CARGOHOLD_AUTH_ROBOT_PREFIX": "bot-"}
    ).start()
    accounts = Accounts(server)
    try:
        accounts.project("ci")
        robot = accounts.robot("bot-builder", {"ci": ("pull", "push")})
        assert robot.name == "bot-builder"
        with httpx.Client(base_url=server.url, auth=robot.auth, timeout=60) as as_robot:
            push_image(as_robot, "ci/app", "v1")
            me = as_robot.get("/api/v1/users/me").json()
            assert (me["name"], me["kind"], me["method"]) == ("bot-builder", "robot", "robot")
        granted = httpx.get(
            f"{server.url}/auth/token",
            params={"service": "cargohold", "scope": "repository:ci/app:pull"},
            auth=robot.auth,
            timeout=60,
        )
        assert granted.status_code == 200, granted.text
        bearer = {"Authorization": f"Bearer {granted.json()['token']}"}
        assert httpx.get(f"{server.url}/v2/ci/app/manifests/v1", headers=bearer).status_code == 200
        wrong = httpx.get(f"{server.url}/v2/", auth=("robot$builder", robot.secret), timeout=60)
        assert_error(wrong, 401, "UNAUTHORIZED")
    finally:
        accounts.close()
        server.stop()
