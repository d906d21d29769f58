"""The compose files under deploy/compose/: valid for docker-compose (Debian's docker-compose
checks them against the compose schema), and wired the way cargohold needs.

No container is started (the stack's images come from Docker Hub, which this machine cannot
reach): `docker-compose config` resolves each file as `up` would, and the tests read that.
"""

from __future__ import annotations

import ipaddress
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.files import COMPOSE, NGINX_CONF, load, unknown_settings

DOCKER_COMPOSE = "/usr/bin/docker-compose"
SECRETS = {"CARGOHOLD_ADMIN_PASSWORD": "a long admin password", "POSTGRES_PASSWORD": "pg-secret"}
NODES = ("cargohold-1", "cargohold-2")


def _compose(
    file: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    if not os.access(DOCKER_COMPOSE, os.X_OK):
        raise RuntimeError(
            f"{DOCKER_COMPOSE} is missing: install the Debian package docker-compose"
        )
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKER_", "COMPOSE_"))}
    return subprocess.run(
        [DOCKER_COMPOSE, "--file", str(file), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**base, **(env if env is not None else SECRETS)},
        cwd=file.parent,
        check=False,
    )


def _resolved(file: Path) -> dict[str, Any]:
    done = _compose(file, "config")
    assert done.returncode == 0, done.stderr
    return yaml.safe_load(done.stdout)  # type: ignore[no-any-return]


@pytest.mark.parametrize("name", ["single-node.yaml", "scaled.yaml"])
def test_each_compose_file_is_valid(name: str) -> None:
    done = _compose(COMPOSE / name, "config", "--quiet")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""


@pytest.mark.parametrize("name", ["single-node.yaml", "scaled.yaml"])
def test_a_compose_file_refuses_to_start_without_the_first_admin_password(name: str) -> None:
    env = {k: v for k, v in SECRETS.items() if k != "CARGOHOLD_ADMIN_PASSWORD"}
    done = _compose(COMPOSE / name, "config", "--quiet", env=env)
    assert done.returncode != 0
    assert "set CARGOHOLD_ADMIN_PASSWORD for the first admin" in done.stderr


def _mounts(service: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(source, target, mode) of each of a service's volumes, as `config` writes them
    (`source:target:mode`; a bind mount's source is an absolute path)."""
    mounts = []
    for entry in service.get("volumes", []):
        source, target, mode = entry.split(":")
        mounts.append((source, target, mode))
    return mounts


def _cargohold_services(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: service
        for name, service in config["services"].items()
        if service.get("image", "").startswith("cargohold")
    }


@pytest.mark.parametrize("name", ["single-node.yaml", "scaled.yaml"])
def test_every_cargohold_setting_in_a_compose_file_is_one_cargohold_reads(name: str) -> None:
    services = _cargohold_services(_resolved(COMPOSE / name))
    assert services
    for service in services.values():
        environment = {k: str(v) for k, v in service["environment"].items()}
        assert unknown_settings(environment) == []
        load(environment)  # every value is accepted
        assert [m[1] for m in _mounts(service)] == ["/var/lib/cargohold"]


def test_the_single_node_publishes_the_registry_and_keeps_its_data_in_a_volume() -> None:
    config = _resolved(COMPOSE / "single-node.yaml")
    (service,) = _cargohold_services(config).values()
    assert service["build"]["context"] == str(COMPOSE.parents[1])  # the repository root
    assert [(p["published"], p["target"]) for p in service["ports"]] == [(5000, 5000)]
    ((source, target, mode),) = _mounts(service)
    assert (source, target, mode) == ("cargohold-data", "/var/lib/cargohold", "rw")
    assert source in config["volumes"]


def test_the_scaled_nodes_share_their_settings_and_stores_and_the_worker_runs_the_jobs() -> None:
    config = _resolved(COMPOSE / "scaled.yaml")
    services = config["services"]
    cargohold = _cargohold_services(config)
    assert set(cargohold) == {*NODES, "worker"}

    first, second = (services[node] for node in NODES)
    assert first["environment"] == second["environment"]
    assert first["volumes"] == second["volumes"] == services["worker"]["volumes"]
    assert "ports" not in first and "ports" not in second  # only nginx is reached from outside
    settings = load({k: str(v) for k, v in first["environment"].items()})
    assert settings.database_url.startswith("postgresql://cargohold:pg-secret@postgres:5432/")
    assert settings.job_store.startswith("redis://redis:")
    assert settings.pull_limit_store.startswith("redis://redis:")
    assert settings.job_workers == 0
    assert first["environment"]["CARGOHOLD_STORAGE_DRIVER"] == "s3"
    assert first["environment"]["CARGOHOLD_S3_ENDPOINT_URL"] == "http://seaweedfs:8333"

    worker = services["worker"]
    assert worker["command"][0] == "worker"
    worker_env = {k: str(v) for k, v in worker["environment"].items()}
    assert {k: v for k, v in worker_env.items() if k != "CARGOHOLD_JOB_WORKERS"} == {
        k: str(v) for k, v in first["environment"].items() if k != "CARGOHOLD_JOB_WORKERS"
    }
    assert load(worker_env).job_workers > 0

    # Nodes start once their stores answer and the bucket exists.
    for service in (first, second, worker):
        assert service["depends_on"] == {
            "postgres": {"condition": "service_healthy"},
            "redis": {"condition": "service_healthy"},
            "bucket": {"condition": "service_completed_successfully"},
        }
    # The database cargohold is given is the one PostgreSQL creates.
    postgres = services["postgres"]["environment"]
    assert settings.database_url.endswith(f"@postgres:5432/{postgres['POSTGRES_DB']}")
    assert settings.database_url.startswith(f"postgresql://{postgres['POSTGRES_USER']}:")


def test_the_scaled_stack_sends_clients_through_nginx_to_both_nodes() -> None:
    config = _resolved(COMPOSE / "scaled.yaml")
    services = config["services"]
    nginx = services["nginx"]
    assert _mounts(nginx) == [(str(NGINX_CONF), "/etc/nginx/conf.d/default.conf", "ro")]
    assert [(p["published"], p["target"]) for p in nginx["ports"]] == [(5000, 5000)]
    assert re.search(r"^\s*listen 5000;", NGINX_CONF.read_text(), re.MULTILINE)

    upstreams = re.findall(r"^\s*server ([\w.-]+):(\d+)", NGINX_CONF.read_text(), re.MULTILINE)
    assert sorted(upstreams) == [(node, "5000") for node in NODES]

    # nginx's address is in the network the nodes trust to forward the client's address.
    (subnet,) = (c["subnet"] for c in config["networks"]["default"]["ipam"]["config"])
    trusted = load(
        {k: str(v) for k, v in services[NODES[0]]["environment"].items()}
    ).trusted_proxy_networks
    assert [str(n) for n in trusted] == [str(ipaddress.ip_network(subnet))]


def test_the_scaled_stack_mounts_only_files_that_exist() -> None:
    config = _resolved(COMPOSE / "scaled.yaml")
    for name, service in config["services"].items():
        for source, _, mode in _mounts(service):
            if source.startswith("/"):
                assert Path(source).is_file(), f"{name}: {source}"
                assert mode == "ro", name
