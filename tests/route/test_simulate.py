"""The schedule simulator on hand-made routes: times computed by hand, and every kind of rule break caught."""

from __future__ import annotations

import numpy as np
import pytest

from netplan.route.problem import Depot, Interval, Location, Profile, RoutingProblem, Stop, VehicleType
from netplan.route.simulate import RouteCheckError, simulate
from netplan.route.solution import Route, RouteSolution, Visit

H = 3600


def problem(**vt_kwargs) -> RoutingProblem:
    """Depot at 0, stops at 100, 300 and 600 on a line (1 s per metre), a second depot at 1000."""
    xs = [0, 100, 300, 600, 1000]
    d = np.abs(np.subtract.outer(xs, xs)).astype(np.int64)
    locs = [Location(f"x{x}", float(x), 0.0) for x in xs]
    stops = [
        Stop("a", 1, (40,), 60),
        Stop("b", 2, (40,), 60, windows=(Interval(8 * H, 9 * H),)),
        Stop("c", 3, (40,), 60, forbidden={"p": (Interval(7 * H, 8 * H),)}, required=False, penalty=5),
    ]
    kwargs = dict(name="van", count=2, capacity=(100,), shift=Interval(7 * H, 12 * H), profile="p", reload_depots=(0,))
    kwargs.update(vt_kwargs)
    return RoutingProblem(
        locs,
        {"p": Profile("p", d, d)},
        stops,
        [Depot("home", 0, turnaround_s=300), Depot("far", 4)],
        [VehicleType(**kwargs)],
        horizon=Interval(0, 24 * H),
    )


def route(*visits: tuple[str, int], vehicle: int = 0, start: int | None = None) -> Route:
    out = [Visit(kind, idx) for kind, idx in visits]
    out[0] = Visit(out[0].kind, out[0].index, start)
    return Route(0, vehicle, tuple(out))


def run(p, routes, dropped=()):
    return simulate(p, RouteSolution(list(routes), list(dropped), 0.0, "hand", 0.0, True))


def test_times_by_hand():
    p = problem()
    sched = run(p, [route(("depot", 0), ("stop", 0), ("stop", 1), ("depot", 0), ("stop", 2), ("depot", 0))])
    assert sched.violations == []
    v = sched.visits.set_index("name")
    # Leave 07:05 (turnaround 300 s), a at 07:05 + 100 s; b opens at 08:00 (wait); c is barred 07-08 for profile p.
    assert v.loc["a", "start_s"] == 7 * H + 300 + 100
    assert v.loc["b", "start_s"] == 8 * H and v.loc["b", "wait_s"] == pytest.approx(8 * H - (7 * H + 460 + 200))
    reload = sched.visits[(sched.visits["kind"] == "depot") & (sched.visits["seq"] == 3)].iloc[0]
    assert reload["arrive_s"] == 8 * H + 60 + 300 and reload["end_s"] == reload["arrive_s"] + 300
    assert v.loc["c", "start_s"] == reload["end_s"] + 600
    r = sched.routes.iloc[0]
    assert r["distance"] == 100 + 200 + 300 + 600 + 600 and r["trips"] == 2
    assert r["end_s"] == v.loc["c", "start_s"] + 60 + 600 + 300  # last arrival plus the end turnaround


def test_planned_late_start_is_kept():
    sched = run(problem(), [route(("depot", 0), ("stop", 1), ("depot", 0), start=7 * H + 1800)], dropped=[0, 2])
    assert sched.visits.iloc[0]["start_s"] == 7 * H + 1800
    assert any("required stop 'a' not served" in v for v in sched.violations)


@pytest.mark.parametrize(
    "routes, dropped, expected",
    [
        (
            [route(("depot", 0), ("stop", 0), ("stop", 1), ("stop", 2), ("depot", 0))],
            [],
            "over capacity after 'c' (kg 120 > 100)",
        ),
        ([route(("depot", 0), ("stop", 0), ("stop", 0), ("stop", 1), ("depot", 0))], [2], "stop 'a' served 2 times"),
        (
            [route(("depot", 0), ("stop", 0), ("stop", 1), ("depot", 0))],
            [],
            "stop 'c' neither served nor reported dropped",
        ),
        (
            [route(("depot", 0), ("stop", 0), ("depot", 1), ("stop", 1), ("depot", 0))],
            [2],
            "not one of its reload depots",
        ),
        ([route(("depot", 0), ("stop", 0), ("stop", 1), ("depot", 1))], [2], "ends at depot 'far'"),
        (
            [route(("depot", 0), ("stop", 0), ("depot", 0)), route(("depot", 0), ("stop", 1), ("depot", 0), vehicle=2)],
            [2],
            "only 2 vehicle(s)",
        ),
        (
            [route(("depot", 0), ("stop", 0), ("depot", 0)), route(("depot", 0), ("stop", 1), ("depot", 0))],
            [2],
            "has two routes",
        ),
    ],
)
def test_rule_breaks_are_caught(routes, dropped, expected):
    sched = run(problem(), routes, dropped)
    assert any(expected in v for v in sched.violations), sched.violations
    with pytest.raises(RouteCheckError):
        sched.raise_if_violations()


def test_late_window_shift_and_duration_caught():
    # b's window closes at 09:00; starting at 08:50 and going via c (barred until 08:00, fine)
    # still reaches b after 09:00.
    late = run(
        problem(), [route(("depot", 0), ("stop", 2), ("stop", 0), ("stop", 1), ("depot", 0), start=8 * H + 3000)]
    )
    assert any("serves 'b' at 09:" in v and "outside the times open to it" in v for v in late.violations)
    short = run(
        problem(shift=Interval(7 * H, 7 * H + 720)), [route(("depot", 0), ("stop", 0), ("depot", 0))], dropped=[1, 2]
    )
    assert any("after its shift ends at 07:12" in v for v in short.violations)
    capped = run(problem(max_duration_s=600), [route(("depot", 0), ("stop", 0), ("depot", 0))], dropped=[1, 2])
    assert any("more than 0.17 h" in v for v in capped.violations)


def test_a_trip_waits_at_the_depot_for_its_loads_release():
    p = problem()
    p.stops[0] = Stop("a", 1, (40,), 60, release_s=8 * H)
    sched = run(p, [route(("depot", 0), ("stop", 0), ("depot", 0), ("stop", 1), ("depot", 0))], dropped=[2])
    assert sched.violations == []
    v = sched.visits.set_index("name")
    assert v.loc["a", "start_s"] == 8 * H + 100  # leaves at 08:00, not 07:05
