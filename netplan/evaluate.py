"""Key figures of a plan, recomputed from its layers rather than echoed from solvers.

:func:`evaluate_plan` fills ``plan.kpis``: a tidy table with columns
``section, key, value, unit``. The numbers come from the plan's layers and
the road networks directly: households are summed over demand points,
coverage is measured on the walk graph, and so on.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from netplan.city import Network
from netplan.plan import Plan


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

    columns = list(zip(*rows)) if rows else [(), (), (), ()]
    # object dtype keeps counts as integers next to shares and kilograms
    plan.kpis = pd.DataFrame({name: pd.Series(col, dtype=object) for name, col in zip(["section", "key", "value", "unit"], columns)})
    return plan.kpis
