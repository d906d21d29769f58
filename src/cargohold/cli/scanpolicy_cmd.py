"""`cargohold scan-policy`, `cargohold allowlist` and `cargohold overdue`: the registry's
scanning rules per project, accepted vulnerabilities, and findings past their deadline."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import typer
from rich.table import Table

from cargohold.cli.client import DEFAULT_REGISTRY, ClientError
from cargohold.cli.common import JsonOption, RegistryOption, client, fail, out, print_json, when

scan_policy_app = typer.Typer(
    help="Per-project scanning: scan on push, and refusing pulls of vulnerable images.",
    no_args_is_help=True,
)
allowlist_app = typer.Typer(
    help="Vulnerabilities accepted system-wide or in a project (optionally until a date).",
    no_args_is_help=True,
)

ProjectArgument = Annotated[str, typer.Argument(help="The project (first path component).")]


def _print_policy(policy: dict[str, Any]) -> None:
    on_push = policy["scanOnPush"]
    out.print(
        f"{policy['project']}: scan on push "
        f"{'default' if on_push is None else 'on' if on_push else 'off'}; "
        f"refuse pulls at {policy['preventSeverity'] or 'no severity'}"
        f"{' and of unscanned images' if policy['preventUnscanned'] else ''}"
        f"{' (defaults: no policy set)' if policy.get('default') else ''}",
        highlight=False,
    )


@scan_policy_app.command("show")
def policy_show(
    project: ProjectArgument,
    registry: RegistryOption = DEFAULT_REGISTRY,
    as_json: JsonOption = False,
) -> None:
    """A project's scan policy."""
    try:
        policy = client(registry).scan_policy(project)
    except ClientError as exc:
        raise fail(str(exc)) from None
    if as_json:
        print_json(policy)
    else:
        _print_policy(policy)


@scan_policy_app.command("list")
def policy_list(registry: RegistryOption = DEFAULT_REGISTRY, as_json: JsonOption = False) -> None:
    """Every project that has a scan policy."""
    try:
        policies = client(registry).scan_policies()
    except ClientError as exc:
        raise fail(str(exc)) from None
    if as_json:
        print_json(policies)
        return
    for policy in policies:
        _print_policy(policy)


@scan_policy_app.command("set")
def policy_set(
    project: ProjectArgument,
    scan_on_push: Annotated[
        bool | None,
        typer.Option(
            "--scan-on-push/--no-scan-on-push",
            help="Scan images pushed to the project \\[the server's scan_on_push setting].",
            show_default=False,
        ),
    ] = None,
    prevent_severity: Annotated[
        str | None,
        typer.Option(
            "--prevent-severity",
            help="Refuse pulls of images with findings at or above CRITICAL, HIGH, MEDIUM or "
            "LOW (allowlisted ones aside); 'none' to stop.",
            show_default=False,
        ),
    ] = None,
    prevent_unscanned: Annotated[
        bool,
        typer.Option(
            "--prevent-unscanned/--allow-unscanned",
            help="Refuse pulls of images that have not been scanned yet. Images whose scan "
            "failed are refused under any policy that refuses something (fail closed).",
        ),
    ] = False,
    registry: RegistryOption = DEFAULT_REGISTRY,
) -> None:
    """Set a project's scan policy (replaces the previous one; audited)."""
    severity = None if prevent_severity in (None, "none") else prevent_severity
    document = {
        "scanOnPush": scan_on_push,
        "preventSeverity": severity,
        "preventUnscanned": prevent_unscanned,
    }
    try:
        _print_policy(client(registry).set_scan_policy(project, document))
    except ClientError as exc:
        raise fail(str(exc)) from None


@scan_policy_app.command("remove")
def policy_remove(project: ProjectArgument, registry: RegistryOption = DEFAULT_REGISTRY) -> None:
    """Back to the defaults: scan on push as the server says, no pull prevention."""
    try:
        client(registry).remove_scan_policy(project)
    except ClientError as exc:
        raise fail(str(exc)) from None
    print(f"scan policy of {project} removed")


def _date(text: str | None) -> str | None:
    """A YYYY-MM-DD date as the start of that day in UTC, in RFC 3339 (as the API shows it)."""
    if text is None:
        return None
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a date (YYYY-MM-DD)") from None
    return f"{day.isoformat()}T00:00:00Z"


@allowlist_app.command("add")
def allowlist_add(
    vulnerability: Annotated[str, typer.Argument(help="CVE-..., GHSA-..., DSA-... (any id).")],
    project: Annotated[
        str | None, typer.Option(help="Only in this project \\[system-wide].", show_default=False)
    ] = None,
    reason: Annotated[str, typer.Option(help="Why it is accepted (kept in the audit).")] = "",
    expires: Annotated[
        str | None,
        typer.Option(help="Stops counting on this date, YYYY-MM-DD (UTC).", show_default=False),
    ] = None,
    registry: RegistryOption = DEFAULT_REGISTRY,
) -> None:
    """Accept a vulnerability: pulls are no longer refused for it, it is not overdue."""
    entry = {"id": vulnerability, "reason": reason, "expiresAt": _date(expires)}
    if project:
        entry["project"] = project
    try:
        created = client(registry).allow(entry)
    except ClientError as exc:
        raise fail(str(exc)) from None
    print(f"allowlist entry {created['id']}: {vulnerability} in {project or 'every project'}")


@allowlist_app.command("list")
def allowlist_list(
    project: Annotated[
        str | None,
        typer.Option(help="A project's entries and the system-wide ones.", show_default=False),
    ] = None,
    registry: RegistryOption = DEFAULT_REGISTRY,
    as_json: JsonOption = False,
) -> None:
    """Allowlist entries, with whether each still counts."""
    try:
        entries = client(registry).allowlist(project)
    except ClientError as exc:
        raise fail(str(exc)) from None
    if as_json:
        print_json(entries)
        return
    table = Table("id", "vulnerability", "project", "expires", "active", "reason", "by")
    for e in entries:
        table.add_row(
            str(e["id"]),
            e["vulnerability"],
            e["project"] or "(all)",
            when(e["expiresAt"]) if e["expiresAt"] else "never",
            "yes" if e["active"] else "expired",
            e["reason"],
            e["createdBy"],
        )
    out.print(table)


@allowlist_app.command("remove")
def allowlist_remove(
    entry_id: Annotated[int, typer.Argument(help="The entry's id (cargohold allowlist list).")],
    registry: RegistryOption = DEFAULT_REGISTRY,
) -> None:
    """Remove an allowlist entry (audited)."""
    try:
        client(registry).disallow(entry_id)
    except ClientError as exc:
        raise fail(str(exc)) from None
    print(f"allowlist entry {entry_id} removed")


def overdue(
    project: Annotated[
        str | None, typer.Option(help="Only this project.", show_default=False)
    ] = None,
    in_days: Annotated[
        float, typer.Option("--in-days", help="Judge as of this many days from now.")
    ] = 0,
    registry: RegistryOption = DEFAULT_REGISTRY,
    as_json: JsonOption = False,
) -> None:
    """Findings past their remediation deadline (the SLA per severity), by image."""
    try:
        at = None
        if in_days:
            moment = dt.datetime.now(dt.UTC) + dt.timedelta(days=in_days)
            at = moment.isoformat().replace("+00:00", "Z")
        report = client(registry).overdue(project, at)
    except ClientError as exc:
        raise fail(str(exc)) from None
    if as_json:
        print_json(report)
        return
    sla = ", ".join(f"{level.lower()} {days}d" for level, days in report["slaDays"].items())
    out.print(f"deadlines: {sla or 'none'}", highlight=False)
    table = Table("repository", "tags", "digest", "vulnerability", "severity", "package", "overdue")
    for f in report["findings"]:
        table.add_row(
            f["repository"],
            ", ".join(f["tags"]) or "-",
            f["digest"][:19],
            f["id"],
            f["severity"],
            f["package"],
            f"{f['overdueDays']:g} days",
        )
    out.print(table)
    print(f"{len(report['findings'])} overdue findings in {len(report['images'])} images")
    failed = report.get("failedScans") or []
    if failed:
        print(
            f"{len(failed)} images could not be scanned (their findings are unknown; rescan them):"
        )
        for f in failed:
            tags = ", ".join(f["tags"]) or "-"
            print(f"  scan failed: {f['repository']} ({tags}) {f['digest'][:19]}: {f['reason']}")
