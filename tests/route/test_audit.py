"""The simulator's own check that no stop is left while a vehicle has time and room for it."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from netplan.route.audit import audit_drops
from netplan.route.drops import fill_drops
from netplan.route.problem import Depot, Interval, Location, Profile, RoutingProblem, Stop, VehicleType
from netplan.route.solution import Route, RouteSolution, Visit
from tests.route.test_drops import PENALTY, H, line, optional, solution


def _unload_first():
    """A van that must unload at the station before going home; each 60 kg load fills its 100 kg trip."""
    base = line([])
    deps = [Depot("yard", 0, turnaround_s=300), Depot("station", 2, turnaround_s=300)]
    van = dataclasses.replace(base.vehicle_types[0], reload_depots=(1,), unload_before_end=True)
    stops = [optional("a", 1, 60), optional("b", 3, 60)]
    return RoutingProblem(base.locations, base.profiles, stops, deps, [van]).validate()


def test_a_stop_a_new_trip_after_the_last_unload_could_serve_is_found():
    p = _unload_first()
    left = solution(p, [[("depot", 0), ("stop", 0), ("depot", 1), ("depot", 0)]], [1])
    audit = audit_drops(p, left)
    (found,) = audit.servable
    assert (found.stop, found.vehicle_type, found.vehicle, found.penalty) == (1, 0, 0, PENALTY)
    assert 0 < found.extra_cost <= 0.95 * PENALTY and audit.checked == 1 and audit.unchecked == 0
    filled, _ = fill_drops(p, left)
    assert audit_drops(p, filled).servable == [] and filled.dropped == []


def test_stops_left_for_a_reason_are_not_servable():
    # The four reasons of explain_drops: none is a stop the simulator accepts within its penalty.
    early = (Interval(7 * H, 7 * H + 600),)
    stops = [
        Stop("busy", 1, (40,), 1200, early, required=False, penalty=PENALTY),
        optional("heavy", 2, kg=150),
        optional("too early", 3, windows=(Interval(0, 7 * H),)),
        optional("cheap", 4, penalty=1000),
        optional("late", 2, windows=(Interval(7 * H, 7 * H + 1000),)),
    ]
    base = line([])
    p = RoutingProblem(base.locations, base.profiles, stops, base.depots, base.vehicle_types).validate()
    sol = solution(p, [[("depot", 0), ("stop", 0), ("depot", 0)]], [1, 2, 3, 4])
    audit = audit_drops(p, sol)
    assert audit.servable == [] and audit.checked == 4 and audit.unchecked == 0 and audit.replays > 0
    # "cheap" counts once its penalty is worth the 10 km drive
    dear = dataclasses.replace(p, stops=[*p.stops[:3], dataclasses.replace(p.stops[3], penalty=PENALTY), p.stops[4]])
    assert [d.stop for d in audit_drops(dear.validate(), sol).servable] == [3]


def test_a_spare_vehicle_counts_and_the_work_limit_is_said():
    p = line([optional("a", 1, 60), optional("b", 3, 60)], count=2, capacity=60)
    sol = solution(p, [[("depot", 0), ("stop", 0), ("depot", 0)]], [1])
    (found,) = audit_drops(p, sol).servable
    assert found.stop == 1  # a new trip on van 1, or van 2 from the depot: the first the fixed order tries
    no_reload = dataclasses.replace(p, vehicle_types=[dataclasses.replace(p.vehicle_types[0], reload_depots=())])
    (spare,) = audit_drops(no_reload.validate(), sol).servable
    assert spare.vehicle is None and spare.vehicle_type == 0  # only the van left at the depot can take it
    cut = audit_drops(p, sol, max_replays=0)
    assert cut.replays == 0 and cut.checked == 0 and cut.unchecked == 1 and cut.servable == []


def test_a_servable_stop_and_an_unfinished_check_are_run_warnings():
    from netplan.diagnostics import collect
    from netplan.route.collection import report_drop_audit
    from netplan.route.engines import audited

    p = _unload_first()
    left = audited(p, solution(p, [[("depot", 0), ("stop", 0), ("depot", 1), ("depot", 0)]], [1]))
    assert left.info["drop_audit"]["servable"][0]["stop"] == 1
    with collect() as warnings:
        report_drop_audit("station 1", p, left)
    (warning,) = warnings
    assert warning.code == "route.servable_drops" and list(warning.ids) == ["b"]
    assert "'b' on vehicle van#1" in warning.message
    left.info["drop_audit"] |= {"servable": [], "checked": 0, "unchecked": 1}
    with collect() as warnings:
        report_drop_audit("station 1", p, left)
    assert [w.code for w in warnings] == ["route.drop_audit_limit"] and "after 0 of 1 stops" in warnings[0].message


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_skipped_insertions_are_ones_the_simulator_rejects(seed):
    # The capacity and working-time tests only skip what no schedule fits: on random routes of a busy day, every
    # insertion they skip is one the simulator rejects, and they do skip some.
    from netplan.route.audit import _Audit, _fresh_routes, _insertions
    from netplan.route.simulate import replay_route

    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 8000, (25, 2))
    d = np.rint(np.hypot(*(xy[:, None] - xy[None]).transpose(2, 0, 1))).astype(np.int64)
    stops = [
        Stop(f"s{i}", i, (int(rng.integers(20, 80)),), int(rng.integers(60, 900)), required=False, penalty=PENALTY)
        for i in range(2, 25)
    ]
    van = VehicleType(
        "van", 3, (150,), reload_depots=(1,), shift=Interval(7 * H, 10 * H), distance_cost=8, duration_cost=97
    )
    p = RoutingProblem(
        [Location(f"p{i}", *xy[i]) for i in range(25)],
        {"default": Profile("default", d, d // 5)},
        stops,
        [Depot("home", 0, turnaround_s=300), Depot("yard", 1, turnaround_s=300)],
        [van],
    ).validate()
    order = [int(i) for i in rng.permutation(len(stops))]
    routes = [
        Route(0, 0, (Visit("depot", 0, 7 * H), *(Visit("stop", i) for i in order[:4]), Visit("depot", 0))),
        Route(0, 1, (Visit("depot", 0, 7 * H), *(Visit("stop", i) for i in order[4:6]), Visit("depot", 0))),
    ]
    sol = RouteSolution(routes, order[6:], 0.0, "hand", 0.0, True)
    audit = _Audit(p, sol, max_replays=10**6)
    skipped = 0
    for s in order[6:]:
        candidates = [(r.vehicle_type, r.vehicle, v) for r in routes for v in _insertions(van, r.visits, s)]
        candidates += [(0, 2, v) for v in _fresh_routes(van, s)]
        for t, k, visits in candidates:
            if audit._overloaded(van, visits) or audit._too_long(van, visits):
                skipped += 1
                for start_s in (visits[0].start_s, None):
                    first = Visit("depot", visits[0].index, start_s)
                    assert replay_route(p, Route(t, k, (first, *visits[1:])))[0], (s, visits)
    assert skipped > 0
