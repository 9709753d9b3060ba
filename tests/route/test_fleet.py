"""Fleet minimisation: fewer vehicles only for a cheaper plan that keeps every stop and passes the simulator."""

from __future__ import annotations

import numpy as np
import pytest

from netplan.route.engines import solve
from netplan.route.fleet import minimise_fleet
from netplan.route.problem import Depot, Interval, Location, Profile, RoutingProblem, Stop, VehicleType, home_types
from netplan.route.simulate import simulate
from netplan.route.solution import Route, RouteSolution, Visit
from netplan.scenario import scenario_from_dict

H = 3600
FIXED = 3_000_000  # 300 CNY a vehicle in netplan's cost unit


def grid_problem(
    n: int, *, kg: int, capacity: int, count: int, reloads: bool, seed: int = 0, optional: int = 0
) -> RoutingProblem:
    """A depot at the centre of a 4 km square and ``n`` stops drawn in it; Manhattan metres, 5 m/s."""
    rng = np.random.default_rng(seed)
    xy = np.vstack([[2000, 2000], rng.integers(0, 4001, size=(n, 2))])
    dist = np.abs(xy[:, None, :] - xy[None, :, :]).sum(axis=2).astype(np.int64)
    locations = [Location(f"l{i}", float(x), float(y)) for i, (x, y) in enumerate(xy)]
    stops = [
        Stop(f"s{i}", i + 1, (kg,), 300, required=i >= optional, penalty=0 if i >= optional else 2000 * 10_000)
        for i in range(n)
    ]
    vt = VehicleType(
        "truck",
        count,
        (capacity,),
        reload_depots=(0,) if reloads else (),
        shift=Interval(6 * H, 18 * H),
        fixed_cost=FIXED,
        distance_cost=35,
        duration_cost=125,
        profile="p",
    )
    return RoutingProblem(
        locations, {"p": Profile("p", dist, dist // 5)}, stops, [Depot("station", 0, turnaround_s=600)], [vt]
    ).validate()


def one_stop_per_vehicle(problem: RoutingProblem) -> RouteSolution:
    """A feasible but wasteful plan: every stop on its own vehicle, timed by the simulator."""
    routes = [
        Route(0, s, (Visit("depot", 0, 6 * H), Visit("stop", s), Visit("depot", 0))) for s in range(len(problem.stops))
    ]
    plan = RouteSolution(routes, [], cost=0.0, engine="hand", runtime_s=0.0, feasible=True)
    schedule = simulate(problem, plan)
    assert schedule.ok, schedule.violations
    # fixed + distance + duration cost, the objective the engines minimise
    vt = problem.vehicle_types[0]
    seconds = float(schedule.routes["duration_h"].sum() * 3600)
    plan.cost = len(routes) * vt.fixed_cost + plan.distance(problem) * vt.distance_cost + seconds * vt.duration_cost
    return plan


def test_a_capacity_bound_day_reaches_its_known_minimum_fleet():
    # 24 stops of 25 kg, 100 kg trucks, one trip each: exactly 6 trucks' worth of load, so 6 is the minimum.
    p = grid_problem(24, kg=25, capacity=100, count=24, reloads=False)
    wasteful = one_stop_per_vehicle(p)
    best = minimise_fleet(p, wasteful, rounds=8, iterations=300, seed=1)
    assert len(best.routes) == 6
    assert best.dropped == [] and best.feasible
    assert best.cost < wasteful.cost
    assert simulate(p, best).ok
    assert best.info["fleet_vehicles"] == [24, 6]
    # every kept round was cheaper than the one before it
    kept = [step["cost"] for step in best.info["fleet"] if step["kept"]]
    assert kept == sorted(kept, reverse=True) and kept[-1] == best.cost


def test_the_step_never_costs_more_nor_drops_a_stop():
    # Multi-trip, some stops optional: whatever the rounds do, the plan only gets cheaper and serves the same stops.
    p = grid_problem(100, kg=150, capacity=1000, count=10, reloads=True, seed=3, optional=10)
    first = solve(p, "pyvrp", seed=2, max_iterations=200)
    assert len(first.routes) > 1  # 8.3 h of service alone plus the driving: more than one truck's day
    after = solve(p, "pyvrp", seed=2, max_iterations=200, fleet_rounds=3, fleet_iterations=200)
    assert after.cost <= first.cost
    assert set(after.dropped) <= set(first.dropped)
    assert not [s for s in after.dropped if p.stops[s].required]
    assert len(after.routes) <= len(first.routes)
    assert after.info["fleet_vehicles"] == [len(first.routes), len(after.routes)]
    assert simulate(p, after).ok
    # decided by seed and iterations alone: the same routes again
    again = solve(p, "pyvrp", seed=2, max_iterations=200, fleet_rounds=3, fleet_iterations=200)
    assert [r.visits for r in again.routes] == [r.visits for r in after.routes] and again.cost == after.cost


def test_a_multi_trip_day_sheds_the_vehicles_its_work_does_not_need():
    # 120 stops of 5 min + driving on 12 h shifts with reloads: a few trucks' work, offered 30 trucks.
    p = grid_problem(120, kg=200, capacity=1000, count=30, reloads=True, seed=5)
    wasteful = one_stop_per_vehicle(replace_count(p, 120))
    best = minimise_fleet(replace_count(p, 120), wasteful, rounds=4, iterations=400, seed=0)
    assert len(best.routes) < 30 and best.dropped == [] and best.cost < wasteful.cost
    assert simulate(p, best).ok  # and it fits the problem's own fleet of 30


def replace_count(problem: RoutingProblem, count: int) -> RoutingProblem:
    from dataclasses import replace

    return replace(problem, vehicle_types=[replace(problem.vehicle_types[0], count=count)])


def test_an_infeasible_or_single_vehicle_plan_is_returned_as_is():
    p = grid_problem(4, kg=25, capacity=100, count=2, reloads=False)
    one = RouteSolution(
        [Route(0, 0, (Visit("depot", 0, 6 * H), *(Visit("stop", s) for s in range(4)), Visit("depot", 0)))],
        [],
        cost=1.0,
        engine="hand",
        runtime_s=0.0,
        feasible=True,
    )
    assert minimise_fleet(p, one, rounds=3, iterations=100) is one
    assert one.info["fleet_vehicles"] == [1, 1]
    bad = RouteSolution([], [0, 1, 2, 3], cost=1.0, engine="hand", runtime_s=0.0, feasible=False)
    assert minimise_fleet(p, bad, rounds=3, iterations=100) is bad


def test_fleet_rounds_need_the_pyvrp_engine():
    p = grid_problem(4, kg=25, capacity=100, count=2, reloads=False)
    with pytest.raises(ValueError, match="fleet_rounds"):
        solve(p, "ortools", fleet_rounds=2)
    from tests.route.test_problem import BASE

    base = {**BASE, "fleet": [{"name": "truck", "count": 1, "capacity_kg": 1000}]}
    with pytest.raises(Exception, match="fleet_rounds: 2 needs engine pyvrp"):
        scenario_from_dict({**base, "route": {"engine": "ortools", "fleet_rounds": 2}})
    # by default the rounds are on with pyvrp and simply not run with ortools
    assert scenario_from_dict(base).route.fleet_rounds == 3
    assert scenario_from_dict({**base, "route": {"engine": "ortools"}}).route.fleet_rounds == 3


def test_a_warm_start_with_a_last_unload_and_homes_is_taken_as_given():
    # PyVRP ends such a route at the unload depot: the warm start must hand it the trips without the drive home.
    from netplan.route.engines import pyvrp as pyvrp_engine
    from tests.route.test_depots import DEPOT_POINTS, DISPOSAL, GARAGE_E, GARAGE_W, depots
    from tests.route.test_engines import FAST, euclid_problem

    truck = VehicleType("truck", 2, (10,), reload_depots=(DISPOSAL,), unload_before_end=True, fixed_cost=300)
    fleet = home_types(truck, homes=[GARAGE_E, GARAGE_W])
    stops = [Stop(f"s{i}", i, (5,), service_s=60) for i in range(1, 6)]
    p = euclid_problem(DEPOT_POINTS, stops, fleet, depots=depots())
    first = solve(p, "pyvrp", **FAST)
    data, copies = pyvrp_engine.build_data(p)
    warm = pyvrp_engine._warm_start(data, copies, p, first)
    as_given = [
        [(v.kind, v.index) for v in r.visits[:-1]]  # PyVRP's route ends at the last unload, before the drive home
        for r in first.routes
    ]
    assert [
        [("depot", a.idx) if a.is_depot() else ("stop", copies[a.idx].stop) for a in r.schedule()]
        for r in warm.routes()
    ] == as_given
    again = pyvrp_engine.solve(p, seed=7, max_iterations=1, initial=first)
    assert again.feasible and again.cost == first.cost
    assert [r.visits for r in again.routes] == [r.visits for r in first.routes]
    assert simulate(p, again).ok
