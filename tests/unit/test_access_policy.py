"""The permission model as pure decisions: the role matrix, robots' scopes, public projects,
the Docker scope grammar and the grant (an intersection, possibly empty)."""

from __future__ import annotations

import pytest

from cargohold.policy.permissions import (
    NOBODY,
    PROJECT_ACTIONS,
    ROBOT,
    USER,
    Principal,
    Role,
    grantable,
    may,
    parse_role,
    project_actions,
    repository_actions,
)
from cargohold.policy.scopes import (
    ResourceScope,
    ScopeError,
    covers,
    grant,
    parse_resource_scope,
    parse_scopes,
)
from tests.support.role_table import ROLE_ACTIONS

# Who may do what in a project they are a member of (private project): the tests' one
# statement of the role table.
MATRIX: dict[Role, frozenset[str]] = {Role(name): actions for name, actions in ROLE_ACTIONS.items()}


def member(role: Role, project: str = "team") -> Principal:
    return Principal(USER, "someone", roles={project: role})


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("action", PROJECT_ACTIONS)
def test_role_matrix(role: Role, action: str) -> None:
    expected = action in MATRIX[role]
    assert may(member(role), action, "team") is expected
    # A role in one project gives nothing in another, private or (beyond pull) public.
    assert not may(member(role), action, "other")
    assert may(member(role), action, "other", public=True) is (action == "pull")


def test_system_admin_may_do_everything_and_system_actions() -> None:
    admin = Principal(USER, "root", system_admin=True)
    assert project_actions(admin, "anything", False) == frozenset(PROJECT_ACTIONS)
    assert may(admin, "gc", None) and may(admin, "vulndb", None)
    assert not may(member(Role.PROJECT_ADMIN), "gc", None)


def test_anonymous_pulls_public_projects_only() -> None:
    assert repository_actions(NOBODY, "open/app", public=True) == {"pull"}
    assert repository_actions(NOBODY, "team/app", public=False) == frozenset()


def test_robot_scopes_per_project_and_everywhere() -> None:
    robot = Principal(ROBOT, "robot$ci", scopes={"team": frozenset({"pull", "push"})})
    assert repository_actions(robot, "team/app", False) == {"pull", "push"}
    assert repository_actions(robot, "other/app", False) == frozenset()
    everywhere = Principal(ROBOT, "robot$all", scopes={"*": frozenset({"pull"})})
    assert repository_actions(everywhere, "x/y", False) == {"pull"}


def test_granting_to_robots_is_bounded_by_the_granter() -> None:
    admin = member(Role.PROJECT_ADMIN)
    assert grantable(admin, "team", frozenset({"push", "delete"}), False)
    assert not grantable(admin, "other", frozenset({"pull"}), False)
    assert not grantable(member(Role.DEVELOPER), "team", frozenset({"delete"}), False)
    assert not grantable(admin, "*", frozenset({"pull"}), False)
    assert grantable(Principal(USER, "root", system_admin=True), "*", frozenset({"pull"}), False)


def test_parse_role() -> None:
    assert parse_role("maintainer") is Role.MAINTAINER
    with pytest.raises(ValueError, match="unknown role"):
        parse_role("owner")


# -- the scope grammar -------------------------------------------------------------------


def test_scope_splits_actions_at_the_last_colon() -> None:
    assert parse_resource_scope("repository:samalba/my-app:pull,push") == ResourceScope(
        "repository", "samalba/my-app", ("pull", "push")
    )
    # A name with a host and port holds a colon of its own.
    assert parse_resource_scope("repository:localhost:5000/team/app:pull") == ResourceScope(
        "repository", "localhost:5000/team/app", ("pull",)
    )
    assert parse_resource_scope("registry:catalog:*") == ResourceScope(
        "registry", "catalog", ("*",)
    )
    # The deprecated resource class is ignored.
    assert parse_resource_scope("repository(plugin):team/app:pull").type == "repository"


@pytest.mark.parametrize(
    "text",
    ["", "repository", "repository:team/app", "repository::pull", "repository:team/app:",
     ":team/app:pull", "repository:team/app:pull,,push", "Repo:x:pull", "repository:x:pu ll"],
)  # fmt: skip
def test_malformed_scopes_are_refused(text: str) -> None:
    with pytest.raises(ScopeError):
        parse_resource_scope(text)


def test_several_scopes_in_one_value_and_repeated_values_merge() -> None:
    scopes = parse_scopes(
        ["repository:team/app:pull registry:catalog:*", "repository:team/app:push"]
    )
    assert scopes == [
        ResourceScope("repository", "team/app", ("pull", "push")),
        ResourceScope("registry", "catalog", ("*",)),
    ]


def test_grant_is_the_intersection_and_may_be_empty() -> None:
    public = {"open"}.__contains__
    requested = parse_scopes(
        ["repository:team/app:pull,push,delete repository:open/lib:pull,push"
         " repository:secret/x:pull registry:catalog:*"]
    )  # fmt: skip
    granted = grant(member(Role.DEVELOPER), requested, public)
    assert granted == [
        ResourceScope("repository", "team/app", ("pull", "push")),
        ResourceScope("repository", "open/lib", ("pull",)),
        ResourceScope("repository", "secret/x", ()),
        ResourceScope("registry", "catalog", ("*",)),
    ]
    assert grant(NOBODY, parse_scopes(["repository:team/app:push"]), public) == [
        ResourceScope("repository", "team/app", ())
    ]


def test_a_projects_visibility_is_asked_only_when_it_could_add_pull() -> None:
    asked: list[str] = []

    def public(project: str) -> bool:
        asked.append(project)
        return project == "open"

    # May pull anyway, or asks for no pull: nothing to ask.
    grant(member(Role.DEVELOPER), parse_scopes(["repository:team/app:pull,push"]), public)
    grant(NOBODY, parse_scopes(["repository:open/lib:push"]), public)
    assert asked == []
    # Pull (or everything) asked by one who may not pull otherwise: asked, and it counts.
    assert grant(NOBODY, parse_scopes(["repository:open/lib:pull"]), public)[0].actions == ("pull",)
    assert grant(NOBODY, parse_scopes(["repository:open/lib:*"]), public)[0].actions == ()
    assert asked == ["open", "open"]


def test_star_is_granted_only_with_every_repository_action() -> None:
    requested = parse_scopes(["repository:team/app:*"])
    assert grant(member(Role.MAINTAINER), requested, lambda _: False)[0].actions == ("*",)
    assert grant(member(Role.DEVELOPER), requested, lambda _: False)[0].actions == ()


def test_covers_checks_repository_and_action() -> None:
    access = [ResourceScope("repository", "team/app", ("pull",))]
    assert covers(access, "team/app", "pull")
    assert not covers(access, "team/app", "push")
    assert not covers(access, "team/other", "pull")
    assert covers([ResourceScope("repository", "team/app", ("*",))], "team/app", "delete")


def test_listings_show_public_projects_roles_and_pull_scopes() -> None:
    from cargohold.policy.permissions import ROBOT, pull_visibility

    user = Principal("user", "alice", roles={"team": Role.GUEST})
    shown = pull_visibility(user, ["open"])
    assert shown.repository("team/app") and shown.repository("open/x/y")
    assert not shown.repository("other/app") and not shown.repository("teamish/app")
    robot = Principal(ROBOT, "robot$ci", scopes={"ci": frozenset({"push"})})
    assert not pull_visibility(robot, []).project("ci")
    everywhere = Principal(ROBOT, "robot$all", scopes={"*": frozenset({"pull"})})
    assert pull_visibility(everywhere, []).everything
    assert pull_visibility(Principal("user", "root", system_admin=True), []).everything


def test_a_filtered_page_reads_past_what_is_hidden() -> None:
    from cargohold.services.access import visible_page

    names = [f"r{i:03d}" for i in range(250)]
    reads: list[tuple[int, str | None]] = []

    def fetch(limit: int, last: str | None) -> list[str]:
        reads.append((limit, last))
        return [n for n in names if last is None or n > last][:limit]

    shown = visible_page(fetch, str, lambda n: n.endswith("7"), 3, None)
    assert shown == ["r007", "r017", "r027"]
    assert visible_page(fetch, str, lambda n: n == "r249", 2, "r100") == ["r249"]
    assert reads[-2:] == [(100, "r100"), (100, "r200")]  # a batch at a time, to the end
