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
- multi-trip: ``reload_depots`` and ``max_reloads`` map one to one;
- a required last unload (``unload_before_end``) makes the unload depot
  PyVRP's end depot, with the fixed drive home folded into the latest
  arrival, the working time and the fixed cost; a type with several unload
  depots is refused (PyVRP has one end depot per vehicle type);
- a type that may choose among several start or end depots, and a fleet cap
  shared across types that binds, have no PyVRP counterpart (PyVRP fixes a
  type's depots and has no vehicle count shared across types). They are
  searched as one PyVRP type per allowed (start, end) pair, each with its own
  count (:func:`split_counts`): a first search with the shared counts relaxed
  shows which pairs the routes use, its routes are ranked (most stops first,
  then cheapest) and kept while every type's count and every cap has room,
  vehicles that carry little are swapped for ones that carry more while the
  load needs it, and the rest of the budget searches with those counts from
  the kept routes.
  Every plan keeps the counts and caps exactly; the split itself is a
  heuristic, where the OR-Tools engine models the choice exactly.

Driver breaks have no PyVRP counterpart: problems with breaks are refused
(use the OR-Tools engine).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pyvrp
from pyvrp.search import (
    OPERATORS,
    LocalSearch,
    NeighbourhoodParams,
    PerturbationManager,
    PerturbationParams,
    compute_neighbours,
)
from pyvrp.stop import MaxIterations, MaxRuntime, MultipleCriteria

from netplan.progress import report
from netplan.route.engines.decompose import Budget, DecompositionSettings, solve_decomposed
from netplan.route.problem import Interval, RoutingInputError, RoutingProblem, VehicleType
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


def _single_depots(problem: RoutingProblem) -> RoutingProblem:
    """The problem with one start and one end depot per vehicle type and no fleet caps, as PyVRP models it.

    PyVRP fixes a vehicle type's start and end depot and has no vehicle
    count shared across types. :func:`solve` splits a problem with depot
    choices or a binding fleet cap first (:func:`split_counts`); given one
    directly, this refuses it.
    """
    if needs_split(problem):
        raise RoutingInputError(
            "PyVRP's data takes one start and one end depot per vehicle type and no fleet cap that binds; "
            "netplan.route.engines.pyvrp.solve splits such a problem into one type per depot pair (split_counts)",
            where=problem.name,
        )
    types = [
        replace(vt, start_depot=vt.starts()[0], end_depot=vt.ends()[0], start_depots=(), end_depots=())
        for vt in problem.vehicle_types
    ]
    return replace(problem, vehicle_types=types, fleet_caps=())


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
    problem = _single_depots(problem)
    profiles = sorted({vt.profile for vt in problem.vehicle_types})
    copies, private = _copies(problem, profiles)
    dist, dur = _matrices(problem, profiles, private)
    locations = [pyvrp.Location(x=int(round(loc.x)), y=int(round(loc.y))) for loc in problem.locations]
    locations += [locations[orig] for orig, _ in private]
    depots = [
        pyvrp.Depot(
            location=d.location,
            tw_early=d.opens.start,
            tw_late=d.opens.end,
            service_duration=d.turnaround_s,
            name=d.name,
        )
        for d in problem.depots
    ]
    per_stop: dict[int, list[int]] = {}
    for c, copy in enumerate(copies):
        per_stop.setdefault(copy.stop, []).append(c)
    groups: list[pyvrp.ClientGroup] = []
    group_of: dict[int, int] = {}
    for s, members in per_stop.items():
        if len(members) > 1:
            group_of[s] = len(groups)
            groups.append(
                pyvrp.ClientGroup(
                    clients=[len(depots) * 0 + m for m in members],
                    required=problem.stops[s].required,
                    name=problem.stops[s].name,
                )
            )
    clients = []
    for copy in copies:
        stop = problem.stops[copy.stop]
        grouped = copy.stop in group_of
        clients.append(
            pyvrp.Client(
                location=copy.location,
                delivery=list(stop.delivery) or [0] * len(problem.dimensions),
                pickup=list(stop.demand),
                service_duration=stop.service_s,
                tw_early=copy.window.start,
                tw_late=max(copy.window.start, copy.window.end - 1),
                release_time=stop.release_s,
                prize=0 if stop.required else stop.penalty,
                required=stop.required and not grouped,
                group=group_of.get(copy.stop),
                name=stop.name,
            )
        )
    vehicle_types = []
    for vt in problem.vehicle_types:
        end_depot, after, fixed_cost, latest = _end(problem, vt)
        kwargs: dict[str, Any] = {}  # only the limits set, so PyVRP keeps its own defaults
        if vt.max_reloads is not None:
            kwargs["max_reloads"] = vt.max_reloads
        if vt.max_duration_s is not None:
            kwargs["shift_duration"] = vt.max_duration_s - after
        vehicle_types.append(
            pyvrp.VehicleType(
                num_available=vt.count,
                capacity=list(vt.capacity),
                start_depot=vt.start_depot,
                end_depot=end_depot,
                fixed_cost=fixed_cost,
                tw_early=vt.shift.start,
                tw_late=latest,
                unit_distance_cost=vt.distance_cost,
                unit_duration_cost=vt.duration_cost,
                profile=profiles.index(vt.profile),
                reload_depots=list(vt.reload_depots),
                name=vt.name,
                **kwargs,
            )
        )
    data = pyvrp.ProblemData(locations, clients, depots, vehicle_types, dist, dur, groups)
    return data, copies


def _end(problem: RoutingProblem, vt: VehicleType) -> tuple[int, int, int, int]:
    """Where PyVRP ends a vehicle of type ``vt``, and what follows that end.

    Without a required last unload the end is the type's end depot, and only
    its turnaround follows. With one (``unload_before_end``) PyVRP's end is
    the unload depot: it empties the vehicle there, and the fixed drive home
    (unload turnaround, travel to the end depot, its turnaround) is taken off
    the latest arrival and the working time, and its cost added to the fixed
    cost (it is paid exactly when the vehicle is used).

    Returns
    -------
    tuple
        PyVRP end depot, seconds of work after arriving there, fixed cost,
        latest arrival there.
    """
    end = problem.depots[vt.end_depot]
    if not vt.unload_before_end:
        return vt.end_depot, end.turnaround_s, vt.fixed_cost, vt.shift.end - end.turnaround_s
    unloads = sorted(set(vt.reload_depots))
    if len(unloads) != 1:
        raise RoutingInputError(
            f"vehicle type {vt.name!r}: the pyvrp engine models a required last unload (unload_before_end) only with "
            f"one reload depot per vehicle type, not {len(unloads)}; split the type by unload depot or use engine: "
            "ortools",
            where=problem.name,
        )
    u = problem.depots[unloads[0]]
    prof = problem.profiles[vt.profile]
    drive_s = int(prof.duration[u.location, end.location])
    after = u.turnaround_s + drive_s + end.turnaround_s
    home_cost = (
        int(prof.distance[u.location, end.location]) * vt.distance_cost + (u.turnaround_s + drive_s) * vt.duration_cost
    )
    latest = min(
        vt.shift.end - after,
        min(end.opens.end, vt.shift.end) - end.turnaround_s - drive_s - u.turnaround_s,
        u.opens.end - u.turnaround_s,
    )
    return unloads[0], after, vt.fixed_cost + home_cost, latest


#: PyVRP's own ceiling; the real one also lies above every prize (see :func:`penalty_params`).
_MIN_MAX_PENALTY = 100_000.0


def penalty_params(
    data: pyvrp.ProblemData, *, solutions_between_updates: int = 100
) -> tuple[pyvrp.PenaltyParams, tuple[list[float], float, float]]:
    """Penalty settings scaled to the instance's own costs.

    PyVRP starts its penalties at the midpoint of ``[min_penalty,
    max_penalty]``. A ceiling high enough for netplan's fine cost unit
    (1/10,000 CNY) then starts the search at a penalty so large that it never
    crosses infeasible space and keeps the optional stops its random start
    left out, although serving them costs far less than their prize (the
    needless drops of issue 14). Instead the penalties start where one unit of
    violation (1 s of time warp, one unit of excess load, one unit of excess
    distance) costs about what one unit of driving does, as PyVRP's earlier
    ``PenaltyManager.init_from`` did, and may grow until a single unit costs
    more than the largest prize, so that a feasible solution that drops a stop
    always beats an infeasible one that serves it.

    Parameters
    ----------
    data
        The PyVRP instance.
    solutions_between_updates
        How many solutions PyVRP registers between two penalty updates
        (:attr:`SearchSettings.solutions_between_updates`).

    Returns
    -------
    tuple
        The penalty parameters and the initial penalties (load per dimension,
        time warp, distance).
    """
    types = data.vehicle_types()
    dist_cost = max(1, max(vt.unit_distance_cost for vt in types))
    dur_cost = max(vt.unit_duration_cost for vt in types)
    profiles = sorted({vt.profile for vt in types})
    leg_dist = float(np.mean([np.median(data.distance_matrix(p)) for p in profiles]))
    leg_dur = float(np.mean([np.median(data.duration_matrix(p)) for p in profiles]))
    leg_cost = max(1.0, dist_cost * leg_dist + dur_cost * leg_dur)
    clients = data.clients()
    loads = [
        float(np.mean([max(c.pickup[d], c.delivery[d]) for c in clients])) if clients else 1.0
        for d in range(data.num_load_dimensions)
    ]
    init_load = [leg_cost / max(1.0, q) for q in loads]
    init_tw = leg_cost / max(1.0, leg_dur)
    init_dist = leg_cost / max(1.0, leg_dist)
    prize = max([c.prize for c in clients], default=0)
    ceiling = max(_MIN_MAX_PENALTY, 2.0 * prize, 10.0 * max([*init_load, init_tw, init_dist]))
    params = pyvrp.PenaltyParams(
        min_penalty=min(0.1, init_tw, init_dist, *init_load),
        max_penalty=ceiling,
        solutions_between_updates=solutions_between_updates,
    )
    return params, (init_load, init_tw, init_dist)


class MaxCpuTime:
    """Stop when the search has used ``max_cpu_s`` seconds of this process's CPU time (``time.process_time``).

    What "t seconds on an idle core" means, whatever else runs on the machine:
    unlike a wall-clock limit, the same number of CPU seconds gives about the
    same search on a loaded and on an idle machine. It still depends on the
    processor's speed; only an iteration budget makes results reproducible.
    Counting starts at the first call, as PyVRP's ``MaxRuntime`` does.
    """

    def __init__(self, max_cpu_s: float) -> None:
        if max_cpu_s < 0:
            raise ValueError(f"max_cpu_s must be >= 0, got {max_cpu_s}")
        self.max_cpu_s = max_cpu_s
        self.start: float | None = None

    def __call__(self, best_cost: float) -> bool:
        now = time.process_time()
        if self.start is None:
            self.start = now
        return now - self.start > self.max_cpu_s

    @property
    def used(self) -> float:
        """CPU seconds since the first call (0 before it)."""
        return 0.0 if self.start is None else time.process_time() - self.start


class _Reported:
    """A stopping criterion that also shows PyVRP's best cost in the live progress (never changes when it stops)."""

    def __init__(self, stop: Any) -> None:
        self.stop, self.iteration = stop, 0

    def __call__(self, best_cost: float) -> bool:
        self.iteration += 1
        # an infeasible best solution costs int64's maximum: no incumbent yet
        report(incumbent=best_cost if best_cost < 2**62 else None, step=self.iteration)
        return bool(self.stop(best_cost))


@dataclass(frozen=True)
class SearchSettings:
    """PyVRP's iterated local search settings (its defaults unless a measurement says otherwise).

    Attributes
    ----------
    num_neighbours
        Size of each client's granular neighbourhood (``NeighbourhoodParams``).
    min_perturbations, max_perturbations
        How many moves a perturbation applies (``PerturbationParams``).
    history_length
        Late-acceptance history (``IteratedLocalSearchParams``).
    num_iters_no_improvement
        Iterations without improvement before a restart.
    solutions_between_updates
        Solutions between two updates of the penalties (``PenaltyParams``; netplan's 100, PyVRP's default 500).
    decompose
        Route-based decomposition (:mod:`netplan.route.engines.decompose`), or ``None`` for none.
    split_for_load
        Whether the depot split (:func:`split_counts`) swaps vehicles for ones that carry more when the counted
        ones cannot carry the day's load; ``False`` ranks routes alone (the rule before 2026-12-03, for benchmarks).
    """

    num_neighbours: int = 50
    min_perturbations: int = 1
    max_perturbations: int = 25
    history_length: int = 300
    num_iters_no_improvement: int = 150_000
    solutions_between_updates: int = 100
    decompose: DecompositionSettings | None = None
    split_for_load: bool = True


#: From this many PyVRP clients on, the search accepts late only against its last 100 solutions (see search_settings).
LARGE_CLIENTS = 300
#: From this many PyVRP clients on, a multi-depot problem whose vehicles make one trip each is decomposed by routes.
DECOMPOSE_CLIENTS = 700


def search_settings(data: pyvrp.ProblemData) -> SearchSettings:
    """The search settings netplan uses for ``data``: PyVRP's defaults, with a shorter history and a route
    decomposition on large instances.

    A rule of the instance, never of the clock, so that a budget in
    iterations gives the same routes on any machine.

    - From ``LARGE_CLIENTS`` clients on, the late-acceptance history is 100
      instead of PyVRP's 300, which lets a large instance wander in a budget
      a planner waits for: at 60 CPU seconds an 840-960 customer multi-depot
      instance gets only about 70 iterations per customer. On the Vidal
      instances PR15B, PR16A, PR20A and PR24A the mean gap fell from 3.05 %
      to 2.40 % (none worse; a history of 1,000 gave 6.59 %); on the 360-420
      customer ones it made no difference beyond one seed's noise.
    - From ``DECOMPOSE_CLIENTS`` clients on, with several depots and every
      vehicle making a single trip, the search is also decomposed by routes
      (:class:`DecompositionSettings`' defaults). On all 14 Vidal multi-depot
      instances of 700-960 customers, with seed 2 (not used to choose the
      settings), at 60 CPU seconds, the mean gap fell from 3.06 % to 2.53 %,
      better on 13 of 14 and at worst +0.14 pp (PR14B). Where it was not
      measured to help, the whole-instance search stays: on the six
      single-depot Gehring-Homberger instances of 1,000 customers (60 s, one
      seed) it came out +0.12 pp on average, worse on 3 of 6; on the
      3,000-visit multi-trip city day (with PyVRP's history of 300) it drove
      3.5 % more and took 30 % longer.

    Fewer neighbours or smaller perturbations buy more iterations but did not
    help by a clear margin; nor did PyVRP's penalty update interval of 500
    (see ``benchmarks/results/multidepot_settings.md`` and
    ``multidepot_seed2.md``). Below ``LARGE_CLIENTS`` (Solomon, small cities)
    nothing was measured to change, so PyVRP's defaults stay.
    """
    single_trips = all(vt.max_trips <= 1 for vt in data.vehicle_types())
    if data.num_clients >= DECOMPOSE_CLIENTS and data.num_depots >= 2 and single_trips:
        return SearchSettings(history_length=100, decompose=DecompositionSettings())
    if data.num_clients >= LARGE_CLIENTS:
        return SearchSettings(history_length=100)
    return SearchSettings()


#: PyVRP's penalties: per load dimension, time warp, excess distance.
Penalties = tuple[list[float], float, float]


def _run(
    data: pyvrp.ProblemData,
    stop,
    seed: int,
    display: bool,
    start: pyvrp.Solution | None = None,
    search: SearchSettings | None = None,
    penalties: Penalties | None = None,
) -> tuple[pyvrp.Result, Penalties]:
    """``pyvrp.solve`` with netplan's penalty and search settings (:func:`penalty_params`, :func:`search_settings`).

    Starts from ``start`` if given; ``search`` overrides the search settings (for benchmarks). ``penalties`` replace
    the initial ones of :func:`penalty_params`: a search that goes on from an earlier one's solution needs that
    search's penalties, as the initial ones let it wander through infeasible space for hundreds of iterations.

    Returns
    -------
    tuple
        PyVRP's result and the penalties at the end of the search.
    """
    cfg = search or search_settings(data)
    params, initial = penalty_params(data, solutions_between_updates=cfg.solutions_between_updates)
    rng = pyvrp.RandomNumberGenerator(seed=seed)
    neighbours = compute_neighbours(data, NeighbourhoodParams(num_neighbours=cfg.num_neighbours))
    perturb = PerturbationParams(min_perturbations=cfg.min_perturbations, max_perturbations=cfg.max_perturbations)
    ls = LocalSearch(data, rng, neighbours, PerturbationManager(perturb))
    for op in OPERATORS:
        if op.supports(data):
            ls.add_operator(op(data))
    pm = pyvrp.PenaltyManager(penalties or initial, params)
    # The local search also inserts the required clients a warm start leaves out (netplan.route.fleet).
    init = ls(start or pyvrp.Solution.make_random(data, rng), pm.max_cost_evaluator(), exhaustive=True)
    ils = pyvrp.IteratedLocalSearchParams(
        num_iters_no_improvement=cfg.num_iters_no_improvement, history_length=cfg.history_length
    )
    algo = pyvrp.IteratedLocalSearch(data, pm, ls, init, ils)
    report(bound=None, incumbent=None, detail=f"PyVRP, {data.num_clients} clients")
    result = algo.run(_Reported(stop), collect_stats=display, display=display)
    loads, tw, dist = pm.penalties()
    return result, (list(loads), float(tw), float(dist))


def _warm_start(
    data: pyvrp.ProblemData, copies: list[_Copy], problem: RoutingProblem, initial: RouteSolution
) -> pyvrp.Solution:
    """``initial``'s routes as a PyVRP solution (each stop as the copy whose window holds its visit, else the first)."""
    of_stop: dict[int, list[int]] = {}
    for c, copy in enumerate(copies):
        of_stop.setdefault(copy.stop, []).append(c)

    def client(visit: Visit) -> int:
        fits = [
            c
            for c in of_stop[visit.index]
            if visit.start_s is None or copies[c].window.start <= visit.start_s < copies[c].window.end
        ]
        return (fits or of_stop[visit.index])[0]

    routes = []
    for route in initial.routes:
        # PyVRP's end is the unload depot when the type must unload before the drive home (see _end)
        inner = route.visits[1 : -2 if problem.vehicle_types[route.vehicle_type].unload_before_end else -1]
        acts = [
            pyvrp.Activity(pyvrp.ActivityType.CLIENT, client(v))
            if v.kind == "stop"
            else pyvrp.Activity(pyvrp.ActivityType.DEPOT, v.index)
            for v in inner
        ]
        routes.append(pyvrp.Route(data, acts, route.vehicle_type))
    return pyvrp.Solution(data, routes)


def _stopped_by(iterations: int, max_iterations: int | None, cpu: MaxCpuTime | None) -> str:
    """Which limit ended the search: ``"iterations"``, ``"cpu"`` or ``"time"`` (the wall clock)."""
    if max_iterations is not None and iterations >= max_iterations:
        return "iterations"
    if cpu is not None and cpu.used > cpu.max_cpu_s:
        return "cpu"
    return "time"


#: A vehicle type and one of its allowed (start, end) depot pairs: ``(type, start, end)``.
DepotPair = tuple[int, int, int]


def needs_split(problem: RoutingProblem) -> bool:
    """Whether ``problem`` has a vehicle type with several allowed depots or a fleet cap that binds."""
    several = any(len(vt.starts()) * len(vt.ends()) > 1 for vt in problem.vehicle_types)
    return several or any(
        cap.max_vehicles < sum(problem.vehicle_types[t].count for t in set(cap.types)) for cap in problem.fleet_caps
    )


def depot_pairs(problem: RoutingProblem) -> list[DepotPair]:
    """Every vehicle type's allowed (start, end) depot pairs, in type order."""
    return [(t, s, e) for t, vt in enumerate(problem.vehicle_types) for s in vt.starts() for e in vt.ends()]


def split_problem(
    problem: RoutingProblem, pairs: list[DepotPair], counts: list[int]
) -> tuple[RoutingProblem, list[int]]:
    """One vehicle type per depot pair with a positive count, and no fleet caps.

    Returns
    -------
    tuple
        The split problem and, per vehicle type of it, its index in ``pairs``.
    """
    types, kept = [], []
    for k, ((t, start, end), n) in enumerate(zip(pairs, counts, strict=True)):
        if n > 0:
            vt = problem.vehicle_types[t]
            types.append(replace(vt, count=n, start_depot=start, end_depot=end, start_depots=(), end_depots=()))
            kept.append(k)
    return replace(problem, vehicle_types=types, fleet_caps=()), kept


def _pair_of(route: Route, pairs: list[DepotPair]) -> int:
    """The depot pair a route of the unsplit problem uses: its type, first and last depot."""
    return pairs.index((route.vehicle_type, route.visits[0].index, route.visits[-1].index))


def carrying(vt: VehicleType) -> tuple[float, ...]:
    """What one vehicle of ``vt`` can carry in a shift, per capacity dimension: its capacity times its trips.

    A type that may reload without a limit carries without one (``inf``).
    """
    if not vt.reload_depots:
        trips = 1.0
    elif vt.max_reloads is None:
        trips = float("inf")
    else:
        trips = 1.0 + vt.max_reloads
    return tuple(c * trips for c in vt.capacity)


def _working_s(vt: VehicleType) -> int:
    """The longest working time of a vehicle of ``vt``: its shift, or its duration limit if shorter."""
    span = vt.shift.end - vt.shift.start
    return span if vt.max_duration_s is None else min(span, vt.max_duration_s)


def _worked_s(route: Route) -> int | None:
    """From the route's first depot to its last, as the engine scheduled it (``None`` without times)."""
    first, last = route.visits[0].start_s, route.visits[-1].start_s
    return None if first is None or last is None else last - first


def split_counts(
    problem: RoutingProblem, routes: list[tuple[int, Route]], *, for_load: bool = True
) -> tuple[list[int], list[int]]:
    """Vehicles per depot pair that keep every type's count and every fleet cap, following ``routes``.

    Parameters
    ----------
    problem
        The unsplit problem.
    routes
        Routes of a search with the shared counts relaxed, each with the index of its depot pair
        (:func:`depot_pairs`); their vehicle types are ``problem``'s.
    for_load
        Swap vehicles for ones that carry more where the load needs it (below); ``False`` skips that step.

    Returns
    -------
    tuple
        The count per depot pair, and the indices into ``routes`` of the routes kept: ranked by most stops, then
        lowest fixed plus distance cost (ties in the given order), each kept while its type and every cap on it
        have room. The counts then take each type's remaining vehicles one pair at a time, in order of the routes
        kept per pair (most first), while the caps allow. Last, while the vehicles counted cannot carry the day's
        load (:func:`carrying`), a vehicle of a type that carries less is swapped for one that carries more, where
        the counts and caps allow (:func:`_swap_for_load`): a cap can otherwise keep only small vehicles whose
        routes had the most stops, and leave loads that another choice of vehicles carries.
    """
    pairs = depot_pairs(problem)
    types = problem.vehicle_types
    caps_of = {t: [c for c, cap in enumerate(problem.fleet_caps) if t in cap.types] for t in range(len(types))}
    counts, used, capped = [0] * len(pairs), [0] * len(types), [0] * len(problem.fleet_caps)

    def room(k: int) -> bool:
        t = pairs[k][0]
        return used[t] < types[t].count and all(capped[c] < problem.fleet_caps[c].max_vehicles for c in caps_of[t])

    def take(k: int, n: int = 1) -> None:
        counts[k] += n
        used[pairs[k][0]] += n
        for c in caps_of[pairs[k][0]]:
            capped[c] += n

    def rank(i: int) -> tuple[int, int, int]:
        route, vt = routes[i][1], types[routes[i][1].vehicle_type]
        return (-len(route.stops()), vt.fixed_cost + vt.distance_cost * route.distance(problem), i)

    ranked = sorted(range(len(routes)), key=rank)
    kept = []
    for i in ranked:
        if room(routes[i][0]):
            take(routes[i][0])
            kept.append(i)
    order = sorted(range(len(pairs)), key=lambda k: (-counts[k], k))
    grew = True
    while grew:
        grew = False
        for k in order:
            if room(k):
                take(k)
                grew = True
    dims = len(types[0].capacity) if types else 0
    # Where the counted vehicles' shifts are shorter than the relaxed routes' working time, time binds first and
    # they can reach only that share of the load: more capacity would not carry more.
    share = 1.0
    worked = [_worked_s(r) for _, r in routes]
    total = sum(w for w in worked if w is not None)
    if None not in worked and total > 0:
        have = sum(counts[k] * _working_s(types[t]) for k, (t, _, _) in enumerate(pairs))
        share = min(1.0, have / total)
    need = [
        share
        * max(sum(s.demand[d] for s in problem.stops), sum(s.delivery[d] if s.delivery else 0 for s in problem.stops))
        for d in range(dims)
    ]
    swaps = _swap_for_load(problem, pairs, counts, [routes[i][0] for i in kept], need) if for_load else []
    for gone, new in swaps:
        if gone is not None:
            del kept[gone]
        take(new[0], -1)
        take(new[1])
    return counts, sorted(kept)


def _swap_for_load(
    problem: RoutingProblem, pairs: list[DepotPair], counts: list[int], kept_pairs: list[int], need: list[float]
) -> list[tuple[int | None, tuple[int, int]]]:
    """Swaps that let the counted vehicles carry ``need``, for :func:`split_counts`.

    Each swap takes one vehicle off a pair and puts one of another type on a pair, and is chosen to cut the total
    shortfall (load beyond what the vehicles carry, summed over the dimensions) the most, the first such in pair
    order on ties. The vehicle taken off is one the kept routes do not use, if its pair has one, else the vehicle
    of the pair's last-ranked kept route; the new one goes to the same depots if its type may use them, else to its
    type's pair with the most vehicles. Swaps stop when none cuts the shortfall, so a fleet that cannot carry the
    load whatever its vehicles keeps the vehicles that carry the most.

    Returns
    -------
    list
        Per swap, the position in ``kept_pairs`` (as it stands after the earlier swaps) of the kept route that loses
        its vehicle, or ``None``, and the (from, to) pair indices.
    """
    types, caps = problem.vehicle_types, problem.fleet_caps
    carry = [carrying(vt) for vt in types]
    counts, kept_pairs = list(counts), list(kept_pairs)
    per_type = [sum(n for (t, _, _), n in zip(pairs, counts, strict=True) if t == u) for u in range(len(types))]
    per_cap = [sum(per_type[t] for t in set(cap.types)) for cap in caps]

    def shortfall(on_type: list[int]) -> float:
        # summed per type from counts, never by subtracting, as a type that reloads freely carries ``inf``
        load = [sum(n * carry[t][d] for t, n in enumerate(on_type) if n) for d in range(len(need))]
        return sum(max(0.0, n - h) for n, h in zip(need, load, strict=True))

    swaps: list[tuple[int | None, tuple[int, int]]] = []
    while True:
        short = shortfall(per_type)
        if short <= 0:
            return swaps
        best: tuple[tuple[float, bool, int], int, int] | None = None
        for a, (ta, start, end) in enumerate(pairs):
            if counts[a] == 0:
                continue
            used_by_routes = counts[a] <= kept_pairs.count(a)
            for tb, vt in enumerate(types):
                if tb == ta or per_type[tb] >= vt.count:
                    continue
                if any(
                    per_cap[c] - (ta in cap.types) >= cap.max_vehicles for c, cap in enumerate(caps) if tb in cap.types
                ):
                    continue
                after = [n - (t == ta) + (t == tb) for t, n in enumerate(per_type)]
                cut = short - shortfall(after)
                # the largest cut; then a vehicle no kept route uses; then pair order
                key = (-cut, used_by_routes, a)
                if cut > 0 and (best is None or key < best[0]):
                    same = [k for k, p in enumerate(pairs) if p == (tb, start, end)]
                    own = [k for k, p in enumerate(pairs) if p[0] == tb]
                    b = same[0] if same else min(own, key=lambda k: (-counts[k], k))
                    best = (key, a, b)
        if best is None:
            return swaps
        _, a, b = best
        spare = counts[a] - kept_pairs.count(a)
        gone = None if spare > 0 else max(i for i, k in enumerate(kept_pairs) if k == a)
        if gone is not None:
            del kept_pairs[gone]
        ta, tb = pairs[a][0], pairs[b][0]
        counts[a] -= 1
        counts[b] += 1
        per_type[ta] -= 1
        per_type[tb] += 1
        per_cap = [n - (ta in cap.types) + (tb in cap.types) for n, cap in zip(per_cap, caps, strict=True)]
        swaps.append((gone, (a, b)))


def _solve_split(
    problem: RoutingProblem,
    *,
    time_limit_s: float,
    seed: int,
    max_iterations: int | None,
    display: bool,
    cpu_limit_s: float | None,
    initial: RouteSolution | None,
    search: SearchSettings | None,
) -> RouteSolution:
    """:func:`solve` for a problem with depot choices or a binding fleet cap (see :func:`split_counts`).

    A quarter of the budget (iterations, CPU or wall clock, whichever limits) searches with every type's count on
    each of its depot pairs and no caps, unless ``initial`` gives the routes to follow; the rest searches the split
    problem from the kept routes. The routes come back with ``problem``'s vehicle types.
    """
    pairs = depot_pairs(problem)
    began = time.perf_counter()
    first: dict[str, Any] = {}
    if initial is None:
        relaxed, kept = split_problem(problem, pairs, [problem.vehicle_types[t].count for t, _, _ in pairs])
        probe = solve(
            relaxed,
            time_limit_s=time_limit_s / 4,
            seed=seed,
            max_iterations=None if max_iterations is None else max(1, max_iterations // 4),
            display=display,
            cpu_limit_s=None if cpu_limit_s is None else cpu_limit_s / 4,
            search=search,
        )
        # the probe's routes, each with its depot pair and back in problem's vehicle types
        routes = [(kept[r.vehicle_type], replace(r, vehicle_type=pairs[kept[r.vehicle_type]][0])) for r in probe.routes]
        first = {
            "iterations": probe.info["iterations"],
            "vehicles": len(probe.routes),
            "stopped_by": probe.info["stopped_by"],
        }
        rest_iterations = None if max_iterations is None else max(1, max_iterations - max(1, max_iterations // 4))
        rest_time, rest_cpu = time_limit_s * 3 / 4, None if cpu_limit_s is None else cpu_limit_s * 3 / 4
    else:
        routes = [(_pair_of(r, pairs), r) for r in initial.routes]
        rest_iterations, rest_time, rest_cpu = max_iterations, time_limit_s, cpu_limit_s
    for_load = search.split_for_load if search is not None else True
    counts, keep = split_counts(problem, routes, for_load=for_load)
    ranked = split_counts(problem, routes, for_load=False)[0] if for_load else counts
    split_info = {
        "pairs": [list(p) for p in pairs],
        "vehicles": counts,
        # vehicles the load step put on another pair than the ranking alone did
        "swapped_for_load": sum(max(0, a - b) for a, b in zip(counts, ranked, strict=True)),
        "first_search": first or None,
    }
    if not any(counts):  # caps of no vehicles: nothing can be served, and PyVRP needs a vehicle type
        return RouteSolution(
            routes=[],
            dropped=list(range(len(problem.stops))),
            cost=float(sum(stop.penalty for stop in problem.stops)),
            engine="pyvrp",
            runtime_s=time.perf_counter() - began,
            feasible=not any(stop.required for stop in problem.stops),
            info={
                "iterations": first.get("iterations", 0),
                "stopped_by": first.get("stopped_by", "iterations"),
                "depot_split": split_info | {"routes_kept": 0},
            },
        )
    split, kept = split_problem(problem, pairs, counts)
    type_of = {k: j for j, k in enumerate(kept)}
    start_routes = [replace(routes[i][1], vehicle_type=type_of[routes[i][0]]) for i in keep]
    warm = RouteSolution(routes=start_routes, dropped=[], cost=0.0, engine="pyvrp", runtime_s=0.0, feasible=False)
    result = solve(
        split,
        time_limit_s=rest_time,
        seed=seed,
        max_iterations=rest_iterations,
        display=display,
        cpu_limit_s=rest_cpu,
        initial=warm if start_routes else None,
        search=search,
    )
    counters = [0] * len(problem.vehicle_types)
    back = []
    for route in result.routes:
        t = pairs[kept[route.vehicle_type]][0]
        back.append(Route(vehicle_type=t, vehicle=counters[t], visits=route.visits))
        counters[t] += 1
    info = split_search_info(result.info, first) | {"depot_split": split_info | {"routes_kept": len(keep)}}
    return replace(result, routes=back, runtime_s=time.perf_counter() - began, info=info)


def split_search_info(final: dict[str, Any], first: dict[str, Any]) -> dict[str, Any]:
    """The final search's ``info`` with the first search's iterations added, and its stop when the wall clock ended it.

    The first search decides the vehicle counts, so when the safety cap ends it the routes depend on the machine's
    speed, and ``stopped_by`` says ``"time"`` (the run then warns) whatever ended the final search.
    """
    info = dict(final)
    info["iterations"] = final["iterations"] + first.get("iterations", 0)
    if first.get("stopped_by") == "time":
        info["stopped_by"] = "time"
    return info


def solve(
    problem: RoutingProblem,
    time_limit_s: float = 10.0,
    seed: int = 0,
    max_iterations: int | None = None,
    display: bool = False,
    cpu_limit_s: float | None = None,
    initial: RouteSolution | None = None,
    **options: object,
) -> RouteSolution:
    """Solve with PyVRP.

    Parameters
    ----------
    problem
        The routing problem.
    time_limit_s
        Wall-clock limit: with ``max_iterations`` only a safety cap (when it
        ends the search first, ``info["stopped_by"]`` is ``"time"`` and the
        routes depend on the machine's speed).
    seed
        PyVRP's random seed.
    max_iterations
        The search budget: the same problem, seed and budget give the same
        routes on any machine, in any process.
    display
        Print PyVRP's progress.
    initial
        A warm start instead of PyVRP's random one: routes of ``problem``
        (stops it leaves out are inserted by the first local search).
    cpu_limit_s
        CPU-time limit of the search (:class:`MaxCpuTime`), for benchmarks on a
        shared machine: with it ``time_limit_s`` is only a safety cap.
    **options
        ``search``: a :class:`SearchSettings` instead of :func:`search_settings`'s
        (for benchmarks that compare settings).
        Unknown options are refused, so that a misspelt one is not ignored.

    Returns
    -------
    RouteSolution
        Routes with PyVRP's schedule times; ``feasible`` is PyVRP's verdict;
        ``info["stopped_by"]`` says which limit ended the search. A problem
        whose vehicles choose among depots, or with a fleet cap that binds,
        is searched through :func:`split_counts`; ``info["depot_split"]``
        then holds the depot pairs, their vehicle counts and the first search.

    Raises
    ------
    ValueError
        For an unknown option.
    """
    options.pop("solution_limit", None)  # OR-Tools' budget; PyVRP's counterpart is max_iterations
    search = options.pop("search", None)
    if search is not None and not isinstance(search, SearchSettings):
        raise ValueError(f"search must be a SearchSettings, not {type(search).__name__}")
    if options:
        raise ValueError(
            f"unknown PyVRP engine option(s): {sorted(options)} (known: time_limit_s, seed, max_iterations, display, "
            "cpu_limit_s, initial, search)"
        )
    if needs_split(problem):
        return _solve_split(
            problem,
            time_limit_s=time_limit_s,
            seed=seed,
            max_iterations=max_iterations,
            display=display,
            cpu_limit_s=cpu_limit_s,
            initial=initial,
            search=search,
        )
    data, copies = build_data(problem)
    problem = _single_depots(problem)
    cpu = MaxCpuTime(cpu_limit_s) if cpu_limit_s is not None else None
    criteria: list[Any] = [MaxRuntime(time_limit_s)]
    criteria += [cpu] if cpu is not None else []
    criteria += [MaxIterations(max_iterations)] if max_iterations is not None else []
    began = time.perf_counter()
    start = None if initial is None else _warm_start(data, copies, problem, initial)
    cfg = search or search_settings(data)
    decomposition: dict[str, Any] | None = None
    if cfg.decompose is None:
        result, _ = _run(data, MultipleCriteria(criteria), seed, display, start, cfg)
        best, iterations = result.best, int(result.num_iterations)
    else:
        budget = Budget(max_iterations=max_iterations, cpu_limit_s=cpu_limit_s, time_limit_s=time_limit_s)
        best, done = solve_decomposed(
            data,
            run=lambda d, stop, s, st, pen: _run(d, stop, s, display, st, cfg, pen),
            budget=budget,
            seed=seed,
            settings=cfg.decompose,
            start=start,
        )
        iterations = done.iterations
        cpu = MaxCpuTime(cpu_limit_s) if cpu_limit_s is not None else None
        if cpu is not None:
            cpu.start = budget.cpu0
        decomposition = {"subproblems": done.subproblems, "improved": done.improved, "gain": done.gain}
        decomposition["costs"] = done.costs
    runtime = time.perf_counter() - began
    cpu_s = cpu.used if cpu is not None else None
    stopped_by = _stopped_by(iterations, max_iterations, cpu)
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
        vt = problem.vehicle_types[t]
        if vt.unload_before_end:
            # PyVRP ended at the unload depot; the drive home follows at once.
            u, end = problem.depots[visits[-1].index], problem.depots[vt.end_depot]
            unload_s = visits[-1].start_s
            assert unload_s is not None  # every visit above carries PyVRP's start time
            home_s = unload_s + u.turnaround_s + int(problem.profiles[vt.profile].duration[u.location, end.location])
            visits.append(Visit("depot", vt.end_depot, home_s))
        routes.append(Route(vehicle_type=t, vehicle=counters[t], visits=tuple(visits)))
        counters[t] += 1
    dropped = [s for s in range(len(problem.stops)) if s not in served]
    return RouteSolution(
        routes=routes,
        dropped=dropped,
        cost=float(best.distance_cost() + best.duration_cost() + best.fixed_vehicle_cost() + best.uncollected_prizes()),
        engine="pyvrp",
        runtime_s=runtime,
        feasible=bool(best.is_feasible()),
        info={
            "iterations": iterations,
            "stopped_by": stopped_by,
            "max_iterations": max_iterations,
            "seed": seed,
            "time_limit_s": time_limit_s,
            "cpu_limit_s": cpu_limit_s,
            "cpu_s": round(cpu_s, 3) if cpu_s is not None else None,
            "clients": len(copies),
            "groups": len(data.groups()) if hasattr(data, "groups") else None,
            "decomposition": decomposition,
        },
    )
