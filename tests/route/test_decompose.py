"""Route-based decomposition of PyVRP's search (netplan.route.engines.decompose) on a multi-depot instance."""

from __future__ import annotations

import random
from dataclasses import replace
from functools import lru_cache

import numpy as np
import pytest
import pyvrp
from pyvrp.stop import MaxIterations

from netplan.route.engines import solve
from netplan.route.engines.decompose import DecompositionSettings, _subproblem, cost, route_groups
from netplan.route.engines.pyvrp import SearchSettings, _run, build_data
from netplan.route.problem import Depot, Interval, Location, Profile, RoutingProblem, Stop, VehicleType
from netplan.route.simulate import simulate

CLIENTS = 240


@lru_cache(maxsize=1)
def multidepot() -> RoutingProblem:
    """240 stops around three depots; 10 stops a vehicle, so about 24 routes from three depots' fleets."""
    rng = random.Random(11)
    depots_xy = [(-3000, -2000), (3000, -2000), (0, 3000)]
    points = depots_xy + [(rng.randint(-6000, 6000), rng.randint(-6000, 6000)) for _ in range(CLIENTS)]
    xy = np.array(points, dtype=float)
    dist = np.rint(np.hypot(xy[:, None, 0] - xy[None, :, 0], xy[:, None, 1] - xy[None, :, 1])).astype(np.int64)
    return RoutingProblem(
        locations=[Location(f"p{i}", x, y) for i, (x, y) in enumerate(points)],
        profiles={"default": Profile("default", dist, dist.copy())},
        stops=[Stop(f"s{i}", i, (1,), service_s=60) for i in range(3, len(points))],
        depots=[Depot(f"d{d}", d) for d in range(3)],
        vehicle_types=[VehicleType(f"v{d}", 12, (10,), start_depot=d, end_depot=d) for d in range(3)],
    ).validate()


@lru_cache(maxsize=1)
def incumbent() -> tuple[pyvrp.ProblemData, pyvrp.Solution]:
    data, _ = build_data(multidepot())
    result, _ = _run(data, MaxIterations(300), 0, False)
    assert result.best.is_feasible()
    return data, result.best


def test_route_groups_split_the_routes_into_sectors_of_about_the_target_size():
    data, best = incumbent()
    routes = list(best.routes())
    groups = route_groups(data, routes, group_clients=60, turn=0.0)
    assert sorted(i for g in groups for i in g) == list(range(len(routes)))  # each route in exactly one group
    assert len(groups) == CLIENTS // 60
    sizes = [sum(routes[i].num_clients() for i in g) for g in groups]
    assert all(40 <= s <= 80 for s in sizes), sizes  # whole routes of <= 10 clients around a target of 60
    assert route_groups(data, routes, group_clients=60, turn=0.0) == groups  # nothing but the routes decides
    assert route_groups(data, routes, group_clients=60, turn=0.5) != groups  # a turned round cuts elsewhere
    assert route_groups(data, routes, group_clients=200, turn=0.0) == [list(range(len(routes)))]  # too few clients


def test_a_subproblem_keeps_its_routes_vehicles_depots_and_cost():
    data, best = incumbent()
    routes = list(best.routes())
    group = route_groups(data, routes, group_clients=60, turn=0.0)[1]
    sub, start, clients, types = _subproblem(data, [routes[i] for i in group])
    assert sub.num_clients == len(clients) == sum(routes[i].num_clients() for i in group)
    assert sub.num_vehicles == len(group)  # exactly the vehicles these routes use
    assert [sub.vehicle_type(t).start_depot for t in range(sub.num_vehicle_types)] == [
        data.vehicle_type(t).start_depot for t in types
    ]
    assert start.is_feasible()
    assert cost(start) == sum(routes[i].distance_cost() + routes[i].duration_cost() for i in group)


def test_the_decomposed_search_is_reproducible_feasible_and_spends_its_iteration_budget():
    p = multidepot()
    search = SearchSettings(decompose=DecompositionSettings(group_clients=60, rounds=2))
    runs = [solve(p, "pyvrp", time_limit_s=120, max_iterations=1200, seed=3, search=search) for _ in range(2)]
    assert [r.visits for r in runs[0].routes] == [r.visits for r in runs[1].routes]
    sol = runs[0]
    assert sol.feasible and not sol.dropped
    assert simulate(p, sol).ok
    assert sol.info["iterations"] == 1200 and sol.info["stopped_by"] == "iterations"
    done = sol.info["decomposition"]
    assert done["subproblems"] == 2 * (CLIENTS // 60)
    assert done["costs"] == sorted(done["costs"], reverse=True)  # no phase makes the incumbent worse
    assert done["costs"][-1] == pytest.approx(sol.cost)
    assert all(r.vehicle < multidepot().vehicle_types[r.vehicle_type].count for r in sol.routes)


def test_the_decomposed_search_keeps_to_a_cpu_limit():
    p = multidepot()
    search = SearchSettings(decompose=DecompositionSettings(group_clients=60))
    sol = solve(p, "pyvrp", time_limit_s=120, cpu_limit_s=1.0, search=search)
    assert sol.info["stopped_by"] == "cpu"
    assert sol.info["cpu_s"] <= 1.5  # the last phase stops at its first iteration past the limit
    assert sol.feasible and simulate(p, sol).ok


@pytest.mark.parametrize("bad", [dict(group_clients=1), dict(rounds=0), dict(first_share=1.0), dict(sub_share=0.0)])
def test_decomposition_settings_refuse_a_budget_that_cannot_be_split(bad):
    with pytest.raises(ValueError):
        DecompositionSettings(**bad)


def test_mutually_exclusive_visits_are_never_split_the_search_goes_on_whole():
    base = multidepot()
    # A stop with two windows becomes a group of two PyVRP clients, one of which is visited.
    two = replace(base.stops[0], windows=(Interval(0, 3_600), Interval(7_200, 86_400)))
    p = replace(base, stops=[two, *base.stops[1:]]).validate()
    assert build_data(p)[0].num_groups == 1
    search = SearchSettings(decompose=DecompositionSettings(group_clients=60))
    sol = solve(p, "pyvrp", time_limit_s=120, max_iterations=600, seed=1, search=search)
    assert sol.info["decomposition"]["subproblems"] == 0
    assert sol.info["iterations"] == 600
    assert sol.feasible and not sol.dropped and simulate(p, sol).ok
