"""Where work units run: in this process, in a local joblib (loky) pool, or on dask.

:func:`map_work` knows nothing of manifests or processors: it maps ``function(shared, payload,
worker)`` over payloads and yields the results as they finish (any order; callers key the
results by item id). The runner, ``evaluate``, the metric engines and the benchmark use it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch


def map_work(
    function: Callable[..., Any],
    shared: Any,
    payloads: Sequence[Any],
    *,
    jobs: int = 1,
    executor: str = "local",
    scheduler: str | None = None,
    in_process: bool = False,
    single_thread: bool = False,
) -> Iterator[Any]:
    """Yield ``function(shared, payload, worker)`` for every payload, as each finishes.

    ``local``: in this process when ``in_process`` or ``jobs == 1``, else a joblib (loky)
    pool of ``jobs`` workers (``worker=True``: they set one torch thread). ``dask``: a
    dask.distributed cluster (``scheduler`` address, or a LocalCluster of ``jobs``
    single-threaded worker processes), ``shared`` scattered once to every worker.

    ``single_thread``: in-process work is numpy/Python (pyclarity), so the native thread pools
    run one thread meanwhile, as in the pool workers. Otherwise idle BLAS/OpenMP threads
    spin-wait after every small call and take the cores from the Python loops (MSBG's CPU time
    per item grows several-fold; ``bench/msbg_jobs.py`` measures ``--jobs``).
    """
    if executor == "dask":
        yield from _map_dask(function, shared, payloads, jobs, scheduler)
    elif in_process or jobs <= 1:
        with torch_threads(1 if single_thread else None):
            for payload in payloads:
                yield function(shared, payload, False)
    else:
        from joblib import Parallel, delayed

        parallel = Parallel(n_jobs=jobs, backend="loky", return_as="generator_unordered")
        yield from parallel(delayed(function)(shared, payload, True) for payload in payloads)


@contextlib.contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """Run the block with ``count`` threads in torch and in the native thread pools (OpenMP,
    OpenBLAS, MKL through threadpoolctl); None leaves them as they are. Restored after."""
    if count is None:
        yield
        return
    from threadpoolctl import threadpool_limits

    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        with threadpool_limits(limits=count):
            yield
    finally:
        torch.set_num_threads(previous)


def _map_dask(function: Callable[..., Any], shared: Any, payloads: Sequence[Any], jobs: int,
              scheduler: str | None) -> Iterator[Any]:
    from dask.distributed import Client, LocalCluster, as_completed

    logging.getLogger("distributed").setLevel(logging.ERROR)
    cluster = None
    if scheduler:
        client = Client(scheduler)
    else:
        cluster = LocalCluster(n_workers=max(1, jobs), threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=logging.ERROR)
        client = Client(cluster)
    try:
        scattered = client.scatter(shared, broadcast=True)
        futures = [client.submit(function, scattered, payload, True, pure=False)
                   for payload in payloads]
        for future in as_completed(futures):
            yield future.result()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
