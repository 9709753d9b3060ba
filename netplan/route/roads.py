"""Travel profiles on a city's drive graph, with the paths behind them.

A vehicle class bound by bans that overlap its shift drives with a
*restricted* profile. Its paths have the shape ``banned* free* banned*``:
they may use roads covered by a ban only at the start, to leave a place
inside a zone (or one that has no other way out), and at the end, to reach
one, never in between. This is solved exactly with Dijkstra on a
three-layer copy of the graph (layer 0: banned edges, layer 1: free edges,
layer 2: banned edges, zero-cost moves 0→1→2 at every node); legs between
other places start and end in layer 1.

Driving inside a ban is then kept out of the banned hours by the stop's
forbidden service-start times (:func:`forbidden_starts`): a restricted
vehicle may only start service at a stop when the longest banned stretch
it can drive to get there, the service itself, and the longest banned
stretch it drives to leave all fall outside the banned hours. Serving is
modelled exactly; driving is conservative (a vehicle whose shift overlaps a
ban avoids banned roads all day except to reach or leave such stops).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph

from netplan.city import Network
from netplan.route.bans import Ban, RoadBans, banned_hours
from netplan.route.problem import DAY_S, Interval, Profile

UNREACHABLE_S = 10 * DAY_S  # travel time standing for "no path": no shift absorbs it
_TINY = 1e-6


@dataclass
class _Tree:
    """One profile's shortest-path trees from every location."""

    time: np.ndarray  # locations x locations seconds (inf where unreachable)
    length: np.ndarray  # metres along the fastest path
    pred: np.ndarray  # locations x graph-states predecessors
    layered: bool


class TravelProfiles:
    """Distance/duration matrices and node paths between locations, per vehicle class.

    Parameters
    ----------
    network
        The drive network.
    nodes
        Graph node of each location (repeats allowed).
    road_bans
        The bans resolved on the drive graph.
    classes
        Profile name -> bans binding that class of vehicle (an empty list
        for vehicles no ban binds during their shift).
    """

    def __init__(self, network: Network, nodes: list[int], road_bans: RoadBans, classes: dict[str, list[Ban]]):
        self.network = network
        self.nodes = list(nodes)
        self.road_bans = road_bans
        self.classes = classes
        self._pos = network.positions(self.nodes)
        self._unique, self._inverse = np.unique(self._pos, return_inverse=True)
        self._edge_arrays()
        self._trees: dict[str, _Tree] = {name: self._tree(bans) for name, bans in classes.items()}

    # --- graph ---------------------------------------------------------------------------------------------
    def _edge_arrays(self) -> None:
        best: dict[tuple[int, int], tuple[float, float]] = {}
        for u, v, data in self.network.graph.edges(data=True):
            t, length = float(data["travel_time"]), float(data["length"])
            # Parallel edges: the fastest, then the shortest, whatever order the graph lists them in.
            if (u, v) not in best or (t, length) < best[(u, v)]:
                best[(u, v)] = (t, length)
        self.edge_time = {k: t for k, (t, _) in best.items()}
        self.edge_length = {k: length for k, (_, length) in best.items()}
        pairs = list(best)
        self._u = self.network.positions([p[0] for p in pairs])
        self._v = self.network.positions([p[1] for p in pairs])
        self._t = np.maximum(np.array([best[p][0] for p in pairs]), _TINY)
        self._len = np.array([best[p][1] for p in pairs])
        self._pairs = pairs

    def _tree(self, bans: list[Ban]) -> _Tree:
        n = len(self.network)
        if not bans:
            graph = sparse.csr_array((self._t, (self._u, self._v)), shape=(n, n))
            time, pred = csgraph.dijkstra(graph, directed=True, indices=self._unique, return_predecessors=True)
            targets = self._unique
            layered = False
        else:
            banned = self.road_bans.edges(bans)
            flag = np.array([p in banned for p in self._pairs])
            rows = [self._u[flag], n + self._u[~flag], 2 * n + self._u[flag], np.arange(n), n + np.arange(n)]
            cols = [self._v[flag], n + self._v[~flag], 2 * n + self._v[flag], n + np.arange(n), 2 * n + np.arange(n)]
            vals = [self._t[flag], self._t[~flag], self._t[flag], np.full(n, _TINY), np.full(n, _TINY)]
            graph = sparse.csr_array(
                (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(3 * n, 3 * n)
            )
            # Only a place inside a zone, or one whose every way out (in) is banned, may start (end) on banned roads:
            # everywhere else a leg starts and ends on free roads, so through traffic never uses a ban.
            inside = np.zeros(n, dtype=bool)
            for ban in bans:
                for node in self.road_bans.nodes(ban):
                    inside[self.network.index.get_loc(node)] = True
            free_out = np.zeros(n, dtype=bool)
            free_in = np.zeros(n, dtype=bool)
            free_out[self._u[~flag]] = True
            free_in[self._v[~flag]] = True
            self._start_layer = np.where(inside | ~free_out, 0, 1)
            self._end_layer = np.where(inside | ~free_in, 2, 1)
            sources = self._start_layer[self._unique] * n + self._unique
            time, pred = csgraph.dijkstra(graph, directed=True, indices=sources, return_predecessors=True)
            targets = self._end_layer[self._unique] * n + self._unique
            layered = True
        t = time[:, targets]
        pred = pred.astype(np.int32)
        length = self._tree_lengths(graph, time, pred)[:, targets]
        length[~np.isfinite(t)] = 0.0
        np.fill_diagonal(length, 0.0)
        return _Tree(time=t, length=length, pred=pred, layered=layered)

    def _tree_lengths(self, graph: sparse.csr_array, time: np.ndarray, pred: np.ndarray) -> np.ndarray:
        """Metres along each shortest-path tree, from every source to every graph state.

        The tree is walked once per source in order of arrival time (a
        node's predecessor always arrives strictly earlier, every edge
        taking at least ``_TINY`` s), all sources at once, adding each tree
        edge's length to its predecessor's: the same sums, in the same
        order, as adding the edges of each path from its source, without
        walking 10⁶–10⁷ paths one by one (the 3,000-visit city day spent
        minutes there). Layer switches of the banned-road copy have length 0.
        """
        states = graph.shape[0]
        n = len(self.network)
        # Edge lengths keyed by (from state, to state): each state edge is a copy of one road edge, or a layer switch.
        coo = graph.tocoo()
        keys = coo.row.astype(np.int64) * states + coo.col
        road = (coo.row % n != coo.col % n) | (coo.row == coo.col)
        pair_len = dict(zip(self._pairs, self._len))
        values = np.array(
            [
                pair_len[(int(self.network.nodes[u % n]), int(self.network.nodes[v % n]))] if r else 0.0
                for u, v, r in zip(coo.row, coo.col, road)
            ],
            dtype=float,
        )
        order_keys = np.argsort(keys)
        keys, values = keys[order_keys], values[order_keys]
        rows = np.arange(time.shape[0])
        out = np.zeros(time.shape, dtype=float)
        done = pred < 0  # the sources, and states never reached (their length is not used)
        order = np.argsort(time, axis=1, kind="stable")
        for k in range(states):
            s = order[:, k]
            p = pred[rows, s]
            ok = p >= 0
            if not ok.any():
                continue
            r, s, p = rows[ok], s[ok], p[ok]
            ready = done[r, p]
            if not ready.all():  # a time tie put a state before its predecessor: settled below
                r, s, p = r[ready], s[ready], p[ready]
            out[r, s] = out[r, p] + values[np.searchsorted(keys, p.astype(np.int64) * states + s)]
            done[r, s] = True
        while not done.all():
            r, s = np.nonzero(~done)
            p = pred[r, s]
            ready = done[r, p]
            if not ready.any():
                raise RuntimeError("shortest-path trees with a cycle: the road graph's travel times must be positive")
            r, s, p = r[ready], s[ready], p[ready]
            out[r, s] = out[r, p] + values[np.searchsorted(keys, p.astype(np.int64) * states + s)]
            done[r, s] = True
        return out

    def _states(self, pred_row: np.ndarray, target: int) -> list[int]:
        states = [int(target)]
        while pred_row[states[-1]] >= 0:
            states.append(int(pred_row[states[-1]]))
        return states[::-1]

    def _edges_of(self, pred_row: np.ndarray, target: int, layered: bool) -> list[tuple[int, int]]:
        nodes = self._node_path(self._states(pred_row, target), layered)
        return list(zip(nodes, nodes[1:]))

    def _node_path(self, states: list[int], layered: bool) -> list[int]:
        n = len(self.network)
        ids = self.network.nodes
        out: list[int] = []
        for s in states:
            node = int(ids[s % n]) if layered else int(ids[s])
            if not out or out[-1] != node:
                out.append(node)
        return out

    # --- public --------------------------------------------------------------------------------------------
    def profile(self, name: str) -> Profile:
        """The profile's integer matrices (seconds rounded up, metres rounded)."""
        tree = self._trees[name]
        t = tree.time[np.ix_(self._inverse, self._inverse)]
        length = tree.length[np.ix_(self._inverse, self._inverse)]
        duration = np.where(np.isfinite(t), np.ceil(t - 1e-3), UNREACHABLE_S).astype(np.int64)
        distance = np.where(np.isfinite(t), np.round(length), UNREACHABLE_S * 20).astype(np.int64)
        np.fill_diagonal(duration, 0)
        np.fill_diagonal(distance, 0)
        return Profile(name, distance, duration)

    def path(self, name: str, a: int, b: int) -> list[int]:
        """Graph nodes from location ``a`` to location ``b`` under profile ``name``."""
        if self.nodes[a] == self.nodes[b]:
            return [self.nodes[a]]
        tree = self._trees[name]
        i, j = self._inverse[a], self._inverse[b]
        n = len(self.network)
        target = (self._end_layer[self._unique[j]] * n if tree.layered else 0) + self._unique[j]
        return self._node_path(self._states(tree.pred[i], target), tree.layered)

    def stretches(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Per location, the longest banned stretch driven to arrive there and to leave it.

        Parameters
        ----------
        name
            A profile name.

        Returns
        -------
        tuple of numpy.ndarray
            ``(arrive_s, leave_s)``: seconds, over every leg between the
            problem's locations. A leg wholly on banned roads counts towards
            leaving when it starts inside a zone (the vehicle drives it at
            once and waits on arrival), otherwise towards arriving.
        """
        m = len(self.nodes)
        arrive, leave = np.zeros(m), np.zeros(m)
        bans = self.classes[name]
        if not bans:
            return arrive, leave
        banned = self.road_bans.edges(bans)
        touched = {u for u, _ in banned} | {v for _, v in banned}
        for a in range(m):
            for b in range(m):
                if a == b or (self.nodes[a] not in touched and self.nodes[b] not in touched):
                    continue
                path = self.path(name, a, b)
                edges = list(zip(path, path[1:]))
                if not edges:
                    continue
                flags = [e in banned for e in edges]
                times = [self.edge_time[e] for e in edges]
                if all(flags):
                    # As the simulator drives it: from inside a zone at once (then wait parked), otherwise just in time.
                    if any(self.road_bans.covers_node(ban, self.nodes[a]) for ban in bans):
                        leave[a] = max(leave[a], sum(times))
                    else:
                        arrive[b] = max(arrive[b], sum(times))
                    continue
                lead = 0
                while flags[lead]:
                    lead += 1
                trail = len(edges)
                while flags[trail - 1]:
                    trail -= 1
                leave[a] = max(leave[a], sum(times[:lead]))
                arrive[b] = max(arrive[b], sum(times[trail:]))
        return np.ceil(arrive), np.ceil(leave)


def forbidden_starts(
    bans: list[Ban], road_bans: RoadBans, node: int, service_s: int, arrive_s: float, leave_s: float
) -> tuple[Interval, ...]:
    """Service-start times forbidden to a restricted vehicle at one place.

    A start ``s`` is forbidden when ``[s - arrive_s, s + service_s +
    leave_s]`` meets a banned interval and the place is inside a banned
    zone or reached or left over banned roads.

    Parameters
    ----------
    bans
        Bans binding the vehicle class.
    road_bans
        Their resolution on the road graph.
    node
        The place's graph node.
    service_s
        Service time there.
    arrive_s, leave_s
        Longest banned stretches to arrive and to leave (see
        :meth:`TravelProfiles.stretches`).

    Returns
    -------
    tuple of Interval
        Forbidden service-start intervals (empty when the place is free).
    """
    inside = [b for b in bans if road_bans.covers_node(b, node)]
    if not inside and arrive_s <= 0 and leave_s <= 0:
        return ()
    hours = banned_hours(bans)
    return tuple(Interval(max(0, int(iv.start - service_s - leave_s)), int(iv.end + arrive_s) + 1) for iv in hours)
