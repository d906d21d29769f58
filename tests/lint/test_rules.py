"""Each rule on the smallest Dockerfile that shows it, and on the fixed one that must pass."""

from __future__ import annotations

from pathlib import Path

import pytest

from cargohold.lint import lint_text
from cargohold.lint.config import LintConfig, RuleException
from cargohold.lint.parse import DockerfileError, parse


def hits(text: str, config: LintConfig | None = None, context: Path | None = None) -> set[str]:
    """`RULE@LINE` for every finding."""
    return {
        f"{f.rule.id}@{f.line}" for f in lint_text(text, "Dockerfile", config, context).findings
    }


def rules(text: str, config: LintConfig | None = None, context: Path | None = None) -> set[str]:
    return {h.split("@")[0] for h in hits(text, config, context)}


# A final stage that passes every rule, to append a problem to.
CLEAN_TAIL = 'USER 10001\nCMD ["app"]\n'


def test_a_clean_multi_stage_dockerfile_has_no_findings(tmp_path: Path) -> None:
    (tmp_path / ".dockerignore").write_text(".git\n")
    text = """\
FROM golang:1.22@sha256:{digest} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -o /out/app .

FROM gcr.io/distroless/static-debian12@sha256:{digest}
COPY --from=build /out/app /app
USER 65532
ENTRYPOINT ["/app"]
"""
    text = text.format(digest="0123456789abcdef" * 4)
    assert hits(text, LintConfig(require_digest=True), tmp_path) == set()


# ---- CH101 build tools in the final image --------------------------------------------


def test_toolchain_base_in_the_final_image() -> None:
    assert "CH101@1" in hits("FROM node:18\n" + CLEAN_TAIL)
    assert "CH101@1" in hits("FROM maven:3.9-eclipse-temurin-21\n" + CLEAN_TAIL)
    assert "CH101@1" in hits("FROM eclipse-temurin:21-jdk\n" + CLEAN_TAIL)
    assert "CH101" not in rules("FROM node:18-alpine\n" + CLEAN_TAIL)
    assert "CH101" not in rules("FROM eclipse-temurin:21-jre\n" + CLEAN_TAIL)
    assert "CH101" not in rules("FROM python:3.12-slim\n" + CLEAN_TAIL)


def test_build_packages_installed_and_kept() -> None:
    kept = (
        "FROM debian:12-slim\nRUN apt-get update && apt-get install -y "
        "--no-install-recommends gcc libpq-dev && rm -rf /var/lib/apt/lists/*\n"
    )
    assert "CH101@2" in hits(kept + CLEAN_TAIL)
    purged = kept.replace("&& rm", "&& apt-get purge -y gcc libpq-dev && rm")
    assert "CH101" not in rules(purged + CLEAN_TAIL)
    virtual = (
        "FROM alpine:3.19\n"
        "RUN apk add --no-cache --virtual .deps gcc musl-dev && make && apk del .deps\n"
    )
    assert "CH101" not in rules(virtual + CLEAN_TAIL)
    assert "CH101@2" in hits(virtual.replace(" && apk del .deps", "") + CLEAN_TAIL)


def test_a_build_in_the_only_stage() -> None:
    single = "FROM node:20-slim\nCOPY package*.json ./\nRUN npm ci\nCOPY . .\nRUN npm run build\n"
    assert "CH101@5" in hits(single + CLEAN_TAIL)
    pruned = single + "RUN npm prune --omit=dev\n"
    assert "CH101" not in rules(pruned + CLEAN_TAIL)
    staged = (
        "FROM node:20-slim AS build\nRUN npm run build\n"
        "FROM node:20-slim\nCOPY --from=build /a /a\n"
    )
    assert "CH101" not in rules(staged + CLEAN_TAIL)


# ---- CH102 / CH403 / CH404 users --------------------------------------------------------


def test_no_user_or_root_user_in_the_final_stage() -> None:
    assert "CH102@1" in hits('FROM alpine:3.19\nCMD ["sh"]\n')
    assert "CH102@2" in hits('FROM alpine:3.19\nUSER root\nCMD ["sh"]\n')
    assert "CH102" not in rules("FROM alpine:3.19\n" + CLEAN_TAIL)
    # USER in a builder stage does not carry into another stage; FROM <stage> inherits it.
    assert "CH102@3" in hits("FROM alpine:3.19 AS a\nUSER 1000\nFROM alpine:3.19\n")
    assert "CH102" not in rules("FROM alpine:3.19 AS a\nUSER 1000\nFROM a\n")
    assert "CH102" not in rules("FROM gcr.io/distroless/static:nonroot\n")


def test_named_user_and_files_in_root_home() -> None:
    text = "FROM python:3.12-slim\nCOPY --from=b /root/.local /root/.local\nUSER app\n"
    assert {"CH403@3", "CH404@4"} <= hits("FROM python:3.12-slim AS b\n" + text)
    assert "CH404" not in rules("FROM alpine:3.19\nUSER 1000:1000\n")
    assert "CH404" not in rules("FROM alpine:3.19\nUSER $APP_UID\n")


# ---- CH103 / CH104 / CH105 base images -----------------------------------------------


def test_unpinned_bases() -> None:
    text = "FROM golang AS b\nFROM alpine:latest\nFROM b\nFROM scratch\n" + CLEAN_TAIL
    found = hits(text)
    assert {"CH103@1", "CH103@2"} <= found
    assert "CH103@3" not in found and "CH103@4" not in found
    assert "CH103" not in rules("FROM alpine@sha256:" + "0" * 64 + "\n" + CLEAN_TAIL)


def test_digest_required_by_the_config() -> None:
    text = "FROM alpine:3.19\n" + CLEAN_TAIL
    assert "CH104" not in rules(text)
    assert "CH104@1" in hits(text, LintConfig(require_digest=True))
    pinned = "FROM alpine:3.19@sha256:" + "a" * 64 + "\n" + CLEAN_TAIL
    assert "CH104" not in rules(pinned, LintConfig(require_digest=True))


def test_approved_bases() -> None:
    config = LintConfig(approved_bases=["python:3.12-slim*", "gcr.io/distroless/*", "alpine"])
    assert "CH105@1" in hits("FROM node:20-alpine\n" + CLEAN_TAIL, config)
    for base in (
        "python:3.12-slim-bookworm",
        "docker.io/library/alpine:3.19",
        "gcr.io/distroless/java21",
    ):
        assert "CH105" not in rules(f"FROM {base}\n" + CLEAN_TAIL, config), base
    # Only the final image's base is checked: a builder may be anything.
    assert "CH105" not in rules("FROM golang:1.22 AS b\nFROM alpine:3.19\n" + CLEAN_TAIL, config)
    assert "CH105" not in rules("FROM node:20\n" + CLEAN_TAIL)  # no list, no rule


def test_arg_defaults_resolve_the_base() -> None:
    text = "ARG V=latest\nFROM node:${V}\n" + CLEAN_TAIL
    assert "CH103@2" in hits(text)


# ---- CH2xx package managers -----------------------------------------------------------


def test_npm_install_and_dev_dependencies() -> None:
    text = "FROM node:20-alpine\nCOPY package*.json ./\nRUN npm install\n" + CLEAN_TAIL
    assert {"CH201@3", "CH202@3"} <= hits(text)
    assert "CH201" not in rules(text.replace("npm install", "npm install express"))
    ci = text.replace("npm install", "npm ci --omit=dev")
    assert not {"CH201", "CH202"} & rules(ci)
    env = text.replace("RUN npm install", "ENV NODE_ENV=production\nRUN npm ci")
    assert "CH202" not in rules(env)
    assert "CH201@2" in hits("FROM node:20-alpine\nRUN yarn install\n" + CLEAN_TAIL)
    assert "CH201" not in rules("FROM node:20-alpine\nRUN yarn install --frozen-lockfile\n")


def test_dev_dependencies_only_matter_where_they_reach_the_final_image() -> None:
    builder = "FROM node:20 AS b\nRUN npm ci\nRUN npm run build\nFROM node:20-slim\n"
    assert "CH202" not in rules(builder + "COPY --from=b /app/dist ./dist\n" + CLEAN_TAIL)
    copied = builder + "COPY --from=b /app/node_modules ./node_modules\n" + CLEAN_TAIL
    assert "CH202@2" in hits(copied)
    pip = "FROM python:3.12-slim\nRUN pip install --no-cache-dir -r requirements/dev.txt\n"
    assert "CH202@2" in hits(pip + CLEAN_TAIL)
    assert "CH202" not in rules(pip.replace("dev.txt", "base.txt") + CLEAN_TAIL)
    poetry = "FROM python:3.12-slim\nRUN poetry install\n"
    assert "CH202@2" in hits(poetry + CLEAN_TAIL)
    assert "CH202" not in rules(poetry.replace("install", "install --only main") + CLEAN_TAIL)


def test_pip_cache() -> None:
    text = "FROM python:3.12-slim\nRUN pip install -r requirements.txt\n" + CLEAN_TAIL
    assert "CH203@2" in hits(text)
    assert "CH203" not in rules(text.replace("install", "install --no-cache-dir"))
    assert "CH203" not in rules(
        text.replace("RUN", "RUN --mount=type=cache,target=/root/.cache/pip")
    )
    assert "CH203" not in rules(text.replace("RUN", "ENV PIP_NO_CACHE_DIR=1\nRUN"))
    assert "CH203@3" in hits(text.replace("RUN pip", "RUN echo\nRUN python3 -m pip"))
    # A builder stage's cache never reaches the final image.
    builder = (
        "FROM python:3.12 AS b\nRUN pip wheel -w /w x\nRUN pip install x\nFROM python:3.12-slim\n"
    )
    assert "CH203" not in rules(builder + CLEAN_TAIL)


def test_dependency_manifests_after_source() -> None:
    late = "FROM node:20-alpine\nWORKDIR /app\nCOPY . .\nRUN npm ci\n" + CLEAN_TAIL
    assert "CH204@3" in hits(late)
    early = late.replace(
        "COPY . .\nRUN npm ci", "COPY package.json package-lock.json ./\nRUN npm ci\nCOPY . ."
    )
    assert "CH204" not in rules(early)
    go = "FROM golang:1.22 AS b\nCOPY go.* ./\nRUN go mod download\nCOPY . .\nRUN go build .\n"
    assert "CH204" not in rules(go)
    assert "CH204@2" in hits("FROM golang:1.22 AS b\nCOPY . .\nRUN go build .\n")
    mounted = (
        "FROM python:3.12-slim\n"
        "RUN --mount=type=bind,source=uv.lock,target=uv.lock uv sync\nCOPY . .\nRUN uv sync\n"
    )
    assert "CH204" not in rules(mounted)


def test_apt_hygiene() -> None:
    bad = "FROM debian:12-slim\nRUN apt-get update && apt-get install curl\n" + CLEAN_TAIL
    assert {"CH205@2", "CH206@2", "CH208@2"} <= hits(bad)
    good = (
        "FROM debian:12-slim\nRUN apt-get update && apt-get install -y "
        "--no-install-recommends curl && rm -rf /var/lib/apt/lists/*\n"
    )
    assert not {"CH205", "CH206", "CH208"} & rules(good + CLEAN_TAIL)
    split = (
        "FROM debian:12-slim\nRUN apt-get update\n"
        "RUN apt-get install -yq --no-install-recommends curl\n"
    )
    assert {"CH206@2", "CH206@3"} <= hits(split + CLEAN_TAIL)
    cached = (
        "FROM debian:12-slim\nRUN --mount=type=cache,target=/var/lib/apt apt-get update "
        "&& apt-get -y install --no-install-recommends curl\n"
    )
    assert "CH206" not in rules(cached + CLEAN_TAIL)
    # The lists of a builder stage never reach the final image; recommends still cost time.
    builder = (
        "FROM debian:12 AS b\nRUN apt-get update && apt-get install -y gcc\nFROM debian:12-slim\n"
    )
    assert {"CH205@2"} == {h for h in hits(builder + CLEAN_TAIL) if h.startswith("CH20")}


def test_apk_cache() -> None:
    assert "CH207@2" in hits("FROM alpine:3.19\nRUN apk add curl\n" + CLEAN_TAIL)
    assert "CH207" not in rules("FROM alpine:3.19\nRUN apk add --no-cache curl\n" + CLEAN_TAIL)


def test_pipes_without_pipefail() -> None:
    text = "FROM debian:12-slim\nRUN curl -fsSL https://x/install.sh | sh\n" + CLEAN_TAIL
    assert "CH209@2" in hits(text)
    assert "CH209" not in rules(text.replace("RUN curl", "RUN set -o pipefail && curl"))
    shell = 'FROM debian:12-slim\nSHELL ["/bin/bash", "-o", "pipefail", "-c"]\nRUN a | b\n'
    assert "CH209" not in rules(shell + CLEAN_TAIL)
    assert "CH209" not in rules("FROM debian:12-slim\nRUN a || b\n" + CLEAN_TAIL)


# ---- CH3xx files and secrets -----------------------------------------------------------


def test_add() -> None:
    assert "CH301@2" in hits("FROM alpine:3.19\nADD app.py /app/\n" + CLEAN_TAIL)
    assert "CH301" not in rules("FROM alpine:3.19\nADD rootfs.tar.gz /\n" + CLEAN_TAIL)
    remote = "FROM alpine:3.19\nADD https://example.com/tool /usr/bin/tool\n" + CLEAN_TAIL
    assert hits(remote) & {"CH301@2", "CH302@2"} == {"CH302@2"}
    checked = remote.replace("ADD", "ADD --checksum=sha256:" + "1" * 64)
    assert "CH302" not in rules(checked)


def test_secrets_in_env_and_arg() -> None:
    text = "FROM alpine:3.19\nENV API_KEY=abc123 LOG_LEVEL=info\nARG DB_PASSWORD=hunter2\n"
    assert {"CH303@2", "CH303@3"} <= hits(text + CLEAN_TAIL)
    build_arg = (
        "FROM alpine:3.19\nARG NPM_TOKEN\nENV TOKEN=$NPM_TOKEN\nENV URL=https://${NPM_TOKEN}@x\n"
    )
    assert {"CH304@2", "CH304@3", "CH304@4"} <= hits(build_arg + CLEAN_TAIL)
    harmless = "FROM alpine:3.19\nENV TOKEN_FILE=/run/secrets/token PASSWORD_URL=https://x\n"
    assert not {"CH303", "CH304"} & rules(harmless + CLEAN_TAIL)
    assert "CH303@2" in hits("FROM alpine:3.19\nENV SECRET_KEY django-insecure\n" + CLEAN_TAIL)


def test_secret_files() -> None:
    for source in (".env", "config/.env.production", "id_rsa", "tls/server.pem", ".npmrc"):
        text = f"FROM alpine:3.19\nCOPY {source} /app/\n" + CLEAN_TAIL
        assert "CH305@2" in hits(text), source
    for source in (".env.example", "server.crt", "app.py"):
        assert "CH305" not in rules(f"FROM alpine:3.19\nCOPY {source} /app/\n" + CLEAN_TAIL)
    assert "CH305" not in rules("FROM alpine:3.19 AS a\nFROM alpine:3.19\nCOPY --from=a /x.pem /\n")


def test_copy_context_without_dockerignore(tmp_path: Path) -> None:
    text = "FROM alpine:3.19\nCOPY . /app\n" + CLEAN_TAIL
    assert "CH306@2" in hits(text, context=tmp_path)
    assert "CH306" not in rules(text)  # no context known (stdin): nothing to say
    (tmp_path / ".dockerignore").write_text(".git\n.env\n")
    assert "CH306" not in rules(text, context=tmp_path)


# ---- CH4xx runtime --------------------------------------------------------------------


def test_shell_form_commands_in_the_final_stage() -> None:
    assert "CH401@2" in hits("FROM alpine:3.19\nCMD node server.js\nUSER 1\n")
    assert "CH401@2" in hits("FROM alpine:3.19\nENTRYPOINT /app\nUSER 1\n")
    assert "CH401" not in rules('FROM alpine:3.19\nCMD ["node", "server.js"]\nUSER 1\n')
    # A HEALTHCHECK probe in shell form is fine (hadolint's DL3025 reports it).
    assert "CH401" not in rules("FROM alpine:3.19\nHEALTHCHECK CMD wget -q http://x\nUSER 1\n")
    assert "CH401" not in rules("FROM alpine:3.19 AS b\nCMD make\nFROM alpine:3.19\nUSER 1\n")


def test_healthcheck_on_services() -> None:
    assert "CH402@1" in hits("FROM alpine:3.19\nEXPOSE 80\n" + CLEAN_TAIL)
    assert "CH402@1" in hits('FROM python:3.12-slim\nUSER 1\nCMD ["gunicorn", "app:app"]\n')
    assert "CH402" not in rules("FROM alpine:3.19\nEXPOSE 80\nHEALTHCHECK NONE\n" + CLEAN_TAIL)
    assert "CH402" not in rules("FROM alpine:3.19\n" + CLEAN_TAIL)  # a job, not a service
    assert (
        next(
            f for f in lint_text("FROM alpine:3.19\nEXPOSE 80\n").findings if f.rule.id == "CH402"
        ).severity.value
        == "INFO"
    )


# ---- ignores, heredocs, parse errors -----------------------------------------------------


def test_inline_ignore_applies_to_the_next_instruction() -> None:
    text = "# cargohold-ignore CH102, CH103\nFROM alpine:latest\nRUN apk add curl\n"
    found = lint_text(text)
    assert {f.rule.id for f in found.findings} == {"CH207"}
    assert found.warnings == []
    typo = lint_text("FROM alpine:3.19\n# cargohold-ignore=CH999\nUSER 1\n")
    assert typo.warnings == ["Dockerfile:3: cargohold-ignore names unknown rule CH999"]


def test_config_ignores_and_exceptions() -> None:
    text = "FROM alpine:latest\nEXPOSE 80\n"
    config = LintConfig(ignore=["CH402"], exceptions=[RuleException(["CH102"], ["tools/*"])])
    assert rules(text, config) == {"CH102", "CH103"}
    in_tools = lint_text(text, "tools/debug/Dockerfile", config)
    assert {f.rule.id for f in in_tools.findings} == {"CH103"}


def test_heredoc_bodies_are_part_of_their_run() -> None:
    text = (
        "# syntax=docker/dockerfile:1\nFROM debian:12-slim\n"
        "RUN <<EOT\nset -e\napt-get update\napt-get install -y curl\nEOT\n" + CLEAN_TAIL
    )
    found = hits(text)
    assert {"CH205@3", "CH206@3"} <= found
    assert all(int(h.split("@")[1]) in (3,) for h in found)  # nothing from the body's lines


def test_not_a_dockerfile() -> None:
    with pytest.raises(DockerfileError, match="RUN before the first FROM"):
        parse("RUN echo hi\n")
    with pytest.raises(DockerfileError, match="no FROM"):
        parse("")
    with pytest.raises(DockerfileError, match="FROM without an image"):
        parse("FROM\n")
