"""Coverage metrics of any set of facilities, netplan's or a user's, against the demand layer.

Shares of households and kg/day within several walking radii, household-weighted mean,
median and 95th-percentile access distance, their Gini coefficient, per-tier catchment load
against capacity, facilities per 10,000 households and, when routes exist, collection km and
vehicles per day. ``netplan evaluate`` and ``netplan batch`` report them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from netplan.city import Network
from netplan.evaluate.access import covered_share
from netplan.plan import Plan

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
    # sum over ordered pairs of w_i w_j |x_i - x_j| in O(n log n):
    # each x_i counts + against lighter-sorted, - against heavier
    pair_sum = 2.0 * float((w * v * (below - above)).sum())
    return float(pair_sum / (2.0 * total * total * mean))


def access_metrics(
    access_m: np.ndarray,
    households: np.ndarray,
    kg_day: np.ndarray,
    radii_m: tuple[float, ...] | list[float] = DEFAULT_RADII_M,
) -> dict[str, float]:
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
        out[f"tier{t}_per_10k_households"] = (
            float(len(sub) / households_total * 10_000) if households_total > 0 else float("nan")
        )
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


_UNITS = {
    "households_within": "share",
    "kg_within": "share",
    "access_gini": "index",
    "unreachable": "share",
    "access_": "m",
    "_count": "facilities",
    "_per_10k": "per 10,000 households",
    "_load_kg_day": "kg/day",
    "_capacity_kg_day": "kg/day",
    "_load_ratio": "share",
    "_utilisation_max": "share",
    "_over_capacity": "facilities",
    "routes_km": "km",
    "routes_vehicles": "vehicles",
    "routes_trips": "trips",
    "routes_hours": "h",
    "households": "households",
    "kg_day": "kg/day",
    "demand_points": "points",
    "facilities_unsnapped": "facilities",
    "cost_total": "CNY/year",
    "locate_gap": "share",
}


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
    rows = [
        (_section(k), k, round(float(v), 6) if isinstance(v, (float, np.floating)) else v, _unit(k))
        for k, v in metrics.items()
    ]
    return pd.DataFrame(
        {name: pd.Series(col, dtype=object) for name, col in zip(["section", "key", "value", "unit"], zip(*rows))}
        if rows
        else {c: [] for c in ("section", "key", "value", "unit")}
    )


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
        dist = drive.point_matrix(
            sub_s["drive_node"].to_numpy(),
            sub_s["drive_offset_m"].to_numpy(),
            sub_d["drive_node"].to_numpy(),
            sub_d["drive_offset_m"].to_numpy(),
            "length",
        )
        idx, _ = nearest(dist)
        np.add.at(loads, dst[idx[idx >= 0]], loads[src[idx >= 0]])
    return loads


def coverage_metrics(
    walk: Network,
    demand: pd.DataFrame,
    facilities: pd.DataFrame,
    radii_m: tuple[float, ...] | list[float] = DEFAULT_RADII_M,
    drive: Network | None = None,
    routes: pd.DataFrame | None = None,
) -> dict[str, float]:
    """Score a set of facilities: coverage at several radii, access distances, equity, loads, routes.

    Access distance is walked on the walk graph from each demand point to
    its nearest tier-1 facility (snapping offsets included, no search
    limit; one multi-source search, :meth:`Network.nearest_point`, so memory
    does not grow with demand points x facilities). Demand points that did not snap to the network count as
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
        # one multi-source search, not a demand x facilities matrix: a whole city's compounds fit
        owner[ok], access[ok] = walk.nearest_point(
            sub["walk_node"].to_numpy(),
            sub["offset_m"].to_numpy(),
            t1["walk_node"].to_numpy(),
            t1["walk_offset_m"].to_numpy(),
        )
    out: dict[str, float] = {
        "demand_points": int(len(demand)),
        "households": float(households.sum()),
        "kg_day": float(kg.sum()),
    }
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
