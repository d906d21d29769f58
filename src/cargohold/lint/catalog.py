"""Every rule, with the ID that ignore comments and configs name (stable once published).

IDs are grouped by what they look at: CH1xx base images and stages, CH2xx dependencies and
package managers, CH3xx files and secrets, CH4xx how the container runs."""

from __future__ import annotations

from cargohold.lint.model import Rule, Severity

WARNING, ERROR, INFO = Severity.WARNING, Severity.ERROR, Severity.INFO

BUILD_TOOLS = Rule(
    "CH101",
    "build-tools-in-final-image",
    WARNING,
    "The final image carries compilers, headers or a build toolchain",
    "Build in a stage of its own (`FROM ... AS build`) and copy only the result into a slim "
    "final stage (`COPY --from=build`); remove build packages in the RUN that installed them.",
    ("size", "multi-stage"),
)
RUNS_AS_ROOT = Rule(
    "CH102",
    "runs-as-root",
    WARNING,
    "The final stage runs as root",
    "Create an unprivileged user and switch to it at the end of the final stage "
    "(`RUN useradd -r -u 10001 app` then `USER 10001`), or use a `nonroot` base image.",
    ("security",),
    ("DL3002",),
)
UNPINNED_BASE = Rule(
    "CH103",
    "base-image-unpinned",
    WARNING,
    "A base image has no tag, or the tag `latest`",
    "Name a version (`python:3.12-slim`), and pin it by digest for repeatable builds "
    "(`python:3.12-slim@sha256:...`).",
    ("reproducibility",),
    ("DL3006", "DL3007"),
)
DIGEST_REQUIRED = Rule(
    "CH104",
    "base-image-not-digest-pinned",
    WARNING,
    "A base image is not pinned by digest (the config asks for digests)",
    "Append the digest of the image you tested: `FROM IMAGE:TAG@sha256:...` "
    "(`docker buildx imagetools inspect IMAGE:TAG` prints it).",
    ("reproducibility", "supply-chain"),
)
UNAPPROVED_BASE = Rule(
    "CH105",
    "base-image-not-approved",
    ERROR,
    "The final image's base is not one of the approved base images",
    "Build on one of the approved base images listed in the lint config (`approved_bases`), "
    "or ask for this one to be added.",
    ("standardization",),
    ("DL3026",),
)
NPM_INSTALL = Rule(
    "CH201",
    "lockfile-not-enforced",
    WARNING,
    "`npm install` (or `yarn install` without a frozen lockfile) where `npm ci` belongs",
    "Use `npm ci` (or `yarn install --frozen-lockfile` / `--immutable`): it installs exactly "
    "the lockfile and fails when package.json and the lockfile disagree.",
    ("reproducibility",),
)
DEV_DEPENDENCIES = Rule(
    "CH202",
    "dev-dependencies-in-production",
    WARNING,
    "Development dependencies are installed into the final image",
    "Install production dependencies only in the final image (`npm ci --omit=dev`, "
    "`poetry install --only main`, no requirements-dev.txt), or `npm prune --omit=dev` "
    "after building.",
    ("size", "security"),
)
PIP_CACHE = Rule(
    "CH203",
    "pip-cache-kept",
    WARNING,
    "`pip install` without `--no-cache-dir` leaves pip's cache in the final image",
    "Add `--no-cache-dir` (or set `ENV PIP_NO_CACHE_DIR=1`, or use "
    "`RUN --mount=type=cache,target=/root/.cache/pip`).",
    ("size",),
    ("DL3042",),
)
MANIFEST_AFTER_SOURCE = Rule(
    "CH204",
    "dependency-manifests-after-source",
    WARNING,
    "The source is copied before the dependencies are installed (cache-busting order)",
    "Copy the dependency manifests first (package*.json, requirements.txt, go.mod/go.sum, "
    "pom.xml, ...), install the dependencies, then `COPY . .`: a source change then reuses "
    "the cached dependency layer.",
    ("build-cache",),
)
APT_RECOMMENDS = Rule(
    "CH205",
    "apt-install-recommends",
    WARNING,
    "`apt-get install` without `--no-install-recommends`",
    "Add `--no-install-recommends`: recommended packages are rarely needed and often large.",
    ("size",),
    ("DL3015",),
)
APT_LISTS = Rule(
    "CH206",
    "apt-lists-kept",
    WARNING,
    "`apt-get update` or `install` without cleaning the package lists in the same layer",
    "End the same RUN with `&& rm -rf /var/lib/apt/lists/*` (a later RUN cannot shrink an "
    "earlier layer), or use `RUN --mount=type=cache,target=/var/lib/apt`.",
    ("size",),
    ("DL3009",),
)
APK_CACHE = Rule(
    "CH207",
    "apk-cache-kept",
    WARNING,
    "`apk add` without `--no-cache` leaves the package index in the final image",
    "Use `apk add --no-cache ...`.",
    ("size",),
    ("DL3019",),
)
APT_NOT_NONINTERACTIVE = Rule(
    "CH208",
    "apt-install-without-yes",
    WARNING,
    "`apt-get install` without `-y` waits for an answer no build can give",
    "Add `-y` (`apt-get install -y --no-install-recommends ...`).",
    ("correctness",),
    ("DL3014",),
)
PIPE_WITHOUT_PIPEFAIL = Rule(
    "CH209",
    "pipe-without-pipefail",
    WARNING,
    "A RUN pipes commands without `pipefail`: a failing download passes the build",
    'Start the stage with `SHELL ["/bin/bash", "-o", "pipefail", "-c"]` (or `set -o pipefail` '
    "in the RUN, where the shell has it), or download to a file and check it first.",
    ("correctness", "supply-chain"),
    ("DL4006",),
)
ADD_LOCAL = Rule(
    "CH301",
    "add-for-local-files",
    WARNING,
    "`ADD` used to copy local files",
    "Use `COPY` for local files and directories; keep `ADD` for local tar archives it should "
    "unpack.",
    ("clarity",),
    ("DL3020",),
)
ADD_REMOTE = Rule(
    "CH302",
    "add-remote-without-checksum",
    ERROR,
    "`ADD` downloads a URL without verifying a checksum",
    "Add `--checksum=sha256:...` (Dockerfile syntax 1.6+), or download with curl and check "
    "the hash with `sha256sum -c` in the same RUN.",
    ("security", "supply-chain"),
)
SECRET_VALUE = Rule(
    "CH303",
    "secret-in-env-or-arg",
    ERROR,
    "A secret-looking `ENV` or `ARG` has a value written in the Dockerfile",
    "Never bake secrets into an image: pass them at run time (environment, mounted files) "
    "or at build time with `RUN --mount=type=secret,id=NAME`.",
    ("security", "secrets"),
    ("DL3064",),
)
SECRET_BUILD_ARG = Rule(
    "CH304",
    "secret-through-build-arg",
    WARNING,
    "A secret-looking build argument or environment variable is filled in at build time",
    "Build arguments and environment variables are recorded in the image's history and "
    "config; use `RUN --mount=type=secret,id=NAME` for build secrets.",
    ("security", "secrets"),
    ("DL3064",),
)
SECRET_FILE = Rule(
    "CH305",
    "secret-file-copied",
    ERROR,
    "A file that usually holds secrets (.env, id_rsa, *.pem, .npmrc, ...) is copied in",
    "Keep secret files out of the image: mount them with `RUN --mount=type=secret`, and list "
    "them in .dockerignore. A public certificate can be named *.crt instead.",
    ("security", "secrets"),
)
NO_DOCKERIGNORE = Rule(
    "CH306",
    "copy-context-without-dockerignore",
    WARNING,
    "The whole build context is copied and there is no .dockerignore",
    "Add a .dockerignore that excludes .git, node_modules, build output, .env and keys, so "
    "they neither reach the image nor bust the cache.",
    ("security", "build-cache"),
)
SHELL_FORM = Rule(
    "CH401",
    "shell-form-command",
    WARNING,
    "`CMD` or `ENTRYPOINT` in shell form",
    'Use the exec form, `CMD ["node", "server.js"]`: in shell form the process runs under '
    "`/bin/sh -c`, is not PID 1 and does not receive SIGTERM, so stops take the full timeout.",
    ("runtime",),
    ("DL3025",),
)
NO_HEALTHCHECK = Rule(
    "CH402",
    "healthcheck-missing",
    INFO,
    "A service image has no `HEALTHCHECK`",
    "Add `HEALTHCHECK CMD ...` that probes the service (or `HEALTHCHECK NONE` when an "
    "orchestrator's probes do the job).",
    ("runtime",),
    ("DL3057",),
)
ROOT_HOME = Rule(
    "CH403",
    "files-in-root-home-for-non-root-user",
    WARNING,
    "Files are copied into /root, but the container runs as another user",
    "/root is mode 700 in Debian and Alpine based images, so the unprivileged user cannot "
    "read it: install into a virtualenv or `pip install --prefix=/install` and copy that to "
    "/usr/local or /opt, or copy into the user's home with `--chown`.",
    ("correctness", "security"),
)
NAMED_USER = Rule(
    "CH404",
    "non-numeric-user",
    INFO,
    "The final `USER` is a name, not a numeric UID",
    "Use the numeric UID (`USER 10001` or `USER 10001:10001`): Kubernetes' "
    "`runAsNonRoot` can only verify a numeric user, and a name must exist in /etc/passwd.",
    ("runtime",),
    ("DL3066",),
)

RULES: tuple[Rule, ...] = (
    BUILD_TOOLS,
    RUNS_AS_ROOT,
    UNPINNED_BASE,
    DIGEST_REQUIRED,
    UNAPPROVED_BASE,
    NPM_INSTALL,
    DEV_DEPENDENCIES,
    PIP_CACHE,
    MANIFEST_AFTER_SOURCE,
    APT_RECOMMENDS,
    APT_LISTS,
    APK_CACHE,
    APT_NOT_NONINTERACTIVE,
    PIPE_WITHOUT_PIPEFAIL,
    ADD_LOCAL,
    ADD_REMOTE,
    SECRET_VALUE,
    SECRET_BUILD_ARG,
    SECRET_FILE,
    NO_DOCKERIGNORE,
    SHELL_FORM,
    NO_HEALTHCHECK,
    ROOT_HOME,
    NAMED_USER,
)
BY_ID = {rule.id: rule for rule in RULES}
