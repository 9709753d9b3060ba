"""Siting the scenario's network: from plan layers to the tiered model and back.

:func:`locate_network` turns the demand and sites layers into the arrays of
:class:`~netplan.locate.network_model.TieredNetwork` (walking distances for
tier 1, road distances between tiers), solves it, and returns the open
facilities and the assignments as GeoDataFrames plus a summary of both
modes. Infeasible inputs become a :class:`~netplan.errors.InputDataError`
that names the cause.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import pandas as pd
from shapely.geometry import LineString

from netplan.city import City
from netplan.errors import InputDataError
from netplan.locate.base import network_pairs
from netplan.locate.feasibility import check_single_sourcing, diagnose_infeasible
from netplan.locate.network_model import Arcs, NetworkSolution, TieredNetwork, TierSites
from netplan.scenario import Scenario


@dataclass
class LocatedNetwork:
    """The sited network of a scenario.

    Attributes
    ----------
    facilities
        Open sites of every tier (WGS-84 points) with load, capacity, cost
        and the next-tier site they send to.
    assignments
        Lines demand -> collection point and tier t -> tier t+1, with kg/day
        and distance.
    solutions
        The model's solutions by mode (``"integrated"``, ``"bottom_up"``).
    chosen
        The mode whose solution the plan uses.
    excluded
        Demand ids left out because no tier-1 candidate is in reach
        (``locate.unreachable: exclude``).
    """

    facilities: gpd.GeoDataFrame
    assignments: gpd.GeoDataFrame
    solutions: dict[str, NetworkSolution]
    chosen: str
    excluded: list[int] = field(default_factory=list)

    @property
    def solution(self) -> NetworkSolution:
        """The solution the plan uses."""
        return self.solutions[self.chosen]


def tier_candidates(sites: gpd.GeoDataFrame, tier: int) -> gpd.GeoDataFrame:
    """Sites eligible for ``tier`` that snapped to both networks, in a stable order."""
    sub = sites[sites[f"tier{tier}"] & sites["snap_ok"]]
    return sub.sort_values("site_id").reset_index(drop=True)


def build_model(
    city: City, demand: gpd.GeoDataFrame, sites: gpd.GeoDataFrame, scenario: Scenario
) -> tuple[TieredNetwork, list[gpd.GeoDataFrame], list[int]]:
    """Build the tiered model for a scenario.

    Parameters
    ----------
    city
        The city.
    demand, sites
        Layers from the demand and sites stages.
    scenario
        Tier settings and ``locate`` options.

    Returns
    -------
    tuple
        The model, the candidate sites per tier (row order = model index),
        and the demand ids excluded as unreachable.
    """
    cfg = scenario.locate
    weights = demand["kg_day"].to_numpy(dtype=float).copy()
    weights[~demand["snap_ok"].to_numpy()] = 0.0  # flagged far from the network: not planned for
    if not (weights > 0).any():
        lost = int((demand["kg_day"] > 0).sum())
        raise InputDataError(
            f"no demand to site a network for: {lost} demand point(s) with kg/day all lie farther than "
            f"city.snap_limit_m ({scenario.city.snap_limit_m:g} m) from the walk network"
            if lost
            else "no demand to site a network for: every demand point has 0 kg/day",
            scenario.file,
            "demand",
        )
    candidates = [tier_candidates(sites, t.tier) for t in scenario.tiers]
    for spec, cand in zip(scenario.tiers, candidates):
        if cand.empty:
            far = int((sites[f"tier{spec.tier}"] & ~sites["snap_ok"]).sum())
            why = (
                (
                    f" ({far} eligible site(s) lie farther than city.snap_limit_m = {scenario.city.snap_limit_m:g} m "
                    "from the roads)"
                )
                if far
                else ""
            )
            raise InputDataError(
                f"tier {spec.tier} has no candidate sites{why}; add land-use classes or a site file for it",
                where="sites",
            )
    tier1 = scenario.tier(1)
    # bounded searches, never a dense demand x candidate matrix: a whole city's candidates fit in memory
    arcs = [Arcs(*network_pairs(city, demand, candidates[0], "walk", radius=tier1.radius_m))]
    for prev, cur, tier in zip(candidates, candidates[1:], scenario.tiers[1:]):
        pairs = network_pairs(city, prev, cur, "drive", radius=tier.radius_m, nearest=cfg.nearest_next_tier)
        arcs.append(Arcs(*pairs))
    tiers = []
    for tier, cand in zip(scenario.tiers, candidates):
        t = tier.tier
        tiers.append(
            TierSites(
                tier=t,
                capacity=cand[f"cap_t{t}"].to_numpy(dtype=float),
                open_cost=cand[f"cost_t{t}"].to_numpy(dtype=float),
                fixed_open=(cand["status"] == "existing_fixed").to_numpy(),
                min_count=tier.min_count,
                max_count=tier.max_count,
                site_ids=cand["site_id"].to_numpy(),
            )
        )
    problem = check_single_sourcing(
        demand_kg=weights,
        tier1_arcs=(arcs[0].src, arcs[0].dst),
        capacities=[t.capacity for t in tiers],
        links=[(a.src, a.dst) for a in arcs[1:]],
        demand_label=lambda i: _demand_label(demand, i),
        radius_m=tier1.radius_m,
    )
    if problem:
        raise InputDataError(f"the network cannot be sited: {problem}", scenario.file, "tiers")
    try:
        model = TieredNetwork(
            weights,
            tiers,
            arcs,
            cfg.haul_cost_per_t_km[: len(tiers) - 1],
            cfg.access_cost_per_t_km,
            cfg.days_per_year,
            exclude_unreachable=cfg.unreachable == "exclude",
            node_limit=cfg.node_limit,
            engine=cfg.engine,
            iterations=cfg.iterations,
        )
    except ValueError as exc:
        raise InputDataError(f"the network cannot be sited: {_named(exc, demand)}", scenario.file, "tiers") from None
    excluded = demand["demand_id"].to_numpy()[model.excluded].tolist()
    return model, candidates, excluded


def _demand_label(demand: gpd.GeoDataFrame, i: int) -> str:
    name = demand["name"].iloc[i]
    return f"demand {int(demand['demand_id'].iloc[i])}" + (f" {name}" if isinstance(name, str) and name else "")


def _site_label(candidates: list[gpd.GeoDataFrame], t: int, j: int) -> str:
    row = candidates[t].iloc[j]
    return f"site {int(row['site_id'])}" + (f" {row['name']}" if isinstance(row["name"], str) and row["name"] else "")


def _named(exc: ValueError, demand: gpd.GeoDataFrame) -> str:
    """Replace model row numbers (#12) in a message with demand ids and names."""
    import re

    def repl(match: re.Match) -> str:
        i = int(match.group(1))
        if i < len(demand):
            name = demand["name"].iloc[i]
            return f"demand {int(demand['demand_id'].iloc[i])}" + (f" {name}" if isinstance(name, str) else "")
        return match.group(0)

    return re.sub(r"#(\d+)", repl, str(exc))


def locate_network(city: City, demand: gpd.GeoDataFrame, sites: gpd.GeoDataFrame, scenario: Scenario) -> LocatedNetwork:
    """Site every tier of the scenario's network.

    Parameters
    ----------
    city
        The city.
    demand, sites
        Layers from the demand and sites stages.
    scenario
        The scenario.

    Returns
    -------
    LocatedNetwork
        Facilities, assignments and both modes' solutions.
    """
    cfg = scenario.locate
    model, candidates, excluded = build_model(city, demand, sites, scenario)
    solutions = model.solve(cfg.mode, cfg.time_limit_s, scenario.seed, cfg.backend)
    chosen = "integrated" if "integrated" in solutions else "bottom_up"
    sol = solutions[chosen]
    if sol.status not in ("optimal", "feasible"):
        # the bottom-up steps say which tier failed; run them when only the integrated mode was asked for
        bottom = (
            solutions.get("bottom_up")
            or model.solve("bottom_up", cfg.time_limit_s, scenario.seed, cfg.backend)["bottom_up"]
        )
        limit = (
            f"locate.node_limit = {cfg.node_limit} and " if cfg.node_limit else ""
        ) + f"locate.time_limit_s = {cfg.time_limit_s:g} s"
        message = diagnose_infeasible(
            steps=getattr(bottom, "steps", []) or [],
            demand_kg=model.demand,
            capacities=[t.capacity for t in model.tiers],
            demand_label=lambda i: _demand_label(demand, i),
            site_label=lambda t, j: _site_label(candidates, t, j),
            max_counts=[t.max_count for t in model.tiers],
            proven=sol.status == "infeasible" or _tier1_proven_infeasible(bottom),
            limit_text=limit,
            nearest_next_tier=cfg.nearest_next_tier,
        )
        raise InputDataError(f"the network cannot be sited: {message}", scenario.file, "locate")
    facilities = _facilities(sol, candidates, scenario, model)
    assignments = _assignments(sol, demand, candidates, model)
    return LocatedNetwork(facilities, assignments, solutions, chosen, excluded)


def _tier1_proven_infeasible(bottom: object) -> bool:
    """Whether the bottom-up tier-1 step proved infeasibility: a proof for the whole network too.

    Tier 1 alone (every demand point whole in a collection point within reach) is a relaxation of the network, so a
    proven-infeasible tier-1 step proves the network infeasible; a later bottom-up step depends on the sites opened
    below it and proves nothing about the network.
    """
    steps = getattr(bottom, "steps", None) or []
    return any(int(s.get("tier", 0)) == 1 and s.get("status") == "infeasible" for s in steps)


def _facilities(
    sol: NetworkSolution, candidates: list[gpd.GeoDataFrame], scenario: Scenario, model: TieredNetwork
) -> gpd.GeoDataFrame:
    parts = []
    for t, (tier, cand) in enumerate(zip(scenario.tiers, candidates)):
        mask = sol.open[t]
        sub = cand[mask].copy()
        tn = tier.tier
        sub["tier"] = tn
        sub["load_kg_day"] = sol.loads[t][mask]
        sub["capacity_kg_day"] = sub[f"cap_t{tn}"]
        sub["utilisation"] = sub["load_kg_day"] / sub["capacity_kg_day"]
        sub["open_cost"] = sub[f"cost_t{tn}"]
        # the top tier sends nowhere: a null (pandas NA, NULL in the GeoPackage, empty in CSV), not a made-up id
        if t < len(sol.links):
            nxt = sol.links[t][mask]
            next_cand = candidates[t + 1]
            ids = [int(next_cand["site_id"].iloc[k]) if k >= 0 else None for k in nxt]
        else:
            ids = [None] * len(sub)
        sub["next_site_id"] = pd.array(ids, dtype="Int64")
        parts.append(sub)
    keep = [
        "site_id",
        "tier",
        "name",
        "source",
        "status",
        "existing",
        "fusion",
        "load_kg_day",
        "capacity_kg_day",
        "utilisation",
        "open_cost",
        "next_site_id",
        "walk_node",
        "walk_offset_m",
        "drive_node",
        "drive_offset_m",
        "geometry",
    ]
    frame = pd.concat(parts, ignore_index=True)[keep]
    return gpd.GeoDataFrame(frame, geometry="geometry", crs="EPSG:4326")


def _assignments(
    sol: NetworkSolution, demand: gpd.GeoDataFrame, candidates: list[gpd.GeoDataFrame], model: TieredNetwork
) -> gpd.GeoDataFrame:
    rows: list[dict[str, Any]] = []
    t1 = candidates[0]
    a0 = model.arcs[0]
    lookup0 = {(int(a), int(b)): float(d) for a, b, d in zip(a0.src, a0.dst, a0.distance)}
    for i, j in enumerate(sol.demand_to_tier1):
        if j < 0:
            continue
        rows.append(
            {
                "level": "demand-t1",
                "from_tier": 0,
                "to_tier": 1,
                "from_id": int(demand["demand_id"].iloc[i]),
                "to_id": int(t1["site_id"].iloc[j]),
                "kg_day": float(model.demand[i]),
                "distance_m": lookup0[(i, int(j))],
                "geometry": LineString([demand.geometry.iloc[i], t1.geometry.iloc[j]]),
            }
        )
    for t, links in enumerate(sol.links):
        arcs = model.arcs[t + 1]
        lookup = {(int(a), int(b)): float(d) for a, b, d in zip(arcs.src, arcs.dst, arcs.distance)}
        src, dst = candidates[t], candidates[t + 1]
        for j, k in enumerate(links):
            if k < 0:
                continue
            rows.append(
                {
                    "level": f"t{t + 1}-t{t + 2}",
                    "from_tier": t + 1,
                    "to_tier": t + 2,
                    "from_id": int(src["site_id"].iloc[j]),
                    "to_id": int(dst["site_id"].iloc[k]),
                    "kg_day": float(sol.loads[t][j]),
                    "distance_m": lookup[(j, int(k))],
                    "geometry": LineString([src.geometry.iloc[j], dst.geometry.iloc[k]]),
                }
            )
    return gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326")
