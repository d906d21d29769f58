"""CH2xx: package managers: lockfiles, dev dependencies, caches, and the order of the COPYs."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterator

from cargohold.lint import catalog
from cargohold.lint.model import Finding, LintOptions, Rule
from cargohold.lint.parse import Dockerfile, Instruction, Stage
from cargohold.lint.shell import Command, commands

_DEV_REQUIREMENTS = re.compile(r"(^|[/_.-])(dev|test|tests|testing|lint|docs)([/_.-]|$)", re.I)
# Files that name a project's dependencies (globs allowed, as COPY takes them).
MANIFESTS = (
    "package.json", "package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml",
    "pnpm-workspace.yaml", "requirements*.txt", "requirements", "pyproject.toml", "poetry.lock",
    "Pipfile", "Pipfile.lock", "setup.py", "setup.cfg", "uv.lock", "go.mod", "go.sum",
    "pom.xml", ".mvn", "mvnw", "build.gradle", "build.gradle.kts", "settings.gradle",
    "settings.gradle.kts", "gradle", "gradlew", "Gemfile", "Gemfile.lock", "composer.json",
    "composer.lock", "Cargo.toml", "Cargo.lock", "*.csproj", "*.sln", "mix.exs", "mix.lock",
)  # fmt: skip
_WHOLE_CONTEXT = {".", "./", "*", "./*", ".//"}


def is_pip(command: Command) -> bool:
    if command.program in ("pip", "pip3") or re.fullmatch(r"pip3\.\d+", command.program):
        return command.subcommand() == "install"
    if re.fullmatch(r"python[\d.]*", command.program) and command.words[1:3] == ("-m", "pip"):
        return "install" in command.words[3:4]
    return False


def requirement_files(command: Command) -> list[str]:
    """The files of pip's `-r FILE`, `-rFILE` and `--requirement[=]FILE`."""
    files: list[str] = []
    words = command.words
    for index, word in enumerate(words):
        if word in ("-r", "--requirement") and index + 1 < len(words):
            files.append(words[index + 1])
        elif word.startswith("--requirement="):
            files.append(word.split("=", 1)[1])
        elif word.startswith("-r") and len(word) > 2 and not word.startswith("--"):
            files.append(word[2:])
    return files


def _is_npm_install(command: Command) -> bool:
    return command.program == "npm" and command.subcommand() in ("install", "i", "ci")


def _installs_lockfile(command: Command) -> bool:
    """`npm install` / `npm i` with no package names (it installs from package.json)."""
    return (
        command.program == "npm"
        and command.subcommand() in ("install", "i")
        and not (command.arguments()[1:])
    )


def _is_yarn_install(command: Command) -> bool:
    args = command.arguments()
    return command.program == "yarn" and (not args or args[0] == "install")


def check_lockfile(dockerfile: Dockerfile, options: LintOptions) -> Iterator[Finding]:
    for instruction, command in _runs(dockerfile.stages):
        if _installs_lockfile(command):
            yield Finding(
                catalog.NPM_INSTALL,
                instruction.line,
                "`npm install` resolves versions again instead of installing the lockfile",
                instruction.end_line,
            )
        elif _is_yarn_install(command) and not command.has("--frozen-lockfile", "--immutable"):
            yield Finding(
                catalog.NPM_INSTALL,
                instruction.line,
                "`yarn install` without --frozen-lockfile (or --immutable) may change versions",
                instruction.end_line,
            )


def production_stages(dockerfile: Dockerfile) -> list[Stage]:
    """The final image's lineage, and the stages it copies installed dependencies from
    (`COPY --from=deps /app/node_modules ...`, a virtualenv, site-packages, ~/.local)."""
    stages = list(dockerfile.final.lineage())
    for instruction in dockerfile.final.all_instructions():
        source = instruction.flag("from") if instruction.keyword == "COPY" else None
        stage = dockerfile.stage_named(source) if source else None
        if stage is not None and re.search(
            r"node_modules|site-packages|venv|/\.local|/install\b", instruction.args
        ):
            stages += [s for s in stage.lineage() if s not in stages]
    return stages


def check_dev_dependencies(dockerfile: Dockerfile, options: LintOptions) -> Iterator[Finding]:
    for stage in production_stages(dockerfile):
        production_env = _node_env_production(stage)
        runs = list(_runs([stage]))
        pruned = [i for i, c in runs if prunes_dev_dependencies(c)]
        for instruction, command in runs:
            why = _dev_install(command, production_env)
            if why and not any(p.line >= instruction.line for p in pruned):
                yield Finding(
                    catalog.DEV_DEPENDENCIES,
                    instruction.line,
                    f"{why} in a stage of the final image",
                    instruction.end_line,
                )


def _dev_install(command: Command, production_env: bool) -> str | None:
    production = production_env or command.env.get("NODE_ENV") == "production"
    if _is_npm_install(command) and not command.arguments()[1:]:
        omit = command.has("--production", "--omit", "--only") and not command.has("--include")
        if not (omit or production):
            return f"`npm {command.subcommand()}` installs devDependencies"
    if _is_yarn_install(command) and not (command.has("--production") or production):
        return "`yarn install` installs devDependencies"
    if is_pip(command):
        dev = [f for f in requirement_files(command) if _DEV_REQUIREMENTS.search(f)]
        if dev:
            return f"`pip install -r {dev[0]}` installs development requirements"
    if command.program == "poetry" and command.subcommand() == "install":
        if not command.has("--no-dev", "--without", "--only", "--only-root"):
            return "`poetry install` installs the dev group"
    if command.program == "pipenv" and command.has("--dev", "-d"):
        return "`pipenv install --dev` installs dev packages"
    if command.program == "composer" and command.subcommand() == "install":
        if not command.has("--no-dev"):
            return "`composer install` installs require-dev"
    return None


def prunes_dev_dependencies(command: Command) -> bool:
    """`npm prune --omit=dev` (or `--production`): the devDependencies are removed again."""
    return (
        command.program == "npm"
        and command.subcommand() == "prune"
        and command.has("--production", "--omit")
    )


def _node_env_production(stage: Stage) -> bool:
    for instruction in (i for s in reversed(stage.lineage()) for i in s.instructions):
        if instruction.keyword == "ENV" and re.search(
            r"\bNODE_ENV[= ]\"?production", instruction.args
        ):
            return True
    return False


def check_pip_cache(dockerfile: Dockerfile, options: LintOptions) -> Iterator[Finding]:
    lineage = dockerfile.final.all_instructions()
    if any(i.keyword == "ENV" and "PIP_NO_CACHE_DIR" in i.args for i in lineage):
        return
    for instruction, command in _runs(dockerfile.final.lineage()):
        if is_pip(command) and not command.has("--no-cache-dir") and not _cache_mount(instruction):
            yield Finding(
                catalog.PIP_CACHE,
                instruction.line,
                "`pip install` keeps its download cache in the layer",
                instruction.end_line,
            )


def _cache_mount(instruction: Instruction, target: str = "") -> bool:
    return any(
        key == "mount" and "type=cache" in value and target in value
        for key, value in instruction.flags
    )


def check_copy_order(dockerfile: Dockerfile, options: LintOptions) -> Iterator[Finding]:
    for stage in dockerfile.stages:
        broad: Instruction | None = None
        prepared = False  # manifests copied (or bind-mounted), or dependencies installed
        for instruction in stage.instructions:
            if instruction.keyword in ("COPY", "ADD") and not instruction.flag("from"):
                sources = copy_sources(instruction)
                if broad is None and any(s in _WHOLE_CONTEXT for s in sources):
                    broad = instruction
                elif broad is None and any(is_manifest(s) for s in sources):
                    prepared = True
            elif instruction.keyword == "RUN" and broad is None:
                prepared = (
                    prepared
                    or _mounts_manifest(instruction)
                    or any(_installs_deps(c) for c in commands(instruction))
                )
            elif instruction.keyword == "RUN" and not prepared:
                install = next((c for c in commands(instruction) if _installs_deps(c)), None)
                if install is not None:
                    yield Finding(
                        catalog.MANIFEST_AFTER_SOURCE,
                        broad.line,
                        f"`{broad.keyword} {broad.args}` comes before "
                        f"`{' '.join(install.words[:3])}` (line {instruction.line}): every "
                        "source change reinstalls the dependencies",
                        broad.end_line,
                    )
                    break


def _mounts_manifest(instruction: Instruction) -> bool:
    """`RUN --mount=type=bind,source=uv.lock,...`: the manifest is there without a COPY."""
    for key, value in instruction.flags:
        options = dict(part.partition("=")[::2] for part in value.split(","))
        if key == "mount" and options.get("type") == "bind":
            if is_manifest(options.get("source", options.get("src", ""))):
                return True
    return False


def is_manifest(source: str) -> bool:
    """Whether a COPY source is (or, as a glob, takes) a dependency manifest."""
    name = source.rstrip("/").rsplit("/", 1)[-1]
    return any(fnmatch.fnmatch(name, m) or fnmatch.fnmatch(m, name) for m in MANIFESTS)


def _installs_deps(command: Command) -> bool:
    program, action = command.program.removeprefix("./"), command.subcommand()
    if _is_npm_install(command) or _is_yarn_install(command):
        return not command.arguments()[1:] or action == "ci"
    if is_pip(command):
        return bool(requirement_files(command)) or "." in command.words or "-e" in command.words
    return (program, action) in {
        ("pnpm", "install"),
        ("poetry", "install"),
        ("pipenv", "install"),
        ("uv", "sync"),
        ("go", "build"),
        ("go", "mod"),
        ("mvn", "package"),
        ("mvn", "install"),
        ("mvn", "verify"),
        ("mvn", "dependency:go-offline"),
        ("mvnw", "package"),
        ("mvnw", "dependency:go-offline"),
        ("gradle", "build"),
        ("gradlew", "build"),
        ("bundle", "install"),
        ("composer", "install"),
        ("cargo", "build"),
        ("cargo", "fetch"),
        ("dotnet", "restore"),
        ("dotnet", "publish"),
    }


def copy_sources(instruction: Instruction) -> list[str]:
    """The source paths of a COPY or ADD (every word but the destination)."""
    import json

    if instruction.is_exec_form:
        try:
            words = json.loads(instruction.args)
        except ValueError:
            words = instruction.args.strip("[]").split(",")
    elif instruction.heredoc is not None:
        return []
    else:
        words = instruction.args.split()
    return [str(w).strip().strip("\"'") for w in words[:-1]]


def check_apt(dockerfile: Dockerfile, options: LintOptions) -> Iterator[Finding]:
    final = set(map(id, dockerfile.final.lineage()))
    for stage in dockerfile.stages:
        in_final = id(stage) in final
        for instruction in stage.instructions:
            if instruction.keyword == "RUN":
                yield from _apt_findings(instruction, commands(instruction), in_final)


def _apt_findings(
    instruction: Instruction, run: list[Command], in_final: bool
) -> Iterator[Finding]:
    apt = [c for c in run if c.program in ("apt-get", "apt")]
    installs = [c for c in apt if c.subcommand() == "install"]
    for command in installs:
        if not command.has("--no-install-recommends") and not any(
            "Install-Recommends" in w for w in command.words
        ):
            yield _finding(
                catalog.APT_RECOMMENDS,
                instruction,
                "`apt-get install` also installs recommended packages",
            )
        if not _assumes_yes(command):
            yield _finding(
                catalog.APT_NOT_NONINTERACTIVE,
                instruction,
                "`apt-get install` without -y stops at the confirmation prompt",
            )
    updates = installs or [c for c in apt if c.subcommand() == "update"]
    if in_final and updates and not _cleans_apt_lists(instruction):
        yield _finding(
            catalog.APT_LISTS,
            instruction,
            f"`{updates[0].program} {updates[0].subcommand()}` leaves /var/lib/apt/lists in "
            "this layer",
        )
    if in_final and any(
        c.program == "apk" and c.subcommand() == "add" and not c.has("--no-cache") for c in run
    ):
        if "/var/cache/apk" not in instruction.value:
            yield _finding(
                catalog.APK_CACHE,
                instruction,
                "`apk add` keeps the package index in /var/cache/apk",
            )


def _finding(rule: Rule, instruction: Instruction, message: str) -> Finding:
    return Finding(rule, instruction.line, message, instruction.end_line)


def _assumes_yes(command: Command) -> bool:
    return command.has("--yes", "--assume-yes") or any(
        re.fullmatch(r"-[A-Za-z]*y[A-Za-z]*", word) for word in command.words
    )


def _cleans_apt_lists(instruction: Instruction) -> bool:
    text = instruction.args + (instruction.heredoc or "")
    return "/var/lib/apt/lists" in text or _cache_mount(instruction, "/var/lib/apt")


def _runs(stages: list[Stage]) -> Iterator[tuple[Instruction, Command]]:
    for stage in stages:
        for instruction in stage.instructions:
            if instruction.keyword == "RUN":
                for command in commands(instruction):
                    yield instruction, command


CHECKS = (check_lockfile, check_dev_dependencies, check_pip_cache, check_copy_order, check_apt)
