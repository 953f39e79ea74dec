"""Ray, the optional engine that spreads runs over a cluster: the connection and a task runner.

Everything Ray lives here and in core/sweep.py, and both import ``ray`` only inside functions: without
the ``cluster`` extra the studio imports, works and tests as before, and only the Ray options say how
to install it (:data:`INSTALL`). One (configuration, seed) run of the mode table is one Ray task that
reserves its torch threads' worth of CPUs (one for the 2-D MLPs) or a fraction of a GPU; the task runs
:func:`gan_studio.core.bench.run_job`, the very function the local pool runs, so a job gives the same
numbers on either engine. Every node needs the same gan-studio installed (the task is sent by name).
"""
from __future__ import annotations

import logging
from typing import Callable, Iterable, Iterator

from gan_studio.core.errors import ConfigError, user_errors

#: the one line that says how to get Ray
INSTALL = 'pip install "gan-studio[cluster]"'


def import_ray(what: str = "--engine ray"):
    """The ``ray`` module, or ConfigError saying in one line how to install it."""
    try:
        import ray
    except ImportError:
        raise ConfigError(f"{what} needs Ray, which is not installed: {INSTALL}") from None
    return ray


def check_gpus(gpus: float | None) -> None:
    """``--gpus-per-run``: a fraction of one GPU (0.25: four runs share a GPU) or whole GPUs."""
    if gpus is not None and not (0 < gpus <= 1 or (gpus > 1 and float(gpus).is_integer())):
        raise ConfigError(f"--gpus-per-run = {gpus:g}: use a fraction in (0, 1] (runs share a GPU) or a whole "
                          "number of GPUs")


class RayCluster:
    """A connection to Ray for the length of a ``with`` block: ``address`` (``HOST:6379``, ``auto``,
    ``ray://HOST:10001``) reaches a running cluster; without it a Ray is started on this machine with
    ``num_cpus`` CPUs (default: all) and stopped at the end. A Ray this process already started (a
    script, a test) is used as it is and left running."""

    def __init__(self, address: str | None = None, num_cpus: int | None = None, what: str = "--engine ray"):
        self.address, self.num_cpus, self.what = address, num_cpus, what
        self._started = False

    def __enter__(self) -> "RayCluster":
        ray = import_ray(self.what)
        if ray.is_initialized():
            return self
        if self.address:
            _check_reachable(self.address)
        try:
            # the studio reports progress itself: no worker logs or banners on the terminal
            ray.init(address=self.address, num_cpus=None if self.address else self.num_cpus,
                     include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
        except (ConnectionError, RuntimeError, ValueError) as e:
            first = next((ln for ln in str(e).splitlines() if ln.strip()), type(e).__name__)
            where = f"the Ray cluster at --address {self.address}" if self.address else "a local Ray"
            raise ConfigError(f"cannot start or reach {where}: {first[:200]}") from None
        self._started = True
        return self

    def __exit__(self, *exc) -> None:
        if self._started:
            import ray
            ray.shutdown()
            self._started = False

    def describe(self) -> str:
        """'Ray on this machine (2 CPUs)' or 'Ray cluster at HOST (3 nodes, 48 CPUs, 4 GPUs)'."""
        import ray
        res = ray.cluster_resources()
        cpus, gpus = int(res.get("CPU", 0)), res.get("GPU", 0)
        nodes = sum(1 for n in ray.nodes() if n.get("Alive"))
        what = [f"{nodes} node{'s' if nodes != 1 else ''}"] if nodes != 1 else []
        what.append(f"{cpus} CPU{'s' if cpus != 1 else ''}")
        if gpus:
            what.append(f"{gpus:g} GPU{'s' if gpus != 1 else ''}")
        where = f"Ray cluster at {self.address}" if self.address else "Ray on this machine"
        return f"{where} ({', '.join(what)})"


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """A HOST:PORT that nothing answers on: one line now (Ray itself retries for minutes)."""
    import socket
    host, sep, port = address.rpartition(":")
    if not address.startswith("ray://") and sep and host and port.isdigit() and not port.isascii():
        raise ConfigError(f"--address {address}: the port {port!r} is not a number; give HOST:PORT, "
                          "e.g. 10.0.0.5:6379")   # int('²') raises, though '²'.isdigit()
    if address.startswith("ray://") or not sep or not port.isdigit() or not host:
        return   # auto, a Ray client address, or a form Ray will judge
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except OSError as e:
        raise ConfigError(f"cannot reach a Ray cluster at --address {address} ({e.strerror or e}); start one "
                          "with `ray start --head` and pass the address it prints") from None


class RayEngine:
    """Runs bench jobs as Ray tasks (the :class:`gan_studio.core.bench.Engine` of ``--engine ray``):
    each reserves ``job.threads`` CPUs, or ``gpus_per_run`` of a GPU as well."""

    def __init__(self, gpus_per_run: float | None = None):
        check_gpus(gpus_per_run)
        self.gpus_per_run = gpus_per_run or 0

    def map_unordered(self, fn: Callable, jobs: Iterable) -> Iterator:
        import ray
        from ray.exceptions import RayError, RayTaskError

        from gan_studio.core.errors import RunError
        remote = ray.remote(fn)
        # a run that fails fails the table, as it does in the local pool: no silent retries
        job_of = {remote.options(num_cpus=job.threads, num_gpus=self.gpus_per_run, max_retries=0)
                  .remote(job): job for job in jobs}
        pending = list(job_of)
        try:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                try:
                    result = ray.get(done[0])
                except RayTaskError as e:
                    # the user's mistake, raised in a worker: the same one line as in the local pool
                    if isinstance(e.cause, user_errors()):
                        raise e.cause from None
                    raise
                except RayError as e:   # the worker or its node died (killed, out of memory, node lost)
                    first = next((ln for ln in str(e).splitlines() if ln.strip()), type(e).__name__)
                    job = job_of[done[0]]   # said as the local pool says it (bench.worker_died)
                    raise RunError(f"the Ray worker ended abruptly (killed, or out of memory) while {job.config} seed "
                                   f"{job.seed} was queued or training; the table is incomplete ({first[:160]})") from None
                yield result
        finally:   # an error or an interrupt: the runs still queued or running are cancelled
            for ref in pending:
                ray.cancel(ref, force=True)
