"""The day's booking routes: slots as windows, kg and m³, trade-in deliveries, slot offering against brute force."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from netplan.bookings import run_bookings, write_bookings
from netplan.cli import main
from netplan.route.bookings import (
    _replay,
    fewest_vans,
    offer_for_plan,
    offer_slots,
    share_fleet_counts,
    slot_interval,
    solve_day,
)
from netplan.route.engines import solve
from netplan.route.problem import (
    Depot,
    Interval,
    Location,
    Profile,
    RoutingInputError,
    RoutingProblem,
    Stop,
    VehicleType,
)
from netplan.route.simulate import simulate
from netplan.route.solution import Route, RouteSolution, Visit
from netplan.scenario import load_scenario, parse_hhmm

H = 3600


def line_problem(xs_km: list[float], stops: list[Stop], vans: list[VehicleType]) -> RoutingProblem:
    """Places on a straight road at ``xs_km`` (index 0 the depot), driven at 60 km/h: 1 km = 1 min = 1,000 m."""
    xs = np.asarray(xs_km, dtype=float)
    gap = np.abs(xs[:, None] - xs[None, :])
    profile = Profile("van", (gap * 1000).astype(np.int64), (gap * 60).astype(np.int64))
    return RoutingProblem(
        locations=[Location(f"x{x:g}", float(x), 0.0) for x in xs],
        profiles={"van": profile},
        stops=stops,
        depots=[Depot("station", 0, opens=Interval(7 * H, 21 * H), turnaround_s=300)],
        vehicle_types=vans,
        dimensions=("kg", "dm3"),
        name="line",
    ).validate()


def van(count: int = 1, kg: int = 100, dm3: int = 1000, reload: bool = True) -> VehicleType:
    return VehicleType(
        "van",
        count,
        (kg, dm3),
        reload_depots=(0,) if reload else (),
        shift=Interval(8 * H, 12 * H),
        distance_cost=1,
        duration_cost=1,
        profile="van",
    )


def booking(name: str, loc: int, slot: tuple[float, float], kg: int, dm3: int, *, delivery=(), service_min=15) -> Stop:
    window = Interval(int(slot[0] * H), int(slot[1] * H))
    return Stop(
        name,
        loc,
        (kg, dm3),
        service_s=service_min * 60,
        windows=(window,),
        required=False,
        penalty=10**9,
        delivery=delivery,
    )


def test_m3_forces_an_unload_between_two_slots() -> None:
    # A1, A2 (10 km, 08:00-09:00) and B1, B2 (20 km, 09:00-10:00) fit the van by kg (60 of 100) but not by m³, and
    # no three fit one trip (1.2 of 1.0 m³): the only plan serving all goes station-A-A-station-B-B-station (a trip
    # mixing A and B reaches B at 09:00 at the earliest, too late for the other A). By hand: 08:00-08:05 turnaround,
    # A 08:15-08:30 and 08:30-08:45, station 08:55-09:00, B 09:20-09:35 and 09:35-09:50, station 10:10-10:15; 60 km.
    stops = [
        booking("A1", 1, (8, 9), 15, 400),
        booking("A2", 1, (8, 9), 15, 400),
        booking("B1", 2, (9, 10), 15, 400),
        booking("B2", 2, (9, 10), 15, 400),
    ]
    problem = line_problem([0, 10, 20], stops, [van()])
    solution = solve_day(problem, seed=1, max_iterations=300)
    schedule = simulate(problem, solution)
    assert schedule.ok, schedule.violations
    assert solution.dropped == []
    route = solution.routes[0]
    assert [v.kind for v in route.visits] == ["depot", "stop", "stop", "depot", "stop", "stop", "depot"]
    assert [sorted(t) for t in route.trips()] == [[0, 1], [2, 3]]
    v = schedule.visits
    assert (v["end_s"] / 60).tolist() == [
        8 * 60 + 5,
        8 * 60 + 30,
        8 * 60 + 45,
        9 * 60,
        9 * 60 + 35,
        9 * 60 + 50,
        10 * 60 + 15,
    ]
    assert v["load_dm3"].tolist() == [0, 400, 800, 800, 400, 800, 800]
    assert schedule.routes["distance"].sum() == 60_000
    # all four in one trip break the m³ capacity, and the simulator says so
    visits = (Visit("depot", 0), *[Visit("stop", i) for i in range(4)], Visit("depot", 0))
    one_trip = RouteSolution([Route(0, 0, visits)], [], 0.0, "hand", 0.0, True)
    assert any("over capacity" in text and "dm3 1600 > 1000" in text for text in simulate(problem, one_trip).violations)


def test_refused_bookings_are_retried_with_an_unload() -> None:
    # PyVRP's search alone left the two B bookings out (it never opens a new trip for a left-out optional booking);
    # the engines' drop filling (route/drops.py) now opens that trip, and solve_day's second search, kept as a safety
    # net, has nothing left to retry: both serve all four, at the same cost.
    stops = [
        booking("A1", 1, (8, 9), 15, 400),
        booking("A2", 1, (8, 9), 15, 400),
        booking("B1", 2, (9, 10), 15, 400),
        booking("B2", 2, (9, 10), 15, 400),
    ]
    problem = line_problem([0, 10, 20], stops, [van()])
    plain = solve(problem, "pyvrp", time_limit_s=30, seed=1, max_iterations=300)
    retried = solve_day(problem, seed=1, max_iterations=300)
    assert plain.dropped == [] and retried.dropped == []
    assert retried.info.get("retried_refusals", 0) == 0 and retried.cost == plain.cost
    assert [sorted(t) for t in plain.routes[0].trips()] == [[0, 1], [2, 3]]


def test_trade_in_delivery_loaded_at_the_start() -> None:
    # The van (100 kg) leaves with the new fridge (70 kg) and swaps it for the old, lighter one (30 kg) at T; P's
    # 40 kg fit only after the swap: station-T-P carries 70, 30, 70 kg; P first would carry 110 kg to T.
    stops = [booking("T", 2, (8, 10), 30, 500, delivery=(70, 500)), booking("P", 1, (8, 10), 40, 100)]
    problem = line_problem([0, 5, 6], stops, [van(reload=False)])
    solution = solve_day(problem, seed=1, max_iterations=300)
    schedule = simulate(problem, solution)
    assert schedule.ok, schedule.violations
    assert solution.dropped == [] and solution.routes[0].stops() == [0, 1]
    assert schedule.visits["load_kg"].tolist() == [70, 30, 70, 70]
    wrong = RouteSolution(
        [Route(0, 0, (Visit("depot", 0), Visit("stop", 1), Visit("stop", 0), Visit("depot", 0)))],
        [],
        0.0,
        "hand",
        0.0,
        True,
    )
    assert any("over capacity after 'P' (kg 110 > 100)" in t for t in simulate(problem, wrong).violations)
    # a delivery that alone overfills the van is caught as it leaves the station
    heavy = line_problem(
        [0, 5, 6],
        [booking("T", 2, (8, 10), 30, 500, delivery=(70, 500)), booking("U", 1, (8, 10), 30, 500, delivery=(70, 500))],
        [van(reload=False)],
    )
    both = RouteSolution(
        [Route(0, 0, (Visit("depot", 0), Visit("stop", 0), Visit("stop", 1), Visit("depot", 0)))],
        [],
        0.0,
        "hand",
        0.0,
        True,
    )
    assert any("leaves over capacity with its deliveries (kg 140 > 100)" in t for t in simulate(heavy, both).violations)


def test_delivery_beyond_every_van_is_refused_up_front() -> None:
    with pytest.raises(RoutingInputError, match="exceeds every vehicle"):
        line_problem([0, 5], [Stop("T", 1, (10, 10), delivery=(200, 10))], [van()])


def random_day(rng: np.random.Generator, n: int) -> tuple[RoutingProblem, RouteSolution, list[Interval]]:
    slots = [Interval(8 * H, 9 * H), Interval(9 * H, 10 * H), Interval(10 * H, 11 * H), Interval(11 * H, 12 * H)]
    xs = [0.0] + list(rng.uniform(-25, 25, n + 1))  # the last place is the new caller's door
    stops = [
        booking(
            f"b{i}",
            i + 1,
            (s.start / H, s.end / H),
            int(rng.integers(10, 60)),
            int(rng.integers(100, 500)),
            service_min=int(rng.integers(10, 25)),
        )
        for i, s in enumerate(rng.choice(slots, n))
    ]
    problem = line_problem(xs, stops, [van(count=2, kg=150, dm3=1200)])
    solution = solve(problem, "pyvrp", time_limit_s=30, seed=0, max_iterations=200)
    assert simulate(problem, solution).ok
    return problem, solution, slots


@pytest.mark.parametrize("seed", range(12))
def test_slot_offering_agrees_with_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    problem, solution, slots = random_day(rng, int(rng.integers(5, 10)))
    door = len(problem.locations) - 1
    demand = (int(rng.integers(10, 80)), int(rng.integers(100, 800)))
    fast = offer_slots(problem, solution, location=door, demand=demand, service_s=900, slots=slots)
    brute = offer_slots(problem, solution, location=door, demand=demand, service_s=900, slots=slots, brute_force=True)
    # these twelve days include full days, open days and days with some slots open (seeds 6, 8, 11)
    assert fast == brute


def test_slot_offering_closes_full_slots() -> None:
    # One van; the 08:00-09:00 slot holds a 50-minute job 30 km east (the van is there 08:35-09:25). A caller 30 km
    # west cannot be served before it (there 08:35, back east 09:45: too late for the job) nor in 09:00-10:00 after
    # it (09:25 + 60 min = 10:25); 10:00-11:00 is still open.
    slots = [Interval(8 * H, 9 * H), Interval(9 * H, 10 * H), Interval(10 * H, 11 * H)]
    job = [booking("big", 1, (8, 9), 50, 500, service_min=50)]
    problem = line_problem([0, 30, -30], job, [van(count=1)])
    solution = solve(problem, "pyvrp", time_limit_s=30, seed=0, max_iterations=200)
    assert solution.dropped == []
    offered = offer_slots(problem, solution, location=2, demand=(20, 200), service_s=600, slots=slots)
    assert offered == [Interval(10 * H, 11 * H)]
    assert (
        offer_slots(problem, solution, location=2, demand=(20, 200), service_s=600, slots=slots, brute_force=True)
        == offered
    )
    # with a second van idle every slot opens
    two = line_problem([0, 30, -30], job, [van(count=2)])
    assert offer_slots(two, solution, location=2, demand=(20, 200), service_s=600, slots=slots) == slots
    # a booking larger than the van's room is never offered
    assert offer_slots(two, solution, location=2, demand=(20, 2000), service_s=600, slots=slots) == []


# --- on the Chengdu extract -----------------------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "scenarios" / "bookings_sample_gcj02.csv"


@pytest.fixture(scope="module")
def bookings_scenario():
    return load_scenario(ROOT / "scenarios" / "chengdu_bookings.yaml")


@pytest.fixture(scope="module")
def sample_day(bookings_scenario, chengdu):
    return run_bookings(bookings_scenario, city=chengdu, file=SAMPLE, crs="gcj02", offer_sample=3)


def test_sample_day_is_served_in_slot_and_checked(sample_day, bookings_scenario, tmp_path: Path) -> None:
    plan, open_slots = sample_day
    cfg = bookings_scenario.bookings
    table = plan.bookings
    assert plan.kpis["bookings"] == 12 and plan.kpis["served_in_slot"] == 12 and plan.kpis["share_in_slot"] == 1.0
    for _, b in table.iterrows():  # the promised slot, from the table itself
        start, end = (parse_hhmm(t) for t in b["slot"].split("-"))
        h, m = b["start"].split(":")[:2]
        assert start <= int(h) * 60 + int(m) <= end
    names = {d.name: d for d in cfg.depots}
    for group in plan.groups:
        assert group.schedule.ok
        visits = group.schedule.visits
        for vt in group.problem.vehicle_types:
            mine = visits[visits["vehicle_type"] == vt.name]
            assert (mine["load_kg"] <= vt.capacity[0]).all() and (mine["load_dm3"] <= vt.capacity[1]).all()
            depots = mine[mine["kind"] == "depot"]
            van = next(v for v in cfg.vehicles if v.name == vt.name)
            if len(depots):
                assert depots.groupby("vehicle")["name"].first().eq(van.base).all()
                ends = depots.groupby("vehicle")["name"].last()
                assert all(e in cfg.streams[van.streams[0]].destinations for e in ends)
    trade = table[table["stream"] == "trade_in"]
    assert trade["vehicle"].str.contains("家电配送车").all() and names["家电卖场仓库"].kind == "store"
    assert set(open_slots["slot"]) == set(cfg.slots) and open_slots["open"].any()
    out = write_bookings(plan, open_slots, tmp_path / "out", config=cfg)
    written = pd.read_csv(out["bookings"], encoding="utf-8-sig", dtype=str, keep_default_na=False)
    assert len(written) == 12 and set(written["served"]) == {"yes"} and (written["in_slot"] == "True").all()
    # times on the clock, HH:MM, in every table; what does not apply (why a served booking was refused) is empty
    hhmm = r"^([01]\d|2[0-3]):[0-5]\d$"
    assert written["arrival"].str.match(hhmm).all() and written["start"].str.match(hhmm).all()
    assert (written["why_not"] == "").all() and table["why_not"].isna().all()
    schedule = pd.read_csv(out["schedule"], encoding="utf-8-sig", dtype=str)
    assert not [c for c in schedule.columns if c.endswith("_s")] and len(schedule)
    for col in ("arrive", "start", "end"):
        assert schedule[col].str.match(hhmm).all(), col
    import pyogrio

    layers = {name for name, _ in pyogrio.list_layers(out["geopackage"])}
    assert {"bookings", "booking_routes", "booking_depots"} <= layers
    assert "BK-0904" in out["map"].read_text(encoding="utf-8")


def test_sample_day_is_reproducible(sample_day, bookings_scenario, chengdu) -> None:
    again, _ = run_bookings(bookings_scenario, city=chengdu, file=SAMPLE, crs="gcj02", offer_sample=0)
    assert again.bookings.drop(columns="geometry").equals(sample_day[0].bookings.drop(columns="geometry"))
    assert again.kpis == sample_day[0].kpis


def test_offering_on_roads_agrees_with_brute_force(sample_day, bookings_scenario, chengdu) -> None:
    plan, _ = sample_day
    slots = [slot_interval(s) for s in bookings_scenario.bookings.slots]
    for group in plan.groups:
        replay = _replay(group.travel)
        for stop in group.problem.stops:
            kwargs = {
                "location": stop.location,
                "demand": stop.demand,
                "service_s": stop.service_s,
                "delivery": stop.delivery,
                "slots": slots,
                "roads": replay,
            }
            assert offer_slots(group.problem, group.solution, **kwargs) == offer_slots(
                group.problem, group.solution, brute_force=True, **kwargs
            )
    offered = offer_for_plan(plan, bookings_scenario.bookings, chengdu, lon=104.07, lat=30.70, stream="bulky")
    assert offered and set(offered) <= set(bookings_scenario.bookings.slots)


def test_cli_offer_prints_open_slots(capsys) -> None:
    code = main(
        [
            "bookings",
            "offer",
            str(ROOT / "scenarios" / "chengdu_bookings.yaml"),
            "--bookings",
            str(SAMPLE),
            "--crs",
            "gcj02",
            "--lon",
            "104.0625",
            "--lat",
            "30.6975",
            "--caller-crs",
            "gcj02",
            "--stream",
            "e_waste",
        ]
    )
    assert code == 0
    answer = json.loads(capsys.readouterr().out.strip().splitlines()[0])
    assert answer["stream"] == "e_waste" and answer["open_slots"]


@pytest.mark.parametrize("rates", [0.25, pytest.param(1.0, marks=pytest.mark.slow)], ids=["quarter", "full"])
def test_example_weekday_meets_the_service_level(bookings_scenario, chengdu, rates: float) -> None:
    # The README's example: a weekday generated from demand (~570 bookings at the scenario's rates, ~140 at a
    # quarter of them: the same generation, routing and checks in a quarter of the time) on the Chengdu extract.
    scenario = bookings_scenario.model_copy(deep=True)
    for stream in scenario.bookings.streams.values():
        stream.rate_per_1000_households *= rates
    plan, open_slots = run_bookings(scenario, city=chengdu, offer_sample=2)
    k = plan.kpis
    assert k["bookings"] > 400 * rates and k["share_in_slot"] >= 0.95
    assert k["vans"] <= sum(v.count for v in bookings_scenario.bookings.vehicles)
    assert all(g.schedule.ok for g in plan.groups)
    refused = plan.bookings[plan.bookings["served"] == "no"]
    assert refused["why_not"].str.len().gt(0).all()
    assert len(open_slots) == 2 * 3 * len(bookings_scenario.bookings.slots)


def test_fewest_vans_is_the_smallest_fleet_meeting_the_target() -> None:
    # Eight 08:00-09:00 bookings, two at each of four places (20 and 40 km east and west): a van serves one place
    # before 09:00, so half the bookings need 2 vans and all of them 4; fewest_vans returns n, and n - 1 falls short.
    xs = [0, 20, 40, -20, -40]
    stops = [booking(f"b{i}", 1 + i // 2, (8, 9), 10, 100, service_min=10) for i in range(8)]
    problem = line_problem(xs, stops, [van(count=6)])
    for target, vans in ((0.5, 2), (0.95, 4)):
        n, share, fleet, solution = fewest_vans(problem, target=target, seed=0, max_iterations=300)
        assert n == vans and share >= target and solution is not None and solution.num_vehicles <= n
        assert fleet.vehicle_types[0].count == n and simulate(fleet, solution).ok
        fewer = replace(problem, vehicle_types=[replace(problem.vehicle_types[0], count=n - 1)]) if n > 1 else None
        if fewer is not None:
            short = solve_day(fewer, seed=0, max_iterations=300)
            assert 1 - len(short.dropped) / len(stops) < target
    assert share_fleet_counts([8, 8], 5) == [3, 2] and share_fleet_counts([8, 2], 5) == [4, 1]
    assert fewest_vans(replace(problem, stops=stops[:1]), target=0.95, seed=0, max_iterations=100)[0] == 1
