"""Several independent starts share the iteration budget, run in processes, and keep the best, deterministically."""

from __future__ import annotations

import numpy as np
import pytest

from netplan.route.engines import solve
from netplan.route.problem import Depot, Interval, Location, Profile, RoutingProblem, Stop, VehicleType
from netplan.route.simulate import simulate
from netplan.scenario import scenario_from_dict

H = 3600


def day(n: int = 40, seed: int = 3) -> RoutingProblem:
    """A multi-trip collection day with windows (every stop required)."""
    rng = np.random.default_rng(seed)
    xy = np.vstack([[5000, 5000], rng.uniform(0, 10000, (n, 2))])
    d = np.rint(np.hypot(*(xy[:, None] - xy[None]).transpose(2, 0, 1))).astype(np.int64)
    stops = [
        Stop(f"s{i}", i, (int(rng.integers(100, 600)),), 300, (Interval(7 * H, 12 * H), Interval(13 * H, 17 * H)))
        for i in range(1, n + 1)
    ]
    vts = [
        VehicleType(
            "truck",
            4,
            (1500,),
            reload_depots=(0,),
            shift=Interval(6 * H, 18 * H),
            fixed_cost=3_000_000,
            distance_cost=35,
            duration_cost=125,
        )
    ]
    return RoutingProblem(
        [Location(f"p{i}", *xy[i]) for i in range(n + 1)],
        {"default": Profile("default", d, d // 6)},
        stops,
        [Depot("depot", 0, turnaround_s=900)],
        vts,
    ).validate()


def key(sol):
    return [(r.vehicle_type, r.vehicle, tuple((v.kind, v.index) for v in r.visits)) for r in sol.routes], sol.cost


def test_starts_keep_the_best_whatever_the_number_of_workers():
    p = day()
    budget = dict(time_limit_s=600, max_iterations=900)
    alone = solve(p, "pyvrp", seed=5, starts=3, workers=1, **budget)
    pooled = solve(p, "pyvrp", seed=5, starts=3, workers=2, **budget)
    assert key(alone) == key(pooled) and pooled.info["workers"] == 2
    starts = pooled.info["starts"]
    assert [s["seed"] for s in starts] == [5, 6, 7]
    assert all(s["iterations"] == 300 and s["stopped_by"] == "iterations" for s in starts)  # the budget is shared
    feasible = [s for s in starts if s["feasible"]]
    assert pooled.feasible and pooled.cost == min(s["cost"] for s in feasible)
    assert pooled.info["seed"] == min(s["seed"] for s in feasible if s["cost"] == pooled.cost)
    assert simulate(p, pooled).ok
    # A start on its own is the same search as a single run with that seed and its share of the budget.
    single = solve(p, "pyvrp", seed=pooled.info["seed"], time_limit_s=600, max_iterations=300)
    assert key(single) == key(pooled)


def test_starts_need_a_seeded_engine():
    with pytest.raises(ValueError, match="several starts need a seeded engine"):
        solve(day(5), "ortools", time_limit_s=1, starts=2)
    with pytest.raises(Exception, match="needs engine pyvrp"):
        scenario_from_dict(
            {"name": "x", "city": {"source": "x.osm"}, "route": {"engine": "ortools", "starts": 2}}, "x.yaml"
        )


def test_a_days_problems_side_by_side_give_the_routes_of_one_process(chengdu_scenario, monkeypatch):
    from netplan.processes import cores
    from netplan.route.collection import _solve_all, side_by_side

    problems = [("north", day(60, seed=3)), ("south", day(50, seed=4))]
    runs = {}
    for workers in (1, 2):
        scenario = chengdu_scenario.model_copy(deep=True)
        scenario.route.max_iterations, scenario.route.fleet_rounds, scenario.route.fleet_iterations = 300, 1, 100
        scenario.route.workers = workers
        assert side_by_side(problems, scenario.route) == workers  # the second run really uses two processes
        runs[workers] = _solve_all(problems, scenario)
    # too small a day, or several starts per problem, stays in one process whatever route.workers says
    assert side_by_side([("tiny", day(20))] * 2, scenario.route) == 1
    scenario.route.workers = None  # the default: NETPLAN_WORKERS (the suite's 1 under xdist), else one per core
    monkeypatch.setenv("NETPLAN_WORKERS", "2")
    assert side_by_side(problems, scenario.route) == 2
    monkeypatch.delenv("NETPLAN_WORKERS")
    assert side_by_side(problems, scenario.route) == min(2, cores())  # pytest's process is not a script
    scenario.route.starts = 2
    assert side_by_side(problems, scenario.route) == 1
    assert [key(s) for s in runs[1]] == [key(s) for s in runs[2]]
    for (_, problem), solution in zip(problems, runs[2]):
        assert solution.info["stopped_by"] == "iterations" and simulate(problem, solution).ok
