"""CH3xx: ADD, secrets in the Dockerfile and in copied files, and the build context."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from pathlib import Path

from cargohold.lint import catalog
from cargohold.lint.model import Finding, LintOptions
from cargohold.lint.package_checks import copy_sources
from cargohold.lint.parse import Dockerfile, Instruction

_ARCHIVE = re.compile(r"\.(tar|tar\.(gz|bz2|xz|zst)|tgz|tbz2?|txz)$", re.IGNORECASE)
_URL = re.compile(r"^(https?|ftp)://", re.IGNORECASE)
_GIT = re.compile(r"^(git@|git://|https?://\S+\.git(#\S*)?$)", re.IGNORECASE)
_SECRET_NAME = re.compile(
    r"passw(or)?d|passphrase|secret|token|api_?key|private_?key|access_?key|credential|"
    r"auth_?key|client_?secret|_pwd$|^pwd$",
    re.IGNORECASE,
)
# Names that say where a secret is, not what it is.
_POINTER_NAME = re.compile(r"_(file|path|dir|url|uri|host|port|name|id|user|username|env)$", re.I)
_SECRET_FILE = re.compile(
    r"(^|/)(\.env(\.[\w.-]+)?|id_(rsa|dsa|ecdsa|ed25519)|[^/]*\.(pem|key|p12|pfx|jks|keystore)|"
    r"\.npmrc|\.pypirc|\.netrc|\.git-credentials|\.dockercfg|credentials(\.json)?|"
    r"\.ssh|\.aws|\.gnupg|secrets?\.(ya?ml|json|env))/?$",
    re.IGNORECASE,
)
_HARMLESS_ENV_FILE = re.compile(r"\.env\.(example|sample|template|dist|defaults?)$", re.I)
_VARIABLE = re.compile(r"^\$\{?\w+")


def check_add(dockerfile: Dockerfile, options: LintOptions) -> Iterator[Finding]:
    for instruction in _instructions(dockerfile, "ADD"):
        sources = copy_sources(instruction)
        remote = [s for s in sources if _URL.match(s) and not _GIT.match(s)]
        if remote and instruction.flag("checksum") is None:
            yield Finding(
                catalog.ADD_REMOTE,
                instruction.line,
                f"ADD {remote[0]} downloads without checking what arrives",
                instruction.end_line,
            )
        local = [s for s in sources if not _URL.match(s) and not _GIT.match(s)]
        if local and not all(_ARCHIVE.search(s) for s in local):
            yield Finding(
                catalog.ADD_LOCAL,
                instruction.line,
                f"ADD {' '.join(local)}: COPY says what it does (ADD also unpacks archives "
                "and fetches URLs)",
                instruction.end_line,
            )


def check_secret_variables(dockerfile: Dockerfile, options: LintOptions) -> Iterator[Finding]:
    everything = [*dockerfile.global_args, *(i for s in dockerfile.stages for i in s.instructions)]
    for instruction in everything:
        if instruction.keyword not in ("ENV", "ARG"):
            continue
        for name, value in variables(instruction):
            if not _SECRET_NAME.search(name) or _POINTER_NAME.search(name):
                continue
            if value and not _VARIABLE.match(value):
                yield Finding(
                    catalog.SECRET_VALUE,
                    instruction.line,
                    f"{instruction.keyword} {name} holds a literal value: it is stored in the "
                    "image for anyone who can pull it",
                    instruction.end_line,
                )
            elif instruction.keyword == "ARG" or value:
                source = "a build argument" if instruction.keyword == "ARG" else value
                yield Finding(
                    catalog.SECRET_BUILD_ARG,
                    instruction.line,
                    f"{instruction.keyword} {name} is filled from {source} at build time: "
                    "the value is recorded in the image",
                    instruction.end_line,
                )
        if instruction.keyword == "ENV":
            yield from _secret_references(instruction)


def _secret_references(instruction: Instruction) -> Iterator[Finding]:
    """`ENV INDEX_URL=https://${TOKEN}@host`: a secret variable copied into another one."""
    for name, value in variables(instruction):
        if _SECRET_NAME.search(name) and not _POINTER_NAME.search(name):
            continue  # reported above
        for reference in re.findall(r"\$\{?(\w+)", value):
            if _SECRET_NAME.search(reference) and not _POINTER_NAME.search(reference):
                yield Finding(
                    catalog.SECRET_BUILD_ARG,
                    instruction.line,
                    f"ENV {name} takes the value of {reference}: the secret is stored in "
                    "the image's environment",
                    instruction.end_line,
                )


def variables(instruction: Instruction) -> list[tuple[str, str]]:
    """`ENV`/`ARG` pairs: `NAME=value ...`, `ARG NAME`, and the old `ENV NAME value` form."""
    try:
        words = shlex.split(instruction.args)
    except ValueError:
        words = instruction.args.split()
    if not words:
        return []
    if instruction.keyword == "ENV" and "=" not in words[0]:
        return [(words[0], " ".join(words[1:]))]
    return [(w.partition("=")[0], w.partition("=")[2]) for w in words]


def check_secret_files(dockerfile: Dockerfile, options: LintOptions) -> Iterator[Finding]:
    for instruction in _instructions(dockerfile, "COPY", "ADD"):
        if instruction.flag("from"):
            continue
        secrets = [
            s
            for s in copy_sources(instruction)
            if _SECRET_FILE.search(s) and not _HARMLESS_ENV_FILE.search(s) and not _URL.match(s)
        ]
        if secrets:
            yield Finding(
                catalog.SECRET_FILE,
                instruction.line,
                f"{instruction.keyword} copies {', '.join(secrets)} into the image",
                instruction.end_line,
            )


def check_dockerignore(dockerfile: Dockerfile, options: LintOptions) -> Iterator[Finding]:
    context = dockerfile.context
    if context is None or has_dockerignore(dockerfile):
        return
    for instruction in _instructions(dockerfile, "COPY", "ADD"):
        if not instruction.flag("from") and any(
            s in (".", "./") for s in copy_sources(instruction)
        ):
            yield Finding(
                catalog.NO_DOCKERIGNORE,
                instruction.line,
                f"`{instruction.keyword} {instruction.args}` sends the whole context, and "
                f"{context / '.dockerignore'} does not exist (.git, node_modules, .env go in)",
                instruction.end_line,
            )


def has_dockerignore(dockerfile: Dockerfile) -> bool:
    """`.dockerignore` in the context, or `<Dockerfile>.dockerignore` beside the Dockerfile
    (BuildKit reads that one first)."""
    if dockerfile.context is None:
        return False
    beside = Path(dockerfile.path + ".dockerignore")
    return (dockerfile.context / ".dockerignore").is_file() or beside.is_file()


def _instructions(dockerfile: Dockerfile, *keywords: str) -> Iterator[Instruction]:
    for stage in dockerfile.stages:
        for instruction in stage.instructions:
            if instruction.keyword in keywords:
                yield instruction


CHECKS = (check_add, check_secret_variables, check_secret_files, check_dockerignore)
