"""An independent check that no stop is left unserved while a vehicle has time and room for it.

The engines leave stops, and :func:`netplan.route.drops.fill_drops` serves those it finds a cheap enough place
for; both can miss one. :func:`audit_drops` asks the schedule simulator instead
(:func:`netplan.route.simulate.replay_route`), over every single insertion of each stop left:

- into any used vehicle's route, at every place between its first and last visit;
- the same with one unload added right after the stop or right before it, at each of the vehicle's reload depots
  (a new trip anywhere in the day, including after a required last unload);
- on a vehicle left at its depot, from each allowed start to each allowed end, with or without one unload, while
  the type's count and every fleet cap leave one.

Insertions that would carry more than a trip holds, or whose driving and service alone outlast the shift, are
skipped without asking the simulator (necessary conditions: no schedule can fit them). An insertion counts when the
simulator finds no rule broken and it costs (distance, working time, and a new
vehicle's fixed cost) at most ``margin`` of the stop's penalty — every insertion of a required stop counts. The
candidates are tried in a fixed order until one counts, within a work limit of simulated routes, so the result
is the same in every process.
"""

from __future__ import annotations

from dataclasses import dataclass

from netplan.route.problem import RoutingProblem, VehicleType
from netplan.route.simulate import replay_route
from netplan.route.solution import Route, RouteSolution, Visit

__all__ = ["DropAudit", "ServableDrop", "audit_drops"]

#: An insertion must cost at most this share of the stop's penalty to count: the engines and the drop filler
#: weigh working time from their own schedules, so a stop within a few per cent of its penalty is a close call,
#: not a fault.
MARGIN = 0.95


@dataclass(frozen=True)
class ServableDrop:
    """A stop left unserved that the simulator accepts on a vehicle.

    Attributes
    ----------
    stop
        Index into the problem's stops.
    vehicle_type
        The vehicle's type.
    vehicle
        The vehicle's number within its type, or ``None`` for a vehicle left at its depot.
    extra_cost
        What serving it there adds, in the problem's cost unit.
    penalty
        The stop's penalty (``None`` for a required stop).
    """

    stop: int
    vehicle_type: int
    vehicle: int | None
    extra_cost: float
    penalty: int | None


@dataclass(frozen=True)
class DropAudit:
    """What :func:`audit_drops` found.

    Attributes
    ----------
    servable
        Stops left that a vehicle could have served, one entry per stop (the first insertion found).
    checked
        Stops whose every insertion was tried (or that were found servable).
    unchecked
        Stops not reached within the work limit.
    replays
        Routes simulated.
    """

    servable: list[ServableDrop]
    checked: int
    unchecked: int
    replays: int


def _cost(vt: VehicleType, distance: float, working_s: float) -> float:
    return distance * vt.distance_cost + working_s * vt.duration_cost


def _insertions(vt: VehicleType, visits: tuple[Visit, ...], stop: int) -> list[tuple[Visit, ...]]:
    """Every single insertion of ``stop`` into ``visits`` (with and without one unload next to it)."""
    new = Visit("stop", stop)
    out = []
    for i in range(1, len(visits)):
        out.append(visits[:i] + (new,) + visits[i:])
        for depot in sorted(set(vt.reload_depots)):
            unload = Visit("depot", depot)
            out.append(visits[:i] + (new, unload) + visits[i:])
            out.append(visits[:i] + (unload, new) + visits[i:])
    return out


def _fresh_routes(vt: VehicleType, stop: int) -> list[tuple[Visit, ...]]:
    """The stop alone on a vehicle of ``vt``: every start and end, with or without one unload."""
    new = Visit("stop", stop)
    unloads = [()] + [(Visit("depot", d),) for d in sorted(set(vt.reload_depots))]
    return [(Visit("depot", a), new, *u, Visit("depot", b)) for a in vt.starts() for b in vt.ends() for u in unloads]


def audit_drops(
    problem: RoutingProblem, solution: RouteSolution, *, max_replays: int = 20_000, margin: float = MARGIN
) -> DropAudit:
    """Check with the simulator whether any stop ``solution`` leaves could have been served (see the module).

    Parameters
    ----------
    problem
        The routing problem.
    solution
        Any engine's solution (after the drop filler).
    max_replays
        Work limit: routes simulated at most; stops not reached are counted in ``unchecked``.
    margin
        Share of a stop's penalty an insertion may cost at most to count.

    Returns
    -------
    DropAudit
        The stops a vehicle could have served, and how far the check went.
    """
    audit = _Audit(problem, solution, max_replays)
    servable: list[ServableDrop] = []
    checked = 0
    for s in sorted(solution.dropped):
        stop = problem.stops[s]
        worth = None if stop.required else stop.penalty
        found, complete = audit.stop(s, None if worth is None else margin * worth)
        if found is not None:
            servable.append(ServableDrop(s, found[0], found[1], found[2], worth))
        if not complete:
            break
        checked += 1
    return DropAudit(servable, checked, len(solution.dropped) - checked, audit.replays)


class _WorkLimit(Exception):
    """The audit's work limit is reached."""


class _Audit:
    """The solution's routes replayed once, the vehicles left, and the work done so far."""

    def __init__(self, problem: RoutingProblem, solution: RouteSolution, max_replays: int) -> None:
        self.p, self.sol, self.max_replays, self.replays = problem, solution, max_replays, 0
        self.base: list[float | None] = []
        for route in solution.routes:
            violations, distance, working = replay_route(problem, route)
            self.base.append(
                None if violations else _cost(problem.vehicle_types[route.vehicle_type], distance, working)
            )
        types = problem.vehicle_types
        used = [sum(1 for r in solution.routes if r.vehicle_type == t) for t in range(len(types))]
        self.free: dict[int, int] = {}  # per type with a vehicle left and room under every cap: a free number
        for t, vt in enumerate(types):
            room = all(sum(used[u] for u in set(c.types)) < c.max_vehicles for c in problem.fleet_caps if t in c.types)
            if used[t] < vt.count and room:
                taken = {r.vehicle for r in solution.routes if r.vehicle_type == t}
                self.free[t] = min(set(range(vt.count)) - taken)

    def stop(self, s: int, limit: float | None) -> tuple[tuple[int, int | None, float] | None, bool]:
        """The first insertion of stop ``s`` that the simulator accepts for at most ``limit`` (any, if ``None``).

        Returns the vehicle type, vehicle (``None``: one left at its depot) and extra cost, or ``None``; and whether
        every insertion was tried or one was found before the work limit.
        """
        try:
            return self._first(s, limit), True
        except _WorkLimit:
            return None, False

    def _first(self, s: int, limit: float | None) -> tuple[int, int | None, float] | None:
        types = self.p.vehicle_types
        for r, route in enumerate(self.sol.routes):
            before = self.base[r]
            if before is None:
                continue
            for visits in _insertions(types[route.vehicle_type], route.visits, s):
                extra = self._extra(route.vehicle_type, route.vehicle, visits, before)
                if extra is not None and (limit is None or extra <= limit):
                    return route.vehicle_type, route.vehicle, extra
        for t, k in self.free.items():
            for visits in _fresh_routes(types[t], s):
                extra = self._extra(t, k, visits, -float(types[t].fixed_cost))
                if extra is not None and (limit is None or extra <= limit):
                    return t, None, extra
        return None

    def _overloaded(self, vt: VehicleType, visits: tuple[Visit, ...]) -> bool:
        """Whether a trip of ``visits`` picks up more than the vehicle holds: no schedule can carry that, so the
        simulator need not be asked (a necessary condition only; everything else is the simulator's)."""
        load = [0] * len(vt.capacity)
        for visit in visits[1:]:
            if visit.kind == "depot":
                load = [0] * len(vt.capacity)
                continue
            load = [a + b for a, b in zip(load, self.p.stops[visit.index].demand, strict=True)]
            if any(a > c for a, c in zip(load, vt.capacity, strict=True)):
                return True
        return False

    def _too_long(self, vt: VehicleType, visits: tuple[Visit, ...]) -> bool:
        """Whether driving and serving ``visits`` alone, leaving at the shift start, would end after the shift or
        exceed the working time: waiting, turnarounds and breaks only add to that, so no schedule fits (a necessary
        condition only, like :meth:`_overloaded`)."""
        p = self.p
        dur = p.profiles[vt.profile].duration
        locs = [v.location(p) for v in visits]
        work = int(sum(int(dur[a, b]) for a, b in zip(locs, locs[1:])))
        work += sum(p.stops[v.index].service_s for v in visits if v.kind == "stop")
        return vt.shift.start + work > vt.shift.end or (vt.max_duration_s is not None and work > vt.max_duration_s)

    def _extra(self, t: int, k: int, visits: tuple[Visit, ...], before: float) -> float | None:
        """What ``visits`` on vehicle ``(t, k)`` cost beyond ``before``: leaving when planned, else at the shift
        start; ``None`` if the simulator rejects both. Raises :class:`_WorkLimit` once the limit is reached."""
        vt = self.p.vehicle_types[t]
        if self._overloaded(vt, visits) or self._too_long(vt, visits):
            return None
        for start_s in dict.fromkeys((visits[0].start_s, None)):
            if self.replays >= self.max_replays:
                raise _WorkLimit
            self.replays += 1
            first = Visit("depot", visits[0].index, start_s)
            violations, distance, working = replay_route(self.p, Route(t, k, (first, *visits[1:])))
            if not violations:
                return _cost(self.p.vehicle_types[t], distance, working) - before
        return None
