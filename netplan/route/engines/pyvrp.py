"""PyVRP engine: hybrid genetic search / iterated local search on the same problem description.

How netplan's model maps onto PyVRP's:

- every travel profile becomes a PyVRP routing profile (one distance and one
  duration matrix), chosen per vehicle type;
- a stop whose allowed service-start times differ between profiles (a stop
  in a banned zone) or that has several windows becomes a *mutually
  exclusive client group*: one client per allowed piece, exactly one of
  which is visited. A piece open only to some profiles gets a private copy
  of the stop's location that the other profiles cannot reach (a prohibitive
  duration), so visits are modelled exactly;
- windows are half-open (a piece that ends when a ban begins may not be
  started at that second), so a piece ``[a, b)`` becomes PyVRP's closed
  ``[a, b - 1]``;
- depots keep their opening hours; the turnaround is PyVRP's depot service
  duration, which it applies at the start of every trip. The end depot's
  turnaround is taken off the vehicle's latest return so the last unload
  also fits the shift;
- multi-trip: ``reload_depots`` and ``max_reloads`` map one to one.

Driver breaks have no PyVRP counterpart: problems with breaks are refused
(use the OR-Tools engine).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pyvrp
from pyvrp.stop import MaxIterations, MaxRuntime, MultipleCriteria

from netplan.route.problem import Interval, RoutingInputError, RoutingProblem
from netplan.route.solution import Route, RouteSolution, Visit

# A duration no shift can absorb, and a distance far above any real leg: large enough to close a location to a
# profile, small enough that PyVRP's penalty scaling (derived from the data) stays sensible.
_FORBIDDEN_S = 3 * 24 * 3600


@dataclass(frozen=True)
class _Copy:
    stop: int
    window: Interval
    location: int


def _copies(problem: RoutingProblem, profiles: list[str]) -> tuple[list[_Copy], list[tuple[int, set[str]]]]:
    """Stop copies, and the private locations they need: (original location, profiles allowed)."""
    copies: list[_Copy] = []
    private: list[tuple[int, set[str]]] = []
    n = len(problem.locations)
    for s, stop in enumerate(problem.stops):
        allowed = {p: stop.allowed(p, problem.horizon) for p in profiles}
        pieces: dict[Interval, set[str]] = {}
        for p in profiles:
            for piece in allowed[p]:
                pieces.setdefault(piece, set())
        for piece, users in pieces.items():
            users.update(q for q in profiles if any(j.start <= piece.start and piece.end <= j.end for j in allowed[q]))
        for piece in sorted(pieces):
            users = pieces[piece]
            if users == set(profiles):
                loc = stop.location
            else:
                private.append((stop.location, users))
                loc = n + len(private) - 1
            copies.append(_Copy(s, piece, loc))
    return copies, private


def _matrices(problem: RoutingProblem, profiles: list[str], private: list[tuple[int, set[str]]]) -> tuple[list, list]:
    base = np.array([i for i in range(len(problem.locations))] + [orig for orig, _ in private], dtype=np.int64)
    dist_mats, dur_mats = [], []
    for name in profiles:
        prof = problem.profiles[name]
        dist = prof.distance[np.ix_(base, base)].astype(np.int64)
        dur = prof.duration[np.ix_(base, base)].astype(np.int64)
        far = 10 * int(prof.distance.max()) + 1
        for k, (_, users) in enumerate(private):
            if name not in users:
                i = len(problem.locations) + k
                dist[i, :] = dist[:, i] = far
                dur[i, :] = dur[:, i] = _FORBIDDEN_S
                dist[i, i] = dur[i, i] = 0
        dist_mats.append(dist)
        dur_mats.append(dur)
    return dist_mats, dur_mats


def build_data(problem: RoutingProblem) -> tuple[pyvrp.ProblemData, list[_Copy]]:
    """Translate a :class:`RoutingProblem` into PyVRP's ``ProblemData``.

    Parameters
    ----------
    problem
        A validated problem without driver breaks.

    Returns
    -------
    tuple
        The PyVRP data and, per PyVRP client, the stop copy it stands for.
    """
    if any(vt.breaks for vt in problem.vehicle_types):
        raise RoutingInputError("the pyvrp engine cannot model driver breaks; use engine: ortools")
    profiles = sorted({vt.profile for vt in problem.vehicle_types})
    copies, private = _copies(problem, profiles)
    dist, dur = _matrices(problem, profiles, private)
    locations = [pyvrp.Location(x=int(round(loc.x)), y=int(round(loc.y))) for loc in problem.locations]
    locations += [locations[orig] for orig, _ in private]
    depots = [pyvrp.Depot(location=d.location, tw_early=d.opens.start, tw_late=d.opens.end,
                          service_duration=d.turnaround_s, name=d.name) for d in problem.depots]
    per_stop: dict[int, list[int]] = {}
    for c, copy in enumerate(copies):
        per_stop.setdefault(copy.stop, []).append(c)
    groups: list[pyvrp.ClientGroup] = []
    group_of: dict[int, int] = {}
    for s, members in per_stop.items():
        if len(members) > 1:
            group_of[s] = len(groups)
            groups.append(pyvrp.ClientGroup(clients=[len(depots) * 0 + m for m in members],
                                            required=problem.stops[s].required, name=problem.stops[s].name))
    clients = []
    for copy in copies:
        stop = problem.stops[copy.stop]
        grouped = copy.stop in group_of
        clients.append(pyvrp.Client(
            location=copy.location, delivery=list(stop.delivery) or [0] * len(problem.dimensions), pickup=list(stop.demand),
            service_duration=stop.service_s, tw_early=copy.window.start, tw_late=max(copy.window.start, copy.window.end - 1),
            release_time=stop.release_s, prize=0 if stop.required else stop.penalty,
            required=stop.required and not grouped,
            group=group_of.get(copy.stop), name=stop.name,
        ))
    vehicle_types = []
    for vt in problem.vehicle_types:
        end = problem.depots[vt.end_depot]
        kwargs = {}
        if vt.max_reloads is not None:
            kwargs["max_reloads"] = vt.max_reloads
        if vt.max_duration_s is not None:
            kwargs["shift_duration"] = vt.max_duration_s - end.turnaround_s
        vehicle_types.append(pyvrp.VehicleType(
            num_available=vt.count, capacity=list(vt.capacity), start_depot=vt.start_depot, end_depot=vt.end_depot,
            fixed_cost=vt.fixed_cost, tw_early=vt.shift.start, tw_late=vt.shift.end - end.turnaround_s,
            unit_distance_cost=vt.distance_cost, unit_duration_cost=vt.duration_cost, profile=profiles.index(vt.profile),
            reload_depots=list(vt.reload_depots), name=vt.name, **kwargs,
        ))
    data = pyvrp.ProblemData(locations=locations, clients=clients, depots=depots, vehicle_types=vehicle_types,
                             distance_matrices=dist, duration_matrices=dur, groups=groups)
    return data, copies


def solve(problem: RoutingProblem, time_limit_s: float = 10.0, seed: int = 0, max_iterations: int | None = None,
          display: bool = False, **_: object) -> RouteSolution:
    """Solve with PyVRP.

    Parameters
    ----------
    problem
        The routing problem.
    time_limit_s
        Wall-clock limit.
    seed
        PyVRP's random seed.
    max_iterations
        Stop after this many iterations as well (whichever comes first).
        With an iteration limit that binds before the time limit, the same
        problem and seed give the same routes on any machine.
    display
        Print PyVRP's progress.

    Returns
    -------
    RouteSolution
        Routes with PyVRP's schedule times; ``feasible`` is PyVRP's verdict.
    """
    data, copies = build_data(problem)
    stop = MaxRuntime(time_limit_s) if max_iterations is None else MultipleCriteria(
        [MaxRuntime(time_limit_s), MaxIterations(max_iterations)])
    began = time.perf_counter()
    # netplan's integer costs are fine-grained (1/10,000 CNY), so PyVRP's default penalty ceiling can stay below
    # what an infeasible route saves; a higher ceiling lets the penalties grow until feasibility wins.
    params = pyvrp.SolveParams(penalty=pyvrp.PenaltyParams(max_penalty=1e12))
    result = pyvrp.solve(data, stop=stop, seed=seed, display=display, collect_stats=False, params=params)
    runtime = time.perf_counter() - began
    best = result.best
    routes: list[Route] = []
    counters = [0] * len(problem.vehicle_types)
    served: set[int] = set()
    for route in best.routes():
        t = route.vehicle_type()
        visits: list[Visit] = []
        for act in route.schedule():
            kind = str(act.type).split(".")[-1].upper()
            if kind == "DEPOT":
                visits.append(Visit("depot", int(act.idx), int(act.start_time)))
            else:
                stop_index = copies[int(act.idx)].stop
                served.add(stop_index)
                visits.append(Visit("stop", stop_index, int(act.start_time)))
        routes.append(Route(vehicle_type=t, vehicle=counters[t], visits=tuple(visits)))
        counters[t] += 1
    dropped = [s for s in range(len(problem.stops)) if s not in served]
    return RouteSolution(
        routes=routes, dropped=dropped, cost=float(best.distance_cost() + best.duration_cost()
                                                   + best.fixed_vehicle_cost() + best.uncollected_prizes()),
        engine="pyvrp", runtime_s=runtime, feasible=bool(best.is_feasible()),
        info={"iterations": int(result.num_iterations), "seed": seed, "clients": len(copies),
              "groups": len(data.groups()) if hasattr(data, "groups") else None},
    )
