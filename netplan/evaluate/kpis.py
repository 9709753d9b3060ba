"""The plan's key figures (``plan.kpis``), recomputed from its layers rather than echoed from solvers.

:func:`evaluate_plan` fills a tidy table with columns ``section, key, value, unit``: households
are summed over demand points, coverage is measured on the walk graph, the sited network is
re-checked (:func:`netplan.evaluate.check.check_network`), routes are summed from their layer.
"""

from __future__ import annotations

from collections.abc import Callable

import geopandas as gpd
import numpy as np
import pandas as pd

from netplan.evaluate.access import reached_share, within_radius
from netplan.evaluate.check import check_network
from netplan.evaluate.metrics import route_metrics
from netplan.evaluate.rural import rural_kpis
from netplan.plan import Plan

_Add = Callable[[str, str, object, str], None]
"""``add(section, key, value, unit)``: one row of the KPI table."""


def evaluate_plan(plan: Plan) -> pd.DataFrame:
    """Compute the plan's KPI table and store it in ``plan.kpis``.

    Parameters
    ----------
    plan
        A plan with at least city, demand and sites.

    Returns
    -------
    pandas.DataFrame
        Rows ``section, key, value, unit``.
    """
    rows: list[tuple[str, str, object, str]] = []

    def add(section: str, key: str, value: object, unit: str = "") -> None:
        if isinstance(value, (np.floating, float)):
            value = round(float(value), 4)
        elif isinstance(value, np.integer):
            value = int(value)
        rows.append((section, key, value, unit))

    for mode, rep in plan.city.reports.items():
        add("city", f"{mode}_nodes", rep.nodes, "nodes")
        add("city", f"{mode}_edges", rep.edges, "edges")
        add("city", f"{mode}_km", rep.km, "km")
        add("city", f"{mode}_edges_denied", rep.edges_denied, "edges")
        add("city", f"{mode}_nodes_dropped", rep.nodes_dropped, "nodes")
        add("city", f"{mode}_edges_dropped", rep.edges_dropped, "edges")

    demand = plan.demand
    scenario = plan.scenario
    add("demand", "points", len(demand), "points")
    add("demand", "compounds", int((demand["source"] == "compound").sum()), "points")
    add("demand", "households", demand["households"].sum(), "households")
    add("demand", "population", demand["population"].sum(), "persons")
    add("demand", "kg_day", demand["kg_day"].sum(), "kg/day")
    for stream in scenario.demand.streams:
        add("demand", f"kg_day_{stream}", demand[f"kg_day_{stream}"].sum(), "kg/day")
    add("demand", "snapped_beyond_limit", int((~demand["snap_ok"]).sum()), "points")
    add("demand", "snap_m_median", float(demand["snap_m"].median()) if len(demand) else 0.0, "m")

    sites = plan.sites
    for tier in scenario.tiers:
        t = tier.tier
        eligible = sites[sites[f"tier{t}"]]
        add("sites", f"tier{t}_candidates", int((eligible["status"] == "candidate").sum()), "sites")
        add("sites", f"tier{t}_existing", int((eligible["status"] != "candidate").sum()), "sites")
    add("sites", "snapped_beyond_limit", int((~sites["snap_ok"]).sum()), "sites")

    # Walking coverage: of the existing collection points, and the most any layout of the candidates could reach.
    tier1 = scenario.tier(1)
    ok_demand = demand[demand["snap_ok"]]
    weights = ok_demand["households"].to_numpy()
    t1 = sites[sites["tier1"] & sites["snap_ok"]]
    existing = within_radius(plan.city.walk, ok_demand, t1[t1["status"] != "candidate"], tier1.radius_m)
    potential = within_radius(plan.city.walk, ok_demand, t1, tier1.radius_m)
    total_hh = float(demand["households"].sum())
    scale = float(weights.sum()) / total_hh if total_hh > 0 else 0.0
    add("coverage", "radius_m", tier1.radius_m, "m")
    add("coverage", "existing_households_share", reached_share(existing, weights) * scale, "share")
    add("coverage", "potential_households_share", reached_share(potential, weights) * scale, "share")

    if plan.facilities is not None and plan.assignments is not None:
        _network_kpis(plan, plan.facilities, add, ok_demand, weights, scale)
        _locate_kpis(plan, add)
    if plan.routes is not None and len(plan.routes):
        _routing_kpis(plan, plan.routes, add)

    if scenario.restrictions:
        from netplan.route.bans import restriction_coverage

        for item in restriction_coverage(plan.city, scenario, report=False):
            add("restrictions", f"{item['name']}.truck_km", round(item["truck_km"], 3), "km")
            add("restrictions", f"{item['name']}.truck_share", item["share"], "share")
    for row in rural_kpis(plan):
        add(*row)

    columns = list(zip(*rows)) if rows else [(), (), (), ()]
    # object dtype keeps counts as integers next to shares and kilograms
    plan.kpis = pd.DataFrame(
        {name: pd.Series(col, dtype=object) for name, col in zip(["section", "key", "value", "unit"], columns)}
    )
    return plan.kpis


def _network_kpis(
    plan: Plan, facilities: gpd.GeoDataFrame, add: _Add, ok_demand: pd.DataFrame, weights: np.ndarray, scale: float
) -> None:
    """The sited network, re-checked (:func:`check_network`): open sites per tier, coverage, exclusions, cost."""
    costs = check_network(plan)
    scenario = plan.scenario
    tier1 = scenario.tier(1)
    for tier in scenario.tiers:
        t = tier.tier
        open_t = facilities[facilities["tier"] == t]
        add("network", f"tier{t}_open", len(open_t), "sites")
        add("network", f"tier{t}_new", int((~open_t["existing"]).sum()), "sites")
        add("network", f"tier{t}_fusion", int(open_t["fusion"].sum()), "sites")
        util = open_t["utilisation"]
        add("network", f"tier{t}_utilisation_mean", float(util.mean()) if len(util) else 0.0, "share")
    open1 = facilities[facilities["tier"] == 1]
    served = within_radius(plan.city.walk, ok_demand, open1, tier1.radius_m)
    add("network", "households_covered_share", reached_share(served, weights) * scale, "share")
    excluded = plan.demand[plan.demand["demand_id"].isin(plan.excluded_demand)]
    add("network", "excluded_demand_points", len(excluded), "points")
    add("network", "excluded_households", float(excluded["households"].sum()), "households")
    for key, value in costs.items():
        add("cost", key, value, "CNY/year")


def _locate_kpis(plan: Plan, add: _Add) -> None:
    """What the location solver reported per mode, and which mode the facilities come from."""
    for mode in ("integrated", "bottom_up"):
        if mode in plan.location:
            info = plan.location[mode]
            for key in ("status", "objective", "bound", "gap", "solve_time_s", "solver"):
                add(f"locate_{mode}", key, info[key], "")
            add(f"locate_{mode}", "time_limit_hit", info.get("time_limit_hit", ""), "steps")
    if "integrated" in plan.location and "bottom_up" in plan.location:
        saving = plan.location["bottom_up"]["objective"] - plan.location["integrated"]["objective"]
        add("locate", "integration_saving", saving, "CNY/year")
    add("locate", "chosen", plan.location.get("chosen", ""), "")


def driving_hours(schedule: pd.DataFrame) -> float:
    """Hours spent driving: from leaving each visit to arriving at the next, summed over every vehicle.

    Parameters
    ----------
    schedule
        ``plan.schedule``: one row per visit with ``depot``, ``vehicle``, ``trip``, ``seq``, ``start_s``, ``end_s`` and
        ``wait_min`` (arrival = start - waiting).

    Returns
    -------
    float
        Driving hours per day (service, unloading and waiting excluded).
    """
    visits = schedule.sort_values(["depot", "vehicle", "trip", "seq"], kind="stable")
    arrive = visits["start_s"] - visits["wait_min"] * 60
    same = visits[["depot", "vehicle"]].eq(visits[["depot", "vehicle"]].shift()).all(axis=1)
    legs = (arrive - visits["end_s"].shift())[same]
    return float(legs.clip(lower=0).sum() / 3600)


def _routing_kpis(plan: Plan, routes: gpd.GeoDataFrame, add: _Add) -> None:
    """From the routes layer (one row per trip, simulated), not from the engines' objectives."""
    metrics = route_metrics(routes)
    add("routing", "vehicles", metrics["routes_vehicles"], "vehicles")
    add("routing", "trips", metrics["routes_trips"], "trips")
    add("routing", "km", round(metrics["routes_km"], 1), "km/day")
    if plan.schedule is not None and len(plan.schedule):
        add("routing", "driving_hours", round(driving_hours(plan.schedule), 2), "h/day")
    if plan.routing is not None and len(plan.routing):
        routing = plan.routing
        # whole routes: driving, service at stops, unloading turnarounds and waiting
        add("routing", "vehicle_hours", round(float(routing["vehicle_hours"].sum()), 2), "h/day")
        hauls = routing["depot"].astype(str).str.endswith("(hauls)")
        # a kilogram is collected once and hauled once: the two loads are reported apart, never summed
        add("routing", "collection_kg", round(float(routing.loc[~hauls, "kg"].sum()), 1), "kg/day")
        add("routing", "haul_kg", round(float(routing.loc[hauls, "kg"].sum()), 1), "kg/day")
        add("routing", "dropped_stops", int(routing["dropped"].sum()), "stops")
        add("routing", "engine", str(routing["engine"].iloc[0]), "")
