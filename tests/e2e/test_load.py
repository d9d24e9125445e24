"""Concurrent pushes across two Hub nodes that share one PostgreSQL database,
one data directory (blobs and upload staging files) and one Redis cache.

Forty clients push at once (two images each, one after the other), each
with its own keep-alive requests.Session; the requests of each push take
turns between the two nodes, as behind a load balancer, so each kept-alive
connection idles while its twin works.
Each push is three blobs (two chunks each) and a manifest, and before each
layer and the manifest the client pauses for about two seconds, as a real
one does while it compresses the next layer. Not one request may fail (no
connection reset from a server closing a kept-alive connection just as the
client sends on it), and every image must pull back from both nodes byte
for byte.

Measured on a 2-core machine. With gunicorn's 2 s keep-alive
(GUNICORN_CMD_ARGS="--keep-alive 2"), three runs lost 0, 2 and 3 of about
1,300 push requests (and three runs with one image per client, 1, 0 and 1)
to "Connection reset by peer" or "Remote end closed connection without
response", none of them in Hub's access log: the server had closed the idle
connection as the client sent on it. With serve's HUB_WEB_KEEPALIVE (75 s),
five runs lost none.
"""

from __future__ import annotations

import random
import secrets
import shutil
import tempfile
import threading
import time
from pathlib import Path

import pytest

from tests.faults.harness import (
    USER,
    HubNode,
    Journal,
    OperationFailed,
    Postgres,
    Redis,
    RegistryClient,
    hub_env,
    random_image,
)

from .helpers import free_port

pytestmark = pytest.mark.e2e

# Clients pushing at once, and the images each pushes, one after the other.
CLIENTS, ROUNDS = 40, 2


@pytest.fixture(scope="module")
def shared_nodes():
    """Nodes A and B on one database, one HUB_DATA_DIR and one cache; the user's password."""
    root = Path(tempfile.mkdtemp(prefix="hub-load-"))
    closers = []
    try:
        postgres = Postgres()
        closers.append(postgres.close)
        postgres.start()
        redis = Redis(root, "cache")
        closers.append(redis.close)
        redis.start()
        env = hub_env(
            HUB_DATA_DIR=root / "data",
            HUB_DATABASE_URL=postgres.create_database("hub_load"),
            HUB_CACHE_URL=redis.url(0),
            HUB_BROKER_URL=redis.url(1),
            HUB_STORAGE="filesystem",
        )
        nodes = []
        for name in "AB":  # one after the other: the first migrates
            node = HubNode(
                name,
                root / "data",
                {**env, "HUB_ADDR": f"127.0.0.1:{free_port()}"},
                root / f"hub-{name}.log",
                ("--no-worker",),
            )
            closers.append(node.close)
            node.start()
            node.wait_ready()
            nodes.append(node)
        password = secrets.token_urlsafe(16)
        nodes[0].manage("create_user", USER, f"--password={password}")
        yield nodes, password
    finally:
        for close in reversed(closers):
            close()
        shutil.rmtree(root, ignore_errors=True)


def test_concurrent_pushes_across_two_nodes_meet_no_error(shared_nodes):
    nodes, password = shared_nodes
    journal = Journal()
    images = [
        [
            random_image(random.Random(f"{i}-{n}"), f"{USER}/load-{i % 8}", f"push-{i}-{n}", 3, 2)
            for n in range(ROUNDS)
        ]
        for i in range(CLIENTS)
    ]
    start = threading.Barrier(CLIENTS)
    acknowledged = []

    def client_pushes(i):
        think = random.Random(f"think-{i}")
        client = RegistryClient(
            USER, password, journal, think=lambda: time.sleep(think.uniform(1.8, 2.6))
        )
        start.wait()
        for image in images[i]:
            try:
                client.push(image, nodes if i % 2 else nodes[::-1])
                acknowledged.append(image)
            except OperationFailed:
                pass

    began = time.monotonic()
    threads = [threading.Thread(target=client_pushes, args=(i,)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    took = time.monotonic() - began
    failed_pushing = len(journal.failures)

    verifier = RegistryClient(USER, password, journal)
    for image in acknowledged:
        for node in nodes:
            try:
                verifier.pull(image, node)
            except OperationFailed:
                pass
    problems = [str(failure) for failure in journal.failures]
    print(
        f"\n{len(acknowledged)}/{CLIENTS * ROUNDS} pushes acknowledged in {took:.1f}s, "
        f"{len(journal.spans)} requests, {failed_pushing} failed while pushing"
    )
    assert not problems, (
        f"{len(acknowledged)} of {CLIENTS * ROUNDS} pushes acknowledged; {failed_pushing} "
        f"push requests and {len(problems) - failed_pushing} verifying pulls failed:\n"
        + "\n".join(problems[:30])
    )
    assert len(acknowledged) == CLIENTS * ROUNDS
