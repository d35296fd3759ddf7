"""Where a sweep's trials run: this process, N local worker processes, or a Ray cluster.

Each executor takes trial jobs and yields ``(job, record or exception)`` as
trials finish, in any order. None of them touches the store: the sweep's own
process writes each record as it arrives.
"""

from __future__ import annotations

import multiprocessing
import os
from contextlib import contextmanager
from typing import Iterator

from ..errors import ConfigError
from .record import TrialJob, TrialRecord, run_trial

Outcome = tuple[TrialJob, "TrialRecord | BaseException"]


class SerialExecutor:
    """One trial at a time in this process (the default): cancel stops within a training step."""

    name = "serial"
    workers = 1

    def __init__(self, device: str | None = None):
        self.device = device

    def run(self, jobs: list[TrialJob], cancel, sinks=()) -> Iterator[Outcome]:
        """``sinks`` receive the engine events of each trial as it trains (this process only)."""
        for job in jobs:
            if cancel.cancelled:
                return
            try:
                yield job, run_trial(job, self.device, cancel=cancel, sinks=sinks)
            except Exception as exc:  # bad input of one trial: reported, the sweep goes on
                yield job, exc


# ------------------------------------------------------------------ local

_slot: dict = {}


def _claim_slot(slots) -> None:
    """Worker process initialiser: take a (device, threads) slot for this worker's life.

    Ctrl-C in a terminal reaches every process of its group; the sweep's own
    process decides what stops (it ends the workers), so workers ignore it.
    """
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _slot["device"], _slot["threads"] = slots.get()


def _run_in_slot(job: TrialJob) -> TrialRecord:
    return run_trial(job, _slot["device"], _slot["threads"])


def local_devices(workers: int) -> list[str]:
    """One device per worker: GPU i for worker i where there are GPUs, else the CPU."""
    import torch

    gpus = torch.cuda.device_count()
    if gpus == 0:
        return ["cpu"] * workers
    if workers > gpus:
        raise ConfigError(f"--workers {workers} is more than the {gpus} GPUs here: use at most {gpus} (one trial per GPU)")
    return [f"cuda:{i}" for i in range(workers)]


class LocalExecutor:
    """N trials at once in worker processes on this machine (one per GPU, or sharing the CPU).

    ``threads_per_trial`` defaults to the CPU cores divided among the workers.
    """

    name = "local"

    def __init__(self, workers: int = 2, threads_per_trial: int | None = None, devices: list[str] | None = None):
        if workers < 1:
            raise ConfigError(f"--workers {workers}: must be at least 1")
        self.workers = workers
        self.threads = threads_per_trial or max(1, (os.cpu_count() or 1) // workers)
        self.devices = devices

    def run(self, jobs: list[TrialJob], cancel, sinks=()) -> Iterator[Outcome]:  # events stay in the workers
        from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

        if not jobs:
            return
        context = multiprocessing.get_context("spawn")  # fork would copy torch's threads and locks
        slots = context.Queue()
        for device in self.devices or local_devices(self.workers):
            slots.put((device, self.threads))
        pool = ProcessPoolExecutor(self.workers, mp_context=context, initializer=_claim_slot, initargs=(slots,))
        futures = {pool.submit(_run_in_slot, job): job for job in jobs}
        try:
            while futures:
                done, _ = wait(futures, timeout=0.5, return_when=FIRST_COMPLETED)
                if cancel.cancelled:
                    break
                for future in done:
                    job = futures.pop(future)
                    exc = future.exception()
                    yield job, exc if exc is not None else future.result()
        finally:
            if futures:  # stopped early: trials are all-or-nothing, so ending the workers loses only unfinished ones
                for process in list((getattr(pool, "_processes", None) or {}).values()):
                    process.terminate()
            pool.shutdown(wait=True, cancel_futures=True)


# -------------------------------------------------------------------- ray

LOCAL_RAY_HOST = "127.0.0.1"  # a local instance listens on loopback only: no other machine can submit work to it


def _ray_trial(job: TrialJob, threads: int) -> TrialRecord:
    import ray

    device = "cuda" if ray.get_gpu_ids() else "cpu"
    return run_trial(job, device, threads)


class RayExecutor:
    """Trials as Ray tasks: on a cluster at ``address`` (``auto`` finds a running one), else a
    Ray instance of its own on this machine, bound to 127.0.0.1 (never a cluster that
    ``RAY_ADDRESS`` or /tmp/ray names). One GPU per trial where the cluster has GPUs.

    Every node needs cast-studio installed and the data at the same path (or use
    ``--data demo``/``upstream``); results come back to this process, which alone
    writes the store.
    """

    name = "ray"

    def __init__(self, address: str | None = None, gpus_per_trial: float | None = None,
                 cpus_per_trial: int = 1, local_cpus: int | None = None):
        try:
            import ray
        except ImportError:
            raise ConfigError("--executor ray needs Ray: pip install 'cast-studio[ray]' (or pip install ray)") from None
        self.ray = ray
        self.address = address
        self.cpus_per_trial = cpus_per_trial
        self.gpus_per_trial = gpus_per_trial
        self.local_cpus = local_cpus
        self.workers = 1

    def _start(self) -> None:
        ray = self.ray
        if not ray.is_initialized():
            kwargs = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
            if self.address:
                kwargs["address"] = self.address
            else:  # 'local' starts a new instance; ray.init() alone would join a cluster found in the environment
                kwargs.update(address="local", _node_ip_address=LOCAL_RAY_HOST)
                if self.local_cpus:
                    kwargs["num_cpus"] = self.local_cpus
            try:
                if self.address:
                    ray.init(**kwargs)
                else:
                    with _loopback_node(ray):
                        ray.init(**kwargs)
            except ConnectionError as exc:
                raise ConfigError(f"cannot reach the Ray cluster at {self.address}: {exc}") from None
        resources = ray.cluster_resources()
        if self.gpus_per_trial is None:
            self.gpus_per_trial = 1 if resources.get("GPU", 0) > 0 else 0
        by_gpu = int(resources.get("GPU", 0) // self.gpus_per_trial) if self.gpus_per_trial else 0
        self.workers = max(1, by_gpu or int(resources.get("CPU", 1) // self.cpus_per_trial))

    def run(self, jobs: list[TrialJob], cancel, sinks=()) -> Iterator[Outcome]:  # events stay in the workers
        if not jobs:
            return
        ray = self.ray
        self._start()
        task = ray.remote(num_cpus=self.cpus_per_trial, num_gpus=self.gpus_per_trial, max_retries=0)(_ray_trial)
        pending = {task.remote(job, self.cpus_per_trial): job for job in jobs}
        try:
            while pending:
                if cancel.cancelled:
                    break
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.5)
                for ref in ready:
                    job = pending.pop(ref)
                    try:
                        yield job, ray.get(ref)
                    except Exception as exc:
                        yield job, _unwrap(exc)
        finally:
            for ref in pending:
                ray.cancel(ref, force=True)


@contextmanager
def _loopback_node(ray):
    """Let a new local Ray instance take 127.0.0.1 as its node address.

    Ray replaces a loopback node address with the machine's network address unless
    multi-node clusters are off, which is what its ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``
    setting does, read once when Ray is imported; Ray offers no call for it, so the
    setting's module constant is switched for the start of this instance only.
    """
    from ray._private import ray_constants

    saved = ray_constants.ENABLE_RAY_CLUSTER
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = saved


def _unwrap(exc: BaseException) -> BaseException:
    """A Ray task error as the exception the trial raised (its message names the bad value)."""
    cause = getattr(exc, "cause", None)
    return cause if isinstance(cause, BaseException) else exc


def make_executor(name: str, *, workers: int = 1, address: str | None = None, threads_per_trial: int | None = None):
    """The executor a user named: 'local' (serial when workers is 1) or 'ray'."""
    if name == "local":
        return SerialExecutor() if workers == 1 else LocalExecutor(workers, threads_per_trial)
    if name == "ray":
        return RayExecutor(address, cpus_per_trial=threads_per_trial or 1,
                           local_cpus=workers * (threads_per_trial or 1) if workers > 1 and not address else None)
    raise ConfigError(f"--executor {name!r} is not one of local, ray")


