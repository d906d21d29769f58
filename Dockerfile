# cargohold's container image: `docker build -t cargohold .` at the repository root.
#
# Two stages on one Debian base. The build stage makes a virtualenv in /opt/cargohold with
# cargohold and its dependencies (all of them ship as wheels: no compiler is needed, none is
# installed; binutils only strips debug sections); the final stage gets Debian's python3, that
# virtualenv and nothing else: no pip, no setuptools, no compiler, no apt lists. It runs as the
# unprivileged user 10001.
#
# BASE pins the base image by digest. It is debian:bookworm-slim (Debian 12, the python3 3.11
# both stages use); bump the digest (and only with the tag it was read from) when Debian
# publishes a new point release. Another base of the same Debian release can be given with
# `--build-arg BASE=...`, e.g. a copy in your own registry.
#
# Behind a TLS-intercepting proxy, give pip its CA bundle as a build secret (it never lands in
# a layer): `docker build --secret id=ca-bundle,src=/etc/ssl/certs/ca-certificates.crt .`;
# a package mirror: `--build-arg PIP_INDEX_URL=https://mirror.example/simple`.
ARG BASE=docker.io/library/debian:bookworm-slim@sha256:3783cc01769c7b2b1b83a5c5ad96c815348e28ed7da68e2e3687004faa906251

FROM ${BASE} AS build
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv binutils \
 && apt-get clean && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /opt/cargohold
ARG PIP_INDEX_URL
ARG PIP_EXTRA_INDEX_URL
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# The dependencies first, from pyproject.toml alone (a change to the sources reuses this
# layer), as wheels only: an sdist would need a compiler.
COPY pyproject.toml /src/
RUN --mount=type=secret,id=ca-bundle \
    if [ -s /run/secrets/ca-bundle ]; then export PIP_CERT=/run/secrets/ca-bundle; fi \
 && python3 -c 'import tomllib; print("\n".join(tomllib.load(open("/src/pyproject.toml", "rb"))["project"]["dependencies"]))' > /src/requirements.txt \
 && /opt/cargohold/bin/pip install --only-binary=:all: -r /src/requirements.txt
COPY README.md /src/
COPY src/ /src/src/
# cargohold itself (a pure-Python wheel: setuptools builds it from source in pip's isolated
# build environment), then pip and setuptools leave the virtualenv.
RUN --mount=type=secret,id=ca-bundle \
    if [ -s /run/secrets/ca-bundle ]; then export PIP_CERT=/run/secrets/ca-bundle; fi \
 && /opt/cargohold/bin/pip install --no-deps /src \
 && /opt/cargohold/bin/pip uninstall -y pip setuptools \
 && /opt/cargohold/bin/cargohold --version
# Several wheels ship their extension modules with debug sections (uvloop, zstandard: tens of
# MB); the bundled libraries in *.libs/ are left as auditwheel made them.
RUN find /opt/cargohold -name '*.so' -not -path '*.libs/*' -exec strip --strip-debug {} +

FROM ${BASE}
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/debconf/*-old /var/log/dpkg.log /var/log/apt/*
RUN groupadd --system --gid 10001 cargohold \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/cargohold --no-create-home \
      --shell /usr/sbin/nologin cargohold \
 && install -d -o 10001 -g 10001 -m 0750 /var/lib/cargohold
COPY --from=build /opt/cargohold /opt/cargohold
COPY deploy/container/healthcheck.py /usr/local/bin/cargohold-healthcheck
ENV PATH=/opt/cargohold/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CARGOHOLD_ADDR=0.0.0.0:5000 \
    CARGOHOLD_DATA_DIR=/var/lib/cargohold \
    CARGOHOLD_LOG_FORMAT=json
WORKDIR /var/lib/cargohold
USER 10001:10001
VOLUME ["/var/lib/cargohold"]
EXPOSE 5000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python3", "/usr/local/bin/cargohold-healthcheck"]
ENTRYPOINT ["cargohold"]
# The address comes from CARGOHOLD_ADDR (0.0.0.0:5000 above) so that `-e CARGOHOLD_ADDR=...`
# moves it, and the health check with it; a flag would win over the variable.
CMD ["serve"]
