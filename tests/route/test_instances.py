"""Benchmark readers (Solomon text layout, VRPLIB, BKS and .sol files).

Published routes are re-checked by the simulator.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
from conftest import published_path

from benchmarks.instances import (
    check_routes,
    parse_solomon,
    parse_vrplib,
    read_bks_csv,
    read_instance,
    read_solomon,
    read_solomon_solution,
    read_vrplib,
    read_vrplib_solution,
    release_violations,
    route_length,
    routes_of,
    solution_from_routes,
    to_problem,
)
from netplan.route.problem import Interval, RoutingInputError
from netplan.route.simulate import simulate


def shared(*parts: str) -> Path:
    """A published VRPTW file or folder (tests/data/published, else ../shared/benchmarks), or skip saying why."""
    return published_path("vrptw", *parts)


TINY_SOLOMON = """TINY

VEHICLE
NUMBER     CAPACITY
   3         20

CUSTOMER
CUST NO.  XCOORD.   YCOORD.    DEMAND   READY TIME  DUE DATE   SERVICE TIME

    0      0          0          0          0        100          0
    1      3          4         10          0         20          5
    2      6          8         10         10         40          5
    3      0          1          5         50         60          2
"""

TINY_VRPLIB = """NAME: TINYMT
TYPE: MTVRPTWR
EDGE_WEIGHT_TYPE: EUC_2D
DIMENSION: 4
VEHICLES: 2
CAPACITY: 10
SERVICE_TIME: 3
NODE_COORD_SECTION
1\t0\t0
2\t3\t4
3\t0\t1
4\t1\t1
DEMAND_SECTION
1\t0
2\t10
3\t5
4\t5
TIME_WINDOW_SECTION
1\t0\t100
2\t0\t50
3\t0\t90
4\t0\t90
RELEASE_TIME_SECTION
1\t0
2\t0
3\t30
4\t0
VEHICLES_RELOAD_DEPOT_SECTION
1\t1
2\t1
DEPOT_SECTION
1
-1
EOF
"""


# --- hand-written files -----------------------------------------------------------------------------------------


def test_tiny_solomon(tmp_path: Path) -> None:
    f = tmp_path / "tiny.txt"
    f.write_bytes(TINY_SOLOMON.replace("\n", "\r\n").encode())  # CRLF, as some published files
    inst = parse_solomon(f)
    assert inst.name == "TINY" and inst.vehicles == 3 and inst.capacity == 20 and inst.num_customers == 3
    p = read_solomon(f, scale=1000).validate()
    assert len(p.stops) == 3 and len(p.depots) == 1 and p.num_vehicles == 3
    d = p.profiles["default"].distance
    assert d[0, 1] == 5000 and d[1, 2] == 5000 and d[0, 3] == 1000 and d[2, 3] == round(1000 * math.hypot(6, 7))
    assert np.array_equal(p.profiles["default"].duration, d)
    s = p.stops[1]
    assert s.name == "2" and s.location == 2 and s.demand == (10,) and s.service_s == 5000
    assert s.windows == (Interval(10_000, 40_000),)
    assert p.horizon == Interval(0, 100_000) and p.depots[0].opens == p.horizon
    assert p.vehicle_types[0].shift == p.horizon and p.vehicle_types[0].capacity == (20,)
    assert p.vehicle_types[0].reload_depots == ()
    assert read_solomon(f, vehicles=2).num_vehicles == 2
    # truncation (DIMACS) vs rounding: |(6,8)-(0,1)| = 9.2195
    assert read_solomon(f, scale=10, rounding="trunc").profiles["default"].distance[2, 3] == 92
    assert read_solomon(f, scale=1, rounding="round").profiles["default"].distance[2, 3] == 9

    # 0-1-2-0 and 0-3-0 are feasible; length 5+5+10 + 1+1
    routes = [[1, 2], [3]]
    sol = solution_from_routes(p, routes)
    sched = simulate(p, sol)
    assert sched.ok, sched.violations
    assert sol.distance(p) == 22_000 and route_length(inst, routes) == pytest.approx(22.0)
    assert check_routes(inst, routes) == [] and routes_of(sol) == routes
    # 0-3-1-2: 3 is served at 50, so 1 (due 20) is late
    late = [[3, 1, 2]]
    assert not simulate(p, solution_from_routes(p, late)).ok
    assert any("customer 1" in v for v in check_routes(inst, late))
    # all three on one vehicle is 25 > 20
    assert any("load" in v for v in check_routes(inst, [[1, 2, 3]]))
    assert any("served 0 times" in v for v in check_routes(inst, [[1, 2]]))


def test_tiny_vrplib_multitrip_release(tmp_path: Path) -> None:
    f = tmp_path / "tiny.vrp"
    f.write_text(TINY_VRPLIB)
    inst = parse_vrplib(f)
    assert inst.vehicles == 2 and inst.capacity == 10 and inst.num_depots == 1
    assert list(inst.service) == [0, 3, 3, 3] and list(inst.release) == [0, 0, 30, 0]
    assert inst.reload_depots == [(0,), (0,)] and inst.has_release
    p = read_vrplib(f).validate()  # DIMACS: scale 10, truncated
    assert p.vehicle_types[0].reload_depots == (0,) and p.vehicle_types[0].count == 2
    assert p.stops[0].service_s == 30 and p.profiles["default"].distance[0, 1] == 50
    assert p.profiles["default"].distance[2, 3] == 10 and p.profiles["default"].distance[1, 3] == 36  # 3.606
    assert read_instance(f).name == "TINYMT"
    # one vehicle, two trips: 0-1-0 (load 10), then 0-2-3-0 (load 10)
    routes = [[1, 0, 2, 3]]
    sched = simulate(p, solution_from_routes(p, routes))
    assert sched.ok, sched.violations
    # the second trip must wait for node 2's release (30) but its window is open until 90: still feasible
    assert check_routes(inst, routes, release=False) == [] and check_routes(inst, routes) == []
    tight = parse_vrplib(f)
    tight.due[2] = 20.0  # due by 20 but released at 30: infeasible only because of the release date
    assert check_routes(tight, routes, release=False) == []
    assert any("customer 2" in v for v in check_routes(tight, routes))
    assert release_violations(tight, routes) == 1 and release_violations(inst, routes) == 0
    # a single trip is over capacity, and reloading needs the reload depot
    assert any("load" in v for v in check_routes(inst, [[1, 2, 3]]))
    assert not simulate(p, solution_from_routes(p, [[1, 2, 3]])).ok
    no_reload = to_problem(inst, scale=10, rounding="trunc", reload=False)
    assert no_reload.vehicle_types[0].reload_depots == ()
    assert not simulate(no_reload, solution_from_routes(no_reload, routes)).ok


def test_solution_files(tmp_path: Path) -> None:
    (tmp_path / "a.sol").write_text("Route #1: 1 0 2\r\nRoute #2: 3\r\nCost: 15006\r\nOptimal: True\r\n")
    ref = read_vrplib_solution(tmp_path / "a.sol")
    assert ref.routes == [[1, 0, 2], [3]] and ref.cost == 15006 and ref.optimal is True
    (tmp_path / "b.sol").write_text("Route #1: 4 5 \nCost 42444.8\n")
    assert read_vrplib_solution(tmp_path / "b.sol").cost == pytest.approx(42444.8)
    (tmp_path / "c.sol").write_text("Instance name : x\nSolution\nRoute  1 : 2 1\nRoute 2 : 3\n")
    assert read_solomon_solution(tmp_path / "c.sol").routes == [[2, 1], [3]]
    (tmp_path / "bks.csv").write_text(
        "instance,vehicles,distance,distance_only_vehicles,distance_only\nA,10,828.94,10,828.94\nB,4,100.5,,\n"
    )
    bks = read_bks_csv(tmp_path / "bks.csv")
    assert bks["A"].vehicles == 10 and bks["A"].distance_only == 828.94 and bks["B"].distance_only is None


TINY_MULTIDEPOT = """NAME: TINYMD
TYPE: MDVRPTW
EDGE_WEIGHT_TYPE: EXPLICIT
EDGE_WEIGHT_FORMAT: FULL_MATRIX
DIMENSION: 5
VEHICLES: 3
CAPACITY: 10
VEHICLES_MAX_DURATION: 40
EDGE_WEIGHT_SECTION
0 9 2 8 7
9 0 8 2 3
2 8 0 9 9
8 2 9 0 4
7 3 9 4 0
DEMAND_SECTION
1 0
2 0
3 4
4 4
5 4
SERVICE_TIME_SECTION
1 0
2 0
3 1
4 1
5 1
TIME_WINDOW_SECTION
1 0 100
2 10 100
3 0 100
4 0 100
5 0 100
VEHICLES_DEPOT_SECTION
1 1
2 2
3 2
DEPOT_SECTION
1
2
-1
EOF
"""


def test_tiny_multidepot_explicit_matrix(tmp_path: Path) -> None:
    f = tmp_path / "tiny.vrp"
    f.write_text(TINY_MULTIDEPOT)
    inst = parse_vrplib(f)
    assert inst.num_depots == 2 and inst.vehicle_depots == [0, 1, 1] and inst.max_duration == 40
    assert inst.explicit is not None and inst.explicit[1, 3] == 2 and not inst.coords.any()
    p = read_vrplib(f, scale=1, rounding="round").validate()
    assert [(vt.name, vt.count, vt.start_depot, vt.end_depot, vt.max_duration_s) for vt in p.vehicle_types] == [
        ("vehicle@0", 1, 0, 0, 40),
        ("vehicle@1", 2, 1, 1, 40),
    ]
    assert p.vehicle_types[1].shift == Interval(10, 100) and p.horizon == Interval(0, 100)
    assert p.profiles["default"].distance[4, 1] == 3
    # Route k is vehicle k, empty ones included: depot 0 serves node 2, depot 1's second vehicle nodes 3 and 4.
    routes = [[2], [], [3, 4]]
    sol = solution_from_routes(p, routes, num_depots=2)
    assert [(r.vehicle_type, r.vehicle, r.visits[0].index, r.visits[-1].index) for r in sol.routes] == [
        (0, 0, 0, 0),
        (1, 1, 1, 1),
    ]
    assert simulate(p, sol).violations == []
    assert sol.distance(p) == 2 + 2 + 2 + 4 + 3 == route_length(inst, routes)
    # The wrong depot's vehicle: node 2 from depot 1 is far longer.
    assert route_length(inst, [[], [2]]) == 16
    weird = TINY_MULTIDEPOT.replace("EDGE_WEIGHT_TYPE: EXPLICIT", "EDGE_WEIGHT_TYPE: GEO")
    (tmp_path / "geo.vrp").write_text(weird)
    with pytest.raises(RoutingInputError, match="geo.vrp: (not a readable VRPLIB|EDGE_WEIGHT_TYPE GEO)"):
        parse_vrplib(tmp_path / "geo.vrp")


# --- the real files ---------------------------------------------------------------------------------------------


@pytest.mark.shared
def test_solomon_all_56() -> None:
    folder = shared("solomon")
    bks = read_bks_csv(folder / "bks.csv")
    files = sorted(folder.glob("*.txt"))
    assert len(files) == 56 and set(bks) == {f.stem for f in files}
    for f in files:
        inst = parse_solomon(f)
        assert inst.name == f.stem and inst.num_customers == 100 and inst.vehicles == 25, f
        p = to_problem(inst, vehicles=bks[f.stem].vehicles).validate()
        assert p.num_vehicles == bks[f.stem].vehicles and len(p.stops) == 100
    assert bks["R101"].vehicles == 19 and bks["RC105"].distance_only == pytest.approx(1518.58)


@pytest.mark.shared
def test_homberger200_bks_routes_simulated() -> None:
    folder = shared("homberger200")
    bks = read_bks_csv(folder / "bks.csv")
    sols = sorted(folder.glob("*.sol"))
    assert sols
    for sol_file in sols:
        inst = parse_solomon(sol_file.with_suffix(".txt"))
        routes = read_solomon_solution(sol_file).routes
        ref = bks[inst.name]
        assert len(routes) == ref.vehicles
        assert check_routes(inst, routes) == [], inst.name
        assert check_routes(inst, routes, vehicles=ref.vehicles - 1)  # one route too many
        assert route_length(inst, routes) == pytest.approx(ref.distance, abs=0.006)
        p = to_problem(inst, vehicles=ref.vehicles)  # scale 1000, rounded
        sol = solution_from_routes(p, routes)
        sched = simulate(p, sol)
        assert sched.ok, (inst.name, sched.violations[:3])
        legs = sum(len(r) + 1 for r in routes)
        assert abs(sol.distance(p) / 1000 - ref.distance) <= 0.005 + 0.0005 * legs


@pytest.mark.shared
def test_multitrip_optima_simulated() -> None:
    folder = shared("multitrip")
    files = sorted(folder.glob("*.vrp"))
    solomon_based = [f for f in files if "_2_" not in f.stem]
    assert len(solomon_based) == 81  # the Homberger-based half is in ../shared only
    not_proven = []
    for f in solomon_based:
        inst = parse_vrplib(f)
        ref = read_vrplib_solution(f.with_suffix(".sol"))
        assert inst.num_customers == 100 and inst.reload_depots
        if not ref.optimal:
            not_proven.append(f.stem)
        assert len(ref.routes) <= inst.vehicles
        assert check_routes(inst, ref.routes, dimacs=True) == [], f.stem  # release dates included
        p = read_vrplib(f).validate()
        sol = solution_from_routes(p, ref.routes)
        sched = simulate(p, sol)
        assert sched.ok, (f.stem, sched.violations[:3])
        assert sol.distance(p) == ref.cost, f.stem  # costs are x10 integers of per-leg truncated distances
        assert route_length(inst, ref.routes) * 10 >= ref.cost  # truncating each leg only lowers it
    assert not_proven == ["RC208R0.5"]  # "Optimal: False": a best-known value, the other 80 are proven optima


@pytest.mark.shared
@pytest.mark.parametrize("name", ["C1_10_1", "R1_10_1", "RC2_10_1"])
def test_homberger1000_bks_simulated(name: str) -> None:
    f = shared("homberger1000", f"{name}.vrp")
    inst = parse_vrplib(f)
    assert inst.num_customers == 1000 and inst.release is None and inst.reload_depots == []
    ref = read_vrplib_solution(f.with_suffix(".sol"))
    p = read_vrplib(f).validate()
    sol = solution_from_routes(p, ref.routes)
    sched = simulate(p, sol)
    assert sched.ok, sched.violations[:3]
    assert sol.distance(p) == round(ref.cost * 10)  # DIMACS: one decimal, truncated per leg


@pytest.mark.shared
def test_multidepot_references_reproduced() -> None:
    # Vidal et al.'s MDVRPTW set in PyVRP's dialect: every published route set, with route k on vehicle k at its
    # depot, replays in the simulator and its length (x1000, rounded per leg) is the file's cost.
    folder = shared("multidepot")
    files = sorted(folder.glob("*.vrp"))
    assert len(files) == 28
    for f in files:
        inst = parse_vrplib(f)
        assert inst.num_depots in (4, 6, 12) and len(inst.vehicle_depots) == inst.vehicles, f.stem
        ref = read_vrplib_solution(f.with_suffix(".sol"))
        p = read_vrplib(f, scale=1000, rounding="round").validate()
        assert len(p.vehicle_types) == inst.num_depots
        # The references carry no times: without planned starts a route leaves at its shift start and may wait
        # longer than the duration limit allows, so the limit is left out of this replay.
        loose = dataclasses.replace(
            p, vehicle_types=[dataclasses.replace(vt, max_duration_s=None) for vt in p.vehicle_types]
        )
        sol = solution_from_routes(loose, ref.routes, num_depots=inst.num_depots)
        assert simulate(loose, sol).violations == [], f.stem
        assert sol.distance(p) == ref.cost, f.stem
        assert route_length(inst, ref.routes) * 1000 == pytest.approx(ref.cost, abs=0.5 * sum(map(len, ref.routes)) + 1)
