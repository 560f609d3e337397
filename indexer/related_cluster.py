"""The related batch's blocks on a Dask cluster (setting related_cluster).

`local:N` starts a LocalCluster of N worker processes on this machine for the build;
any other address (`tcp://host:8786`) is an existing `dask-scheduler` whose workers have
Kindred installed. The model is fitted here, once; what every block reads (the fitted
model, then the articles' cards and metadata) is broadcast to each worker once, and the
blocks of indexer/related_build.py run there, one thread each. Imported only when the
setting asks for a cluster: nothing else loads Dask.
"""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from typing import Callable, Iterator, Sequence, TypeVar

from search.write_errors import BuildError
from search.config import LOCAL_CLUSTER_PREFIX

CONNECT_TIMEOUT_S = 30

Shared = TypeVar("Shared")
Item = TypeVar("Item")
Result = TypeVar("Result")


class ClusterRunner:
    """Runs blocks on the cluster's workers (indexer.related_build.BlockRunner)."""

    threads_per_block = 1  # each worker thread runs a block of its own

    def __init__(self, client) -> None:
        self.client = client
        self.threads = max(1, sum(client.nthreads().values()))
        self.timings: dict[str, float] = {"share_s": 0.0}

    def run(self, function: Callable[[Shared, Item], Result], shared: Shared, items: Sequence[Item]) -> list[Result]:
        started = time.perf_counter()
        handle = self.client.scatter(shared, broadcast=True, hash=False)
        # Each block's own data straight to a worker (not through the scheduler in the task graph).
        inputs = self.client.scatter(list(items), hash=False)
        self.timings["share_s"] += time.perf_counter() - started
        futures = [self.client.submit(function, handle, item, pure=False) for item in inputs]
        try:
            return self.client.gather(futures)
        finally:
            self.client.cancel([*futures, *inputs, handle])  # frees the workers' copies before the next run


@contextmanager
def cluster_runner(address: str) -> Iterator[ClusterRunner]:
    """A runner on the cluster at `address` (`local:N` or a scheduler's address); a local
    cluster is shut down on leaving."""
    try:
        from distributed import Client, LocalCluster
    except ImportError as error:
        raise BuildError(f"related_cluster = {address!r} needs Dask: pip install 'kindred[cluster]' ({error})") from None
    started = time.perf_counter()
    cluster = None
    try:
        if address.startswith(LOCAL_CLUSTER_PREFIX):
            # ":0": its status page on any free port, so two builds on one machine never collide.
            cluster = LocalCluster(n_workers=int(address[len(LOCAL_CLUSTER_PREFIX):]), threads_per_worker=1,
                                   processes=True, dashboard_address=":0", silence_logs=logging.ERROR)
            client = Client(cluster)
        else:
            client = Client(address, timeout=CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError) as error:
        if cluster is not None:
            cluster.close()
        raise BuildError(f"cannot reach the Dask cluster {address}: {error}") from None
    try:
        try:
            client.wait_for_workers(1, timeout=CONNECT_TIMEOUT_S)
        except TimeoutError:
            raise BuildError(f"the Dask cluster {address} has no worker") from None
        runner = ClusterRunner(client)
        runner.timings["cluster_start_s"] = time.perf_counter() - started
        yield runner
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
