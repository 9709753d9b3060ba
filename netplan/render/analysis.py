"""Geometry that maps and figures show but the plan does not store.

* Walking service areas of collection points: the parts of the walk graph
  within the tier-1 radius of each open point (edges cut where the radius
  runs out), widened by a narrow strip, so the area follows the streets
  residents actually walk rather than a circle.
* Catchments of higher tiers: the convex hull of what each facility serves
  (the service areas of its collection points, then the catchments of its
  transfer stations, ...).
* Walking distance from every demand point to its nearest collection point
  (for popups, the uncovered layer and the coverage curve).
* Facilities in one plan and not in another (for comparisons).

Distances are measured as netplan measures coverage (see
:func:`netplan.evaluate.walk_distances`): the demand point's along-edge
offset to its node, the shortest path on the walk graph (``length``), and the
site's offset from its node.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import sparse
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree
from shapely.ops import substring

WGS84 = "EPSG:4326"
STRIP_M = 40.0
"""Half-width of the strip drawn along walkable streets in a service area."""


class WalkGraph:
    """A walk graph rebuilt from its edge layer (``u, v, length, geometry``).

    Works the same on the city graph of a plan and on the ``walkways`` layer
    of an output folder.

    Parameters
    ----------
    edges
        Directed edges in WGS-84 with node ids ``u``, ``v`` and ``length`` (m).
    """

    def __init__(self, edges: gpd.GeoDataFrame):
        edges = edges[edges.geometry.notna() & edges["length"].notna()]
        self.crs = edges.estimate_utm_crs() if len(edges) else "EPSG:3857"
        proj = edges.to_crs(self.crs)
        u = proj["u"].to_numpy(np.int64)
        v = proj["v"].to_numpy(np.int64)
        self.ids = np.unique(np.concatenate([u, v]))
        self.ui = np.searchsorted(self.ids, u)
        self.vi = np.searchsorted(self.ids, v)
        self.length = np.maximum(proj["length"].to_numpy(float), 1e-6)
        geoms = proj.geometry.to_numpy()
        n = len(self.ids)
        # node positions: the median of the edge ends that name each node (robust to a few reversed geometries)
        start = shapely.get_coordinates(shapely.get_point(geoms, 0))
        end = shapely.get_coordinates(shapely.get_point(geoms, -1))
        ends = pd.DataFrame(
            {"node": np.r_[self.ui, self.vi], "x": np.r_[start[:, 0], end[:, 0]], "y": np.r_[start[:, 1], end[:, 1]]}
        )
        med = ends.groupby("node")[["x", "y"]].median()
        self.xy = np.zeros((n, 2))
        self.xy[med.index.to_numpy()] = med.to_numpy()
        cu, cv = self.xy[self.ui], self.xy[self.vi]
        as_is = np.hypot(*(start - cu).T) + np.hypot(*(end - cv).T)
        flipped = np.hypot(*(end - cu).T) + np.hypot(*(start - cv).T)
        flip = flipped < as_is
        if flip.any():
            geoms = geoms.copy()
            geoms[flip] = shapely.reverse(geoms[flip])
        self.geoms = geoms
        frame = pd.DataFrame({"u": self.ui, "v": self.vi, "w": self.length}).groupby(["u", "v"], sort=False)["w"].min()
        self.csr = sparse.csr_array(
            (frame.to_numpy(), (frame.index.get_level_values(0), frame.index.get_level_values(1))), shape=(n, n)
        )
        self._tree: cKDTree | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def index(self, node_ids: np.ndarray) -> np.ndarray:
        """Graph indices of node ids (-1 where a node is not in the graph)."""
        node_ids = np.asarray(node_ids, dtype=np.int64)
        pos = np.clip(np.searchsorted(self.ids, node_ids), 0, max(len(self.ids) - 1, 0))
        found = len(self.ids) > 0
        return np.where(found & (self.ids[pos] == node_ids), pos, -1) if found else np.full(len(node_ids), -1)

    def attach(self, points: gpd.GeoSeries) -> tuple[np.ndarray, np.ndarray]:
        """Nearest graph node and straight-line distance to it, for points given without snapping."""
        if self._tree is None:
            self._tree = cKDTree(self.xy)
        xy = shapely.get_coordinates(points.to_crs(self.crs).to_numpy())
        dist, idx = self._tree.query(xy)
        return idx.astype(np.int64), dist

    def distances(self, nodes: np.ndarray, offsets: np.ndarray, limit: float) -> np.ndarray:
        """Distance from the nearest of several sources to every node (``inf`` beyond ``limit``).

        Parameters
        ----------
        nodes
            Graph indices of the sources.
        offsets
            Each source's offset from its node (m).
        limit
            Bound of the search.
        """
        n = len(self.ids)
        out = np.full(n, np.inf)
        ok = nodes >= 0
        if not ok.any():
            return out
        # one entry per node (the smallest offset): a sparse matrix would add up repeated entries
        best = pd.Series(np.asarray(offsets, float)[ok]).groupby(nodes[ok]).min()
        nodes, offsets = best.index.to_numpy(np.int64), best.to_numpy()
        # a virtual source joined to every real one by its offset: one search for all
        coo = self.csr.tocoo()
        rows = np.r_[coo.row, np.full(len(nodes), n)]
        cols = np.r_[coo.col, nodes]
        data = np.r_[coo.data, np.maximum(offsets, 1e-9)]
        graph = sparse.csr_array((data, (rows, cols)), shape=(n + 1, n + 1))
        dist = dijkstra(graph, directed=True, indices=n, limit=limit)
        return dist[:n]

    def reach(self, node: int, offset: float, radius: float, strip_m: float = STRIP_M) -> shapely.Geometry:
        """The walkable area within ``radius`` of one site (projected CRS).

        The concave hull of the walked edges (cut where the radius runs
        out), widened by ``strip_m``.
        """
        if node < 0:
            return shapely.Polygon()
        left = radius - offset
        base = shapely.Point(self.xy[node]).buffer(strip_m, quad_segs=4)
        if left <= 0:
            return base
        dist = dijkstra(self.csr, directed=True, indices=node, limit=left)
        d_u = dist[self.ui]
        hit = np.flatnonzero(d_u < left)
        if len(hit) == 0:
            return base
        remain = left - d_u[hit]
        full = remain >= self.length[hit]
        parts = list(self.geoms[hit[full]])
        for k, r in zip(hit[~full], remain[~full]):
            parts.append(substring(self.geoms[k], 0.0, r / self.length[k], normalized=True))
        # an alpha shape (GEOS concave hull) of points every 25 m along the walked streets:
        # ~10x faster than the union of buffered streets and within a few % of its area
        pts = shapely.get_coordinates(shapely.segmentize(np.asarray(parts, dtype=object), 25.0))
        pts = np.vstack([pts, self.xy[node][None, :]])
        hull = shapely.concave_hull(shapely.multipoints(pts), ratio=0.25)
        return shapely.union(hull.buffer(strip_m, quad_segs=2), base).simplify(3.0)


def _to_wgs84(geoms: list, crs) -> np.ndarray:
    return gpd.GeoSeries(geoms, crs=crs).to_crs(WGS84).to_numpy()


def service_areas(graph: WalkGraph | None, facilities: gpd.GeoDataFrame, radius_m: float) -> gpd.GeoDataFrame:
    """Walking service area of each open collection point.

    Parameters
    ----------
    graph
        The walk graph; without one, a plain circle of ``radius_m`` is drawn.
    facilities
        Open tier-1 facilities (``site_id, walk_node, walk_offset_m``).
    radius_m
        The tier-1 walking radius.

    Returns
    -------
    geopandas.GeoDataFrame
        ``site_id, method, geometry`` (WGS-84; method ``walk`` or ``circle``).
    """
    if len(facilities) == 0:
        return gpd.GeoDataFrame({"site_id": [], "method": []}, geometry=[], crs=WGS84)
    if graph is None or len(graph) == 0 or "walk_node" not in facilities.columns:
        crs = facilities.estimate_utm_crs()
        circles = facilities.to_crs(crs).buffer(radius_m, quad_segs=16).to_crs(WGS84)
        return gpd.GeoDataFrame(
            {"site_id": facilities["site_id"].to_numpy(), "method": "circle"}, geometry=circles.to_numpy(), crs=WGS84
        )
    nodes = graph.index(facilities["walk_node"].to_numpy())
    offsets = (
        facilities["walk_offset_m"].fillna(0.0).to_numpy(float)
        if "walk_offset_m" in facilities.columns
        else np.zeros(len(facilities))
    )
    points = shapely.get_coordinates(facilities.to_crs(graph.crs).geometry.to_numpy())
    geoms = []
    for n, o, xy in zip(nodes, offsets, points):
        area = graph.reach(int(n), float(o), radius_m)
        if n >= 0:  # the site itself stands off the street: join it to its node so its icon sits inside its area
            area = shapely.union(area, shapely.LineString([graph.xy[n], xy]).buffer(STRIP_M / 2, quad_segs=2))
        geoms.append(area)
    return gpd.GeoDataFrame(
        {"site_id": facilities["site_id"].to_numpy(), "method": "walk"}, geometry=_to_wgs84(geoms, graph.crs), crs=WGS84
    )


def catchments(
    facilities: gpd.GeoDataFrame, tiers: list[int], areas: gpd.GeoDataFrame | None
) -> dict[int, gpd.GeoDataFrame]:
    """Catchment of every facility of tier 2 and above.

    The convex hull of the facility and everything it serves: the service
    areas of its collection points (or their positions), then, one tier up,
    the catchments of its transfer stations, and so on.

    Returns
    -------
    dict
        Tier -> ``site_id, members, geometry`` (WGS-84).
    """
    out: dict[int, gpd.GeoDataFrame] = {}
    if facilities is None or len(facilities) == 0 or "next_site_id" not in facilities.columns:
        return out
    crs = facilities.estimate_utm_crs()
    proj = facilities.to_crs(crs)
    below: dict[int, shapely.Geometry] = {}
    lower = proj[proj["tier"] == tiers[0]]
    area_by_id = {}
    if areas is not None and len(areas):
        area_by_id = dict(zip(areas["site_id"], areas.to_crs(crs).geometry))
    for sid, geom in zip(lower["site_id"], lower.geometry):
        below[int(sid)] = area_by_id.get(sid, geom)
    for t in tiers[1:]:
        src = proj[proj["tier"] == t - 1]
        upper = proj[proj["tier"] == t]
        rows, nxt = [], {}
        for sid, geom in zip(upper["site_id"], upper.geometry):
            members = src[src["next_site_id"] == sid]
            parts = [geom] + [below.get(int(m), g) for m, g in zip(members["site_id"], members.geometry)]
            hull = shapely.union_all(parts).convex_hull.buffer(30.0, quad_segs=4)
            nxt[int(sid)] = hull
            rows.append({"site_id": int(sid), "members": int(len(members)), "geometry": hull})
        below = nxt
        if rows:
            frame = gpd.GeoDataFrame(rows, geometry="geometry", crs=crs).to_crs(WGS84)
            out[t] = frame
    return out


def demand_nodes(graph: WalkGraph, demand: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Graph index and offset of every demand point (snapping the ones that lack it)."""
    if "walk_node" in demand.columns and "offset_m" in demand.columns:
        idx = graph.index(demand["walk_node"].fillna(-1).to_numpy(np.int64))
        off = demand["offset_m"].fillna(0.0).to_numpy(float)
    else:
        idx, off = np.full(len(demand), -1), np.zeros(len(demand))
    missing = idx < 0
    if missing.any() and len(graph):
        near, dist = graph.attach(demand.geometry[missing])
        idx = idx.copy()
        idx[missing] = near
        off = off.copy()
        off[missing] = dist
    return idx, off


def nearest_distance(
    graph: WalkGraph | None, demand: gpd.GeoDataFrame, sites: gpd.GeoDataFrame, limit_m: float
) -> np.ndarray:
    """Walking distance from each demand point to its nearest site (``inf`` beyond ``limit_m``)."""
    out = np.full(len(demand), np.inf)
    if graph is None or len(graph) == 0 or sites is None or len(sites) == 0 or "walk_node" not in sites.columns:
        return out
    nodes = graph.index(sites["walk_node"].to_numpy(np.int64))
    offsets = (
        sites["walk_offset_m"].fillna(0.0).to_numpy(float) if "walk_offset_m" in sites.columns else np.zeros(len(sites))
    )
    dist = graph.distances(nodes, offsets, limit_m)
    idx, off = demand_nodes(graph, demand)
    ok = idx >= 0
    out[ok] = dist[idx[ok]] + off[ok]
    if "snap_ok" in demand.columns:
        out[~demand["snap_ok"].fillna(True).to_numpy(bool)] = np.inf
    out[out > limit_m] = np.inf
    return out


def coverage_curve(distance: np.ndarray, households: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Share of households within each distance of ``steps`` (of all households)."""
    total = float(np.nansum(households))
    if total <= 0:
        return np.zeros(len(steps))
    order = np.argsort(distance)
    d, w = distance[order], np.nan_to_num(households[order])
    cum = np.concatenate([[0.0], np.cumsum(w)])
    return cum[np.searchsorted(d, steps, side="right")] / total


def uncovered_mask(
    demand: gpd.GeoDataFrame, assignments: gpd.GeoDataFrame | None, nearest: np.ndarray, radius_m: float, sited: bool
) -> np.ndarray:
    """Demand points left without a collection point.

    With a sited network: points with households that no collection point
    serves (unreachable, excluded or not snapped). Without one: points with
    no existing collection point within walking radius.
    """
    has = demand["households"].fillna(0).to_numpy(float) > 0
    if sited and assignments is not None and len(assignments):
        served = set(assignments.loc[assignments["level"] == "demand-t1", "from_id"].astype(np.int64))
        return has & ~demand["demand_id"].isin(served).to_numpy()
    return has & ~(nearest <= radius_m)


def facility_diff(
    a: gpd.GeoDataFrame | None, b: gpd.GeoDataFrame | None, tolerance_m: float = 10.0
) -> tuple[np.ndarray, np.ndarray]:
    """Which facilities of ``a`` have no counterpart in ``b``, and the reverse.

    Two facilities match when they are of the same tier and stand within
    ``tolerance_m`` of each other. (Site ids are not compared on their own:
    runs of different scenarios number their candidate sites differently, so
    one id may name two places. netplan merges sites closer than 10 m, so the
    location identifies a site.)

    Returns
    -------
    tuple of numpy.ndarray
        Boolean masks: rows of ``a`` only in ``a``, rows of ``b`` only in ``b``.
    """
    if a is None or b is None:
        return np.ones(0 if a is None else len(a), bool), np.ones(0 if b is None else len(b), bool)
    only_a, only_b = np.ones(len(a), bool), np.ones(len(b), bool)
    if len(a) == 0 or len(b) == 0:
        return only_a, only_b
    crs = pd.concat([a.geometry, b.geometry]).pipe(gpd.GeoSeries, crs=WGS84).estimate_utm_crs()
    xa = shapely.get_coordinates(a.to_crs(crs).geometry.to_numpy())
    xb = shapely.get_coordinates(b.to_crs(crs).geometry.to_numpy())
    ta, tb = a["tier"].to_numpy(), b["tier"].to_numpy()
    for t in np.union1d(ta, tb):
        ia, ib = np.flatnonzero(ta == t), np.flatnonzero(tb == t)
        if len(ia) == 0 or len(ib) == 0:
            continue
        tree = cKDTree(xb[ib])
        dist, _ = tree.query(xa[ia], distance_upper_bound=tolerance_m)
        only_a[ia[np.isfinite(dist)]] = False
        tree = cKDTree(xa[ia])
        dist, _ = tree.query(xb[ib], distance_upper_bound=tolerance_m)
        only_b[ib[np.isfinite(dist)]] = False
    return only_a, only_b
