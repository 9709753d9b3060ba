"""The live progress display of long solver stages (netplan.progress)."""

from __future__ import annotations

import logging
import time

import numpy as np
import pandas as pd
import pytest

from netplan import progress
from netplan.locate.lagrangian import LevelProblem, solve_level
from netplan.pipeline import build_plan


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_line_every_few_seconds_with_bound_incumbent_and_gap(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    logger = logging.getLogger("netplan.progress.test")
    reporter = progress.Reporter("locate", every_s=5.0, logger=logger, clock=clock)
    with caplog.at_level(logging.INFO, logger=logger.name):
        reporter.update(bound=90.0, incumbent=float("inf"), detail="Lagrangian subgradient", step=1)
        clock.now += 4.9
        reporter.update(bound=95.0, incumbent=100.0, step=2)  # not yet due
        assert caplog.messages == []
        clock.now += 0.2
        reporter.update(bound=96.0, incumbent=100.0, step=3)
        clock.now += 1.0
        reporter.update(bound=97.0, step=4)  # due again only 5 s after the last line
    (line,) = caplog.messages
    assert line.strip() == "locate 5 s: bound 96, incumbent 100 (gap 4.00%) · Lagrangian subgradient, iteration 3"
    assert reporter.lines == 1
    # unknown values show as a dash; a new detail forgets the old one's iteration count
    reporter.update(bound=None, incumbent=float("nan"), detail="SCIP MIP")
    assert reporter.line().endswith("bound —, incumbent — · SCIP MIP")


def test_report_outside_a_stage_does_nothing() -> None:
    progress.report(bound=1.0, incumbent=2.0, detail="nobody listens")  # no reporter: no error, no output


def test_heartbeat_speaks_while_a_native_call_holds_the_thread(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="netplan.progress"), progress.reporting("locate", every_s=0.1):
        progress.report(bound=1.0, incumbent=2.0, detail="SCIP MIP")
        time.sleep(0.6)  # a solve that calls no Python code, as SCIP does
    lines = [m for m in caplog.messages if "SCIP MIP" in m]
    assert len(lines) >= 3 and all("bound 1, incumbent 2 (gap 50.00%)" in m for m in lines)


def test_lagrangian_loop_reports_its_bound_and_incumbent(caplog: pytest.LogCaptureFixture) -> None:
    rng = np.random.default_rng(3)
    n, m = 40, 8
    src, dst = np.repeat(np.arange(n), m), np.tile(np.arange(m), n)
    cost = rng.uniform(10, 100, n * m)
    kw = {
        "weights": rng.uniform(1, 5, n),
        "active": np.ones(n, bool),
        "src": src,
        "dst": dst,
        "cost": cost,
        "capacity": np.full(m, 60.0),
        "open_cost": np.full(m, 200.0),
        "fixed_open": np.zeros(m, bool),
    }
    quiet = solve_level(LevelProblem(**kw), iterations=60, window=0)
    with caplog.at_level(logging.INFO, logger="netplan.progress"), progress.reporting("locate", every_s=0) as reporter:
        shown = solve_level(LevelProblem(**kw), iterations=60, window=0)
    lines = [m for m in caplog.messages if "Lagrangian subgradient" in m]
    assert lines and reporter.bound is not None and reporter.incumbent is not None
    assert reporter.bound <= quiet.bound + 1e-6 and reporter.incumbent >= quiet.objective - 1e-6
    # the display changes nothing
    assert shown.objective == quiet.objective and shown.bound == quiet.bound
    assert np.array_equal(shown.assign, quiet.assign) and np.array_equal(shown.open, quiet.open)


def _frames(plan) -> dict[str, pd.DataFrame]:
    kpis = plan.kpis[~plan.kpis["key"].str.endswith("time_s")].reset_index(drop=True)  # solve times differ run to run
    return {
        "facilities": pd.DataFrame(plan.facilities),
        "assignments": pd.DataFrame(plan.assignments),
        "routes": pd.DataFrame(plan.routes),
        "schedule": plan.schedule.reset_index(drop=True),
        "kpis": kpis,
    }


def test_the_plan_is_the_same_with_progress_on_and_off(
    helsinki_plan, helsinki_scenario, helsinki, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    off = helsinki_plan  # the shared plan: built with the display at its default
    monkeypatch.setattr(progress, "EVERY_S", 0.0)  # a line at every report: the most the display can do
    with caplog.at_level(logging.INFO, logger="netplan.progress"):
        on = build_plan(helsinki_scenario, city=helsinki)
    assert any(m.lstrip().startswith("locate ") and "bound" in m for m in caplog.messages)
    assert any(m.lstrip().startswith("route ") and "PyVRP" in m for m in caplog.messages)
    for name, frame in _frames(off).items():
        pd.testing.assert_frame_equal(frame, _frames(on)[name], obj=name)


def _slow_square(x: int) -> int:
    time.sleep(0.05 * x)
    return x * x


def test_work_in_worker_processes_counts_what_is_done(caplog: pytest.LogCaptureFixture) -> None:
    # Solvers in worker processes cannot reach the run's progress line: largest_first says how many calls are done.
    from netplan.processes import largest_first

    calls = [(x,) for x in (1, 4, 2, 3)]
    with caplog.at_level(logging.INFO, logger="netplan.progress"), progress.reporting("route", every_s=0) as reporter:
        results = largest_first(_slow_square, calls, [x for (x,) in calls], 2, what="stations")
    assert results == [1, 16, 4, 9]  # in the order of the calls, whichever ended first
    assert reporter.detail == "4 of 4 stations done in 2 processes"
    counts = [m.split(" · ")[1] for m in caplog.messages if " · " in m]
    assert counts[0] == "0 of 4 stations done in 2 processes" and counts[-1] == reporter.detail
    assert [int(c.split(" of ")[0]) for c in counts] == sorted(int(c.split(" of ")[0]) for c in counts)
