"""Ctrl-C at any stage: exit 130 within seconds, the output folder untouched; a bug exits 1."""

from __future__ import annotations

import hashlib
import os
import queue
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from netplan.cli import main

ROOT = Path(__file__).resolve().parents[1]
PROMPT_S = 10.0  # "within seconds" on a shared, loaded 2-core machine; the solvers' own limits are 60-300 s


def _snapshot(folder: Path) -> dict[str, str]:
    """Every entry under ``folder``'s parent: name -> SHA-256 (files) or 'dir'."""
    out = {}
    for path in sorted(folder.parent.rglob("*")):
        key = str(path.relative_to(folder.parent))
        out[key] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
    return out


def _previous_output(tmp_path: Path) -> Path:
    """An output folder holding a previous run's files (what must survive the interrupt)."""
    out = tmp_path / "parent" / "out"
    out.mkdir(parents=True)
    (out / "manifest.json").write_text('{"scenario": "previous"}\n', encoding="utf-8")
    (out / "kpis.csv").write_text("section,key,value\ndemand,points,1\n", encoding="utf-8")
    return out


def _ctrl_c_as_in_a_terminal() -> None:
    """Give the child the default SIGINT action a terminal gives a command.

    A test run started in the background (``nohup``, ``cmd &`` in a script, some CI runners) ignores SIGINT and
    every child inherits that; Python then installs no KeyboardInterrupt handler and the run would go on to the end.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _running(*, parent: int | None = None, group: int | None = None) -> list[int]:
    """Running processes (zombies, which only wait to be reaped, left out) with this parent or in this process group."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, ppid, pgrp = stat.read_text().rsplit(")", 1)[1].split()[:3]
        except OSError:  # the process ended while we looked
            continue
        if state != "Z" and (int(ppid) == parent or int(pgrp) == group):
            found.append(int(stat.parent.name))
    return found


class _Run:
    """``netplan run`` in a subprocess whose stderr progress lines are read as they come."""

    def __init__(self, scenario: Path, out: Path, cwd: Path):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "netplan.cli", "run", str(scenario), "--out", str(out)],
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=_ctrl_c_as_in_a_terminal,
            env={**os.environ, "NETPLAN_WORKERS": "2"},  # the routing stage in worker processes, as by default
            start_new_session=True,  # its own process group, as a command in a terminal
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.stderr: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line)
            self.lines.put(line)

    def wait_for(self, text: str, timeout: float = 900.0) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                line = self.lines.get(timeout=1.0)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            if text in line:
                return
        self.proc.kill()
        pytest.fail(f"never saw {text!r}; stderr:\n{''.join(self.stderr)}")

    def wait_for_workers(self, timeout: float = 120.0) -> None:
        """Wait until the run has started worker processes."""
        end = time.monotonic() + timeout
        while time.monotonic() < end and self.proc.poll() is None:
            if _running(parent=self.proc.pid):
                return
            time.sleep(0.05)
        self.proc.kill()
        pytest.fail(f"the run started no worker processes; stderr:\n{''.join(self.stderr)}")

    def survivors(self, within_s: float = PROMPT_S) -> list[int]:
        """The run's processes still running ``within_s`` seconds after it exited (its workers must go with it)."""
        end = time.monotonic() + within_s
        while (live := _running(group=self.proc.pid)) and time.monotonic() < end:
            time.sleep(0.1)
        for pid in live:
            os.kill(pid, signal.SIGKILL)
        return live

    def interrupt(self, *, group: bool = False) -> tuple[int, float]:
        """Send SIGINT (to every process of the run with ``group``, as a terminal's Ctrl-C does); return the exit code
        and the seconds it took to exit."""
        start = time.monotonic()
        if group:
            os.killpg(self.proc.pid, signal.SIGINT)
        else:
            self.proc.send_signal(signal.SIGINT)
        try:
            code = self.proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise
        return code, time.monotonic() - start


@pytest.mark.parametrize(
    ("marker", "delay_s"),
    [
        ("[1/6] loading the city's road network", 3.0),
        ("[4/6] siting the 3-tier network", 0.0),  # interrupted once its workers run
        ("[5/6] routing the collection day", 4.0),
    ],
    ids=["loading", "siting", "routing"],
)
def test_ctrl_c_exits_130_at_once_and_writes_nothing(tmp_path, marker, delay_s):
    out = _previous_output(tmp_path)
    before = _snapshot(out)
    run = _Run(ROOT / "scenarios" / "chengdu.yaml", out, tmp_path)
    run.wait_for(marker)
    if marker.startswith("[4/6]"):
        # tier 1's 57 components are sited in two worker processes: interrupt while they work
        run.wait_for_workers()
    else:
        time.sleep(delay_s)  # well inside the stage (loading takes ~15 s, routing ~15 s)
    assert run.proc.poll() is None, "the run ended before it could be interrupted"
    # while siting or routing, the searches are in worker processes: the terminal's Ctrl-C reaches them too
    code, seconds = run.interrupt(group=not marker.startswith("[1/6]"))
    stderr = "".join(run.stderr)
    assert run.survivors() == [], "worker processes outlived the run"
    assert code == 130, stderr
    assert seconds < PROMPT_S, f"took {seconds:.1f} s to stop"
    assert "netplan: interrupted" in stderr and "Traceback" not in stderr and "PoolWorker" not in stderr
    assert _snapshot(out) == before
    assert not (tmp_path / "maps").exists() and not (tmp_path / "outputs").exists()


_SOLVE_UNDER_GUARD = textwrap.dedent("""
    import sys, time
    import numpy as np
    from netplan import interrupts
    from netplan.locate.base import make_mip, run_mip
    from netplan.locate.coverage import _solve_cp
    from ortools.sat.python import cp_model

    # a market-split instance (Cornuejols and Dawande): neither solver finishes it within the 60 s limit
    rng = np.random.default_rng(0)
    m, n = 6, 50
    a = rng.integers(0, 100, size=(m, n))
    if sys.argv[1] == "scip":
        solver = make_mip("SCIP")
        x = [solver.BoolVar(f"x{i}") for i in range(n)]
        for j in range(m):
            solver.Add(sum(int(a[j, i]) * x[i] for i in range(n)) == int(a[j].sum() // 2))
        solver.Minimize(sum(x))
        solve = lambda: run_mip(solver, "SCIP", 60, 1)
    elif sys.argv[1] == "ortools_routing":
        from netplan.route.engines import solve as route
        from netplan.route.problem import Depot, Location, Profile, RoutingProblem, Stop, VehicleType
        xy = rng.random((301, 2)) * 5000
        dist = np.rint(np.hypot(xy[:, None, 0] - xy[None, :, 0], xy[:, None, 1] - xy[None, :, 1])).astype(np.int64)
        problem = RoutingProblem(
            locations=[Location(f"p{i}", x, y) for i, (x, y) in enumerate(xy)],
            profiles={"default": Profile("default", dist, dist.copy())},
            stops=[Stop(f"s{i}", i, (1,), service_s=60) for i in range(1, 301)], depots=[Depot("depot", 0)],
            vehicle_types=[VehicleType("truck", 6, (60,))]).validate()
        solve = lambda: route(problem, engine="ortools", time_limit_s=60, seed=1)
    else:
        model = cp_model.CpModel()
        x = [model.NewBoolVar(f"x{i}") for i in range(n)]
        for j in range(m):
            model.Add(sum(int(a[j, i]) * x[i] for i in range(n)) == int(a[j].sum() // 2))
        model.Minimize(sum(x))
        solve = lambda: _solve_cp(model, 60, 1)
    with interrupts.guard():
        print("solving", file=sys.stderr, flush=True)
        start = time.perf_counter()
        try:
            result = solve()
        except KeyboardInterrupt:
            print(f"interrupted after {time.perf_counter() - start:.2f} s", flush=True)
            sys.exit(130)
    print(f"returned {result!r}", flush=True)
""")


@pytest.mark.parametrize("backend", ["scip", "cp_sat", "ortools_routing"])
def test_ctrl_c_stops_a_native_solve_and_returns_no_result(backend):
    """SCIP and CP-SAT would catch SIGINT and return their cut-short answer, and OR-Tools routing (which holds the
    GIL) would search on to its time limit and lose the signal; under the guard each raises at once."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _SOLVE_UNDER_GUARD, backend],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_ctrl_c_as_in_a_terminal,
    )
    assert proc.stderr is not None and proc.stderr.readline().strip() == "solving"
    time.sleep(8.0 if backend == "ortools_routing" else 2.0)  # routing: past building the model, into the search
    assert proc.poll() is None
    start = time.monotonic()
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stdout + stderr
    assert stdout.startswith("interrupted after") and "returned" not in stdout
    assert time.monotonic() - start < PROMPT_S
    assert "pressed CTRL-C" not in stdout  # SCIP's own handler never saw it


def test_internal_error_exits_1_with_traceback(tmp_path, monkeypatch, capsys):
    """A bug (any exception that is not a NetplanError) exits 1, says so, shows the traceback, writes nothing."""

    def broken(*_args: object, **_kwargs: object) -> None:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr("netplan.pipeline.build_plan", broken)
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    assert main(["run", str(ROOT / "scenarios" / "helsinki.yaml"), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "ZeroDivisionError: a bug" in err
    assert err.rstrip().endswith("please report it with the traceback above")
    assert list(tmp_path.iterdir()) == []
