"""The collection day of a sited network: fleet sharing, scenario errors, and the default run's checked routes."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from osm_builder import lonlat

from netplan.route.collection import route_day, share_fleet
from netplan.route.problem import RoutingInputError
from netplan.scenario import Vehicle, parse_interval, scenario_from_dict


def test_share_fleet_by_load_per_capacity():
    trucks = Vehicle(name="truck", count=3, capacity_kg=3000)
    trikes = Vehicle(name="trike", count=4, capacity_kg=400)
    # One vehicle per loaded depot first, the largest to the busiest: truck -> A, truck -> B.
    # Then D'Hondt on kg: truck: A 9000/6000=1.5 > B 3000/6000=0.5 -> A;
    # trikes: A 9000/6400=1.41 > B 3000/3400=0.88 -> A, and A keeps winning (9000/7600=1.18 at the last one).
    assert share_fleet([trikes, trucks], [9000.0, 3000.0, 0.0]) == [[4, 0, 0], [2, 1, 0]]
    # Fewer vehicles than loaded depots: the busiest get them.
    assert share_fleet([trucks], [100.0, 900.0, 500.0, 700.0]) == [[0, 1, 1, 1]]
    # Every vehicle is placed, and a depot without load gets none.
    assert share_fleet([trucks], [0.0, 500.0]) == [[0, 3]]
    # Trucks may not be based at A (inside a zone that binds them): B gets them all, A the trikes.
    allowed = [[True, True, True], [False, True, True]]
    assert share_fleet([trikes, trucks], [9000.0, 3000.0, 0.0], allowed) == [[4, 0, 0], [0, 3, 0]]


def facilities(city, station_xy, points_xy, load=300.0) -> gpd.GeoDataFrame:
    net = city.network("drive")
    rows = [
        {
            "site_id": 100,
            "tier": 2,
            "name": "station",
            "load_kg_day": load * len(points_xy),
            "next_site_id": None,  # the top tier of this network sends nowhere
            "geometry": shapely.Point(*lonlat(*station_xy)),
        }
    ]
    rows += [
        {
            "site_id": i,
            "tier": 1,
            "name": f"p{i}",
            "load_kg_day": load,
            "next_site_id": 100,
            "geometry": shapely.Point(*lonlat(*xy)),
        }
        for i, xy in enumerate(points_xy)
    ]
    frame = gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326")
    frame["next_site_id"] = frame["next_site_id"].astype("Int64")  # as the sited plan holds it
    frame["drive_node"] = net.snap(frame.geometry).node
    return frame


# The three tiers of the grid scenarios (the yard tests' too).
GRID_TIERS = [
    {"tier": 1, "radius_m": 500, "capacity_kg_day": 1000},
    {"tier": 2, "radius_m": 4000, "capacity_kg_day": 9000},
    {"tier": 3, "radius_m": 9000, "capacity_kg_day": 90000},
]


def scenario(zone_xy, **route):
    return scenario_from_dict(
        {
            "name": "grid",
            "seed": 3,
            "city": {"source": "grid.osm"},
            "tiers": GRID_TIERS,
            "fleet": [{"name": "truck", "count": 1, "capacity_kg": 1000, "weight_t": 5, "shift": "06:00-14:00"}],
            "restrictions": [
                {
                    "name": "core",
                    "min_weight_t": 2,
                    "hours": ["06:00-09:00"],
                    "zone": {"polygon": [list(lonlat(x, y)) for x, y in zone_xy]},
                }
            ],
            "route": {"max_iterations": 2000, "time_limit_s": 5, **route},
        },
        "grid.yaml",
    )


CORE = [(370, 370), (530, 370), (530, 530), (370, 530)]  # around node (450, 450)


def test_grid_day_serves_the_core_after_the_ban(grid_city):
    sc = scenario(CORE, drop_penalty_cny=None)
    day = route_day(grid_city, facilities(grid_city, (0, 0), [(450, 450), (900, 900), (0, 900)]), sc)
    assert day.summary["dropped"].sum() == 0 and day.summary["served"].sum() == 3
    core = day.schedule[day.schedule["name"] == "p0"].iloc[0]
    assert core["start_s"] >= 9 * 3600
    assert len(day.routes) >= 1 and all(g.geom_type == "LineString" for g in day.routes.geometry)
    assert day.routes["km"].sum() == pytest.approx(day.summary["km"].sum())


def test_station_inside_a_banned_zone_is_a_clear_error(grid_city):
    with pytest.raises(
        RoutingInputError,
        match=r"transfer station 'station': it lies in or behind a banned zone \(core\) "
        r"that binds truck",
    ):
        route_day(grid_city, facilities(grid_city, (450, 450), [(0, 0)]), scenario(CORE))


def test_no_collection_vehicle_is_a_clear_error(grid_city):
    sc = scenario(CORE)
    sc.fleet[0].role = "haul"
    with pytest.raises(RoutingInputError, match="no collection vehicle"):
        route_day(grid_city, facilities(grid_city, (0, 0), [(0, 150)]), sc)


def test_default_run_routes_are_checked_and_respect_the_ban(chengdu_run):
    plan, outputs = chengdu_run
    assert plan.routes is not None and len(plan.routes) > 0
    assert plan.routing["feasible"].all()
    assert (outputs.folder / "schedule.csv").is_file() and (outputs.folder / "routing.csv").is_file()
    sched = pd.read_csv(outputs.folder / "schedule.csv")
    assert {"vehicle", "trip", "name", "arrive", "start", "end", "load_kg"} <= set(sched.columns)
    # Independently of the simulator: no permit-less truck serves a stop inside the zone during the banned hours.
    r = plan.scenario.restrictions[0]
    zone = shapely.Polygon(r.zone.polygon)
    hours = [tuple(60 * m for m in parse_interval(h)) for h in r.hours]
    bound = {v.name for v in plan.scenario.fleet if not v.permit and v.weight_t >= r.min_weight_t}
    s = plan.schedule
    in_zone = pd.Series([zone.contains(shapely.Point(x, y)) for x, y in zip(s["lon"], s["lat"])], index=s.index)
    inside = s[(s["kind"] == "stop") & s["vehicle_type"].isin(bound) & in_zone]
    assert len(inside) > 0  # the trucks do serve the centre...
    for _, visit in inside.iterrows():  # ...but never in banned hours
        assert not any(visit["start_s"] < b and a < visit["end_s"] for a, b in hours)
    # The KPI table's routing rows are the routes layer's sums.
    assert plan.kpi("routing", "km") == pytest.approx(plan.routes["km"].sum(), abs=0.05)
    assert plan.kpi("routing", "vehicles") == plan.routes["vehicle"].nunique()
    assert plan.kpi("routing", "dropped_stops") == plan.routing["dropped"].sum()
    # Loads: each trip within the vehicle's capacity, and everything collected reaches a station.
    caps = {v.name: v.capacity_kg for v in plan.scenario.fleet}
    assert (plan.routes["load_kg"] <= plan.routes["vehicle_type"].map(caps) + 1e-6).all()
    collected = plan.routing[~plan.routing["depot"].str.endswith("(hauls)")]["kg"].sum()
    points = plan.facilities[plan.facilities["tier"] == 1]
    dropped = plan.routing["dropped"].sum()
    # Loads are rounded up to whole kg per point before routing.
    assert dropped > 0 or collected == pytest.approx(points["load_kg_day"].sum(), abs=len(points) + 1)


def with_centre(city, frame: gpd.GeoDataFrame, centre_xy) -> gpd.GeoDataFrame:
    """The sited network plus a sorting centre (tier 3) that the station feeds."""
    frame = frame.copy()
    frame.loc[frame["tier"] == 2, "next_site_id"] = 200
    centre = gpd.GeoDataFrame(
        [
            {
                "site_id": 200,
                "tier": 3,
                "name": "centre",
                "load_kg_day": float(frame.loc[frame["tier"] == 1, "load_kg_day"].sum()),
                "next_site_id": None,
                "geometry": shapely.Point(*lonlat(*centre_xy)),
            }
        ],
        geometry="geometry",
        crs="EPSG:4326",
    )
    centre["next_site_id"] = centre["next_site_id"].astype("Int64")
    centre["drive_node"] = city.network("drive").snap(centre.geometry).node
    return pd.concat([frame, centre], ignore_index=True)


def test_haul_loads_are_required_unless_the_scenario_prices_them(grid_city):
    sc = scenario(CORE, drop_penalty_cny=2000)
    sc.fleet.append(Vehicle(name="hauler", role="haul", count=1, capacity_kg=5000, weight_t=1.5, shift="06:00-14:00"))
    frame = with_centre(grid_city, facilities(grid_city, (0, 0), [(900, 900), (0, 900)]), (900, 0))
    day = route_day(grid_city, frame, sc)
    hauls = next(r for r in day.problems if r["name"].endswith("(hauls)"))
    assert all(stop.required for stop in hauls["problem"].stops)
    assert all(not stop.required for r in day.problems if r is not hauls for stop in r["problem"].stops)
    sc.route.haul_drop_penalty_cny = 500.0
    day = route_day(grid_city, frame, sc)
    hauls = next(r for r in day.problems if r["name"].endswith("(hauls)"))
    assert all(not stop.required and stop.penalty == 500 * 10_000 for stop in hauls["problem"].stops)


def test_collection_hours_bind_the_points_and_the_station_hours_the_hauls(grid_city):
    # route.stop_hours are the collection points' hours; a haul picks its load up at the station, so it keeps to
    # the station's hours (route.station_hours), not the residents' collection windows.
    sc = scenario(CORE, drop_penalty_cny=2000, stop_hours=["08:00-10:00", "11:00-13:00"])
    sc.fleet.append(Vehicle(name="hauler", role="haul", count=1, capacity_kg=5000, weight_t=1.5, shift="06:00-14:00"))
    frame = with_centre(grid_city, facilities(grid_city, (0, 0), [(900, 900), (0, 900)]), (900, 0))
    day = route_day(grid_city, frame, sc)
    hauls = next(r for r in day.problems if r["name"].endswith("(hauls)"))
    points = [r for r in day.problems if r is not hauls]
    windows = ((8 * 3600, 10 * 3600), (11 * 3600, 13 * 3600))
    assert all(tuple((w.start, w.end) for w in stop.windows) == windows for r in points for stop in r["problem"].stops)
    assert all(stop.windows == () for stop in hauls["problem"].stops)
    sc.route.station_hours = "07:00-12:00"
    day = route_day(grid_city, frame, sc)
    hauls = next(r for r in day.problems if r["name"].endswith("(hauls)"))
    assert all(
        tuple((w.start, w.end) for w in stop.windows) == ((7 * 3600, 12 * 3600),) for stop in hauls["problem"].stops
    )


def test_points_the_fleet_cannot_serve_are_warned_with_their_reason(grid_city):
    from netplan import diagnostics

    # One truck for an hour: it cannot serve six points of 300 kg (1,000 kg a trip) with 15-min unloads.
    sc = scenario([(2000, 2000), (2100, 2000), (2100, 2100)], drop_penalty_cny=2000)
    sc.fleet[0].shift = "06:00-07:00"
    points = [(900, 900), (0, 900), (900, 0), (750, 750), (150, 900), (900, 150)]
    with diagnostics.collect() as warnings:
        day = route_day(grid_city, facilities(grid_city, (0, 0), points), sc)
    row = day.summary.iloc[0]
    assert 0 < row["dropped"] < len(points) and row["served"] + row["dropped"] == len(points)
    dropped = row["dropped_stops"].split("; ")
    assert len(dropped) == row["dropped"] and all(r.endswith(": shift") for r in row["drop_reasons"].split("; "))
    (warning,) = [w for w in warnings if w.code == "route.dropped_stops"]
    assert warning.stage == "route" and list(warning.ids) == dropped and warning.count == len(dropped)
    assert "no vehicle has time in its shift or room in a trip" in warning.message
    # the simulator's own check agrees: no stop left that a vehicle could take, every one checked
    audit = day.problems[0]["solution"].info["drop_audit"]
    assert audit["servable"] == [] and audit["checked"] == len(dropped) and audit["unchecked"] == 0
    assert not [w for w in warnings if w.code in ("route.servable_drops", "route.drop_audit_limit")]


@pytest.mark.parametrize("section", ["route", "bookings"])
def test_a_search_cut_short_by_the_clock_is_a_warning(section):
    from netplan.diagnostics import collect
    from netplan.route.collection import warn_if_cut_short
    from netplan.route.solution import RouteSolution

    done = RouteSolution([], [], 0.0, "pyvrp", 1.0, True)
    done.info["stopped_by"] = "iterations"
    cut = RouteSolution([], [], 0.0, "pyvrp", 60.0, True)
    cut.info["stopped_by"] = "time"
    with collect() as found:
        warn_if_cut_short("站 1", done, time_limit_s=60, iterations=5000, section=section)
        warn_if_cut_short("站 1", cut, time_limit_s=60, iterations=5000, section=section)
    assert [w.code for w in found] == [f"{section}.time_limit"]
    assert f"{section}.time_limit_s" in found[0].message and found[0].ids == ("站 1",)
