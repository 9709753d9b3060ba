"""Bans on a real (hand-made OSM) road graph: profiles, waiting, detours, and the simulator's verdict."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from osm_builder import grid_city as osm_grid_city
from osm_builder import lonlat

from netplan.route.bans import Ban, RoadBans
from netplan.route.engines import solve
from netplan.route.problem import Depot, Interval, Location, RoutingProblem, Stop, VehicleType
from netplan.route.roads import TravelProfiles, forbidden_starts
from netplan.route.simulate import RoadReplay, simulate
from netplan.route.solution import Route, RouteSolution, Visit

H = 3600


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    """A 600 m street grid (150 m blocks) and a banned square around its centre node (300, 300)."""
    city = osm_grid_city(tmp_path_factory.mktemp("ban"), size_m=600.0)
    zone = shapely.Polygon([lonlat(220, 220), lonlat(380, 220), lonlat(380, 380), lonlat(220, 380)])
    ban = Ban("centre", (Interval(6 * H, 9 * H),), min_weight_t=2.0, zone=zone)
    network = city.network("drive")
    return city, network, ban, RoadBans([ban], network.graph)


def node_at(network, x: float, y: float) -> int:
    lon, lat = lonlat(x, y)
    g = network.graph
    return min(g.nodes, key=lambda n: (g.nodes[n]["x"] - lon) ** 2 + (g.nodes[n]["y"] - lat) ** 2)


def test_road_bans_cover_the_zone_edges_and_node(grid):
    _, network, ban, road_bans = grid
    centre = node_at(network, 300, 300)
    assert road_bans.covers_node(ban, centre)
    assert not road_bans.covers_node(ban, node_at(network, 150, 300))
    # The four streets into the centre node, both ways; nothing else crosses the square.
    assert len(road_bans.edges([ban])) == 8
    assert all(centre in e for e in road_bans.edges([ban]))


def test_restricted_profile_detours_around_the_zone_and_enters_only_at_the_ends(grid):
    _, network, ban, road_bans = grid
    west, east, centre = (node_at(network, 150, 300), node_at(network, 450, 300), node_at(network, 300, 300))
    travel = TravelProfiles(network, [west, east, centre], road_bans, {"free": [], "restricted": [ban]})
    free, restricted = travel.profile("free"), travel.profile("restricted")
    assert free.distance[0, 1] == pytest.approx(300, rel=0.02)  # straight through the centre
    assert restricted.distance[0, 1] == pytest.approx(600, rel=0.02)  # around a block
    assert restricted.duration[0, 1] > free.duration[0, 1]
    assert centre not in travel.path("restricted", 0, 1)
    # Reaching the centre itself: the only banned edge is the last one.
    path = travel.path("restricted", 0, 2)
    assert path[-1] == centre and restricted.distance[0, 2] == pytest.approx(150, rel=0.02)
    arrive, leave = travel.stretches("restricted")
    edge = travel.edge_time[(west, centre)]
    assert arrive[2] == pytest.approx(np.ceil(edge), abs=1) and leave[2] == pytest.approx(np.ceil(edge), abs=1)
    assert arrive[0] == leave[0] == 0
    bad = forbidden_starts([ban], road_bans, centre, 300, arrive[2], leave[2])
    assert bad == (Interval(int(6 * H - 300 - leave[2]), int(9 * H + arrive[2]) + 1),)
    assert forbidden_starts([ban], road_bans, west, 300, 0, 0) == ()


def _ban_problem(grid, permit: bool):
    _, network, ban, road_bans = grid
    depot, centre, corner = node_at(network, 0, 0), node_at(network, 300, 300), node_at(network, 600, 600)
    profile = "free" if permit else "restricted"
    travel = TravelProfiles(network, [depot, centre, corner], road_bans, {profile: [] if permit else [ban]})
    arrive, leave = travel.stretches(profile)
    stops = []
    for loc, name in ((1, "centre"), (2, "corner")):
        forbidden = (
            {}
            if permit
            else {profile: forbidden_starts([ban], road_bans, travel.nodes[loc], 300, arrive[loc], leave[loc])}
        )
        stops.append(Stop(name, loc, (100,), 300, forbidden={k: v for k, v in forbidden.items() if v}))
    locations = [Location(f"L{i}", 0.0, 0.0, n) for i, n in enumerate(travel.nodes)]
    vt = VehicleType("truck", 1, (1000,), shift=Interval(6 * H, 14 * H), profile=profile, permit=permit, weight_t=5.0)
    problem = RoutingProblem(locations, {profile: travel.profile(profile)}, stops, [Depot("depot", 0)], [vt]).validate()
    replay = RoadReplay(
        road_bans, lambda u, v: travel.edge_time[(u, v)], lambda u, v: travel.edge_length[(u, v)], travel.path
    )
    return problem, replay, travel, ban


@pytest.mark.parametrize("engine", ["pyvrp", "ortools"])
def test_permitless_truck_waits_for_the_ban_to_end_and_the_simulator_agrees(grid, engine):
    problem, replay, _, ban = _ban_problem(grid, permit=False)
    solution = solve(problem, engine, time_limit_s=2, seed=1)
    schedule = simulate(problem, solution, roads=replay)
    assert schedule.violations == []
    centre = schedule.visits[schedule.visits["name"] == "centre"].iloc[0]
    assert centre["start_s"] >= 9 * H  # served only once the ban is over
    # Every banned edge it drives is driven outside the banned hours (checked here from the legs, edge by edge).
    banned = replay.bans.edges([ban])
    for _, leg in schedule.legs.iterrows():
        for (u, v), t0 in zip(zip(leg["path"], leg["path"][1:]), leg["enter_s"]):
            if (u, v) in banned:
                assert t0 >= 9 * H or t0 + replay.edge_time(u, v) <= 6 * H


def test_a_permit_lets_the_truck_in_during_the_ban(grid):
    problem, replay, _, ban = _ban_problem(grid, permit=True)
    solution = solve(problem, "pyvrp", time_limit_s=1, seed=1)
    schedule = simulate(problem, solution, roads=replay)
    assert schedule.violations == []
    assert schedule.visits[schedule.visits["name"] == "centre"].iloc[0]["start_s"] < 9 * H


def test_simulator_catches_a_truck_driving_into_the_zone_during_the_ban(grid):
    problem, replay, travel, ban = _ban_problem(grid, permit=False)
    # Tamper: the truck serves the centre first thing in the morning, ignoring the ban.
    route = Route(0, 0, (Visit("depot", 0, 6 * H), Visit("stop", 0), Visit("stop", 1), Visit("depot", 0)))
    tampered = RouteSolution([route], [], 0.0, "hand", 0.0, True)
    problem.stops[0].forbidden.clear()  # even when the problem forgets the ban, the roads remember it
    schedule = simulate(problem, tampered, roads=replay)
    text = " ".join(schedule.violations)
    assert "drives banned road" in text and "inside banned zone 'centre'" in text
    with pytest.raises(Exception, match="fails the schedule check"):
        schedule.raise_if_violations()
