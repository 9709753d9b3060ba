"""Seasonal straw logistics: the harvest-window plan and the routes of a typical harvest day.

The straw of each storage centre's catchment (秸秆收储中心) must leave the fields within
``window_days``. For a field block ``b`` at road distance ``d_b`` with ``S_b`` tonnes, and a
vehicle type carrying ``c`` tonnes at ``v`` km/h that needs ``l`` minutes to load and ``u``
to unload (every trip is a full shuttle field -> centre -> field):

* trips ``n_b = ceil(S_b / c)``;
* vehicle hours ``h_b = n_b x (2 d_b / v + (l + u) / 60)``;
* vehicle-days of the centre ``D = sum_b h_b / hours_per_day``;
* fleet ``ceil(D / window_days)``, balers ``ceil(sum_b S_b / (baler_t_day x window_days))``.

:func:`harvest_plan` computes this table; :func:`harvest_day` routes one typical day (each
season's loads dealt out over the window) with the existing engines and the schedule simulator, through
:func:`route_from_depot`, which the pesticide-packaging round uses as well. Straw and packaging must
leave, so every stop is first required; only when no such routes are found may loads be left (at
``route.drop_penalty_cny``, reported as a warning). (With optional stops PyVRP was seen to leave a load of
the example's harvest day that it serves when the stop is required.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from netplan.city import City
from netplan.errors import InputDataError
from netplan.route.bans import RoadBans
from netplan.route.collection import (
    _report_drops,
    _schedule_table,
    _summary,
    build_problem,
    report_drop_audit,
    scenario_bans,
    trip_lines,
    vehicle_classes,
    warn_if_cut_short,
)
from netplan.route.drops import explain_drops
from netplan.route.engines import solve
from netplan.route.problem import COST_UNITS_PER_CNY
from netplan.route.simulate import RoadReplay, simulate
from netplan.scenario import Scenario, StrawConfig, StrawVehicle, Vehicle

_EPS = 1e-9


def harvest_plan(blocks: pd.DataFrame, config: StrawConfig) -> pd.DataFrame:
    """The harvest-window plan per storage centre.

    Parameters
    ----------
    blocks
        One row per field block served: ``centre`` (id), ``straw_t`` and ``distance_m`` (road, block -> centre).
    config
        ``rural.straw`` (window, vehicle type, balers, capacity).

    Returns
    -------
    pandas.DataFrame
        Per centre: ``centre, blocks, straw_t, capacity_t, utilisation, trips, vehicle_hours, vehicle_days,
        window_days, fleet, baler_days, balers, t_per_day, truck_km``.
    """
    veh = config.vehicle
    trips = np.ceil(blocks["straw_t"].to_numpy(dtype=float) / veh.capacity_t - _EPS).clip(min=0)
    km = blocks["distance_m"].to_numpy(dtype=float) / 1000.0
    hours = trips * (2 * km / veh.speed_kph + (veh.load_min + veh.unload_min) / 60.0)
    work = pd.DataFrame(
        {
            "centre": blocks["centre"].to_numpy(),
            "straw_t": blocks["straw_t"].to_numpy(dtype=float),
            "trips": trips,
            "hours": hours,
            "km": trips * 2 * km,
        }
    )
    rows = []
    for centre, grp in work.groupby("centre", sort=True):
        days = float(grp["hours"].sum()) / veh.hours_per_day
        straw = float(grp["straw_t"].sum())
        rows.append(
            {
                "centre": centre,
                "blocks": len(grp),
                "straw_t": straw,
                "capacity_t": config.capacity_t_season,
                "utilisation": straw / config.capacity_t_season,
                "trips": int(grp["trips"].sum()),
                "vehicle_hours": float(grp["hours"].sum()),
                "vehicle_days": days,
                "window_days": config.window_days,
                "fleet": math.ceil(days / config.window_days - _EPS),
                "baler_days": straw / config.baler_t_day,
                "balers": math.ceil(straw / (config.baler_t_day * config.window_days) - _EPS),
                "t_per_day": straw / config.window_days,
                "truck_km": float(grp["km"].sum()),
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "centre",
            "blocks",
            "straw_t",
            "capacity_t",
            "utilisation",
            "trips",
            "vehicle_hours",
            "vehicle_days",
            "window_days",
            "fleet",
            "baler_days",
            "balers",
            "t_per_day",
            "truck_km",
        ],
    )


# What a harvest vehicle hands on to the routing vehicle under the same name and unit.
_SAME_FIELDS = {"name", "weight_t", "shift", "per_km_cost", "per_hour_cost"}


def straw_vehicle(veh: StrawVehicle, count: int) -> Vehicle:
    """The harvest vehicle type as a routing :class:`~netplan.scenario.Vehicle` (kg, shift, hours)."""
    return Vehicle(
        **veh.model_dump(include=_SAME_FIELDS),
        count=max(count, 1),
        capacity_kg=veh.capacity_t * 1000,
        max_hours=veh.hours_per_day,
        permit=True,
    )


@dataclass
class DepotRoutes:
    """Checked routes of one depot's day: trips as lines, visits, a summary row."""

    routes: list[dict[str, Any]]
    schedule: pd.DataFrame
    summary: dict[str, Any]


def route_from_depot(
    city: City,
    scenario: Scenario,
    name: str,
    depot: pd.Series,
    points: pd.DataFrame,
    fleet: list[tuple[Vehicle, int]],
    *,
    service_min: float,
    service_min_per_t: float,
    turnaround_min: float,
    required: bool = False,
) -> DepotRoutes:
    """Route one depot's day with the scenario's engine and check it with the simulator.

    Parameters
    ----------
    city
        The county (drive graph).
    scenario
        Engine, iteration budget, seed, restrictions, drop penalty (``route``).
    name
        The depot's label in routes and schedule.
    depot
        The depot row (``name``, ``drive_node``, point geometry).
    points
        Stops with ``name``, ``drive_node``, ``load_kg_day`` (the day's load) and point geometry.
    fleet
        Vehicle types and counts.
    service_min, service_min_per_t, turnaround_min
        Time per stop (fixed and per tonne) and per unload at the depot.
    required
        Every stop must be served (no drop penalty); when no such routes are found, the day is solved again
        with the scenario's ``route.drop_penalty_cny`` and what is left is reported by the caller.

    Returns
    -------
    DepotRoutes
        The routes, every visit's simulated times and a summary; raises if the simulator finds a violation.
    """
    if required and scenario.route.drop_penalty_cny is not None:
        try:
            return route_from_depot(
                city,
                scenario.model_copy(update={"route": scenario.route.model_copy(update={"drop_penalty_cny": None})}),
                name,
                depot,
                points,
                fleet,
                service_min=service_min,
                service_min_per_t=service_min_per_t,
                turnaround_min=turnaround_min,
            )
        except InputDataError:
            pass  # no routes serve every stop: let some be left, at the scenario's penalty
    cfg = scenario.route.model_copy(
        update={
            "service_min": service_min,
            "service_min_per_t": service_min_per_t,
            "turnaround_min": turnaround_min,
            "station_hours": None,
            "stop_hours": [],
        }
    )
    sc = scenario.model_copy(update={"route": cfg, "fleet": [v for v, _ in fleet]})
    network = city.network("drive")
    bans = scenario_bans(sc)
    road_bans = RoadBans(bans, network.graph)
    profile_of, classes = vehicle_classes(sc.fleet, bans)
    problem, travel = build_problem(name, depot, points, fleet, profile_of, classes, network, road_bans, sc)
    budget: dict[str, Any] = (
        {"max_iterations": cfg.max_iterations} if cfg.engine == "pyvrp" else {"solution_limit": cfg.max_iterations}
    )
    solution = solve(problem, cfg.engine, time_limit_s=cfg.time_limit_s, seed=scenario.seed, **budget)
    warn_if_cut_short(name, solution, time_limit_s=cfg.time_limit_s, iterations=cfg.max_iterations)
    replay = RoadReplay(
        road_bans, lambda u, v: travel.edge_time[(u, v)], lambda u, v: travel.edge_length[(u, v)], travel.path
    )
    schedule = simulate(problem, solution, roads=replay)
    if not solution.feasible:
        raise InputDataError(
            f"{name}: no feasible routes for {len(problem.stops)} stops "
            f"({'; '.join(schedule.violations[:3])}); add vehicles or lengthen the shift",
            where="rural",
        )
    schedule.raise_if_violations()
    drops = explain_drops(problem, solution, solution.info.get("drop_insertion_cost"), "CNY", COST_UNITS_PER_CNY)
    _report_drops(name, problem, drops)
    report_drop_audit(name, problem, solution)
    return DepotRoutes(
        trip_lines(name, schedule, network),
        _schedule_table(name, problem, schedule),
        _summary(name, problem, solution, schedule, drops),
    )


def harvest_day(
    city: City, scenario: Scenario, centres: gpd.GeoDataFrame, blocks: gpd.GeoDataFrame, plan: pd.DataFrame
) -> list[DepotRoutes]:
    """Route a typical harvest day of every storage centre.

    Parameters
    ----------
    city, scenario
        The county and the scenario (``rural.straw``, ``route``).
    centres
        Open storage centres (``site_id``, ``name``, ``drive_node``, points).
    blocks
        Served field blocks (``centre``, ``straw_t``, ``drive_node``, points).
    plan
        :func:`harvest_plan`'s table (the fleet per centre).

    Returns
    -------
    list of DepotRoutes
        One per centre with straw to move.
    """
    assert scenario.rural is not None
    config = scenario.rural.straw
    veh = config.vehicle
    out = []
    fleet_of = dict(zip(plan["centre"], plan["fleet"]))
    for _, centre in centres.sort_values("site_id").iterrows():
        mine = typical_day_loads(blocks[blocks["centre"] == centre["site_id"]], config, scenario.lang)
        if mine.empty:
            continue
        vehicle = straw_vehicle(veh, int(fleet_of.get(centre["site_id"], 1)))
        out.append(
            route_from_depot(
                city,
                scenario,
                str(centre["name"]),
                centre,
                mine,
                [(vehicle, vehicle.count)],
                service_min=veh.load_min,
                service_min_per_t=0.0,
                turnaround_min=veh.unload_min,
                required=True,
            )
        )
    return out


def typical_day_loads(blocks: gpd.GeoDataFrame, config: StrawConfig, lang: str = "zh") -> gpd.GeoDataFrame:
    """The loads of a typical harvest day: the season's loads dealt out over the window, day 1's share.

    Every block's straw leaves in ``ceil(S_b / c)`` loads (full ones, the last one the rest), as the plan
    counts them. Fields are harvested one after another, so the season's loads, in block order, are dealt
    to the window's days in turn; the typical day is the first day's share (``ceil(trips / window_days)``
    loads or one fewer).

    Returns
    -------
    geopandas.GeoDataFrame
        One stop per load: ``block_id, name, load_kg_day, drive_node``, at the block's point.
    """
    cap = config.vehicle.capacity_t
    rows = []
    for _, block in blocks.sort_values("block_id").iterrows():
        tonnes = float(block["straw_t"])
        n = math.ceil(tonnes / cap - _EPS) if tonnes > 0 else 0
        for k in range(n):
            size = cap if k < n - 1 else tonnes - cap * (n - 1)
            label = f"地块 {int(block['block_id'])}" if lang == "zh" else f"block {int(block['block_id'])}"
            rows.append(
                {
                    "block_id": int(block["block_id"]),
                    "name": f"{label} ({k + 1}/{n})",
                    "load_kg_day": size * 1000.0,
                    "drive_node": int(block["drive_node"]),
                    "geometry": block.geometry,
                }
            )
    day = rows[:: config.window_days]
    return (
        gpd.GeoDataFrame(day, geometry="geometry", crs="EPSG:4326")
        if day
        else gpd.GeoDataFrame({"geometry": []}, geometry="geometry", crs="EPSG:4326")
    )
