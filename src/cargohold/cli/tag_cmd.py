"""`cargohold tag`: the tags of a CI build (version, commit, time), printed for `docker build`,
as JSON or as GitHub Actions outputs, and with `--push` applied to an image in any registry.

The tags are policy/image_tags.py's; the facts come from cli/build_facts.py. `--push` writes
the image's manifest, byte for byte, under each tag (one manifest PUT per tag, in the order
the tags are listed, stopping at the first refusal): no blob is read or moved, and the digest
stays the image's. Notes (no version found) go to standard error, so standard output is only
the tags.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cargohold.cli.common import fail
from cargohold.cli.trust_cmd import PlainHttpOption, RegistryOption

if TYPE_CHECKING:
    from cargohold.cli.trust_cmd import RemoteImage
    from cargohold.policy.image_tags import BuildFacts


class TagFormat(StrEnum):
    lines = "lines"
    args = "args"
    json = "json"
    github = "github"


def _image_names(images: list[str]) -> list[str]:
    """`--image` values: [HOST[:PORT]/]REPOSITORY, without a tag or digest."""
    from cargohold.cli.references import ReferenceError, parse_registry_reference

    for text in images:
        try:
            parsed = parse_registry_reference(text)
        except ReferenceError as exc:
            raise fail(f"--image {exc}") from None
        if "@" in text or parsed.reference != "latest" or text.endswith(":latest"):
            raise fail(f"--image {text}: give the image without a tag or digest")
    return images


def tag(
    version: Annotated[
        str | None,
        typer.Option(
            "--version",
            help="The semantic version (1.2.3, v1.2.3-rc.1, 1.2.3+build.5) \\[from the CI's "
            "tag, else the version tags on the commit].",
            show_default=False,
        ),
    ] = None,
    commit: Annotated[
        str | None,
        typer.Option(
            "--commit",
            help="The commit, in hex \\[from the CI's variables, else git's HEAD].",
            show_default=False,
        ),
    ] = None,
    time: Annotated[
        str | None,
        typer.Option(
            "--time",
            help="Build time: now, commit (the commit's time), ISO 8601 or @UNIX-SECONDS "
            "\\[$SOURCE_DATE_EPOCH, else now].",
            show_default=False,
        ),
    ] = None,
    environment: Annotated[
        str | None,
        typer.Option(
            "--environment",
            "-e",
            help="Add the environment's name as a tag (staging, production).",
            show_default=False,
        ),
    ] = None,
    latest: Annotated[
        bool,
        typer.Option("--latest", help="Add `latest` (refused for a production environment)."),
    ] = False,
    images: Annotated[
        list[str] | None,
        typer.Option(
            "--image",
            "-i",
            help="Print HOST/REPOSITORY:TAG for this image; repeat for several.",
            show_default=False,
        ),
    ] = None,
    output_format: Annotated[
        TagFormat,
        typer.Option(
            "--format",
            "-f",
            help="lines (one per line), args (-t IMAGE:TAG ... for docker build), json, or "
            "github (the step's outputs in $GITHUB_OUTPUT).",
        ),
    ] = TagFormat.lines,
    push: Annotated[
        str | None,
        typer.Option(
            "--push",
            metavar="IMAGE",
            help="Apply the tags to this image, already in a registry "
            "(HOST/REPOSITORY:TAG or @DIGEST): a manifest PUT per tag, no blob moves.",
            show_default=False,
        ),
    ] = None,
    directory: Annotated[
        Path,
        typer.Option("--directory", "-C", help="The git work tree to read.", file_okay=False),
    ] = Path("."),
    registry: RegistryOption = None,
    plain_http: PlainHttpOption = False,
) -> None:
    """Print the tags of a build: v1.2.3, v1.2, v1, sha-a1b2c3d, v1.2.3-a1b2c3d,
    20250203-143045-a1b2c3d, the environment's on request, and `latest` only when asked.

    The version, commit and time come from the options, else from the CI's variables (GitHub
    Actions, GitLab CI, Jenkins, Buildkite), else from git. With --push, the tags are applied
    to an image already in a registry, server-side."""
    from cargohold.cli.build_facts import find_commit, find_time, find_version
    from cargohold.policy.image_tags import BuildFacts, TagRefused, image_tags

    names = _image_names(images or [])
    if output_format == TagFormat.args and not names and not push:
        raise fail("--format args needs --image (or --push) to name the image")
    outputs_file = _github_output_file() if output_format == TagFormat.github else None
    target = _push_target(push, registry, plain_http) if push else None
    if target is not None and not names:
        names = [target.docker_reference]
    env = os.environ
    try:
        found_commit = find_commit(commit, env, directory)
        found_version = find_version(version, env, directory, found_commit)
        built, time_source = find_time(time, env, directory, found_commit)
        facts = BuildFacts(
            found_commit.value, built, found_version.version, environment or None, latest
        )
        tags = image_tags(facts)
    except TagRefused as exc:
        raise fail(str(exc)) from None
    if found_version.note:
        print(f"note: {found_version.note}; give --version to add version tags", file=sys.stderr)
    pushed = _apply(target, tags) if target is not None else None
    refs = [f"{name}:{tag}" for name in names for tag in tags] if names else tags
    sources = {"commit": found_commit.source, "version": found_version.source, "time": time_source}
    report = _report(facts, tags, refs, sources, pushed)
    if output_format == TagFormat.json:
        print(json.dumps(report, indent=2))
    elif output_format == TagFormat.args:
        print(_args(refs))
    else:
        if outputs_file is not None:
            _github_outputs(outputs_file, report, refs)
        print("\n".join(refs))


def _args(refs: list[str]) -> str:
    return " ".join(f"-t {ref}" for ref in refs)


def _report(
    facts: BuildFacts,
    tags: list[str],
    refs: list[str],
    sources: dict[str, str | None],
    pushed: dict[str, Any] | None,
) -> dict[str, Any]:
    """What --format json prints (and the `json` output of --format github)."""
    from cargohold.policy.image_tags import SHORT_COMMIT

    version = facts.version
    report: dict[str, Any] = {
        "version": version.text if version else None,
        "commit": facts.commit,
        "short_commit": facts.commit[:SHORT_COMMIT],
        "time": facts.time.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "environment": facts.environment,
        "tags": tags,
        "refs": refs,
        "sources": sources,
    }
    if pushed is not None:
        report["pushed"] = pushed
    return report


def _github_output_file() -> str:
    path = os.environ.get("GITHUB_OUTPUT")
    if not path:
        raise fail("--format github: $GITHUB_OUTPUT is not set (it is, in a GitHub Actions step)")
    return path


def _github_outputs(path: str, report: dict[str, Any], refs: list[str]) -> None:
    """Append the step's outputs to $GITHUB_OUTPUT, as GitHub Actions reads them: NAME=VALUE,
    or NAME<<DELIMITER lines for a multi-line value (a delimiter no value can contain)."""
    outputs = {
        "tags": "\n".join(refs),
        "args": _args(refs),
        "version": report["version"] or "",
        "commit": report["commit"],
        "short_commit": report["short_commit"],
        "sha_tag": f"sha-{report['short_commit']}",
        "time": report["time"],
        "json": json.dumps(report, separators=(",", ":")),
    }
    lines = []
    for name, value in outputs.items():
        if "\n" in value:
            delimiter = f"ghadelimiter_{uuid.uuid4()}"
            lines.append(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")
        else:
            lines.append(f"{name}={value}\n")
    try:
        with open(path, "a", encoding="utf-8") as file:
            file.write("".join(lines))
    except OSError as exc:
        raise fail(f"$GITHUB_OUTPUT {path}: cannot write ({exc.strerror or exc})") from None


def _push_target(text: str, registry: str | None, plain_http: bool) -> RemoteImage:
    from cargohold.cli.trust_cmd import remote_image

    if "@" not in text and ":" not in text.rsplit("/", 1)[-1]:
        # No default `latest`: the tags would go to whatever it names at that moment.
        raise fail(f"--push {text}: name the image by tag or digest (REPOSITORY:TAG, @DIGEST)")
    return remote_image(text, registry, plain_http)


def _apply(target: RemoteImage, tags: list[str]) -> dict[str, Any]:
    """Write the image's manifest bytes under each tag; stop at the first refusal."""
    from cargohold.cli.registry_client import RegistryClient
    from cargohold.trust.discovery import SourceError

    applied: list[str] = []
    try:
        with RegistryClient(target.base, target.repository, push=True) as client:
            source = client.resolve(target.reference)
            for tag in tags:
                headers = client.put_manifest(tag, source.content, source.media_type)
                stored = headers.get("docker-content-digest")
                if stored and stored != source.digest:
                    raise fail(
                        f"{target.docker_reference}:{tag}: the registry stored the manifest as "
                        f"{stored}, not {source.digest}"
                    )
                applied.append(tag)
    except SourceError as exc:
        left = f" (applied before it: {', '.join(applied)})" if applied else ""
        raise fail(f"{exc}{left}") from None
    print(
        f"Tagged {target.at(source.digest)} with {len(applied)} tag(s)",
        file=sys.stderr,
    )
    return {"image": target.at(source.digest), "digest": source.digest, "tags": applied}
