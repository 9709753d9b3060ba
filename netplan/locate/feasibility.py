"""Why a network cannot be sited: checks before solving, and one diagnosis after a proven infeasibility.

The tiered model assigns every demand point whole to one collection point and
every site whole to one site of the next tier (single sourcing). The model's
own pre-checks (:meth:`TieredNetwork._check_feasible`) test totals and a
max-flow in which loads may be split, so a compound larger than every
collection point within its walk passes them and the MIP then proves the
network infeasible. This module closes that gap before any solver runs:

* **every demand point fits whole** along at least one chain of allowed links
  (a tier-1 candidate within the walking radius with room for it, that links
  to a tier-2 candidate with room for it, and so on up);
* **points that cannot share a site** (each larger than half of every
  candidate it reaches) find enough distinct candidates: a bipartite
  matching, whose unmatched points are named.

After a solve that proves infeasibility, :func:`diagnose_infeasible` names the
tier that failed, its largest loads and what to change, and never suggests a
longer time limit (none helps a proven infeasibility). Every message names
demand points by id and name, sites by id and name, and the scenario keys to
change.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy.sparse import csr_array
from scipy.sparse.csgraph import maximum_bipartite_matching

__all__ = ["check_single_sourcing", "diagnose_infeasible", "forward_room"]

_LIST = 5  # offenders named in a message


def forward_room(capacities: Sequence[np.ndarray], links: Sequence[tuple[np.ndarray, np.ndarray]]) -> list[np.ndarray]:
    """The largest single load each site can take and pass on whole to the top tier.

    Parameters
    ----------
    capacities
        kg/day per candidate, one array per tier (bottom first).
    links
        ``(src, dst)`` index arrays of the allowed links from tier t to tier
        t + 1, one pair per link level (``len(capacities) - 1`` of them).

    Returns
    -------
    list of numpy.ndarray
        Per tier, per candidate: ``min(capacity, best room among the sites it
        may link to)``; 0 where a candidate reaches no usable site above.
    """
    room = [np.asarray(capacities[-1], dtype=float).copy()]
    for t in range(len(capacities) - 2, -1, -1):
        src, dst = links[t]
        best = np.zeros(len(capacities[t]))
        if len(src):
            np.maximum.at(best, src, room[0][dst])
        room.insert(0, np.minimum(np.asarray(capacities[t], dtype=float), best))
    return room


def _reach_best(n: int, src: np.ndarray, values: np.ndarray) -> np.ndarray:
    out = np.zeros(n)
    if len(src):
        np.maximum.at(out, src, values)
    return out


def check_single_sourcing(
    *,
    demand_kg: np.ndarray,
    tier1_arcs: tuple[np.ndarray, np.ndarray],
    capacities: Sequence[np.ndarray],
    links: Sequence[tuple[np.ndarray, np.ndarray]],
    demand_label: Callable[[int], str],
    radius_m: float,
) -> str | None:
    """Find demand points that fit whole in no chain of reachable sites, or too many that cannot share one.

    Parameters
    ----------
    demand_kg
        kg/day per demand point (0 for points not planned for).
    tier1_arcs
        ``(demand index, tier-1 candidate index)`` of the pairs within the
        walking radius.
    capacities, links
        As for :func:`forward_room`.
    demand_label
        Names demand point ``i`` in a message (``"demand 12 锦江小区"``).
    radius_m
        The tier-1 walking radius, for the message.

    Returns
    -------
    str or None
        The diagnosis (one message), or None when nothing is wrong.
    """
    demand = np.asarray(demand_kg, dtype=float)
    n = len(demand)
    src, dst = (np.asarray(a, dtype=np.int64) for a in tier1_arcs)
    room = forward_room(capacities, links)
    cap1 = np.asarray(capacities[0], dtype=float)
    best_cap = _reach_best(n, src, cap1[dst])
    best_chain = _reach_best(n, src, room[0][dst])
    # points that reach no usable chain at all are the model's to report (or to exclude, with
    # locate.unreachable: exclude), with the cause: no candidate in the walk, or none linked upwards
    active = (demand > 0) & (best_chain > 0)
    # a float tolerance: a point exactly as large as a site fits
    too_big = active & (demand > best_chain * (1 + 1e-9) + 1e-9)
    if too_big.any():
        idx = np.flatnonzero(too_big)
        idx = idx[np.argsort(-demand[idx], kind="stable")]
        at_tier1 = idx[demand[idx] > best_cap[idx] * (1 + 1e-9) + 1e-9]
        parts = []
        if len(at_tier1):
            listed = ", ".join(
                f"{demand_label(i)} ({demand[i]:,.0f} kg/day; largest collection point within "
                f"{radius_m:g} m: {best_cap[i]:,.0f})"
                for i in at_tier1[:_LIST]
            )
            parts.append(
                f"{len(at_tier1)} demand point(s) are larger than every collection-point candidate within "
                f"walking reach, and a demand point goes whole to one collection point: {listed}"
            )
        higher = np.setdiff1d(idx, at_tier1, assume_unique=True)
        if len(higher):
            higher = higher[np.argsort(-demand[higher], kind="stable")]
            listed = ", ".join(
                f"{demand_label(i)} ({demand[i]:,.0f} kg/day; at most {best_chain[i]:,.0f} through any chain)"
                for i in higher[:_LIST]
            )
            parts.append(
                f"{len(higher)} demand point(s) fit a collection point but no chain of transfer station and "
                f"higher tiers it links to (each site sends its load whole to one site): {listed}"
            )
        tiers = "tiers[0].capacity_kg_day" if not len(higher) else "tiers[k].capacity_kg_day of the tier short"
        return (
            "; ".join(parts) + ". Split large compounds (lower demand.osm.max_households_per_point, which also "
            f"splits rows of a demand table), raise the capacity ({tiers}, or a site file's capacity column), or "
            "add larger candidates within reach."
        )
    # points larger than half of every candidate they reach need a candidate each
    half = active & (demand * 2 > _reach_best(n, src, cap1[dst]) * (1 + 1e-9))
    big = np.flatnonzero(half)
    if len(big) < 2:
        return None
    # a point may only use candidates where it exceeds half the capacity: those cannot take a second such point
    keep = np.isin(src, big) & (demand[src] * 2 > cap1[dst]) & (demand[src] <= room[0][dst])
    rows = np.searchsorted(big, src[keep])
    graph = csr_array((np.ones(int(keep.sum()), dtype=np.int8), (rows, dst[keep])), shape=(len(big), len(cap1)))
    match = maximum_bipartite_matching(graph, perm_type="column")
    lost = big[match < 0]
    if not len(lost):
        return None
    lost = lost[np.argsort(-demand[lost], kind="stable")]
    near = np.unique(dst[np.isin(src, big)])
    listed = ", ".join(f"{demand_label(i)} ({demand[i]:,.0f} kg/day)" for i in lost[:_LIST])
    return (
        f"{len(big)} demand point(s) are each larger than half of every collection-point candidate within "
        f"walking reach, so no two of them can share one, but they reach only {len(near)} candidate(s) in all; "
        f"{len(lost)} of them find no collection point of their own: {listed}. Split large compounds (lower "
        "demand.osm.max_households_per_point), raise tiers[0].capacity_kg_day, or add collection-point "
        "candidates near them."
    )


def diagnose_infeasible(
    *,
    steps: Sequence[dict],
    demand_kg: np.ndarray,
    capacities: Sequence[np.ndarray],
    demand_label: Callable[[int], str],
    site_label: Callable[[int, int], str],
    max_counts: Sequence[int | None],
    proven: bool,
    limit_text: str,
    nearest_next_tier: int | None = None,
) -> str:
    """One message for a network the solver could not site.

    Parameters
    ----------
    steps
        The bottom-up mode's per-tier steps (``{"tier": k, "status": ...}``):
        the first that is not optimal or feasible is the tier that failed.
    demand_kg
        kg/day per demand point.
    capacities
        kg/day per candidate, per tier.
    demand_label, site_label
        Name demand point ``i`` / candidate ``j`` of tier index ``t``.
    max_counts
        ``max_count`` per tier (None: no limit).
    proven
        Whether the solver proved infeasibility (else it stopped at a limit).
    limit_text
        What limited the search (``"locate.node_limit = 1 and 30 s"``), said only when not proven.
    nearest_next_tier
        ``locate.nearest_next_tier`` when set: it removes links between the tiers, so it is named as a
        cause wherever links can be why (any tier above the first, or an unproven search).

    Returns
    -------
    str
        The diagnosis.
    """
    failed = next((s for s in steps if s.get("status") not in ("optimal", "feasible")), None)
    tier = int(failed["tier"]) if failed and "tier" in failed else None
    links = (
        f"; locate.nearest_next_tier = {nearest_next_tier} lets each site link only to its {nearest_next_tier} "
        "nearest next-tier candidates: raise it or remove it"
        if nearest_next_tier is not None
        else ""
    )
    if not proven:
        where = f" (tier {tier} first)" if tier else ""
        return (
            f"no feasible network was found{where} before the search stopped at {limit_text}, and none was "
            "proven impossible; raise locate.node_limit or locate.time_limit_s, or loosen capacities and radii"
            + (links if tier != 1 else "")
        )
    demand = np.asarray(demand_kg, dtype=float)
    if tier is None or tier == 1:
        idx = np.flatnonzero(demand > 0)
        idx = idx[np.argsort(-demand[idx], kind="stable")][:_LIST]
        cap = float(np.max(capacities[0])) if len(capacities[0]) else 0.0
        listed = ", ".join(f"{demand_label(int(i))} ({demand[i]:,.0f} kg/day)" for i in idx)
        return (
            f"proven infeasible at tier 1: the demand points cannot be packed whole into the collection points "
            f"within walking reach (largest candidate {cap:,.0f} kg/day"
            + (f", at most {max_counts[0]} open" if max_counts[0] is not None else "")
            + f"). Largest demand points: {listed}. Split large compounds (lower "
            "demand.osm.max_households_per_point), raise tiers[0].capacity_kg_day or tiers[0].max_count, add "
            "collection-point candidates, or widen tiers[0].radius_m; a longer time limit cannot help"
        )
    t = tier - 1
    tier_caps = np.asarray(capacities[t], dtype=float)
    below = np.asarray(capacities[t - 1], dtype=float)
    big = np.argsort(-below, kind="stable")[:_LIST]
    listed = ", ".join(f"{site_label(t - 1, int(j))} ({below[j]:,.0f} kg/day)" for j in big)
    return (
        f"proven infeasible at tier {tier}: the open tier-{tier - 1} sites cannot each be linked whole to a "
        f"tier-{tier} site within tiers[{t}].radius_m with room for its load (largest tier-{tier} candidate "
        f"{tier_caps.max():,.0f} kg/day"
        + (f", at most {max_counts[t]} open" if max_counts[t] is not None else "")
        + f"). Largest tier-{tier - 1} candidates: {listed}. Raise tiers[{t}].capacity_kg_day or "
        f"tiers[{t}].max_count, add tier-{tier} candidates (a site file with tiers '{tier}'), or widen "
        f"tiers[{t}].radius_m{links}; a longer time limit cannot help"
    )
