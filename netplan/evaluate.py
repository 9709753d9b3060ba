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
        if "integrated" in plan.location and "bottom_up" in plan.location:
            add("locate", "integration_saving", plan.location["bottom_up"]["objective"] - plan.location["integrated"]["objective"], "CNY/year")
        add("locate", "chosen", plan.location.get("chosen", ""), "")

    columns = list(zip(*rows)) if rows else [(), (), (), ()]
    # object dtype keeps counts as integers next to shares and kilograms
    plan.kpis = pd.DataFrame({name: pd.Series(col, dtype=object) for name, col in zip(["section", "key", "value", "unit"], columns)})
    return plan.kpis
