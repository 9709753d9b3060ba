"""Walking distances from demand points to sites, and the share of demand within a radius.

Shared by the KPIs, the coverage metrics and the plan map's analysis.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from netplan.city import Network


def walk_distances(
    walk: Network, demand: pd.DataFrame, sites: pd.DataFrame, limit_m: float | None = None
) -> np.ndarray:
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
        demand["walk_node"].to_numpy(),
        demand["offset_m"].to_numpy(),
        sites["walk_node"].to_numpy(),
        sites["walk_offset_m"].to_numpy(),
        "length",
        limit_m,
    )


def within_radius(walk: Network, demand: pd.DataFrame, sites: pd.DataFrame, radius_m: float) -> np.ndarray:
    """Which demand points have at least one site within ``radius_m`` on foot.

    The same test as ``(walk_distances(..., limit_m=radius_m) <= radius_m).any(axis=1)``, from the
    radius-bounded pairs of :meth:`netplan.city.Network.point_arcs`: memory grows with the pairs
    within the radius, never with demand points x sites, so a whole city's candidates fit.

    Parameters
    ----------
    walk
        The walk network.
    demand
        Demand points with ``walk_node`` and ``offset_m``.
    sites
        Sites with ``walk_node`` and ``walk_offset_m``.
    radius_m
        The service radius (finite).

    Returns
    -------
    numpy.ndarray
        One boolean per demand row.
    """
    reached = np.zeros(len(demand), dtype=bool)
    if len(demand) == 0 or len(sites) == 0:
        return reached
    arcs = walk.point_arcs(
        demand["walk_node"].to_numpy(),
        demand["offset_m"].to_numpy(),
        sites["walk_node"].to_numpy(),
        sites["walk_offset_m"].to_numpy(),
        radius=radius_m,
        nearest=1,
    )
    reached[arcs.src] = True
    return reached


def reached_share(reached: np.ndarray, weights: np.ndarray) -> float:
    """Share of total weight on the rows marked ``reached`` (0 when there is no weight).

    Parameters
    ----------
    reached
        One boolean per demand point (see :func:`within_radius`).
    weights
        Weight per demand point (households, kg/day).

    Returns
    -------
    float
        The share in [0, 1].
    """
    total = float(weights.sum())
    if total <= 0:
        return 0.0
    return float(weights[reached].sum() / total)


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
    if dist.shape[1] == 0:
        return 0.0
    return reached_share(np.asarray((dist <= radius_m).any(axis=1)), weights)
