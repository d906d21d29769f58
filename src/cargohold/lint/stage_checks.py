"""CH1xx and CH4xx: the base images, the stages, and how the final image runs."""

from __future__ import annotations

import re
from collections.abc import Iterator

from cargohold.lint import catalog
from cargohold.lint.images import BaseImage, matches, split_image
from cargohold.lint.model import Finding, LintOptions
from cargohold.lint.package_checks import prunes_dev_dependencies
from cargohold.lint.parse import Dockerfile, Instruction, Stage
from cargohold.lint.shell import Command, commands

# Packages that are compilers, headers or build systems, in apt, apk, dnf/yum and zypper names.
_BUILD_PACKAGE = re.compile(
    r"^(gcc|g\+\+|gcc-\S+|g\+\+-\S+|cpp|clang|llvm|make|cmake|ninja-build|build-essential|"
    r"build-base|autoconf|automake|libtool|pkg-?config|pkgconf|musl-dev|libc6?-dev|"
    r"linux-headers|golang(-go)?|rustc|cargo|maven|gradle|openjdk-?\d*-jdk(-headless)?|"
    r"java-\S+-devel|\S+-dev|\S+-devel)(=\S*)?$"
)
_INSTALLERS = {"apt-get": "install", "apt": "install", "apk": "add", "yum": "install"}
_INSTALLERS |= {"dnf": "install", "microdnf": "install", "zypper": "install"}
_REMOVERS = {"apt-get": ("purge", "remove"), "apt": ("purge", "remove")}
_REMOVERS |= {"apk": ("del",), "yum": ("remove",), "dnf": ("remove",)}
# Official images that are toolchains (their final stage carries a compiler or an SDK). The
# default `node`, `python` and `ruby` tags are built on buildpack-deps, which brings gcc, make
# and hundreds of headers; their -slim and -alpine variants do not.
_TOOLCHAIN_IMAGES = {"golang", "rust", "maven", "gradle", "gcc", "buildpack-deps", "sbt"}
_FULL_VARIANT_IMAGES = {"node", "python", "ruby", "perl", "haskell", "elixir"}
_JDK_IMAGES = {"openjdk", "eclipse-temurin", "amazoncorretto", "ibmjava", "sapmachine"}
_SLIM = re.compile(r"slim|alpine|distroless|jre|chiseled|minimal|busybox", re.IGNORECASE)
_BUILD_COMMANDS = {
    "go": ("build", "install"),
    "mvn": ("package", "install", "verify"),
    "mvnw": ("package", "install", "verify"),
    "gradle": ("build", "assemble", "bootjar", "installdist", "shadowjar"),
    "gradlew": ("build", "assemble", "bootjar", "installdist", "shadowjar"),
    "cargo": ("build", "install"),
    "dotnet": ("build", "publish"),
    "javac": ("",),
    "tsc": ("",),
    "make": ("",),
    "npm": ("run",),
    "yarn": ("build", "run"),
}
_NON_ROOT_IMAGE = re.compile(r"nonroot|non-root|unprivileged|rootless", re.IGNORECASE)
_ROOT_USERS = {"root", "0", "root:root", "0:0", "root:0", "0:root"}
_SERVERS = {"gunicorn", "uvicorn", "hypercorn", "daphne", "nginx", "httpd", "caddy", "apache2"}


def external_stages(dockerfile: Dockerfile) -> Iterator[tuple[Stage, BaseImage]]:
    """The stages built on an image from a registry (not `scratch`, not another stage, not an
    unresolved `$VARIABLE`), with that image."""
    for stage in dockerfile.stages:
        if stage.base_stage is None and stage.base.lower() != "scratch" and "$" not in stage.base:
            yield stage, split_image(stage.base)


def final_base(dockerfile: Dockerfile) -> tuple[Stage, BaseImage | None]:
    """The stage at the root of the final image's lineage, and its registry image if any."""
    root = dockerfile.final.lineage()[-1]
    if root.base.lower() == "scratch" or "$" in root.base:
        return root, None
    return root, split_image(root.base)


def check_build_tools(dockerfile: Dockerfile, options: LintOptions) -> Iterator[Finding]:
    root, base = final_base(dockerfile)
    found = False
    if base is not None and is_toolchain(base):
        found = True
        yield Finding(
            catalog.BUILD_TOOLS,
            root.line,
            f"the final image is built on {root.base}, a toolchain image (compilers, headers, "
            "package managers)",
        )
    lineage = dockerfile.final.all_instructions()
    for instruction in lineage:
        if instruction.keyword != "RUN":
            continue
        run = commands(instruction)
        packages = _build_packages(run)
        if packages:
            found = True
            yield Finding(
                catalog.BUILD_TOOLS,
                instruction.line,
                f"build packages installed into the final image: {', '.join(packages)}",
                instruction.end_line,
            )
    if found or len(dockerfile.stages) > 1:
        return
    runs = [(i, c) for i in lineage if i.keyword == "RUN" for c in commands(i)]
    build = next(((i, c) for i, c in runs if _is_build(c)), None)
    if build is None or (
        build[1].program in ("npm", "yarn") and any(prunes_dev_dependencies(c) for _, c in runs)
    ):
        return  # nothing built, or a node build whose devDependencies are pruned after it
    instruction, command = build
    if any(c.subcommand() in _REMOVERS.get(c.program, ()) for c in commands(instruction)):
        return  # the RUN that builds removes its build packages again
    yield Finding(
        catalog.BUILD_TOOLS,
        instruction.line,
        f"a single-stage build runs `{' '.join(command.words[:3])}`: the toolchain, the "
        "sources and the intermediate files stay in the final image",
        instruction.end_line,
    )


def is_toolchain(base: BaseImage) -> bool:
    repository, tag = base.repository, (base.tag or "latest")
    if base.name.startswith("docker.io/library/"):
        if repository in _TOOLCHAIN_IMAGES:
            return True
        if repository in _FULL_VARIANT_IMAGES:
            return not _SLIM.search(tag)
    if repository in _JDK_IMAGES:
        return "jre" not in tag.lower()
    return False


def _build_packages(run: list[Command]) -> list[str]:
    """Build packages one RUN installs and does not remove again (`apt-get purge`, `apk del`
    of the packages or of their `--virtual` group; a `$VARIABLE` list counts as all)."""
    installed: list[tuple[str, str | None]] = []
    removed: set[str] = set()
    for command in run:
        action = command.subcommand()
        if _INSTALLERS.get(command.program) == action:
            group = _virtual_group(command)
            installed += [(p, group) for p in command.arguments()[1:] if _BUILD_PACKAGE.match(p)]
        elif action in _REMOVERS.get(command.program, ()):
            removed.update(command.arguments()[1:])
    if any("$" in name for name in removed):
        return []
    return [
        package
        for package, group in installed
        if package not in removed and package.split("=")[0] not in removed and group not in removed
    ]


def _virtual_group(command: Command) -> str | None:
    """The name of apk's `--virtual NAME` (or `-t NAME`) group, which `apk del NAME` removes."""
    words = list(command.words)
    for index, word in enumerate(words):
        if word.startswith("--virtual="):
            return word.split("=", 1)[1]
        if word in ("--virtual", "-t") and index + 1 < len(words):
            return words[index + 1]
    return None


def _is_build(command: Command) -> bool:
    actions = _BUILD_COMMANDS.get(command.program.removeprefix("./"))
    if actions is None:
        return False
    if actions == ("",):
        return True
    action = command.subcommand().lower()
    if command.program in ("npm", "yarn") and action == "run":
        return "build" in command.arguments()[1:2]
    return action in actions


def check_user(dockerfile: Dockerfile, options: LintOptions) -> Iterator[Finding]:
    lineage = dockerfile.final.all_instructions()
    users = [i for i in lineage if i.keyword == "USER"]
    if not users:
        _, base = final_base(dockerfile)
        if base is None or not _NON_ROOT_IMAGE.search(f"{base.name}:{base.tag}"):
            yield Finding(
                catalog.RUNS_AS_ROOT,
                dockerfile.final.line,
                "the final stage has no USER instruction, so the container runs as root",
            )
        return
    last = users[-1]
    user = last.args.strip()
    if user in _ROOT_USERS:
        yield Finding(
            catalog.RUNS_AS_ROOT, last.line, f"the final stage switches to `USER {user}` last"
        )
        return
    if user and not re.fullmatch(r"\d+(:\d+)?", user) and "$" not in user:
        yield Finding(
            catalog.NAMED_USER,
            last.line,
            f"`USER {user}`: Kubernetes cannot verify runAsNonRoot for a user name",
        )
    for instruction in lineage:
        if instruction.keyword in ("COPY", "ADD") and _into_root_home(instruction):
            yield Finding(
                catalog.ROOT_HOME,
                instruction.line,
                f"`{instruction.keyword} {instruction.value}` puts files under /root, which "
                f"`USER {user}` (line {last.line}) cannot read",
                instruction.end_line,
            )


def _into_root_home(instruction: Instruction) -> bool:
    words = instruction.args.split()
    if not words or instruction.is_exec_form:
        return False
    return words[-1] == "/root" or words[-1].startswith("/root/")


def check_base_pinning(dockerfile: Dockerfile, options: LintOptions) -> Iterator[Finding]:
    for stage, image in external_stages(dockerfile):
        if image.digest is None and image.tag in (None, "latest"):
            why = "has no tag (docker pulls `latest`)" if image.tag is None else "is `latest`"
            yield Finding(
                catalog.UNPINNED_BASE,
                stage.line,
                f"base image {stage.base} {why}: every build may get a different image",
            )
        elif options.require_digest and image.digest is None:
            yield Finding(
                catalog.DIGEST_REQUIRED,
                stage.line,
                f"base image {stage.base} is not pinned by digest",
            )


def check_approved_base(dockerfile: Dockerfile, options: LintOptions) -> Iterator[Finding]:
    if not options.approved_bases:
        return
    root, base = final_base(dockerfile)
    if base is None or any(matches(base, pattern) for pattern in options.approved_bases):
        return
    yield Finding(
        catalog.UNAPPROVED_BASE,
        root.line,
        f"the final image's base {root.base} is not an approved base image "
        f"(approved: {', '.join(options.approved_bases)})",
    )


def check_shell_form(dockerfile: Dockerfile, options: LintOptions) -> Iterator[Finding]:
    for instruction in dockerfile.final.all_instructions():
        if instruction.keyword in ("CMD", "ENTRYPOINT") and not instruction.is_exec_form:
            yield Finding(
                catalog.SHELL_FORM,
                instruction.line,
                f"`{instruction.keyword} {instruction.args}` runs under /bin/sh -c: the process "
                "does not get SIGTERM",
                instruction.end_line,
            )


def check_healthcheck(dockerfile: Dockerfile, options: LintOptions) -> Iterator[Finding]:
    lineage = dockerfile.final.all_instructions()
    if any(i.keyword == "HEALTHCHECK" for i in lineage) or not _is_service(lineage):
        return
    yield Finding(
        catalog.NO_HEALTHCHECK,
        dockerfile.final.line,
        "the image serves a port or runs a server but has no HEALTHCHECK",
    )


def _is_service(lineage: list[Instruction]) -> bool:
    if any(i.keyword == "EXPOSE" for i in lineage):
        return True
    starts = [i for i in lineage if i.keyword in ("CMD", "ENTRYPOINT")]
    return any(c.program in _SERVERS for i in starts for c in commands(i))


CHECKS = (
    check_build_tools,
    check_user,
    check_base_pinning,
    check_approved_base,
    check_shell_form,
    check_healthcheck,
)
