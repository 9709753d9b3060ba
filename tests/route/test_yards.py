"""Vehicle yards, a last unload before going home and fleet caps, from the scenario file (issue 14)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from osm_builder import lonlat

from netplan.errors import ScenarioError
from netplan.route.collection import route_day, share_cap
from netplan.route.problem import RoutingInputError
from netplan.route.simulate import simulate
from netplan.route.solution import Route, Visit
from netplan.scenario import load_scenario, scenario_from_dict

from .test_collection import GRID_TIERS
from .test_collection import facilities as station_facilities

ROOT = Path(__file__).resolve().parents[2]
STATION = (0.0, 0.0)
EAST, NORTH = (900.0, 0.0), (0.0, 900.0)
POINTS = [(150, 300), (300, 150), (450, 450), (600, 300), (300, 600), (750, 750), (150, 750), (750, 150)]


def facilities(city, load: float = 300.0) -> gpd.GeoDataFrame:
    """The station at the grid's corner and its eight collection points (the collection-day tests' builder)."""
    return station_facilities(city, STATION, POINTS, load)


def yard(name: str, xy: tuple[float, float]) -> dict:
    lon, lat = lonlat(*xy)
    return {"name": name, "lon": lon, "lat": lat, "hours": "05:00-22:00"}


def scenario(fleet: list[dict], **route):
    return scenario_from_dict(
        {
            "name": "yards",
            "seed": 1,
            "city": {"source": "grid.osm"},
            "tiers": GRID_TIERS,
            "fleet": fleet,
            "route": {
                "max_iterations": 300,
                "time_limit_s": 20,
                "drop_penalty_cny": None,
                "yards": [yard("east", EAST), yard("north", NORTH)],
                **route,
            },
        },
        "yards.yaml",
    )


def truck(**keys) -> dict:
    return {"name": "truck", "count": 2, "capacity_kg": 1000, "per_km_cost": 3, "shift": "06:00-16:00", **keys}


def depot_visits(day, vehicle: str):
    v = day.schedule[(day.schedule["vehicle"] == vehicle) & (day.schedule["depot"] == "station")]
    return v.reset_index(drop=True)


@pytest.mark.parametrize("engine", ["pyvrp", "ortools"])
def test_vehicles_start_and_end_at_their_home_yard_and_unload_first(grid_city, engine):
    sc = scenario([truck(yard="east", unload_before_end=True)], engine=engine)
    day = route_day(grid_city, facilities(grid_city), sc)
    assert day.summary["served"].sum() == len(POINTS) and day.summary["dropped"].sum() == 0
    assert day.summary["yards"].iloc[0].startswith("east: ")
    for vehicle in day.schedule["vehicle"].unique():
        v = depot_visits(day, vehicle)
        assert v["name"].iloc[0] == "east" and v["name"].iloc[-1] == "east"
        # the last unload holds in schedule.csv: the station, then home with nothing on board
        assert v["name"].iloc[-2] == "station" and v["kind"].iloc[-2] == "depot"
        assert v["load_kg"].iloc[-1] == 0
        assert v["name"].iloc[1:-1].eq("east").sum() == 0  # never unloads at the yard
    assert set(day.routes["start_yard"]) == {"east"} and set(day.routes["end_yard"]) == {"east"}
    assert day.routes["depot_site_id"].eq(100).all()


def test_without_the_last_unload_a_truck_goes_home_loaded(grid_city):
    sc = scenario([truck(count=1, yard="east")])
    day = route_day(grid_city, facilities(grid_city), sc)
    v = depot_visits(day, day.schedule["vehicle"].iloc[0])
    assert v["name"].iloc[-1] == "east" and v["name"].iloc[-2] != "station"
    assert v["load_kg"].iloc[-1] > 0  # the last trip's load rides home: unload_before_end is what prevents it


@pytest.mark.parametrize("engine", ["pyvrp", "ortools"])
def test_several_allowed_yards_each_vehicle_picks_its_own(grid_city, engine):
    sc = scenario([truck(yards=["east", "north"], unload_before_end=True)], engine=engine)
    day = route_day(grid_city, facilities(grid_city), sc)
    assert day.summary["dropped"].sum() == 0
    assert set(day.routes["start_yard"]) <= {"east", "north"} and set(day.routes["end_yard"]) <= {"east", "north"}
    assert (day.routes["start_yard"] != "").all()


def two_types(engine: str = "ortools", **route):
    # short shifts: one vehicle cannot serve every point in time, two can
    fleet = [
        truck(name="small", count=2, capacity_kg=700, shift="06:00-07:30", yard="north"),
        truck(name="large", count=2, capacity_kg=1000, shift="06:00-07:30", yard="north"),
    ]
    return scenario(fleet, engine=engine, drop_penalty_cny=500, **route)


@pytest.mark.parametrize("engine", ["pyvrp", "ortools"])
def test_a_fleet_cap_binds_and_is_respected(grid_city, engine):
    free = route_day(grid_city, facilities(grid_city), two_types(engine))
    assert free.summary["vehicles"].sum() >= 2 and free.summary["dropped"].sum() == 0
    drivers = [{"name": "drivers", "max_vehicles": 1}]
    capped = route_day(grid_city, facilities(grid_city), two_types(engine, fleet_caps=drivers))
    assert capped.summary["vehicles"].sum() == 1
    assert capped.summary["dropped"].sum() > 0  # the cap costs service: it did bind
    assert capped.problems[0]["problem"].fleet_caps[0].max_vehicles == 1


def test_simulator_rejects_a_tampered_yard_route(grid_city):
    sc = scenario([truck(yard="east", unload_before_end=True)], engine="ortools")
    day = route_day(grid_city, facilities(grid_city), sc)
    problem, solution = day.problems[0]["problem"], day.problems[0]["solution"]
    assert not simulate(problem, solution).violations
    route = solution.routes[0]
    # drive home without the last unload at the station
    loaded_home = replace(route, visits=route.visits[:-2] + route.visits[-1:])
    bad = simulate(problem, replace(solution, routes=[loaded_home, *solution.routes[1:]]))
    assert any("unload" in v or "load" in v for v in bad.violations), bad.violations
    # start at the station instead of the home yard
    from_station = Route(route.vehicle_type, route.vehicle, (Visit("depot", 0), *route.visits[1:]))
    bad = simulate(problem, replace(solution, routes=[from_station, *solution.routes[1:]]))
    assert bad.violations


def test_share_cap_gives_every_loaded_station_one_first():
    assert share_cap(3, [900.0, 100.0, 300.0], [4, 4, 4]) == [1, 1, 1]
    assert share_cap(5, [900.0, 100.0, 300.0], [4, 1, 4]) == [3, 1, 1]
    assert share_cap(2, [900.0, 100.0, 300.0], [4, 4, 4]) == [1, 0, 1]
    assert share_cap(9, [900.0, 0.0], [2, 3]) == [2, 0]


def test_a_cap_that_leaves_a_station_no_vehicle_is_an_error(grid_city):
    sc = two_types(fleet_caps=[{"name": "drivers", "max_vehicles": 1}])
    frame = facilities(grid_city)
    second = frame.iloc[[0]].assign(site_id=200, name="second", load_kg_day=10.0)
    extra = frame.iloc[[1]].assign(site_id=7, name="q", load_kg_day=10.0, next_site_id=200)
    both = gpd.GeoDataFrame(pd.concat([frame, second, extra], ignore_index=True), crs="EPSG:4326")
    with pytest.raises(RoutingInputError, match="fleet cap 'drivers' leaves it no vehicle") as err:
        route_day(grid_city, both, sc)
    assert err.value.where == "route.fleet_caps"


@pytest.mark.parametrize(
    ("fleet", "route", "key", "text"),
    [
        ([truck(yard="west")], {}, "fleet[0].yard", "unknown yard 'west'"),
        ([truck(yard="east", yards=["north"])], {"engine": "ortools"}, "fleet[0].yards", "not both"),
        (
            [truck()],
            {"engine": "ortools", "fleet_caps": [{"types": ["bus"], "max_vehicles": 1}]},
            "route.fleet_caps[0].types",
            "'bus' is not a collection vehicle type",
        ),
        ([truck()], {"yards": [yard("a", EAST), yard("a", NORTH)]}, "route.yards", "repeated"),
    ],
)
def test_yard_and_cap_keys_are_checked_by_key(fleet, route, key, text):
    with pytest.raises(ScenarioError, match=text) as err:
        scenario(fleet, **route)
    assert key in str(err.value)


def test_the_two_yard_chengdu_example_is_valid():
    sc = load_scenario(ROOT / "scenarios" / "chengdu_yards.yaml")
    assert [y.name for y in sc.route.yards] and sc.route.engine == "ortools"
    assert any(v.yard_names() for v in sc.fleet) and any(v.unload_before_end for v in sc.fleet)


def test_the_two_yard_chengdu_example_routes_the_default_network(chengdu_run, chengdu):
    """The example's fleet and yards on the network the default scenario sites (same city, demand and tiers)."""
    from netplan.rural import round_facilities

    plan, _ = chengdu_run
    sc = load_scenario(ROOT / "scenarios" / "chengdu_yards.yaml")
    day = route_day(chengdu, round_facilities(plan.facilities, sc), sc)  # raises on any simulator violation
    collection = day.schedule[~day.schedule["depot"].str.endswith("(hauls)")]
    assert day.summary["dropped"].sum() == 0
    for _, v in collection.groupby(["depot", "vehicle"]):
        depots = v[v["kind"] == "depot"]
        assert depots["name"].iloc[0] in {"北车场", "东车场"} and depots["name"].iloc[-1] in {"北车场", "东车场"}
        if v["vehicle_type"].iloc[0] == "4.5吨厢式货车":
            assert depots["name"].iloc[0] == depots["name"].iloc[-1] == "东车场"
        assert depots["name"].iloc[-2] == v["depot"].iloc[0] and depots["load_kg"].iloc[-1] == 0
    rows = day.summary[~day.summary["depot"].str.endswith("(hauls)")]
    assert rows["vehicles"].sum() <= 15


def test_netplan_validate_names_the_yard_key_and_exits_2(tmp_path, capsys):
    from netplan.cli import main

    text = (ROOT / "scenarios" / "chengdu_yards.yaml").read_text(encoding="utf-8")
    bad = tmp_path / "bad.yaml"
    assert "yards: [北车场, 东车场]" in text
    bad.write_text(
        text.replace("yards: [北车场, 东车场]", "yards: [北车场, 西车场]").replace("../data/", f"{ROOT}/data/"),
        encoding="utf-8",
    )
    assert main(["validate", str(bad)]) == 2
    assert "fleet[0].yards: unknown yard '西车场'" in capsys.readouterr().err


def test_a_haul_truck_with_a_yard_starts_there_and_unloads_at_the_centre(grid_city):
    fleet = [
        truck(),
        {"name": "hauler", "role": "haul", "count": 1, "capacity_kg": 5000, "yard": "north", "unload_before_end": True},
    ]
    frame = facilities(grid_city)
    frame.loc[frame["tier"] == 2, "next_site_id"] = 200
    centre = gpd.GeoDataFrame(
        [
            {
                "site_id": 200,
                "tier": 3,
                "name": "centre",
                "load_kg_day": 2400.0,
                "next_site_id": -1,
                "geometry": shapely.Point(*lonlat(900.0, 900.0)),
            }
        ],
        geometry="geometry",
        crs="EPSG:4326",
    )
    centre["drive_node"] = grid_city.network("drive").snap(centre.geometry).node
    day = route_day(grid_city, pd.concat([frame, centre], ignore_index=True), scenario(fleet))
    hauls = day.schedule[day.schedule["depot"] == "centre (hauls)"]
    depots = hauls[hauls["kind"] == "depot"]
    assert list(depots["name"].iloc[[0, -2, -1]]) == ["north", "centre", "north"]
    assert depots["load_kg"].iloc[-1] == 0 and (hauls["kind"] == "stop").sum() == 1
