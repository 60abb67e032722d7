"""Where a batch's units of work run: a local process pool, or tasks on a Ray cluster.

Both take a plain function and plain arguments and hand back its return value; neither
touches the state database (the driver alone writes it). No scheduling here: the pool or Ray
does the placing; the driver only caps how many builds and smokes are in flight.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
from collections.abc import Callable
from typing import Any

from carpenter.core.errors import ConfigError


class LocalExecutor:
    name = "local"

    def __init__(self, workers: int) -> None:
        self.workers = workers
        # forkserver: the driver holds an SQLite connection and threads; forking it is unsafe.
        self._context = multiprocessing.get_context("forkserver")
        self._pool = self._new_pool()

    def _new_pool(self) -> cf.ProcessPoolExecutor:
        return cf.ProcessPoolExecutor(max_workers=self.workers, mp_context=self._context)

    def submit(self, kind: str, fn: Callable[..., Any], *args: Any) -> cf.Future:
        return self._pool.submit(fn, *args)

    def wait(self, handles: list[Any], timeout: float) -> list[Any]:
        done, _ = cf.wait(handles, timeout=timeout, return_when=cf.FIRST_COMPLETED)
        return list(done)

    def result(self, handle: cf.Future) -> Any:
        """The unit's return value; raises when the worker died (BrokenProcessPool)."""
        try:
            return handle.result()
        except cf.process.BrokenProcessPool:
            # One crashed worker breaks the whole pool: start a new one for the others.
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._new_pool()
            raise

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class RayExecutor:
    """Each unit is a Ray task; smoke units ask for a GPU when the batch runs with --gpu all."""

    name = "ray"

    def __init__(self, address: str | None, gpu: bool, resources: dict[str, float]) -> None:
        try:
            import ray
        except ImportError:
            raise ConfigError("--executor ray needs Ray: pip install 'carpenter[ray]'") from None
        self.ray = ray
        self.gpu = gpu
        self.resources = resources
        address = address or os.environ.get("RAY_ADDRESS")
        if not ray.is_initialized():
            if address:
                ray.init(address=address, log_to_driver=False)
            else:
                # A local cluster in this process; a small object store fits small machines.
                ray.init(num_cpus=os.cpu_count() or 1, object_store_memory=100 * 1024 * 1024,
                         include_dashboard=False, log_to_driver=False)
        self._remote: dict[Callable[..., Any], Any] = {}

    def submit(self, kind: str, fn: Callable[..., Any], *args: Any) -> Any:
        remote = self._remote.get(fn)
        if remote is None:
            remote = self._remote[fn] = self.ray.remote(fn)
        options: dict[str, Any] = {"num_cpus": 1, "max_retries": 0}
        if kind in ("rebuild", "smoke") and self.resources:
            options["resources"] = dict(self.resources)  # e.g. {"docker": 1}: nodes with an engine
        if kind == "smoke" and self.gpu:
            options["num_gpus"] = 1
        return remote.options(**options).remote(*args)

    def wait(self, handles: list[Any], timeout: float) -> list[Any]:
        done, _ = self.ray.wait(handles, num_returns=1, timeout=timeout)
        return done

    def result(self, handle: Any) -> Any:
        return self.ray.get(handle)

    def close(self) -> None:
        pass  # the cluster belongs to whoever started it; a local one ends with this process
