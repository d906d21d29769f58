"""A node killed (SIGKILL) in the middle of a stream of pushes through nginx: the other node
keeps serving, clients that were cut off retry (a bounded number of times) and succeed, and
every pushed image is whole afterwards, through either node."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import httpx

from tests.multinode.images import pull, push, random_image, with_retries
from tests.multinode.stack import PROJECT, ProductionStack
from tests.support.tokenflow import TokenFlow

CLIENTS = 3
IMAGES_PER_CLIENT = 5
# Pushes done before the kill, so it lands in the middle of the stream.
DONE_BEFORE_KILL = 4
# Layers are sent in 64 KiB pieces this far apart, so that at any moment some uploads are
# in the middle of their bodies (nginx streams them to the node as they arrive): the kill
# most often cuts some off on node A, whose clients then retry.
PAUSE = 0.02


def test_pushes_through_nginx_survive_a_node_killed_under_them(stack: ProductionStack) -> None:
    repository = f"{PROJECT}/survivor"
    images = {
        f"c{client}-{i}": random_image(f"survivor-{client}-{i}", layers=2, layer_size=512 * 1024)
        for client in range(CLIENTS)
        for i in range(IMAGES_PER_CLIENT)
    }
    pushed: list[str] = []
    attempts: dict[str, int] = {}
    lock = threading.Lock()

    def client_pushes(client: int) -> None:
        flow = TokenFlow(stack.developer)
        with httpx.Client(base_url=stack.url, auth=flow, timeout=60) as http:
            for i in range(IMAGES_PER_CLIENT):
                tag = f"c{client}-{i}"
                tries = with_retries(partial(push, http, repository, tag, images[tag], PAUSE))
                with lock:
                    pushed.append(tag)
                    attempts[tag] = tries

    node_a, node_b = stack.nodes
    with ThreadPoolExecutor(CLIENTS) as pool:
        futures = [pool.submit(client_pushes, client) for client in range(CLIENTS)]
        deadline = time.monotonic() + 120
        while len(pushed) < DONE_BEFORE_KILL:
            assert time.monotonic() < deadline, "the pushes before the kill did not finish"
            for future in futures:
                if future.done():
                    future.result()  # a client that failed before the kill: its error
            time.sleep(0.02)
        node_a.kill9()
        # While it is down, node B serves on its own: a pull straight from it.
        first = pushed[0]
        with httpx.Client(base_url=node_b.url, auth=TokenFlow(stack.developer), timeout=60) as b:
            assert pull(b, repository, first) == images[first]
        for future in futures:
            future.result(timeout=300)
    try:
        assert sorted(pushed) == sorted(images)
    finally:
        node_a.start()

    # Every image is whole, through each node, by tag and by digest.
    for node in stack.nodes:
        with httpx.Client(base_url=node.url, auth=TokenFlow(stack.developer), timeout=60) as http:
            for tag, image in images.items():
                assert pull(http, repository, tag) == image, tag
            listed = http.get(f"/v2/{repository}/tags/list").json()["tags"]
            assert sorted(listed) == sorted(images)
    retried = {tag: n for tag, n in attempts.items() if n > 1}
    # No push needed more than a few tries: nginx sent the retries to node B.
    assert all(n <= 4 for n in attempts.values()), retried
