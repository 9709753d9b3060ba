"""Many depots: start and end depots that differ, per-vehicle homes and a required last unload before going home.

Both engines on tiny instances against enumeration (the brute force of ``test_engines``), and tampered routes the
simulator must reject."""

from __future__ import annotations

import dataclasses

import pytest

from netplan.route.engines import solve
from netplan.route.problem import Depot, RoutingInputError, Stop, VehicleType, home_types
from netplan.route.simulate import simulate
from netplan.route.solution import Route, RouteSolution, Visit
from tests.route.test_engines import FAST, POINTS, brute_force, checked, cost_of, euclid_problem

# Two garages at the ends of the map, a disposal site in the middle.
DEPOT_POINTS = POINTS[:7] + [(-500, 0), (700, 0), (150, 50)]
GARAGE_W, GARAGE_E, DISPOSAL = 0, 1, 2


def depots() -> list[Depot]:
    return [Depot("garage-w", 7, turnaround_s=120), Depot("garage-e", 8, turnaround_s=120),
            Depot("disposal", 9, turnaround_s=600)]


@pytest.fixture(params=["ortools", "pyvrp"])
def engine(request) -> str:
    return request.param


def test_start_and_end_depots_differ(engine):
    stops = [Stop(f"s{i}", i, (1,), service_s=60) for i in range(1, 7)]
    fleet = [VehicleType("truck", 1, (100,), start_depot=GARAGE_W, end_depot=GARAGE_E)]
    p = euclid_problem(DEPOT_POINTS, stops, fleet, depots=depots())
    sol = checked(p, solve(p, engine, **FAST))
    (route,) = sol.routes
    assert (route.visits[0].index, route.visits[-1].index) == (GARAGE_W, GARAGE_E)
    assert sol.cost == pytest.approx(brute_force(p)) == pytest.approx(cost_of(p, sol))


@pytest.mark.parametrize("max_reloads", [0, 1])
def test_required_last_unload_before_going_home(engine, max_reloads):
    # Capacity 12 and loads of 3: one trip holds everything, but the truck must still unload at the disposal site
    # before driving home; with max_reloads=0 that last unload is allowed (it is not a reload).
    stops = [Stop(f"s{i}", i, (3,), service_s=60) for i in range(1, 5)]
    fleet = [VehicleType("truck", 1, (12,), start_depot=GARAGE_W, end_depot=GARAGE_W, reload_depots=(DISPOSAL,),
                         max_reloads=max_reloads, unload_before_end=True)]
    p = euclid_problem(DEPOT_POINTS, stops, fleet, depots=depots())
    sol = checked(p, solve(p, engine, **FAST))
    (route,) = sol.routes
    assert [v.index for v in route.visits if v.kind == "depot"] == [GARAGE_W, DISPOSAL, GARAGE_W]
    assert sol.cost == pytest.approx(brute_force(p)) == pytest.approx(cost_of(p, sol))
    free = dataclasses.replace(p, vehicle_types=[dataclasses.replace(fleet[0], unload_before_end=False)])
    assert brute_force(p) > brute_force(free)  # the requirement is binding here


def test_last_unload_with_multi_trip_and_per_vehicle_homes(engine):
    # Loads of 5 on trucks of 10: several trips each; two trucks housed at different garages (one type per home).
    stops = [Stop(f"s{i}", i, (5,), service_s=60) for i in range(1, 6)]
    truck = VehicleType("truck", 2, (10,), reload_depots=(DISPOSAL,), unload_before_end=True, fixed_cost=300)
    fleet = home_types(truck, homes=[GARAGE_E, GARAGE_W])
    assert [(vt.name, vt.count, vt.start_depot, vt.end_depot) for vt in fleet] == [
        ("truck@0", 1, GARAGE_W, GARAGE_W), ("truck@1", 1, GARAGE_E, GARAGE_E)]
    p = euclid_problem(DEPOT_POINTS, stops, fleet, depots=depots())
    sol = checked(p, solve(p, engine, **FAST))
    for route in sol.routes:
        home = p.vehicle_types[route.vehicle_type].start_depot
        assert route.visits[0].index == route.visits[-1].index == home
        assert route.visits[-2] == Visit("depot", DISPOSAL, route.visits[-2].start_s)
    assert sol.cost == pytest.approx(brute_force(p)) == pytest.approx(cost_of(p, sol))


def test_several_unload_sites_ortools_optimal_pyvrp_refuses():
    # A second disposal site near the east: the last unload may be at either.
    points = DEPOT_POINTS + [(600, -50)]
    deps = depots() + [Depot("disposal-e", 10, turnaround_s=600)]
    stops = [Stop(f"s{i}", i, (3,), service_s=60) for i in range(1, 6)]
    fleet = [VehicleType("truck", 1, (30,), start_depot=GARAGE_W, end_depot=GARAGE_E, reload_depots=(DISPOSAL, 3),
                         unload_before_end=True)]
    p = euclid_problem(points, stops, fleet, depots=deps)
    sol = checked(p, solve(p, "ortools", **FAST))
    assert sol.cost == pytest.approx(brute_force(p)) == pytest.approx(cost_of(p, sol))
    with pytest.raises(RoutingInputError, match="unload_before_end.*one reload depot.*ortools"):
        solve(p, "pyvrp", **FAST)


def test_simulator_rejects_a_route_that_goes_home_loaded():
    stops = [Stop(f"s{i}", i, (3,), service_s=60) for i in range(1, 4)]
    fleet = [VehicleType("truck", 1, (12,), reload_depots=(DISPOSAL,), max_reloads=0, unload_before_end=True)]
    p = euclid_problem(DEPOT_POINTS, stops, fleet, depots=depots())
    good = RouteSolution([Route(0, 0, (Visit("depot", 0), Visit("stop", 0), Visit("stop", 1), Visit("stop", 2),
                                       Visit("depot", DISPOSAL), Visit("depot", 0)))], [], 0.0, "hand", 0.0, True)
    assert simulate(p, good).violations == []
    # Tampered: the final unload removed; and an extra mid-route unload that max_reloads=0 forbids.
    home_loaded = dataclasses.replace(good, routes=[dataclasses.replace(
        good.routes[0], visits=good.routes[0].visits[:4] + good.routes[0].visits[5:])])
    (violation,) = simulate(p, home_loaded).violations
    assert "arrives at its end depot 'garage-w' loaded (kg 9)" in violation
    extra = dataclasses.replace(good, routes=[dataclasses.replace(
        good.routes[0], visits=good.routes[0].visits[:2] + (Visit("depot", DISPOSAL),) + good.routes[0].visits[2:])])
    assert any("more than 0 reloads" in v for v in simulate(p, extra).violations)


def test_last_unload_needs_an_unload_depot():
    stops = [Stop("s1", 1, (3,))]
    with pytest.raises(RoutingInputError, match="unload_before_end needs at least one reload depot"):
        euclid_problem(DEPOT_POINTS, stops, [VehicleType("truck", 1, (12,), unload_before_end=True)], depots=depots())
