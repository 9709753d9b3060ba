"""The independent check of a sited network, run before anything is written.

:func:`check_network` re-reads the facilities and assignments layers and recomputes
every distance on the road graphs, every load and the cost, without the solver's model.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from netplan.city import Network
from netplan.plan import Plan
from netplan.scenario import Tier


class PlanCheckError(RuntimeError):
    """A solver result failed the independent check: a bug, never a user error."""


def _pairwise(
    net: Network,
    a: pd.DataFrame,
    a_node: str,
    a_off: str,
    b: pd.DataFrame,
    b_node: str,
    b_off: str,
    *,
    limit: float,
) -> np.ndarray:
    """Cost of each row pair (a[k], b[k]) on a network, recomputed from the layers.

    Each search stops at ``limit`` (a pair beyond it breaks the rule being checked anyway, and comes back
    ``inf``), so re-checking a whole city's assignments costs a bounded search per demand node, not a search
    of the whole graph.
    """
    base = net.pair_costs(a[a_node].to_numpy(), b[b_node].to_numpy(), weight="length", limit=limit)
    return base + a[a_off].to_numpy() + b[b_off].to_numpy()


def _too_long(cost: np.ndarray, limit: float, what: str) -> str:
    """The problem line for pairs longer than ``limit``, naming the longest that was measured."""
    over = cost > limit
    finite = cost[over & np.isfinite(cost)]
    longest = f"max {finite.max():.1f} m" if len(finite) else "none found within the search"
    beyond = int((over & ~np.isfinite(cost)).sum())
    tail = f"; {beyond} not reached within {limit:,.0f} m" if beyond else ""
    return f"{int(over.sum())} {what} longer than {limit:g} m ({longest}{tail})"


def _tier_problems(plan: Plan, tier: Tier, table: pd.DataFrame, load: pd.Series, tolerance: float) -> list[str]:
    """One tier's open facilities: loads equal what is assigned to them, within capacity and count, fixed ones open."""
    t = tier.tier
    problems: list[str] = []
    mine = load.reindex(table.index).fillna(0.0)
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
    return problems


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
        radius = sc.tier(1).radius_m
        allowed = radius * (1 + tolerance) + 1e-6
        walked = _pairwise(
            plan.city.walk, d_rows, "walk_node", "offset_m", f_rows, "walk_node", "walk_offset_m", limit=allowed
        )
        if (walked > allowed).any():
            problems.append(f"{_too_long(walked, allowed, 'assignment(s) walked')}: the walking radius is {radius:g} m")
        recomputed["access"] = float(
            (first["kg_day"].to_numpy() * walked).sum() / 1e6 * sc.locate.access_cost_per_t_km * days
        )
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
        allowed = tier.radius_m * (1 + tolerance) + 1e-6
        driven = _pairwise(
            plan.city.drive,
            src,
            "drive_node",
            "drive_offset_m",
            dst_rows,
            "drive_node",
            "drive_offset_m",
            limit=allowed,
        )
        if (driven > allowed).any():
            problems.append(_too_long(driven, allowed, f"tier-{t - 1} -> tier-{t} link(s)"))
        flow = loads[t - 1].reindex(src.index).to_numpy()
        recomputed[f"haul_t{t - 1}"] = float((flow * driven).sum() / 1e6 * sc.locate.haul_cost_per_t_km[t - 2] * days)
        loads[t] = loads[t].add(
            pd.Series(flow, index=src["next_site_id"].to_numpy()).groupby(level=0).sum(), fill_value=0.0
        )
    top = by_tier[sc.tiers[-1].tier]
    sends = top.index[top["next_site_id"].notna()].tolist()
    if sends:
        problems.append(f"top-tier facilities send to a further site (next_site_id not null): {sends[:5]}")
    for tier in sc.tiers:
        table = by_tier[tier.tier]
        problems += _tier_problems(plan, tier, table, loads[tier.tier], tolerance)
        recomputed[f"open_t{tier.tier}"] = float(table["open_cost"].sum())
    recomputed["total"] = float(sum(recomputed.values()))
    chosen = plan.location.get(plan.location.get("chosen", ""), {})
    objective = chosen.get("objective")
    if objective is not None and not np.isclose(recomputed["total"], objective, rtol=1e-6, atol=1.0):
        problems.append(
            f"recomputed cost {recomputed['total']:,.2f} differs from the solver's objective {objective:,.2f}"
        )
    if problems:
        raise PlanCheckError("the sited network failed its independent check: " + "; ".join(problems))
    return recomputed
