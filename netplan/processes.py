"""The processes a run may use for searches side by side, and how they start.

Results never depend on them: each search is decided by its seed and work
budget alone. This module imports nothing heavy, so a script can ask it
cheaply (:func:`default_workers`).
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.pool
import os
import signal
import sys
import sysconfig
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from multiprocessing.context import BaseContext
from pathlib import Path
from typing import Any, TypeVar

from netplan.errors import NetplanError
from netplan.progress import report

T = TypeVar("T")

#: What a worker process imports once, before it is forked: the engines, not the caller's modules.
_PRELOAD = ["netplan._quiet_server", "netplan.route.engines", "netplan.route.engines.pyvrp"]


#: The environment variable that sets how many processes a run's searches may use when the scenario does not say.
WORKERS_VARIABLE = "NETPLAN_WORKERS"


def cores() -> int:
    """The cores this process may run on (its CPU affinity where the system has one, else the machine's count)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def default_workers() -> int:
    """The processes a run's searches use when ``route.workers`` is not set.

    ``NETPLAN_WORKERS`` if it is set (as ``OMP_NUM_THREADS`` sets a library's
    threads: for a machine that runs several netplan runs at once), else one
    per core where that is safe. Routes do not depend on it.

    It is 1 inside a daemonic process (a dask or pool worker), which may not
    start processes of its own, and, unless ``NETPLAN_WORKERS`` says
    otherwise, under a Python script: a worker process imports the script that
    started it, so a script without an ``if __name__ == "__main__":`` guard
    would run again in every worker. The command line, ``python -m``, notebooks
    and the interpreter's prompt are safe.

    Raises
    ------
    NetplanError
        ``NETPLAN_WORKERS`` is not a whole number of at least 1.
    """
    if multiprocessing.current_process().daemon:
        return 1
    text = os.environ.get(WORKERS_VARIABLE, "").strip()
    if not text:
        return cores() if _main_is_not_rerun() else 1
    if not text.isdigit() or int(text) < 1:
        raise NetplanError(f"expected a whole number of processes, at least 1, got {text!r}", where=WORKERS_VARIABLE)
    return int(text)


def _main_is_not_rerun() -> bool:
    """Whether worker processes can start without running the main script's unguarded code again."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if path is None:  # a notebook, the prompt, python -c
        return True
    name = getattr(getattr(main, "__spec__", None), "name", None) or ""
    if name == "__main__" or name.endswith(".__main__"):  # python -m package: multiprocessing does not import it
        return True
    if name.startswith("netplan."):  # python -m netplan.cli: netplan's own modules guard their calls
        return True
    # console scripts (netplan, pytest, ...) are installed wrappers that guard their call
    scripts = Path(sysconfig.get_path("scripts")).resolve()
    return Path(path).resolve().parent == scripts


def worker_context() -> BaseContext:
    """The start method of the processes that run searches side by side.

    ``forkserver`` where the system has it: one server process per run of
    Python imports the engines once and forks every worker from itself, so a
    pool of two costs about 0.02 s instead of 0.5 s and 0.9 s of CPU with
    ``spawn`` (a Python start and PyVRP's import per process), and the workers
    never inherit the caller's threads or state as a plain fork would.
    Elsewhere ``spawn``.
    """
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(_PRELOAD)  # no effect once the server runs: it has them already
        return context
    return multiprocessing.get_context("spawn")


def worker_pool(workers: int) -> multiprocessing.pool.Pool:
    """A pool of ``workers`` processes from :func:`worker_context` that leave Ctrl-C to the run.

    A Ctrl-C in a terminal reaches every process of the command; the workers
    ignore it, and the run, which stops on it, ends them (leaving the pool's
    ``with`` block terminates its workers), so the terminal shows the run's
    one line, not a traceback per worker.

    The processes are started with Ctrl-C held back in the caller
    (:func:`_ctrl_c_held`): a process learns to ignore it only once it runs
    Python code (the forkserver after importing the engines, a worker in its
    initializer), and one pressed before that would end it with a traceback
    or a "Fatal Python error". Held back, it is delivered to the caller as
    soon as the pool has started, and the processes, which inherit the held
    signal, never act on it.
    """
    context = worker_context()
    with _ctrl_c_held():
        if context.get_start_method() == "forkserver":
            from multiprocessing import forkserver, resource_tracker

            # the resource tracker holds Ctrl-C back while it starts too, but lets it through when it is done
            resource_tracker.ensure_running()
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
            forkserver.ensure_running()
        return context.Pool(workers, initializer=_leave_ctrl_c_to_the_run)


@contextmanager
def _ctrl_c_held() -> Iterator[None]:
    """Block SIGINT in this thread for the block (what processes started in it inherit); deliver it after."""
    if not hasattr(signal, "pthread_sigmask"):  # Windows: no signal masks, and no forkserver either
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        # as the resource tracker does while it starts (CPython bpo-33613)
        if signal.SIGINT not in previous:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def largest_first(
    function: Callable[..., T],
    calls: Sequence[tuple[Any, ...]],
    sizes: Sequence[float],
    workers: int,
    *,
    what: str = "problems",
) -> list[T]:
    """``function(*call)`` for every call, in a :func:`worker_pool` of ``workers``, the largest first; results in order.

    Starting the longest searches first keeps the last process from being left
    with one of them while the others idle. Each result depends on its call
    alone, so the list is the one a loop in this process would give. The
    worker processes' solvers cannot reach this process's progress line, so
    it says how many calls are done (``"3 of 7 problems done in 2
    processes"``) as each one ends, whichever ends first.

    Parameters
    ----------
    function
        A module-level function (it is pickled by name).
    calls
        Its arguments, one tuple per call.
    sizes
        How long each call is expected to take, in any unit; ties keep the calls' order.
    workers
        Processes (at most one per call).
    what
        What a call solves, in the progress line.

    Returns
    -------
    list
        The results, in the order of ``calls``.
    """
    order = sorted(range(len(calls)), key=lambda k: (-sizes[k], k))
    processes = max(1, min(workers, len(calls)))
    results: list[Any] = [None] * len(calls)
    report(detail=f"0 of {len(calls)} {what} done in {processes} processes")
    with worker_pool(processes) as pool:
        jobs = [(function, k, calls[k]) for k in order]
        for done, (k, result) in enumerate(pool.imap_unordered(_numbered, jobs, chunksize=1), start=1):
            results[k] = result
            report(detail=f"{done} of {len(calls)} {what} done in {processes} processes")
    return results


def _numbered(job: tuple[Callable[..., Any], int, tuple[Any, ...]]) -> tuple[int, Any]:
    """``(k, function(*call))`` for a ``(function, k, call)`` job: a result that names its call."""
    function, k, call = job
    return k, function(*call)


def _leave_ctrl_c_to_the_run() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
