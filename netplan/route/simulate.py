"""Replay routes with real times and check every rule, independently of any engine.

:func:`simulate` drives each route of a :class:`RouteSolution` visit by
visit. Travel times come from the problem's matrices, or — when a
:class:`RoadReplay` is given — from the road graph itself, edge by edge
along the path of each leg, so the engine's rounded matrices are not
trusted. It checks:

- every required stop served exactly once, optional ones at most once;
- vehicles: no more per type than available, right start and end depots,
  unloading only at the type's reload depots, and arriving at the end depot
  empty when the type requires a last unload (``unload_before_end``);
  starting and ending at one of the type's allowed depots; no more vehicles
  used than each fleet cap shared across types allows;
- load per trip and capacity dimension; no trip leaves before its stops'
  release times;
- service start within a stop's time windows, outside the times its
  ``forbidden`` entry bars to the vehicle's profile; depots within opening
  hours;
- shift start and end (including the last turnaround) and maximum duration;
- driver breaks taken within their windows;
- restricted traffic, from the bans themselves (zone polygons, banned
  ways, hours, vehicle weight and permit): no service inside a banned zone
  and no banned edge driven during a banned interval.

Driving policy (the same one the schedule CSV shows): a vehicle leaves as
soon as it is done; if it would arrive before a stop's window opens it
waits — at the destination, or, when the leg ends in a stretch that is
banned to it, at the last node before that stretch, and then drives the
stretch just in time (unless the whole leg is banned and starts inside a
zone: then it goes at once and waits, parked, on arrival).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from netplan.route.bans import Ban, RoadBans
from netplan.route.problem import Interval, RoutingProblem, fmt_time
from netplan.route.solution import Route, RouteSolution, Visit


class RouteCheckError(RuntimeError):
    """A routing result broke a rule: a bug in an engine or in netplan, never output silently."""


@dataclass
class RoadReplay:
    """What the simulator needs to drive legs on the real road graph.

    Attributes
    ----------
    bans
        The road-level view of the restrictions (which edges each ban
        covers, which nodes lie in banned zones), built from the polygons
        and way ids independently of the travel profiles.
    edge_time
        ``(u, v) -> seconds`` of the fastest edge from ``u`` to ``v``
        (raises KeyError if there is none).
    edge_length
        ``(u, v) -> metres`` of that edge.
    path
        ``(profile, location a, location b) -> [node, ...]``: the node path
        the travel profile used for the leg.
    """

    bans: RoadBans
    edge_time: Callable[[int, int], float]
    edge_length: Callable[[int, int], float]
    path: Callable[[str, int, int], Sequence[int]]


@dataclass
class Schedule:
    """The replayed day.

    Attributes
    ----------
    visits
        One row per visit: vehicle, trip, sequence, kind, name, arrival,
        service start and end, departure, waiting, load after the visit.
    legs
        One row per leg: vehicle, from and to visit, departure, arrival,
        distance, node path (road replay only), wait point.
    routes
        One row per vehicle used: distance, start, end, duration, trips,
        stops, load.
    violations
        Human-readable rule breaks (empty when the solution is valid).
    """

    visits: pd.DataFrame
    legs: pd.DataFrame
    routes: pd.DataFrame
    violations: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no rule is broken."""
        return not self.violations

    def raise_if_violations(self) -> None:
        """Raise :class:`RouteCheckError` listing the first violations."""
        if self.violations:
            more = f" (and {len(self.violations) - 10} more)" if len(self.violations) > 10 else ""
            raise RouteCheckError("routing result fails the schedule check: " + "; ".join(self.violations[:10]) + more)


def simulate(problem: RoutingProblem, solution: RouteSolution, roads: RoadReplay | None = None) -> Schedule:
    """Replay ``solution`` and check it against ``problem`` (see the module docstring).

    Parameters
    ----------
    problem
        The routing problem.
    solution
        Routes from any engine.
    roads
        Road-level replay: times edge by edge, and the bans checked on
        every edge driven and every place served. Without it the problem's
        duration and distance matrices are used and only the stops'
        ``forbidden`` times stand for the bans.

    Returns
    -------
    Schedule
        The replayed visits, legs and routes, and every violation.
    """
    sim = _Simulator(problem, solution, roads)
    for route in solution.routes:
        sim.route(route)
    sim.coverage()
    sim.caps()
    return Schedule(
        pd.DataFrame(sim.visit_rows), pd.DataFrame(sim.leg_rows), pd.DataFrame(sim.route_rows), sim.violations
    )


def replay_route(problem: RoutingProblem, route: Route) -> tuple[list[str], float, float]:
    """Replay one route on the problem's matrices: its violations, distance and working time (s).

    The route-level rules of :func:`simulate` only (not coverage or fleet caps, which concern a whole solution).
    """
    sim = _Simulator(problem, RouteSolution([route], [], 0.0, "replay", 0.0, True), None)
    sim.route(route)
    if not sim.route_rows:
        return sim.violations, 0.0, 0.0
    row = sim.route_rows[-1]
    return sim.violations, float(row["distance"]), float(row["end_s"] - row["start_s"])


class _Simulator:
    def __init__(self, problem: RoutingProblem, solution: RouteSolution, roads: RoadReplay | None):
        self.p, self.sol, self.roads = problem, solution, roads
        self.violations: list[str] = []
        self.visit_rows: list[dict] = []
        self.leg_rows: list[dict] = []
        self.route_rows: list[dict] = []
        self.served: dict[int, int] = {}
        self.used: set[tuple[int, int]] = set()

    def bad(self, text: str) -> None:
        self.violations.append(text)

    # --- one route -----------------------------------------------------------------------------------------
    def route(self, route: Route) -> None:  # noqa: C901 - the simulator's rules per visit, in order
        p = self.p
        if not 0 <= route.vehicle_type < len(p.vehicle_types):
            self.bad(f"route uses unknown vehicle type {route.vehicle_type}")
            return
        vt = p.vehicle_types[route.vehicle_type]
        label = f"{vt.name}#{route.vehicle + 1}"
        if not 0 <= route.vehicle < vt.count:
            self.bad(f"{label}: only {vt.count} vehicle(s) of type {vt.name!r}")
        if (route.vehicle_type, route.vehicle) in self.used:
            self.bad(f"{label}: has two routes")
        self.used.add((route.vehicle_type, route.vehicle))
        visits = route.visits
        if len(visits) < 2 or visits[0].kind != "depot" or visits[-1].kind != "depot":
            self.bad(f"{label}: a route must start and end at a depot")
            return
        if visits[0].index not in vt.starts():
            self.bad(
                f"{label}: starts at depot {p.depots[visits[0].index].name!r}, its type starts at "
                f"{' or '.join(repr(p.depots[d].name) for d in vt.starts())}"
            )
        if visits[-1].index not in vt.ends():
            self.bad(
                f"{label}: ends at depot {p.depots[visits[-1].index].name!r}, its type ends at "
                f"{' or '.join(repr(p.depots[d].name) for d in vt.ends())}"
            )
        applicable = self._applicable_bans(vt)
        breaks = sorted(vt.breaks, key=lambda b: b.window.start)
        taken: list[bool] = [False] * len(breaks)

        start_depot = p.depots[visits[0].index]
        # Leave when the engine planned to (a later start shortens the working day), never before the shift.
        planned = visits[0].start_s if visits[0].start_s is not None else 0
        t = float(max(vt.shift.start, start_depot.opens.start, planned))
        first_departure = t + start_depot.turnaround_s
        load = self._deliveries(visits, 0)
        trip, distance = 1, 0.0
        self._check_departure_load(label, vt, trip, load)
        self._row(label, vt, trip, 0, visits[0], arrive=t, start=t, end=first_departure, wait=0.0, load=load)
        self._check_depot_hours(label, visits[0].index, t, first_departure)
        self._check_zone_dwell(label, applicable, self._loc(visits[0]), t, first_departure, "the start depot")
        t = self._released(visits, 0, first_departure)
        for seq, (prev, visit) in enumerate(zip(visits, visits[1:]), start=1):
            t = self._take_breaks(breaks, taken, t)
            profile = vt.profile
            a, b = self._loc(prev), self._loc(visit)
            ready = t
            if visit.kind == "stop":
                stop = p.stops[visit.index]
                allowed = stop.allowed(profile, p.horizon)
                earliest = self._window_open(allowed, ready + self._leg_time(profile, a, b))
            else:
                earliest = None
            arrive, start, leg_km, wait = self._drive(label, applicable, profile, a, b, ready, earliest, seq)
            distance += leg_km
            if visit.kind == "stop":
                stop = p.stops[visit.index]
                self.served[visit.index] = self.served.get(visit.index, 0) + 1
                end = start + stop.service_s
                if not any(w.start <= start <= w.end for w in allowed):
                    self.bad(
                        f"{label}: serves {stop.name!r} at {fmt_time(start)}, outside the times open to it "
                        f"({', '.join(str(w) for w in allowed) or 'none'}; windows "
                        f"{', '.join(str(w) for w in stop.windows) or 'any'})"
                    )
                self._check_zone_dwell(label, applicable, stop.location, start, end, f"stop {stop.name!r}")
                if stop.delivery:
                    load = load - np.asarray(stop.delivery, dtype=float)
                load = load + np.asarray(stop.demand, dtype=float)
                over = [
                    f"{d} {load[i]:g} > {vt.capacity[i]}"
                    for i, d in enumerate(p.dimensions)
                    if load[i] > vt.capacity[i]
                ]
                if over:
                    self.bad(f"{label}: trip {trip} over capacity after {stop.name!r} ({', '.join(over)})")
                self._row(label, vt, trip, seq, visit, arrive=arrive, start=start, end=end, wait=wait, load=load)
                t = end
            else:
                depot = p.depots[visit.index]
                is_last = seq == len(visits) - 1
                if not is_last and visit.index not in vt.reload_depots:
                    self.bad(f"{label}: unloads at depot {depot.name!r}, not one of its reload depots")
                # The required last unload (the visit just before the end depot) is not a reload.
                final_unload = vt.unload_before_end and seq == len(visits) - 2
                if not is_last and not final_unload and vt.max_reloads is not None and trip > vt.max_reloads:
                    self.bad(f"{label}: more than {vt.max_reloads} reloads")
                if is_last and vt.unload_before_end and np.any(load > 0):
                    self.bad(
                        f"{label}: arrives at its end depot {depot.name!r} loaded "
                        f"({', '.join(f'{d} {q:g}' for d, q in zip(p.dimensions, load))}) without the required "
                        "last unload at one of its reload depots"
                    )
                start = max(arrive, float(depot.opens.start))
                end = start + depot.turnaround_s
                self._check_depot_hours(label, visit.index, start, end)
                self._check_zone_dwell(label, applicable, depot.location, start, end, f"depot {depot.name!r}")
                self._row(
                    label, vt, trip, seq, visit, arrive=arrive, start=start, end=end, wait=start - arrive, load=load
                )
                load = self._deliveries(visits, seq)
                trip += 1
                self._check_departure_load(label, vt, trip, load)
                t = self._released(visits, seq, end)
        finish = t
        for brk, done in zip(breaks, taken):
            if not done:
                self.bad(f"{label}: break {brk.window} ({brk.duration_s // 60} min) not taken")
        if finish > vt.shift.end + 1e-6:
            self.bad(f"{label}: finishes at {fmt_time(finish)}, after its shift ends at {fmt_time(vt.shift.end)}")
        if (
            vt.max_duration_s is not None
            and finish - first_departure + start_depot.turnaround_s > vt.max_duration_s + 1e-6
        ):
            self.bad(
                f"{label}: works {(finish - first_departure) / 3600:.2f} h, more than {vt.max_duration_s / 3600:.2f} h"
            )
        served = len(route.stops())
        self.route_rows.append(
            {
                "vehicle": label,
                "vehicle_type": vt.name,
                "type_index": route.vehicle_type,
                "vehicle_index": route.vehicle,
                "profile": vt.profile,
                "permit": vt.permit,
                "trips": len(route.trips()),
                "stops": served,
                "distance": distance,
                "start_s": first_departure - start_depot.turnaround_s,
                "end_s": finish,
                "duration_h": (finish - first_departure + start_depot.turnaround_s) / 3600.0,
                "load": float(sum(sum(p.stops[i].demand[:1]) for i in route.stops())),
            }
        )

    # --- legs ----------------------------------------------------------------------------------------------
    def _leg_time(self, profile: str, a: int, b: int) -> float:
        if self.roads is None:
            return float(self.p.profiles[profile].duration[a, b])
        path = self._path(profile, a, b)
        return float(sum(self._edge_time(u, v) for u, v in zip(path, path[1:])))

    def _drive(
        self, label: str, bans: list[Ban], profile: str, a: int, b: int, ready: float, earliest: float | None, seq: int
    ) -> tuple[float, float, float, float]:
        """Drive leg a->b leaving at ``ready``; return arrival, service start, distance, wait."""
        if self.roads is None:
            travel = float(self.p.profiles[profile].duration[a, b])
            arrive = ready + travel
            start = max(arrive, earliest) if earliest is not None else arrive
            distance = float(self.p.profiles[profile].distance[a, b])
            self._leg(label, seq, a, b, depart=ready, arrive=arrive, distance=distance, wait=start - arrive)
            return arrive, start, distance, start - arrive
        path = list(self._path(profile, a, b))
        edges = list(zip(path, path[1:]))
        times = [self._edge_time(u, v) for u, v in edges]
        lengths = [self.roads.edge_length(u, v) for u, v in edges]
        travel = sum(times)
        arrive_asap = ready + travel
        start = max(arrive_asap, earliest) if earliest is not None else arrive_asap
        wait = start - arrive_asap
        # Where to wait: before the last stretch of edges banned to this vehicle, so it is driven just in time.
        banned_flags = [bool(self._edge_bans(bans, u, v)) for u, v in edges]
        cut = len(edges)
        while cut > 0 and banned_flags[cut - 1]:
            cut -= 1
        if cut == 0 and edges and any(self.roads.bans.covers_node(ban, path[0]) for ban in bans):
            cut = len(edges)  # leaving a place inside a zone over banned roads only: go at once, wait parked on arrival
        clock = ready
        enter_times = []
        for i, dt in enumerate(times):
            if i == cut:
                clock += wait
            enter_times.append(clock)
            clock += dt
        if cut == len(edges):
            arrive = clock
            arrival_wait = wait
        else:
            arrive = clock
            arrival_wait = 0.0
        for (u, v), t0, dt in zip(edges, enter_times, times):
            for ban in self._edge_bans(bans, u, v):
                for iv in ban.intervals:
                    if t0 < iv.end and iv.start < t0 + dt:
                        self.bad(
                            f"{label}: drives banned road {u}->{v} ({ban.name}) at {fmt_time(t0)}-{fmt_time(t0 + dt)}, "
                            f"banned {iv}"
                        )
        self._leg(
            label,
            seq,
            a,
            b,
            depart=ready,
            arrive=arrive,
            distance=float(sum(lengths)),
            wait=wait,
            wait_node=path[cut] if cut < len(path) else path[-1],
            path=path,
            enter_s=enter_times,
        )
        return arrive, max(arrive, start), float(sum(lengths)), arrival_wait

    def _leg(
        self,
        label: str,
        seq: int,
        a: int,
        b: int,
        *,
        depart: float,
        arrive: float,
        distance: float,
        wait: float,
        **road: object,
    ) -> None:
        """Record one driven leg; a replay on the roads adds where it waited, its path and when it entered each edge."""
        self.leg_rows.append(
            {
                "vehicle": label,
                "seq": seq,
                "from": a,
                "to": b,
                "depart_s": depart,
                "arrive_s": arrive,
                "distance": distance,
                "wait_s": wait,
                **road,
            }
        )

    def _path(self, profile: str, a: int, b: int) -> list[int]:
        assert self.roads is not None
        na, nb = self.p.locations[a].node, self.p.locations[b].node
        assert na is not None and nb is not None  # a road replay is built only for places on the road graph
        path = list(self.roads.path(profile, a, b))
        if not path or path[0] != na or path[-1] != nb:
            self.bad(
                f"leg {self.p.locations[a].name} -> {self.p.locations[b].name}: the path does not join the two places"
            )
            return [na, nb] if na != nb else [na]
        return path

    def _edge_time(self, u: int, v: int) -> float:
        assert self.roads is not None
        try:
            return self.roads.edge_time(u, v)
        except KeyError:
            self.bad(f"the path uses {u}->{v}, which is not a drivable road")
            return 0.0

    def _edge_bans(self, bans: list[Ban], u: int, v: int) -> list[Ban]:
        if not bans or self.roads is None:
            return []
        return [ban for ban in bans if self.roads.bans.covers_edge(ban, u, v)]

    # --- checks --------------------------------------------------------------------------------------------
    def _applicable_bans(self, vt) -> list[Ban]:
        if self.roads is None:
            return []
        return [ban for ban in self.roads.bans.bans if ban.applies_to(vt.weight_t, vt.permit)]

    def _check_zone_dwell(
        self, label: str, bans: list[Ban], location: int, start: float, end: float, what: str
    ) -> None:
        if not bans or self.roads is None:
            return
        node = self.p.locations[location].node
        for ban in bans:
            if not self.roads.bans.covers_node(ban, node):
                continue
            for iv in ban.intervals:
                if start < iv.end and iv.start < end and end > start:
                    self.bad(
                        f"{label}: works at {what} inside banned zone {ban.name!r} at "
                        f"{fmt_time(start)}-{fmt_time(end)}, banned {iv}"
                    )

    def _check_depot_hours(self, label: str, depot: int, start: float, end: float) -> None:
        opens = self.p.depots[depot].opens
        if start < opens.start or end > opens.end:
            self.bad(
                f"{label}: at depot {self.p.depots[depot].name!r} {fmt_time(start)}-{fmt_time(end)}, "
                f"outside its hours {opens}"
            )

    def _window_open(self, windows: Sequence[Interval], arrive: float) -> float:
        if not windows:
            return arrive
        for w in sorted(windows):
            if arrive <= w.end:
                return max(arrive, float(w.start))
        return arrive

    def _check_departure_load(self, label: str, vt, trip: int, load: np.ndarray) -> None:
        over = [
            f"{d} {load[i]:g} > {vt.capacity[i]}" for i, d in enumerate(self.p.dimensions) if load[i] > vt.capacity[i]
        ]
        if over:
            self.bad(f"{label}: trip {trip} leaves over capacity with its deliveries ({', '.join(over)})")

    def _deliveries(self, visits: tuple[Visit, ...], depot_seq: int) -> np.ndarray:
        """Load on leaving the depot visit at ``depot_seq``: what the next trip's stops take delivery of."""
        load = np.zeros(len(self.p.dimensions))
        for visit in visits[depot_seq + 1 :]:
            if visit.kind == "depot":
                break
            delivery = self.p.stops[visit.index].delivery
            if delivery:
                load += np.asarray(delivery, dtype=float)
        return load

    def _released(self, visits: tuple[Visit, ...], depot_seq: int, t: float) -> float:
        """Departure from the depot visit at ``depot_seq``: not before the next trip's loads are released."""
        release = 0
        for visit in visits[depot_seq + 1 :]:
            if visit.kind == "depot":
                break
            release = max(release, self.p.stops[visit.index].release_s)
        return max(t, float(release))

    def _take_breaks(self, breaks, taken: list[bool], t: float) -> float:
        for i, brk in enumerate(breaks):
            if not taken[i] and t >= brk.window.start:
                if t > brk.window.end:
                    continue
                t += brk.duration_s
                taken[i] = True
        return t

    def caps(self) -> None:
        for cap in self.p.fleet_caps:
            used = {(t, k) for t, k in self.used if t in cap.types}
            if len(used) > cap.max_vehicles:
                names = sorted({self.p.vehicle_types[t].name for t in cap.types})
                self.bad(
                    f"fleet cap {cap.name!r}: {len(used)} vehicles of {', '.join(names)} used, at most "
                    f"{cap.max_vehicles} allowed"
                )

    def coverage(self) -> None:
        dropped = set(self.sol.dropped)
        for i, stop in enumerate(self.p.stops):
            n = self.served.get(i, 0)
            if n > 1:
                self.bad(f"stop {stop.name!r} served {n} times")
            if n and i in dropped:
                self.bad(f"stop {stop.name!r} reported dropped but served")
            if n == 0 and i not in dropped:
                self.bad(f"stop {stop.name!r} neither served nor reported dropped")
            if n == 0 and stop.required:
                self.bad(f"required stop {stop.name!r} not served")

    def _loc(self, visit: Visit) -> int:
        return self.p.stops[visit.index].location if visit.kind == "stop" else self.p.depots[visit.index].location

    def _row(self, label, vt, trip, seq, visit: Visit, *, arrive, start, end, wait, load) -> None:
        name = self.p.stops[visit.index].name if visit.kind == "stop" else self.p.depots[visit.index].name
        row = {
            "vehicle": label,
            "vehicle_type": vt.name,
            "trip": trip,
            "seq": seq,
            "kind": visit.kind,
            "index": visit.index,
            "name": name,
            "location": self._loc(visit),
            "arrive_s": arrive,
            "start_s": start,
            "end_s": end,
            "wait_s": wait,
        }
        for d, q in zip(self.p.dimensions, load):
            row[f"load_{d}"] = float(q)
        self.visit_rows.append(row)
