"""The production stack, started once per session for every multi-node test (stack.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.multinode.stack import ProductionStack, start_stack
from tests.support.images import BuiltImages, build_test_images
from tests.support.postgres import PostgresServer
from tests.support.redis import RedisServer
from tests.support.seaweedfs import SeaweedServer
from tests.support.skopeo import SKOPEO, Skopeo


@pytest.fixture(scope="session")
def stack(
    tmp_path_factory: pytest.TempPathFactory,
    postgres: PostgresServer,
    seaweedfs: SeaweedServer,
    redis: RedisServer,
) -> Iterator[ProductionStack]:
    started = start_stack(tmp_path_factory.mktemp("multinode"), postgres, seaweedfs, redis)
    yield started
    started.stop()


@pytest.fixture(scope="session")
def umoci_images(tmp_path_factory: pytest.TempPathFactory) -> BuiltImages:
    """Small real images built with umoci (amd64, arm64 and the index `multi`). Read-only."""
    return build_test_images(tmp_path_factory.mktemp("multinode-images"))


@pytest.fixture(scope="session")
def skopeo(tmp_path_factory: pytest.TempPathFactory, stack: ProductionStack) -> Skopeo:
    """skopeo signed in (`skopeo login`) as the developer to both nodes and to nginx."""
    if not Path(SKOPEO).exists():
        pytest.skip(f"{SKOPEO} is missing: apt-get install skopeo")
    tool = Skopeo(tmp_path_factory.mktemp("multinode-skopeo")).setup()
    for host in (stack.nodes[0].host, stack.nodes[1].host, stack.nginx.host):
        tool.login(host, stack.developer)
    return tool
