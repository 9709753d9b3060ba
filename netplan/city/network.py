"""One road graph ready for computation: snapping and travel matrices.

A :class:`Network` wraps a drive or walk graph. It builds a CSR adjacency
matrix per edge weight once (the shortest of parallel edges), answers
many-to-many travel distance or time queries with scipy's Dijkstra, and
snaps points to the nearest edge with a shapely STRtree in a metric CRS.
Solvers downstream receive the matrices, never the graph.

Memory stays bounded on large graphs (200,000 nodes and more): Dijkstra runs
a block of sources at a time, the block sized so that its rows of the whole
graph fit in :data:`SEARCH_CELLS` floats, and :meth:`Network.point_arcs`
returns only the pairs within a radius (and the nearest ``k`` per row) as
sparse arrays, never a dense origins x destinations matrix.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TypeAlias

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely
from scipy import sparse
from scipy.sparse import csgraph

NodeIds: TypeAlias = np.ndarray | list[int]
"""Graph node ids as the network's methods take them (repeats allowed)."""

_BLOCK = 256  # at most this many sources per Dijkstra call
SEARCH_CELLS = 8_000_000
"""Most floats one Dijkstra block holds (64 MB): a block has this many // n_nodes sources (1 to ``_BLOCK``)."""


def search_block(n_nodes: int, cells: int = SEARCH_CELLS) -> int:
    """Sources per Dijkstra call on a graph of ``n_nodes``: scipy returns a dense block x n_nodes array.

    Parameters
    ----------
    n_nodes
        Nodes in the graph searched.
    cells
        Most floats one block may hold.

    Returns
    -------
    int
        Between 1 and 256.
    """
    return int(max(1, min(_BLOCK, cells // max(n_nodes, 1))))


@dataclass
class Snapped:
    """Where points attach to a network.

    Attributes
    ----------
    node
        The graph node each point is attached to (the nearer end of its
        nearest edge).
    snap_m
        Straight-line distance from the point to its nearest edge, in metres.
    offset_m
        Distance along that edge from the snap position to ``node``.
    ok
        False where ``snap_m`` exceeds the snap limit: such points are
        flagged, not silently trusted.
    """

    node: np.ndarray
    snap_m: np.ndarray
    offset_m: np.ndarray
    ok: np.ndarray

    def frame(self, index: pd.Index | None = None) -> pd.DataFrame:
        """Return the snapping as columns ``node``, ``snap_m``, ``offset_m``, ``snap_ok``."""
        return pd.DataFrame(
            {"node": self.node, "snap_m": self.snap_m, "offset_m": self.offset_m, "snap_ok": self.ok}, index=index
        )


@dataclass
class PointArcs:
    """Pairs of snapped points within a radius on a network, as sparse arrays sorted by (src, dst).

    Attributes
    ----------
    src, dst
        Row positions in the origins and destinations given.
    cost
        Offset + network path + offset, never above the radius.
    """

    src: np.ndarray
    dst: np.ndarray
    cost: np.ndarray

    def __len__(self) -> int:
        return len(self.src)


MEMO_BYTES = 256 * 2**20
"""Most bytes of matrices a :class:`Network` keeps memoised."""


def _no_arcs() -> PointArcs:
    return PointArcs(np.array([], dtype=np.int64), np.array([], dtype=np.int64), np.array([], dtype=float))


class _Side:
    """The points of one side of a query grouped by their distinct graph node."""

    def __init__(self, positions: np.ndarray):
        self.unique, inverse = np.unique(positions, return_inverse=True)
        self.order = np.argsort(inverse, kind="stable")  # point rows, grouped by distinct node
        self.count = np.bincount(inverse, minlength=len(self.unique))
        self.start = np.concatenate([[0], np.cumsum(self.count)[:-1]])


def _expand(o: _Side, d: _Side, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (origin row, destination row) pair of the node pairs (a[p], b[p]), and the node pair p of each."""
    per_pair = o.count[a] * d.count[b]
    pair = np.repeat(np.arange(len(a)), per_pair)
    within = np.arange(len(pair)) - np.repeat(np.cumsum(per_pair) - per_pair, per_pair)
    width = d.count[b][pair]
    rows = o.order[o.start[a][pair] + within // width]
    cols = d.order[d.start[b][pair] + within % width]
    return rows, cols, pair


def _nearest(arcs: PointArcs, k: int | None) -> PointArcs:
    """At most ``k`` cheapest arcs per origin row (ties to the lower destination row)."""
    if k is None or len(arcs) == 0:
        return arcs
    order = np.lexsort((arcs.dst, arcs.cost, arcs.src))
    src = arcs.src[order]
    first = np.searchsorted(src, src, side="left")
    keep = order[np.arange(len(src)) - first < k]
    return PointArcs(arcs.src[keep], arcs.dst[keep], arcs.cost[keep])


class Network:
    """A road graph with cached CSR matrices, travel matrices and point snapping.

    Parameters
    ----------
    graph
        An osmnx-style MultiDiGraph in WGS-84 whose edges carry ``length``
        (m) and ``travel_time`` (s).
    crs
        The metric CRS used for snapping (e.g. the city's UTM zone).
    mode
        ``"drive"`` or ``"walk"``, for reports.
    """

    def __init__(self, graph: nx.MultiDiGraph, crs: str, mode: str):
        self.graph = graph
        self.crs = crs
        self.mode = mode
        self.nodes = np.fromiter(graph.nodes, dtype=np.int64, count=graph.number_of_nodes())
        self.index = pd.Index(self.nodes)
        self._csr: dict[str, sparse.csr_array] = {}
        self._edges: gpd.GeoDataFrame | None = None
        self._tree: shapely.STRtree | None = None
        self._memo: dict[tuple, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.nodes)

    def __getstate__(self) -> dict:
        # Matrices and the spatial index (which cannot be pickled) are rebuilt on demand; the projected edges
        # are kept, as projecting them again is the slow part.
        state = dict(self.__dict__)
        state.update(_csr={}, _tree=None, _memo={})
        return state

    def positions(self, nodes: NodeIds) -> np.ndarray:
        """Row positions of graph node ids in this network's matrices.

        Parameters
        ----------
        nodes
            Graph node ids.

        Returns
        -------
        numpy.ndarray
            Integer positions; raises KeyError for ids not in the graph.
        """
        pos = self.index.get_indexer(np.asarray(nodes, dtype=np.int64))
        if (pos < 0).any():
            missing = np.asarray(nodes)[pos < 0][:5]
            raise KeyError(f"nodes not in the {self.mode} graph: {missing.tolist()}")
        return pos

    def csr(self, weight: str = "length") -> sparse.csr_array:
        """The adjacency matrix for an edge weight, built once.

        Parameters
        ----------
        weight
            Edge attribute: ``"length"`` (m) or ``"travel_time"`` (s).

        Returns
        -------
        scipy.sparse.csr_array
            n x n matrix; parallel edges keep their minimum.
        """
        if weight not in self._csr:
            u, v, w = [], [], []
            for a, b, value in self.graph.edges(data=weight):
                u.append(a)
                v.append(b)
                w.append(float(value))
            rows, cols = self.positions(u), self.positions(v)
            frame = pd.DataFrame({"r": rows, "c": cols, "w": w}).groupby(["r", "c"], sort=False)["w"].min()
            r = frame.index.get_level_values(0).to_numpy()
            c = frame.index.get_level_values(1).to_numpy()
            # Zero-length edges would vanish from a sparse matrix; a tiny positive weight keeps them.
            vals = np.maximum(frame.to_numpy(), 1e-6)
            n = len(self.nodes)
            self._csr[weight] = sparse.csr_array((vals, (r, c)), shape=(n, n))
        return self._csr[weight]

    def matrix(
        self, origins: NodeIds, destinations: NodeIds, weight: str = "length", limit: float | None = None
    ) -> np.ndarray:
        """Shortest-path costs between graph nodes.

        Runs Dijkstra from whichever side has fewer distinct nodes (on the
        reversed graph when that is the destinations), in blocks to bound
        memory. Results are memoised per call signature.

        Parameters
        ----------
        origins, destinations
            Graph node ids (repeats allowed).
        weight
            ``"length"`` (m) or ``"travel_time"`` (s).
        limit
            Stop searching beyond this cost; farther pairs are ``inf``. Much
            faster when only short distances matter (walking coverage).

        Returns
        -------
        numpy.ndarray
            ``len(origins) x len(destinations)`` float64 array; ``inf`` where
            unreachable (or beyond ``limit``).
        """
        o = self.positions(origins)
        d = self.positions(destinations)
        key = (weight, limit, hashlib.sha1(o.tobytes()).hexdigest(), hashlib.sha1(d.tobytes()).hexdigest())
        if key in self._memo:
            return self._memo[key]
        uo, o_inv = np.unique(o, return_inverse=True)
        ud, d_inv = np.unique(d, return_inverse=True)
        graph = self.csr(weight)
        forward = len(uo) <= len(ud)
        sources, targets = (uo, ud) if forward else (ud, uo)
        if not forward:
            graph = graph.T.tocsr()
        out = np.empty((len(sources), len(targets)))
        step = search_block(len(self.nodes))
        for start in range(0, len(sources), step):
            block = sources[start : start + step]
            dist = csgraph.dijkstra(graph, directed=True, indices=block, limit=np.inf if limit is None else limit)
            out[start : start + len(block)] = dist[:, targets]
        if not forward:
            out = out.T
        result = out[np.ix_(o_inv, d_inv)]
        # A large city's matrices would pin gigabytes: only small results are kept.
        held = sum(m.nbytes for m in self._memo.values())
        if len(self._memo) < 64 and held + result.nbytes <= MEMO_BYTES:
            self._memo[key] = result
        return result

    def pair_costs(
        self, origins: NodeIds, destinations: NodeIds, *, weight: str = "length", limit: float | None = None
    ) -> np.ndarray:
        """Shortest-path cost of each pair ``(origins[k], destinations[k])``, not of all combinations.

        One Dijkstra per distinct origin, a block of them per call (:func:`search_block`) and bounded by
        ``limit``: what re-checking assignments needs (a demand point and its own collection point),
        without a matrix and without a whole-graph search per pair when a bound is known. The costs are
        those of :meth:`matrix` from the origin's side.

        Parameters
        ----------
        origins, destinations
            Graph node ids, one pair per position.
        weight
            ``"length"`` (m) or ``"travel_time"`` (s).
        limit
            Stop searching beyond this cost; farther pairs are ``inf``.

        Returns
        -------
        numpy.ndarray
            ``len(origins)`` costs; ``inf`` where unreachable (or beyond ``limit``).
        """
        o, d = self.positions(origins), self.positions(destinations)
        if len(o) != len(d):
            raise ValueError(f"{len(o)} origins but {len(d)} destinations: pair_costs needs one of each per pair")
        out = np.full(len(o), np.inf)
        if len(o) == 0:
            return out
        unique, inverse = np.unique(o, return_inverse=True)
        graph = self.csr(weight)
        step = search_block(len(self.nodes))
        for start in range(0, len(unique), step):
            block = unique[start : start + step]
            dist = csgraph.dijkstra(graph, directed=True, indices=block, limit=np.inf if limit is None else limit)
            mine = np.flatnonzero((inverse >= start) & (inverse < start + len(block)))
            out[mine] = dist[inverse[mine] - start, d[mine]]
        return out

    def point_arcs(
        self,
        origin_nodes: np.ndarray,
        origin_offsets: np.ndarray,
        destination_nodes: np.ndarray,
        destination_offsets: np.ndarray,
        *,
        radius: float,
        weight: str = "length",
        nearest: int | None = None,
    ) -> PointArcs:
        """The pairs of snapped points within ``radius`` of each other, without a dense matrix.

        The same pairs and costs as keeping ``point_matrix(..., limit=radius) <= radius`` (and the
        ``nearest`` cheapest per origin row, ties to the lower destination), computed with Dijkstra
        bounded by ``radius`` from whichever side has fewer distinct nodes, a block of sources at a
        time. Memory grows with the pairs found plus one block (:func:`search_block`), never with
        origins x destinations or nodes squared: this is what siting on a large city needs.

        Parameters
        ----------
        origin_nodes, destination_nodes
            Graph nodes the points are attached to (see :meth:`snap`); repeats allowed.
        origin_offsets, destination_offsets
            Along-edge distances from each point to its node.
        radius
            Longest cost kept (finite).
        weight
            Edge weight for the network part.
        nearest
            Keep at most this many cheapest destinations per origin (None = all within the radius).

        Returns
        -------
        PointArcs
            Row positions and costs, sorted by origin then destination.
        """
        if not np.isfinite(radius):
            raise ValueError("point_arcs needs a finite radius; use point_matrix for unbounded costs")
        o, d = self.positions(origin_nodes), self.positions(destination_nodes)
        o_off = np.asarray(origin_offsets, dtype=float)
        d_off = np.asarray(destination_offsets, dtype=float)
        if len(o) == 0 or len(d) == 0:
            return _no_arcs()
        o_side, d_side = _Side(o), _Side(d)
        forward = len(o_side.unique) <= len(d_side.unique)
        graph = self.csr(weight) if forward else self.csr(weight).T.tocsr()
        sources, targets = (o_side, d_side) if forward else (d_side, o_side)
        step = search_block(len(self.nodes))
        found = []
        for start in range(0, len(sources.unique), step):
            block = sources.unique[start : start + step]
            dist = csgraph.dijkstra(graph, directed=True, indices=block, limit=radius)[:, targets.unique]
            si, ti = np.nonzero(np.isfinite(dist))
            base = dist[si, ti]
            a, b = (si + start, ti) if forward else (ti, si + start)
            rows, cols, pair = _expand(o_side, d_side, a, b)
            # The same order of additions as point_matrix, so that the costs are the same to the last bit.
            cost = (base[pair] + o_off[rows]) + d_off[cols]
            keep = cost <= radius
            arcs = PointArcs(rows[keep], cols[keep], cost[keep])
            # Forward, a block holds every destination of its origins: the nearest-k cut is final already.
            found.append(_nearest(arcs, nearest) if forward else arcs)
        arcs = PointArcs(*(np.concatenate([getattr(f, k) for f in found]) for k in ("src", "dst", "cost")))
        arcs = _nearest(arcs, nearest)
        order = np.lexsort((arcs.dst, arcs.src))
        return PointArcs(arcs.src[order], arcs.dst[order], arcs.cost[order])

    def nearest_point(
        self,
        origin_nodes: np.ndarray,
        origin_offsets: np.ndarray,
        destination_nodes: np.ndarray,
        destination_offsets: np.ndarray,
        *,
        weight: str = "length",
    ) -> tuple[np.ndarray, np.ndarray]:
        """Each origin's cheapest destination and its cost, with one search for all of them.

        What ``point_matrix`` followed by a row-wise minimum gives, without the origins x
        destinations matrix: one multi-source Dijkstra on the reversed graph, each destination
        entering through a virtual node at its offset, so time and memory grow with the graph,
        not with the number of pairs (the nearest collection point of every compound of a whole
        city). Costs agree with :meth:`point_matrix` up to floating-point rounding (the sums are
        taken in another order); among destinations at exactly the same cost the search picks one
        deterministically.

        Parameters
        ----------
        origin_nodes, destination_nodes
            Graph nodes the points are attached to (see :meth:`snap`); repeats allowed.
        origin_offsets, destination_offsets
            Along-edge distances from each point to its node.
        weight
            Edge weight for the network part.

        Returns
        -------
        tuple of numpy.ndarray
            Destination position per origin (``-1`` where none is reachable) and the cost (``inf`` there).
        """
        o = self.positions(origin_nodes)
        o_off = np.asarray(origin_offsets, dtype=float)
        owner = np.full(len(o), -1, dtype=np.int64)
        cost = np.full(len(o), np.inf)
        if len(o) == 0 or len(destination_nodes) == 0:
            return owner, cost
        d = self.positions(destination_nodes)
        d_off = np.asarray(destination_offsets, dtype=float)
        # per destination node the destination with the smallest offset (the first in the table on ties)
        order = np.lexsort((np.arange(len(d)), d_off, d))
        first = np.r_[True, d[order][1:] != d[order][:-1]]
        entry = order[first]
        n, k = len(self.nodes), len(entry)
        reverse = self.csr(weight).T.tocoo()
        graph = sparse.csr_array(
            (
                np.r_[reverse.data, np.maximum(d_off[entry], 1e-9)],
                (np.r_[reverse.row, n + np.arange(k)], np.r_[reverse.col, d[entry]]),
            ),
            shape=(n + k, n + k),
        )
        dist, _, source = csgraph.dijkstra(
            graph, directed=True, indices=n + np.arange(k), min_only=True, return_predecessors=True
        )
        reached = np.isfinite(dist[o])
        chosen = entry[source[o[reached]] - n]
        owner[reached] = chosen
        # the virtual edge's floor (a zero-weight edge would vanish from the sparse matrix) taken back out
        cost[reached] = (dist[o[reached]] - np.maximum(d_off[chosen], 1e-9) + d_off[chosen]) + o_off[reached]
        return owner, cost

    def point_matrix(
        self,
        origin_nodes: np.ndarray,
        origin_offsets: np.ndarray,
        destination_nodes: np.ndarray,
        destination_offsets: np.ndarray,
        weight: str = "length",
        limit: float | None = None,
    ) -> np.ndarray:
        """Costs between snapped points: offset to node + network path + offset from node.

        Parameters
        ----------
        origin_nodes, destination_nodes
            Graph nodes the points are attached to (see :meth:`snap`).
        origin_offsets, destination_offsets
            Along-edge distances from each point to its node.
        weight
            Edge weight for the network part.
        limit
            Pairs costing more than this become ``inf`` (and bound the search).

        Returns
        -------
        numpy.ndarray
            ``len(origins) x len(destinations)`` costs.
        """
        if len(origin_nodes) == 0 or len(destination_nodes) == 0:
            return np.full((len(origin_nodes), len(destination_nodes)), np.inf)
        base = self.matrix(origin_nodes, destination_nodes, weight, limit)
        cost = (
            base
            + np.asarray(origin_offsets, dtype=float)[:, None]
            + np.asarray(destination_offsets, dtype=float)[None, :]
        )
        if limit is not None:
            cost[cost > limit] = np.inf
        return cost

    def edges(self) -> gpd.GeoDataFrame:
        """The edges as a GeoDataFrame in the metric CRS (index ``u, v, key``)."""
        if self._edges is None:
            import osmnx as ox

            edges = ox.graph_to_gdfs(self.graph, nodes=False, fill_edge_geometry=True)
            self._edges = edges.to_crs(self.crs)
        return self._edges

    def snap(self, points: gpd.GeoSeries | gpd.GeoDataFrame, limit_m: float = 500.0) -> Snapped:
        """Attach points to the network at their nearest edge.

        Parameters
        ----------
        points
            Points (any CRS); polygons are represented by an interior point.
        limit_m
            Points farther than this from every edge get ``ok = False``.

        Returns
        -------
        Snapped
            Node, snap distance, along-edge offset and the limit flag per point.
        """
        geoms = points.geometry if isinstance(points, gpd.GeoDataFrame) else points
        geoms = geoms.to_crs(self.crs)
        geoms = gpd.GeoSeries([g if g.geom_type == "Point" else g.representative_point() for g in geoms], crs=self.crs)
        edges = self.edges()
        if self._tree is None:
            self._tree = shapely.STRtree(edges.geometry.to_numpy())
        if len(geoms) == 0:
            empty = np.array([], dtype=float)
            return Snapped(np.array([], dtype=np.int64), empty, empty, np.array([], dtype=bool))
        (pt_idx, edge_idx), dist = self._tree.query_nearest(geoms.to_numpy(), return_distance=True, all_matches=False)
        order = np.argsort(pt_idx, kind="stable")
        pt_idx, edge_idx, dist = pt_idx[order], edge_idx[order], dist[order]
        lines = edges.geometry.to_numpy()[edge_idx]
        along = shapely.line_locate_point(lines, geoms.to_numpy()[pt_idx])
        total = shapely.length(lines)
        uv = edges.index.to_frame(index=False)[["u", "v"]].to_numpy()[edge_idx]
        near_u = along <= total / 2
        node = np.where(near_u, uv[:, 0], uv[:, 1])
        offset = np.where(near_u, along, total - along)
        return Snapped(node.astype(np.int64), dist, offset, dist <= limit_m)
