"""Stops an engine left unserved: serve those a vehicle has time and room for, and say why the rest are left.

A metaheuristic may leave an optional stop out although serving it costs less
than its penalty (it stopped in a local optimum, or started from a solution
without it). :func:`fill_drops` inserts every such stop at its cheapest place
that keeps the route feasible (into a trip, as a new trip through a reload
depot, or on a vehicle left at the depot), as long as that costs less than the
stop's penalty; :func:`explain_drops` gives each stop still left a reason a
planner can act on:

- ``capacity``: its load exceeds every vehicle's capacity;
- ``window``: no vehicle can reach it within its windows (outside its bans)
  and return within its shift, even with nothing else to do;
- ``cost``: a vehicle could serve it, but only for more than its penalty;
- ``shift``: every vehicle that could serve it has no time left in its shift
  (or room in a trip) for it.

Feasibility is judged with the schedule simulator's own driving policy on the
problem's matrices (leave when done, wait at a stop for its allowed times,
unload at depots within their hours, finish within the shift and working
time, release times, reload limits). Vehicle types with driver breaks are left
alone. The engine entry point (:func:`netplan.route.engines.solve`) applies
:func:`fill_drops` to every engine's result and keeps it only when the
simulator accepts it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from netplan.route.problem import RoutingProblem, VehicleType, fmt_time
from netplan.route.solution import Route, RouteSolution, Visit

__all__ = ["Drop", "explain_drops", "fill_drops"]


@dataclass(frozen=True)
class Drop:
    """Why one stop is left unserved.

    Attributes
    ----------
    stop
        Index into the problem's stops.
    reason
        ``"capacity"``, ``"window"``, ``"cost"`` or ``"shift"`` (see the module docstring).
    detail
        One sentence for the planner.
    cost
        For ``"cost"``: the cheapest feasible way to serve it, in the problem's cost unit.
    """

    stop: int
    reason: Literal["capacity", "window", "cost", "shift"]
    detail: str
    cost: int | None = None


def _times(problem: RoutingProblem, vt: VehicleType, visits: list[Visit], start_s: float) -> list[float] | None:
    """Service (turnaround) start of every visit under the simulator's policy, or None if a rule is broken."""
    p = problem
    dur = p.profiles[vt.profile].duration
    first = p.depots[visits[0].index]
    t = float(max(vt.shift.start, first.opens.start, start_s))
    t0 = t
    if t + first.turnaround_s > first.opens.end:
        return None
    times = [t]
    t = _release(p, visits, 0, t + first.turnaround_s)
    here = first.location
    load = np.zeros(len(p.dimensions))
    capacity = np.asarray(vt.capacity)
    reloads = 0
    for seq, visit in enumerate(visits[1:], start=1):
        if visit.kind == "stop":
            stop = p.stops[visit.index]
            arrive = t + float(dur[here, stop.location])
            allowed = stop.allowed(vt.profile, p.horizon)
            start = next((max(arrive, float(w.start)) for w in allowed if arrive < w.end), None)
            if start is None:
                return None
            load += stop.demand
            if np.any(load > capacity):
                return None
            t, here = start + stop.service_s, stop.location
        else:
            depot = p.depots[visit.index]
            last = seq == len(visits) - 1
            if not last:
                # The required last unload (just before the end depot) is not a reload.
                reloads += 0 if vt.unload_before_end and seq == len(visits) - 2 else 1
                if visit.index not in vt.reload_depots or (vt.max_reloads is not None and reloads > vt.max_reloads):
                    return None
            elif visit.index not in vt.ends() or (vt.unload_before_end and np.any(load > 0)):
                return None
            start = max(t + float(dur[here, depot.location]), float(depot.opens.start))
            if start + depot.turnaround_s > depot.opens.end:
                return None
            t, here = start + depot.turnaround_s, depot.location
            load[:] = 0
            if not last:
                t = _release(p, visits, seq, t)
        times.append(start)
    if t > vt.shift.end or (vt.max_duration_s is not None and t - t0 > vt.max_duration_s):
        return None
    times.append(t)  # the finish, after the last turnaround
    return times


def _release(problem: RoutingProblem, visits: list[Visit], depot_seq: int, t: float) -> float:
    release = 0
    for visit in visits[depot_seq + 1 :]:
        if visit.kind == "depot":
            break
        release = max(release, problem.stops[visit.index].release_s)
    return max(t, float(release))


def _cost(problem: RoutingProblem, vt: VehicleType, visits: list[Visit], times: list[float]) -> float:
    """Distance cost plus working-time cost (first arrival to finish), as PyVRP counts them."""
    dist = problem.profiles[vt.profile].distance
    locs = [v.location(problem) for v in visits]
    metres = sum(int(dist[a, b]) for a, b in zip(locs, locs[1:]))
    return metres * vt.distance_cost + (times[-1] - times[0]) * vt.duration_cost


def _evaluate(
    problem: RoutingProblem, vt: VehicleType, visits: list[Visit], planned: float
) -> tuple[float, list[float]] | None:
    """Cost and times of a route, starting when planned or, failing that, as early as the shift allows."""
    for start in dict.fromkeys((planned, float(vt.shift.start))):
        times = _times(problem, vt, visits, start)
        if times is not None:
            return _cost(problem, vt, visits, times), times
    return None


def _candidates(vt: VehicleType, visits: list[Visit], stop: int) -> list[list[Visit]]:
    """Every way to put ``stop`` into a route: at any place of a trip, or as a new last trip through a reload depot.

    With a required last unload (``unload_before_end``) the route ends ``... unload, end``: the new trip follows that
    unload, which becomes a reload, and ends at an unload depot of its own before the drive home.
    """
    new = Visit("stop", stop)
    out = [visits[:i] + [new] + visits[i:] for i in range(1, len(visits))]
    for depot in dict.fromkeys(vt.reload_depots):
        if vt.unload_before_end:
            out.append(visits[:-1] + [new, Visit("depot", depot)] + visits[-1:])
        else:
            out.append(visits[:-1] + [Visit("depot", depot), new] + visits[-1:])
    return out


def fill_drops(  # noqa: C901 - greedy loop sharing state with its closures
    problem: RoutingProblem, solution: RouteSolution
) -> tuple[RouteSolution, dict[int, int]]:
    """Serve the dropped optional stops that a vehicle has time and room for, cheapest first.

    Parameters
    ----------
    problem
        The routing problem.
    solution
        An engine's solution.

    Returns
    -------
    tuple
        The solution with the inserted stops (the same object when none could
        be added; ``info["filled"]`` names them otherwise), and per stop still
        dropped the cost of its cheapest feasible insertion (stops no vehicle
        can take are absent).
    """
    p = problem
    dropped = [s for s in solution.dropped if not p.stops[s].required]
    if not dropped:
        return solution, {}
    routes = [list(r.visits) for r in solution.routes]
    meta = [(r.vehicle_type, r.vehicle) for r in solution.routes]
    base: list[tuple[float, list[float]] | None] = []
    for route, visits in zip(solution.routes, routes):
        vt = p.vehicle_types[route.vehicle_type]
        base.append(None if vt.breaks else _evaluate(p, vt, visits, float(visits[0].start_s or 0)))
    used = {t: sum(1 for tt, _ in meta if tt == t) for t in range(len(p.vehicle_types))}

    def best_in(s: int, r: int) -> tuple[float, list[Visit], list[float]] | None:
        entry = base[r]
        if entry is None:
            return None
        vt = p.vehicle_types[meta[r][0]]
        old_cost, old_times = entry
        found = None
        for visits in _candidates(vt, routes[r], s):
            ev = _evaluate(p, vt, visits, old_times[0])
            if ev is not None and (found is None or ev[0] - old_cost < found[0]):
                found = (ev[0] - old_cost, visits, ev[1])
        return found

    def capped(t: int) -> bool:
        return any(
            t in cap.types and sum(used[tt] for tt in set(cap.types)) >= cap.max_vehicles for cap in p.fleet_caps
        )

    def best_new(s: int) -> tuple[float, int, list[Visit], list[float]] | None:
        found = None
        for t, vt in enumerate(p.vehicle_types):
            if vt.breaks or used[t] >= vt.count or capped(t):
                continue
            unloads = [[Visit("depot", u)] for u in sorted(set(vt.reload_depots))] if vt.unload_before_end else [[]]
            for start, end, unload in ((a, b, u) for a in vt.starts() for b in vt.ends() for u in unloads):
                visits = [Visit("depot", start), Visit("stop", s), *unload, Visit("depot", end)]
                ev = _evaluate(p, vt, visits, float(vt.shift.start))
                if ev is not None and (found is None or ev[0] + vt.fixed_cost < found[0]):
                    found = (ev[0] + vt.fixed_cost, t, visits, ev[1])
        return found

    table = {(s, r): best_in(s, r) for s in dropped for r in range(len(routes))}
    filled: list[int] = []
    added = 0.0
    while dropped:
        # (extra cost, stop, route or None, visits, times, type); only insertions worth their stop
        choice: tuple[float, int, int | None, list[Visit], list[float], int] | None = None
        for s in dropped:
            worth = p.stops[s].penalty
            for r in range(len(routes)):
                hit = table[(s, r)]
                if hit is not None and hit[0] < worth and (choice is None or (hit[0], s) < (choice[0], choice[1])):
                    choice = (hit[0], s, r, hit[1], hit[2], meta[r][0])
            new = best_new(s)
            if new is not None and new[0] < worth and (choice is None or (new[0], s) < (choice[0], choice[1])):
                choice = (new[0], s, None, new[2], new[3], new[1])
        if choice is None:
            break
        extra, s, into, visits, times, t = choice
        added += extra
        if into is None:
            routes.append(visits)
            meta.append((t, _free_number(meta, t)))
            base.append((extra - p.vehicle_types[t].fixed_cost, times))
            used[t] += 1
            r = len(routes) - 1
        else:
            r = into
            routes[r] = visits
            prev = base[r]
            assert prev is not None  # table hits exist only for routes with a base evaluation
            base[r] = (prev[0] + extra, times)
        dropped.remove(s)
        filled.append(s)
        for other in dropped:
            table[(other, r)] = best_in(other, r)
    if not filled:
        return solution, _cheapest(p, dropped, table, best_new, len(routes))
    out_routes = []
    for (t, k), visits, ev in zip(meta, routes, base):
        stamps: Sequence[float | None] = ev[1] if ev is not None else [v.start_s for v in visits]
        out_routes.append(
            Route(
                t,
                k,
                tuple(Visit(v.kind, v.index, None if tt is None else int(round(tt))) for v, tt in zip(visits, stamps)),
            )
        )
    info = {**solution.info, "filled": [p.stops[s].name for s in filled]}
    saved = sum(p.stops[s].penalty for s in filled)
    out = replace(
        solution, routes=out_routes, dropped=sorted(dropped), cost=float(solution.cost - saved + added), info=info
    )
    return out, _cheapest(p, dropped, table, best_new, len(routes))


def _free_number(meta: list[tuple[int, int]], t: int) -> int:
    taken = {k for tt, k in meta if tt == t}
    return next(k for k in range(len(taken) + 1) if k not in taken)


def _cheapest(problem, dropped, table, best_new, n_routes) -> dict[int, int]:
    out = {}
    for s in dropped:
        costs = [table[(s, r)][0] for r in range(n_routes) if table.get((s, r)) is not None]
        new = best_new(s)
        if new is not None:
            costs.append(new[0])
        if costs:
            out[s] = int(round(min(costs)))
    return out


def explain_drops(
    problem: RoutingProblem,
    solution: RouteSolution,
    cheapest: dict[int, int] | None = None,
    cost_unit: str = "",
    units_per_cost: float = 1.0,
) -> list[Drop]:
    """A reason for every stop the solution leaves unserved.

    Parameters
    ----------
    problem
        The routing problem.
    solution
        The solution (after :func:`fill_drops`).
    cheapest
        Per dropped stop, the cost of its cheapest feasible insertion (from
        :func:`fill_drops`); stops absent from it fit nowhere.
    cost_unit, units_per_cost
        How to show costs (e.g. ``"CNY"`` and 10,000 cost units per CNY).

    Returns
    -------
    list of Drop
        One per dropped stop, in stop order.
    """
    cheapest = cheapest or {}
    out = []
    for s in sorted(solution.dropped):
        stop = problem.stops[s]
        fits = [vt for vt in problem.vehicle_types if all(q <= c for q, c in zip(stop.demand, vt.capacity))]
        if not fits:
            biggest = max(vt.capacity for vt in problem.vehicle_types)
            out.append(
                Drop(
                    s,
                    "capacity",
                    f"{stop.name}: its load {stop.demand} exceeds every vehicle's capacity (largest {biggest})",
                )
            )
            continue
        why = problem.unservable(stop)
        if why is not None:
            out.append(
                Drop(
                    s,
                    "window",
                    f"{stop.name}: no vehicle can reach it within its windows and return within its shift ({why})",
                )
            )
        elif s in cheapest:
            c = cheapest[s]
            more, penalty = _money(c / units_per_cost, cost_unit), _money(stop.penalty / units_per_cost, cost_unit)
            out.append(
                Drop(
                    s,
                    "cost",
                    f"{stop.name}: serving it would cost {more} more, above its drop penalty of {penalty}",
                    cost=c,
                )
            )
        else:
            ends = ", ".join(sorted({fmt_time(vt.shift.end) for vt in fits}))
            out.append(
                Drop(
                    s,
                    "shift",
                    f"{stop.name}: no vehicle has time left in its shift (ending {ends}) and room in a trip for it",
                )
            )
    return out


def _money(value: float, unit: str) -> str:
    text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"
    return f"{text} {unit}".strip()
