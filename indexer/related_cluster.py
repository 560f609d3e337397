"""The related batch's blocks on a Dask cluster (setting related_cluster).

`local:N` starts a LocalCluster of N worker processes on this machine for the build;
any other address (`tcp://host:8786`) is an existing `dask-scheduler` whose workers have
Kindred installed. The model is fitted here, once; what every block of a step reads (the
model's rows, then the articles' cards and metadata) is broadcast to each worker once, and
the blocks of indexer/related_build.py run there, one thread each: each block's neighbours
stay on the worker that found them until its list block reads them there, and each
block's lists come back to be stored as the block finishes, a few blocks at a time.
Imported only when the setting asks for a cluster: nothing else loads Dask.
"""

from __future__ import annotations

import itertools
import logging
import time
from contextlib import contextmanager
from typing import TYPE_CHECKING, Callable, Iterable, Iterator

if TYPE_CHECKING:
    from distributed import Future

from search.write_errors import BuildError
from search.config import LOCAL_CLUSTER_PREFIX

CONNECT_TIMEOUT_S = 30

# Blocks a stream has running or finished but not yet taken, per worker thread: enough that no
# thread waits while the building process stores a result, few enough that results do not pile up.
IN_FLIGHT_PER_THREAD = 2
# A streamed block runs before blocks kept for later that are still waiting on its worker: the
# building process is waiting for its result (near-duplicates, read while neighbours are found).
STREAMED_PRIORITY = 1


class ClusterRunner:
    """Runs blocks on the cluster's workers (indexer.related_build.BlockRunner)."""

    threads_per_block = 1  # each worker thread runs a block of its own

    def __init__(self, client) -> None:
        self.client = client
        self.threads = max(1, sum(client.nthreads().values()))
        self.timings: dict[str, float] = {"share_s": 0.0}

    def share(self, value: object) -> Future:
        started = time.perf_counter()
        handle = self.client.scatter(value, broadcast=True, hash=False)
        self.timings["share_s"] += time.perf_counter() - started
        return handle

    def keep(self, function: Callable, shared: Future, items: Iterable[object]) -> list[Future]:
        return [self._submit(function, shared, item) for item in items]

    def stream(self, function: Callable, shared: Future | None, items: Iterable[object]) -> Iterator[object]:
        from distributed import as_completed

        pending = iter(items)
        running = as_completed([self._submit(function, shared, item, STREAMED_PRIORITY)
                                for item in itertools.islice(pending, IN_FLIGHT_PER_THREAD * self.threads)])
        for future in running:
            for item in itertools.islice(pending, 1):
                running.add(self._submit(function, shared, item, STREAMED_PRIORITY))
            # Taking the result drops the last reference to the future: the worker forgets it.
            yield future.result()

    def drop(self, *handles: Future) -> None:
        # Released, not cancelled: cancelling would cancel the finished blocks made from them too.
        for handle in handles:
            handle.release()  # the workers forget it once no block still to run needs it

    def _submit(self, function: Callable, shared: Future | None, item: object, priority: int = 0) -> Future:
        from distributed import Future

        if not isinstance(item, Future):
            # A block's own data straight to a worker, not through the scheduler in the task graph.
            started = time.perf_counter()
            [item] = self.client.scatter([item], hash=False)  # one future (a list's items would each get one)
            self.timings["share_s"] += time.perf_counter() - started
        return self.client.submit(function, shared, item, pure=False, priority=priority)


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
    # direct_to_workers: blocks' inputs and lists go between this process and the workers, not
    # through the scheduler (for a local cluster, an event loop in this very process).
    try:
        if address.startswith(LOCAL_CLUSTER_PREFIX):
            # ":0": its status page on any free port, so two builds on one machine never collide.
            cluster = LocalCluster(n_workers=int(address[len(LOCAL_CLUSTER_PREFIX):]), threads_per_worker=1,
                                   processes=True, dashboard_address=":0", silence_logs=logging.ERROR)
            client = Client(cluster, direct_to_workers=True)
        else:
            client = Client(address, timeout=CONNECT_TIMEOUT_S, direct_to_workers=True)
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
