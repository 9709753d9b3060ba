"""Dropped stops: served when a vehicle has time and room for them, otherwise left with a reason."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from netplan.route.drops import explain_drops, fill_drops
from netplan.route.engines import pyvrp as pyvrp_engine
from netplan.route.engines import solve
from netplan.route.problem import Depot, Interval, Location, Profile, RoutingProblem, Stop, VehicleType
from netplan.route.simulate import simulate
from netplan.route.solution import Route, RouteSolution, Visit

H = 3600
PENALTY = 2000 * 10_000  # 2,000 CNY in netplan's cost unit


SHIFT = Interval(7 * H, 12 * H)


def line(stops: list[Stop], shift: Interval = SHIFT, count: int = 1, capacity: int = 100) -> RoutingProblem:
    """Depot at 0 and places at 100, 300, 600 and 5000 on a line (1 s per metre)."""
    xs = [0, 100, 300, 600, 5000]
    d = np.abs(np.subtract.outer(xs, xs)).astype(np.int64)
    return RoutingProblem(
        [Location(f"x{x}", float(x), 0.0) for x in xs],
        {"p": Profile("p", d, d)},
        stops,
        [Depot("home", 0, turnaround_s=300)],
        [
            VehicleType(
                "van",
                count,
                (capacity,),
                shift=shift,
                profile="p",
                reload_depots=(0,),
                distance_cost=8,
                duration_cost=97,
            )
        ],
    ).validate()


def optional(name: str, location: int, kg: int = 40, **kw) -> Stop:
    return Stop(name, location, (kg,), 60, required=False, penalty=kw.pop("penalty", PENALTY), **kw)


def solution(p: RoutingProblem, routes: list[list[tuple[str, int]]], dropped: list[int]) -> RouteSolution:
    return RouteSolution(
        [
            Route(0, k, tuple(Visit(kind, i, 7 * H if n == 0 else None) for n, (kind, i) in enumerate(r)))
            for k, r in enumerate(routes)
        ],
        dropped,
        cost=float(len(dropped) * PENALTY),
        engine="hand",
        runtime_s=0.0,
        feasible=True,
    )


def test_a_stop_a_vehicle_has_time_and_room_for_is_served():
    p = line([optional("a", 1, 30), optional("b", 2, 30), optional("c", 3, 30)])
    sol = solution(p, [[("depot", 0), ("stop", 0), ("stop", 2), ("depot", 0)]], [1])
    filled, cheapest = fill_drops(p, sol)
    assert filled.dropped == [] and filled.info["filled"] == ["b"] and cheapest == {}
    # On the way: between a (100) and c (600), so the route's order is kept and b slots in.
    assert filled.routes[0].stops() == [0, 1, 2]
    assert simulate(p, filled).ok
    assert filled.cost < sol.cost


def test_a_full_trip_gets_a_new_trip_and_an_idle_vehicle_a_route():
    p = line([optional("a", 1, 60), optional("b", 2, 60), optional("c", 3, 60)], count=2)
    sol = solution(p, [[("depot", 0), ("stop", 0), ("depot", 0)]], [1, 2])
    filled, _ = fill_drops(p, sol)
    assert filled.dropped == [] and sorted(filled.info["filled"]) == ["b", "c"]
    assert simulate(p, filled).ok
    # No trip over capacity: every stop with its own trip (60 + 60 > 100), on the used van or the idle one.
    assert all(len(trip) == 1 for r in filled.routes for trip in r.trips())


def test_a_truck_that_unloads_before_going_home_gets_a_new_trip_after_its_last_unload():
    # The route ends "... unload at the station, drive home", and each load fills a trip: the stop left out is served
    # by a new trip after that unload, which ends at an unload of its own (the chengdu_yards example left 14 points
    # while its tricycles were home by noon: the only new trip tried went home loaded).
    base = line([])
    deps = [Depot("yard", 0, turnaround_s=300), Depot("station", 2, turnaround_s=300)]
    van = dataclasses.replace(base.vehicle_types[0], reload_depots=(1,), unload_before_end=True)
    p = RoutingProblem(
        base.locations, base.profiles, [optional("a", 1, 60), optional("b", 3, 60)], deps, [van]
    ).validate()
    sol = solution(p, [[("depot", 0), ("stop", 0), ("depot", 1), ("depot", 0)]], [1])
    assert simulate(p, sol).ok
    filled, cheapest = fill_drops(p, sol)
    assert filled.dropped == [] and filled.info["filled"] == ["b"] and cheapest == {}
    (route,) = filled.routes
    assert [(v.kind, v.index) for v in route.visits] == [
        ("depot", 0),
        ("stop", 0),
        ("depot", 1),
        ("stop", 1),
        ("depot", 1),
        ("depot", 0),
    ]
    assert simulate(p, filled).ok


def test_every_stop_left_has_its_reason():
    early = (Interval(7 * H, 7 * H + 600),)
    stops = [
        Stop("busy", 1, (40,), 1200, early, required=False, penalty=PENALTY),  # 20 min from 07:06:40
        optional("heavy", 2, kg=150),  # above every capacity
        optional("too early", 3, windows=(Interval(0, 7 * H),)),  # closes before the shift starts
        optional("cheap", 4, penalty=1000),  # 10 km round trip for 0.1 CNY
        optional("late", 2, windows=(Interval(7 * H, 7 * H + 1000),)),
    ]  # only while the van is busy
    base = line([])
    p = RoutingProblem(base.locations, base.profiles, stops, base.depots, base.vehicle_types).validate()
    sol = solution(p, [[("depot", 0), ("stop", 0), ("depot", 0)]], [1, 2, 3, 4])
    filled, cheapest = fill_drops(p, sol)
    assert filled is sol
    drops = explain_drops(p, filled, cheapest, "CNY", 10_000)
    assert {p.stops[d.stop].name: d.reason for d in drops} == {
        "heavy": "capacity",
        "too early": "window",
        "cheap": "cost",
        "late": "shift",
    }
    cheap = next(d for d in drops if d.reason == "cost")
    assert cheap.cost > 1000 and "above its drop penalty of 0.10 CNY" in cheap.detail


@pytest.mark.parametrize("seed", [0, 1])
def test_engine_result_leaves_nothing_a_vehicle_has_time_for(seed):
    """A day of 60 stops in two 3-hour windows, more than the fleet can serve: PyVRP alone leaves some stops a vehicle
    could still take (cheaper than their penalty); the engine entry point serves them, and explains the rest."""
    rng = np.random.default_rng(seed)
    xy = np.vstack([[5000, 5000], rng.uniform(0, 10000, (60, 2))])
    d = np.rint(np.hypot(*(xy[:, None] - xy[None]).transpose(2, 0, 1))).astype(np.int64)
    windows = (Interval(8 * H, 11 * H), Interval(14 * H, 17 * H))
    stops = [
        Stop(
            f"s{i}",
            i,
            (int(rng.integers(100, 900)),),
            300 + int(rng.integers(0, 600)),
            windows,
            required=False,
            penalty=PENALTY,
        )
        for i in range(1, 61)
    ]
    vts = [
        VehicleType(
            "trike",
            3,
            (400,),
            reload_depots=(0,),
            shift=Interval(7 * H, 17 * H),
            fixed_cost=600_000,
            distance_cost=8,
            duration_cost=97,
        ),
        VehicleType(
            "truck",
            1,
            (3000,),
            reload_depots=(0,),
            shift=Interval(6 * H, 18 * H),
            fixed_cost=3_000_000,
            distance_cost=35,
            duration_cost=125,
        ),
    ]
    p = RoutingProblem(
        [Location(f"p{i}", *xy[i]) for i in range(61)],
        {"default": Profile("default", d, d // 6)},
        stops,
        [Depot("depot", 0, turnaround_s=900)],
        vts,
    ).validate()
    raw = pyvrp_engine.solve(p, time_limit_s=300, seed=1, max_iterations=2000)
    sol = solve(p, "pyvrp", time_limit_s=300, seed=1, max_iterations=2000)
    assert simulate(p, sol).ok and sol.feasible
    assert len(sol.dropped) <= len(raw.dropped) and sol.cost <= raw.cost
    again, _ = fill_drops(p, sol)
    assert again is sol  # nothing left that a vehicle has time and room for
    audit = sol.info["drop_audit"]  # and the simulator, asked alone, agrees
    assert audit["servable"] == [] and audit["checked"] == len(sol.dropped) and audit["unchecked"] == 0
    drops = explain_drops(p, sol, sol.info["drop_insertion_cost"])
    assert len(drops) == len(sol.dropped) > 0
    assert {d.reason for d in drops} <= {"shift", "cost"}


def test_a_dear_stop_worth_its_price_is_served_after_a_cheap_one_that_is_not():
    # "near" costs little to serve but its penalty is lower still; "far" costs more but is worth it.
    p = line([optional("near", 1, penalty=1), optional("far", 3)])
    filled, cheapest = fill_drops(p, solution(p, [], [0, 1]))
    assert filled.info["filled"] == ["far"] and filled.dropped == [0] and 0 in cheapest
    assert [d.reason for d in explain_drops(p, filled, cheapest)] == ["cost"]
