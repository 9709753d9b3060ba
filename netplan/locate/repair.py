"""Closing transfer stations that a bottom-up plan opened only for a few stranded collection points.

Bottom-up siting chooses the collection points first and then the stations that can take them. A collection
point at the edge of the city may reach just one station within the haul radius, and that station is then opened
for it alone (on the synthetic N = 500 city one such station cost 0.8 M CNY/yr, most of a 6 % gap). No level
is wrong on its own: the level above never saw that a slightly different collection point would have
spared it a station.

:func:`close_stations` tries, station by station, to close an open transfer station: its collection points move
to other open stations that reach them with room to spare, and a collection point that reaches no other station
closes too, its demand points moving to open collection points (or to newly opened candidates) that do. A move
is kept only when it makes the whole network cheaper and every capacity, count and radius still holds. Every step
is a deterministic greedy in a fixed order, so the result depends only on the plan it starts from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from netplan.locate.network_model import TieredNetwork

_EPS = 1e-9


class _Adjacency:
    """Arcs of one level grouped by source: ``targets(i)`` and ``distances(i)`` in destination order."""

    def __init__(self, src: np.ndarray, dst: np.ndarray, distance: np.ndarray, sources: int) -> None:
        order = np.lexsort((dst, src))
        self.dst, self.distance = dst[order], distance[order]
        self.start = np.searchsorted(src[order], np.arange(sources + 1))

    def targets(self, i: int) -> np.ndarray:
        return self.dst[self.start[i] : self.start[i + 1]]

    def distances(self, i: int) -> np.ndarray:
        return self.distance[self.start[i] : self.start[i + 1]]

    def length(self, i: int, j: int) -> float:
        """Distance of the arc ``(i, j)`` (the arc must exist)."""
        row = self.targets(i)
        k = int(np.searchsorted(row, j))
        return float(self.distances(i)[k])


@dataclass
class _State:
    """The plan being repaired: open masks, assignment, links and the loads and residual room they leave."""

    open_: list[np.ndarray]
    assignment: np.ndarray
    links: list[np.ndarray]
    loads: list[np.ndarray]
    room: list[np.ndarray]


@dataclass(frozen=True)
class StationRepair:
    """What :func:`close_stations` did: stations closed, collection points closed and opened, cost saved."""

    stations_closed: int
    points_closed: int
    points_opened: int
    saved: float


def close_stations(
    net: TieredNetwork,
    open_: list[np.ndarray],
    assignment: np.ndarray,
    links: list[np.ndarray],
    *,
    passes: int = 3,
) -> tuple[list[np.ndarray], np.ndarray, list[np.ndarray], StationRepair]:
    """Close the transfer stations (tier 2) whose work other stations can take more cheaply.

    Parameters
    ----------
    net
        The network model the plan belongs to (three or more tiers; with fewer nothing changes).
    open_, assignment, links
        A feasible plan as :meth:`TieredNetwork.evaluate` takes it.
    passes
        Most passes over the open stations (each pass tries every open station once, least loaded first).

    Returns
    -------
    tuple
        The repaired ``open_``, ``assignment``, ``links`` (copies; the inputs are left as they are) and a
        :class:`StationRepair` summary.
    """
    if len(net.tiers) < 2 or not np.any(open_[1]):
        return open_, assignment, links, StationRepair(0, 0, 0, 0.0)
    loads = _loads(net, assignment, links)
    state = _State(
        [o.copy() for o in open_],
        assignment.copy(),
        [x.copy() for x in links],
        [x.copy() for x in loads],
        [t.capacity - x for t, x in zip(net.tiers, loads, strict=True)],
    )
    walk = _Adjacency(net.arcs[0].src, net.arcs[0].dst, net.arcs[0].distance, len(net.demand))
    haul = _Adjacency(net.arcs[1].src, net.arcs[1].dst, net.arcs[1].distance, net.tiers[0].size)
    uphill = [_Adjacency(a.src, a.dst, a.distance, net.tiers[t].size) for t, a in enumerate(net.arcs[2:], start=1)]
    move = _Mover(net, state, walk, haul, uphill)
    closed = points_closed = points_opened = 0
    saved = 0.0
    for _ in range(passes):
        changed = False
        for station in np.flatnonzero(state.open_[1])[np.argsort(state.loads[1][state.open_[1]], kind="stable")]:
            result = move.try_close(int(station))
            if result is not None:
                closed += 1
                points_closed += result[0]
                points_opened += result[1]
                saved += result[2]
                changed = True
        if not changed:
            break
    return state.open_, state.assignment, state.links, StationRepair(closed, points_closed, points_opened, saved)


class _Mover:
    """One station closure at a time on a :class:`_State`, committed only when it pays."""

    def __init__(
        self,
        net: TieredNetwork,
        state: _State,
        walk: _Adjacency,
        haul: _Adjacency,
        uphill: list[_Adjacency],
    ) -> None:
        self.net, self.state, self.walk, self.haul, self.uphill = net, state, walk, haul, uphill
        self.access = net.access * net.days / 1e6
        self.per_kg_m = [h * net.days / 1e6 for h in net.haul]

    def _path_above(self, station: int) -> tuple[list[int], float]:
        """The sites a kilogram passes through above ``station`` (one per tier above 2) and its cost per kg."""
        sites, cost, here = [], 0.0, station
        for level, adj in enumerate(self.uphill, start=1):
            nxt = int(self.state.links[level][here])
            cost += self.per_kg_m[level] * adj.length(here, nxt)
            sites.append(nxt)
            here = nxt
        return sites, cost

    def _fits_above(self, station: int, kg: float, room: list[np.ndarray]) -> bool:
        sites, _ = self._path_above(station)
        return all(room[level][s] >= kg - _EPS for level, s in enumerate(sites, start=2))

    def _take(self, station: int, kg: float, room: list[np.ndarray]) -> None:
        room[1][station] -= kg
        for level, s in enumerate(self._path_above(station)[0], start=2):
            room[level][s] -= kg

    def _station_for(self, point: int, kg: float, closing: int, room: list[np.ndarray]) -> tuple[int, float] | None:
        """The cheapest open station other than ``closing`` that takes ``kg`` from collection point ``point``."""
        best: tuple[float, int] | None = None
        for s, d in zip(self.haul.targets(point), self.haul.distances(point), strict=True):
            s = int(s)
            if s == closing or not self.state.open_[1][s] or room[1][s] < kg - _EPS:
                continue
            if not self._fits_above(s, kg, room):
                continue
            cost = kg * (self.per_kg_m[0] * float(d) + self._path_above(s)[1])
            if best is None or cost < best[0] - _EPS:
                best = (cost, s)
        return None if best is None else (best[1], best[0])

    def try_close(self, station: int) -> tuple[int, int, float] | None:
        """Close ``station`` if that makes the network cheaper; return (points closed, opened, saving) or None."""
        net, st = self.net, self.state
        tier2 = net.tiers[1]
        if tier2.fixed_open[station] or int(st.open_[1].sum()) - 1 < tier2.min_count:
            return None
        room = [r.copy() for r in st.room]
        room[1][station] = -np.inf
        links0 = st.links[0].copy()
        served = np.flatnonzero(st.open_[0] & (links0 == station))
        served = served[np.argsort(-st.loads[0][served], kind="stable")]
        delta = -float(tier2.open_cost[station])
        stranded = []
        for point in served:
            kg = float(st.loads[0][point])
            before = kg * (self.per_kg_m[0] * self.haul.length(int(point), station) + self._path_above(station)[1])
            found = self._station_for(int(point), kg, station, room)
            if found is None:
                stranded.append(int(point))
                continue
            links0[point], cost = found
            self._take(found[0], kg, room)
            delta += cost - before
        rehomed = self._rehome(stranded, station, links0, room)
        if rehomed is None:
            return None
        assignment, open0, extra, opened = rehomed
        delta += extra
        for lost in stranded:
            kg = float(st.loads[0][lost])
            delta -= kg * (self.per_kg_m[0] * self.haul.length(lost, station) + self._path_above(station)[1])
        if delta > -1e-6 * max(1.0, float(tier2.open_cost[station])):
            return None
        self._commit(station, open0, assignment, links0)
        return len(stranded), opened, -delta

    def _rehome(
        self, stranded: list[int], closing: int, links0: np.ndarray, room: list[np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray, float, int] | None:
        """Close the stranded collection points and move their demand points; None when one finds no place."""
        net, st = self.net, self.state
        tier1 = net.tiers[0]
        open0 = st.open_[0].copy()
        assignment = st.assignment.copy()
        extra, opened = 0.0, 0
        if any(tier1.fixed_open[p] for p in stranded):
            return None
        for p in stranded:
            open0[p] = False
            links0[p] = -1
            extra -= float(tier1.open_cost[p])
        count = int(open0.sum())
        moving = np.flatnonzero(np.isin(assignment, stranded))
        moving = moving[np.argsort(-net.demand[moving], kind="stable")]
        for i in moving:
            kg = float(net.demand[i])
            extra -= kg * self.access * self.walk.length(int(i), int(assignment[i]))
            best: tuple[float, int, int] | None = None
            for j, d in zip(self.walk.targets(int(i)), self.walk.distances(int(i)), strict=True):
                j = int(j)
                if j in stranded or room[0][j] < kg - _EPS:
                    continue
                new = not open0[j]
                if new and (tier1.max_count is not None and count + 1 > tier1.max_count):
                    continue
                link = int(links0[j]) if not new else -1
                if new:
                    found = self._station_for(j, kg, closing, room)
                    if found is None:
                        continue
                    link, up = found
                else:
                    if not self._fits_above(link, kg, room) or room[1][link] < kg - _EPS:
                        continue
                    up = kg * (self.per_kg_m[0] * self.haul.length(j, link) + self._path_above(link)[1])
                cost = kg * self.access * float(d) + up + (float(tier1.open_cost[j]) if new else 0.0)
                if best is None or cost < best[0] - _EPS:
                    best = (cost, j, link)
            if best is None:
                return None
            cost, j, link = best
            if not open0[j]:
                open0[j], links0[j] = True, link
                count += 1
                opened += 1
            assignment[i] = j
            room[0][j] -= kg
            self._take(link, kg, room)
            extra += cost
        if int(open0.sum()) < tier1.min_count:
            return None
        return assignment, open0, extra, opened

    def _commit(self, station: int, open0: np.ndarray, assignment: np.ndarray, links0: np.ndarray) -> None:
        st, net = self.state, self.net
        st.open_[0], st.assignment, st.links[0] = open0, assignment, links0
        st.open_[1][station] = False
        if len(st.links) > 1:
            st.links[1][station] = -1
        st.loads = _loads(net, st.assignment, st.links)
        st.room = [t.capacity - x for t, x in zip(net.tiers, st.loads, strict=True)]


def _loads(net: TieredNetwork, assignment: np.ndarray, links: list[np.ndarray]) -> list[np.ndarray]:
    """kg/day through every site, as :meth:`TieredNetwork.evaluate` sums them."""
    loads = [np.zeros(t.size) for t in net.tiers]
    served = assignment >= 0
    np.add.at(loads[0], assignment[served], net.demand[served])
    for t, nxt in enumerate(links):
        src = np.flatnonzero(nxt >= 0)
        np.add.at(loads[t + 1], nxt[src], loads[t][src])
    return loads
