"""The processes a run may use (netplan/processes.py): how many, and how they start."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys

import pytest

from netplan.errors import NetplanError
from netplan.processes import cores, default_workers, worker_context


def test_workers_are_forked_from_a_server_that_imported_the_engines():
    """Where the system has ``forkserver``, a pool costs a fork, not a Python start and PyVRP's import."""
    context = worker_context()
    forkserver = "forkserver" in multiprocessing.get_all_start_methods()
    assert context.get_start_method() == ("forkserver" if forkserver else "spawn")
    for _ in range(2):  # a second pool forks from the same server
        with context.Pool(2) as pool:
            found = pool.map(_engine_and_parent, range(2))
        assert all(loaded for loaded, _ in found)
        parents = {parent for _, parent in found}
        assert len(parents) == 1 and (parents != {os.getpid()}) == forkserver


def _engine_and_parent(_: int) -> tuple[bool, int]:
    return "netplan.route.engines.pyvrp" in sys.modules, os.getppid()


def test_default_workers_follow_the_environment_and_stay_one_in_a_daemon(monkeypatch):
    monkeypatch.delenv("NETPLAN_WORKERS", raising=False)
    assert default_workers() == cores()
    monkeypatch.setenv("NETPLAN_WORKERS", "3")
    assert default_workers() == 3
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv("NETPLAN_WORKERS", bad)
        with pytest.raises(NetplanError, match="NETPLAN_WORKERS.*at least 1"):
            default_workers()
    # a pool's workers are daemonic and may not start processes: their searches stay in them
    monkeypatch.setenv("NETPLAN_WORKERS", "4")
    with worker_context().Pool(1) as pool:
        assert pool.apply(default_workers) == 1


def test_a_script_keeps_its_searches_in_one_process_unless_it_asks(tmp_path):
    """Workers import the script that started them: without a main guard its code would run again in each."""
    script = tmp_path / "plan_my_city.py"
    script.write_text("from netplan.processes import default_workers\nprint(default_workers())\n")
    env = {k: v for k, v in os.environ.items() if k != "NETPLAN_WORKERS"}

    def workers(*args: str, **extra: str) -> int:
        done = subprocess.run([sys.executable, *args], capture_output=True, text=True, env={**env, **extra}, check=True)
        return int(done.stdout.strip())

    assert workers(str(script)) == 1
    assert workers(str(script), NETPLAN_WORKERS="2") == 2  # asked for: the script's own main guard is its business
    assert workers("-c", script.read_text()) == cores()  # no script to import again: as a notebook
