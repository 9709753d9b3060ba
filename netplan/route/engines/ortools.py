"""OR-Tools routing engine: the whole :class:`~netplan.route.problem.RoutingProblem` as one ``RoutingModel``.

How the problem maps onto OR-Tools:

- **Stops** become *copies*, one per allowed service-start piece
  (:meth:`Stop.allowed`) over the fleet's profiles; a piece shared by several
  profiles is one copy. A stop's copies form one disjunction (mandatory: one
  of them exactly; optional: penalty ``stop.penalty``), each copy may only be
  served by vehicles whose profile has that piece
  (``SetAllowedVehiclesForIndex``) and its time cumul is the piece. A stop in
  a banned zone thus has a full-window copy for permit vehicles and
  before/after-ban copies for restricted ones, and a restricted vehicle that
  arrives during the ban waits for its end.
- **Time**: the cumul of a node is when its service (or the depot
  turnaround) starts; the transit of an arc is the origin's service time plus
  the travel time of the vehicle's profile. A vehicle's start cumul (its
  arrival at the start depot, reported as the first visit's time, which the
  simulator follows) lies between ``max(shift start, depot opening)`` and
  the depot's closing; its end cumul leaves room for the end-depot
  turnaround within the shift and the depot's hours; ``max_duration_s``
  bounds the span. Finalizers finish each route early, then start it late.
- **Capacity**: one dimension per capacity dimension, the load on arrival.
- **Multi-trip** (the OR-Tools ``cvrp_reload`` trick): optional reload nodes,
  copies of each vehicle type's reload depots, with a demand of ``-BIG`` and a
  slack of up to ``BIG`` on that node only, so the load can drop to zero
  there; their service time is the depot turnaround and their time cumul the
  depot's hours. ``max_reloads`` is a counting dimension. A required last
  unload (``unload_before_end``) bounds the load cumul at the end node by 0.
- **Depot choice and shared caps**: a vehicle that may start or end at
  several depots is one model vehicle per (start, end) pair, of which at
  most one is active; a fleet cap bounds the sum of ``ActiveVehicleVar``
  over its types' model vehicles.
- **Breaks**: ``SetBreakIntervalsOfVehicle``, kept between the first
  departure and the last arrival. The simulator places breaks greedily (at
  the first departure at/after the window opens), which OR-Tools cannot
  express; the engine replays each route with that policy and, where the
  greedy placement breaks a rule that the model's placement kept, reorders
  the route's visits (all orders up to 7 visits, else relocation descent)
  to the cheapest order the greedy rule accepts (``info["break_repaired"]``).
  Routes it cannot repair are listed in ``info["break_mismatch"]`` and make
  ``feasible`` false.
- **Costs**: per-vehicle arc costs (distance x ``distance_cost`` + travel
  time x ``duration_cost``), fixed costs per vehicle used, drop penalties.

The reported visit times are the earliest schedule of the chosen sequence
(the simulator's driving policy, waiting for the chosen piece rather than
only for the stop's windows), not OR-Tools' cumul values, which may float.

Determinism: OR-Tools routing search is single-threaded and has no seed; it
is deterministic for the same model and parameters when stopped by a
solution limit (``solution_limit``) rather than by wall-clock time.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from ortools.constraint_solver import pywrapcp, routing_enums_pb2

from netplan import interrupts
from netplan.progress import report
from netplan.route.problem import Interval, RoutingInputError, RoutingProblem, VehicleType
from netplan.route.solution import Route, RouteSolution, Visit

_FIRST = routing_enums_pb2.FirstSolutionStrategy
_META = routing_enums_pb2.LocalSearchMetaheuristic
_STATUS = {
    0: "ROUTING_NOT_SOLVED",
    1: "ROUTING_SUCCESS",
    2: "ROUTING_PARTIAL_SUCCESS_LOCAL_OPTIMUM_NOT_REACHED",
    3: "ROUTING_FAIL",
    4: "ROUTING_FAIL_TIMEOUT",
    5: "ROUTING_INVALID",
    6: "ROUTING_INFEASIBLE",
    7: "ROUTING_OPTIMAL",
}


@dataclass(frozen=True)
class _Node:
    """One OR-Tools node: a depot (start/end), a stop copy or a reload copy."""

    kind: str  # "depot", "stop" or "reload"
    index: int  # depot or stop index
    location: int
    piece: Interval | None = None  # service-start interval of a stop copy


@dataclass(frozen=True)
class _Vehicle:
    type_index: int
    number: int
    start_depot: int
    end_depot: int
    start_min: int  # earliest arrival at the start depot = start of its turnaround
    start_max: int
    end_min: int
    end_max: int  # latest start of the end-depot turnaround
    max_span: int | None  # from start-depot arrival to end-depot arrival


_REQUIRED_PENALTY = 10**12
#: Largest problem the engine accepts (stops). Measured (benchmarks/ortools_scale_bench.py, README): a multi-trip day
#: of 250 stops is routed in 60 s, while 500 and 1,000 stops leave half and three quarters unserved; beyond 1,000 the
#: matrices alone (passed to OR-Tools as Python lists) cost gigabytes and no first solution is found in minutes.
MAX_STOPS = 1000


def _on_solution(routing: pywrapcp.RoutingModel) -> None:
    """At each improving solution: show its cost in the live progress; stop the search after a Ctrl-C."""
    report(incumbent=routing.CostVar().Value())  # in the problem's cost units
    if interrupts.interrupted():
        routing.CancelSearch()


def solve(
    problem: RoutingProblem,
    time_limit_s: float = 10.0,
    seed: int = 0,
    first_solution: str = "PARALLEL_CHEAPEST_INSERTION",
    metaheuristic: str = "GUIDED_LOCAL_SEARCH",
    solution_limit: int | None = None,
    log_search: bool = False,
    **options: Any,
) -> RouteSolution:
    """Solve ``problem`` with OR-Tools' routing library.

    Parameters
    ----------
    problem
        A validated routing problem.
    time_limit_s
        Wall-clock limit of building the model and searching; with
        ``solution_limit`` only a safety cap (``info["stopped_by"]`` says
        which ended the search).
    seed
        Recorded in ``info`` only: OR-Tools routing has no random seed (its
        search is deterministic; see ``solution_limit``).
    first_solution
        Name of an OR-Tools ``FirstSolutionStrategy`` (e.g. ``"PATH_CHEAPEST_ARC"``).
    metaheuristic
        Name of an OR-Tools ``LocalSearchMetaheuristic`` (e.g. ``"GREEDY_DESCENT"``).
    solution_limit
        Stop after this many solutions; with a generous ``time_limit_s`` this
        makes runs reproducible, which a wall-clock limit does not.
    log_search
        Let OR-Tools log its search to stderr.
    **options
        ``max_stops`` raises the size limit (:data:`MAX_STOPS`, refused
        beyond it with an error).
        Other options are refused, so that a misspelt one is not ignored.

    Returns
    -------
    RouteSolution
        Routes with reload visits and service start times, dropped stops,
        cost (OR-Tools objective, including drop penalties), ``engine="ortools"``.

    Raises
    ------
    ValueError
        For an unknown strategy name or option.
    RoutingInputError
        When no vehicle can work at all (its shift cannot hold the depot
        turnarounds), building the model uses up the time limit, OR-Tools
        finds no solution, or its solution leaves required stops unserved
        (never returned as a result).
    """
    options.pop("max_iterations", None)  # PyVRP's iteration limit; OR-Tools' counterpart is solution_limit
    max_stops = int(options.pop("max_stops", MAX_STOPS))
    if options:
        raise ValueError(f"unknown OR-Tools engine option(s): {sorted(options)}")
    if len(problem.stops) > max_stops:
        raise RoutingInputError(
            f"{problem.name!r} has {len(problem.stops)} stops, more than the OR-Tools engine routes reliably "
            f"({max_stops}; measured: 250 stops in 60 s, 500 leave half unserved); use engine pyvrp, or split the "
            "problem",
            where=problem.name,
        )
    if any(stop.release_s for stop in problem.stops):
        raise RoutingInputError("the ortools engine does not model release times; use engine pyvrp", where=problem.name)
    if any(stop.delivery for stop in problem.stops):
        raise RoutingInputError("the ortools engine does not model deliveries; use engine pyvrp", where=problem.name)
    first_value = _enum_value(_FIRST, first_solution, "first-solution strategy")
    meta_value = _enum_value(_META, metaheuristic, "metaheuristic")
    started = time.perf_counter()
    model = _Model(problem)
    built_s = time.perf_counter() - started
    nodes = model.manager.GetNumberOfNodes()
    # Building the model is part of the budget: what is left of it is the search's.
    search_s = time_limit_s - built_s
    if search_s <= 0:
        raise RoutingInputError(
            f"building the OR-Tools model of {problem.name!r} ({len(problem.stops)} stops, {nodes} nodes with the "
            f"reload copies) took {built_s:.1f} s, the whole {time_limit_s:g} s time limit; raise the limit or use "
            "engine pyvrp",
            where=problem.name,
        )
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = first_value
    params.local_search_metaheuristic = meta_value
    params.time_limit.FromMilliseconds(max(1, int(round(search_s * 1000))))
    if solution_limit is not None:
        params.solution_limit = int(solution_limit)
    params.log_search = log_search
    report(bound=None, incumbent=None, detail=f"OR-Tools routing, {len(problem.stops)} stops")
    model.routing.AddAtSolutionCallback(lambda: _on_solution(model.routing))
    search_began = time.perf_counter()
    assignment = interrupts.solve(lambda: model.routing.SolveWithParameters(params), stop=model.routing.CancelSearch)
    searched_s = time.perf_counter() - search_began
    status = _STATUS.get(model.routing.status(), str(model.routing.status()))
    info: dict[str, object] = {
        "first_solution": first_solution,
        "metaheuristic": metaheuristic,
        "status": status,
        "seed": seed,
        "solution_limit": solution_limit,
        "time_limit_s": time_limit_s,
        "nodes": nodes,
        "build_s": round(built_s, 3),
        # OR-Tools does not say which limit ended the search; a search that used up its time was ended by it.
        "stopped_by": "time" if searched_s >= 0.98 * search_s else "solutions",
        "stop_copies": sum(1 for n in model.nodes if n.kind == "stop"),
        "reload_nodes": sum(1 for n in model.nodes if n.kind == "reload"),
        "unusable_vehicles": model.unusable,
    }
    if assignment is None:
        raise RoutingInputError(
            f"OR-Tools found no solution ({status}) for {problem.name!r} within "
            f"{time_limit_s:g} s; check windows, shifts and capacities",
            where=problem.name,
        )
    routes, served, repaired, mismatch = model.routes(assignment)
    info["reload_nodes_used"] = sum(1 for r in routes for v in r.visits[1:-1] if v.kind == "depot")
    info["break_repaired"] = repaired
    info["break_mismatch"] = mismatch
    dropped = [i for i in range(len(problem.stops)) if i not in served]
    missing = [problem.stops[i].name for i in dropped if problem.stops[i].required]
    info["required_unserved"] = missing
    if missing:
        # Required stops carry a prohibitive penalty, so leaving one means the search failed, not that it chose to.
        what = "every stop" if len(dropped) == len(problem.stops) else f"{len(missing)} of {len(problem.stops)} stops"
        raise RoutingInputError(
            f"OR-Tools left {what} of {problem.name!r} unserved although they are required ({status} after "
            f"{time.perf_counter() - started:.1f} s of {time_limit_s:g} s, {nodes} nodes, "
            f"{len(model.vehicles)} vehicles; first: {', '.join(missing[:5])}); raise the time limit, add vehicles, "
            "or use engine pyvrp",
            where=problem.name,
        )
    info["ortools_objective"] = assignment.ObjectiveValue()
    # Recomputed from the returned routes, which may have lost idle unloads (zero-length arcs) on the way out.
    cost = route_cost(problem, routes) + sum(problem.stops[i].penalty for i in dropped)
    return RouteSolution(
        routes=routes,
        dropped=dropped,
        cost=float(cost),
        engine="ortools",
        runtime_s=time.perf_counter() - started,
        feasible=not mismatch and not missing,
        info=info,
    )


def _enum_value(enum, name: str, what: str) -> int:
    try:
        return enum.Value.Value(name)
    except (ValueError, AttributeError):
        names = [n for n in enum.DESCRIPTOR.enum_types_by_name["Value"].values_by_name if n != "UNSET"]
        raise ValueError(f"unknown OR-Tools {what} {name!r}; choose one of {names}") from None


class _Model:
    """The OR-Tools model of one problem, and the way back to netplan's routes."""

    def __init__(self, problem: RoutingProblem):
        self.p = problem
        self.vehicles, self.unusable = self._vehicles()
        if not self.vehicles:
            raise RoutingInputError(
                f"no vehicle can work: every shift is too short for its depot turnarounds ({', '.join(self.unusable)})",
                where=problem.name,
            )
        self.nodes: list[_Node] = []
        depot_node: dict[int, int] = {}
        for veh in self.vehicles:
            for d in (veh.start_depot, veh.end_depot):
                if d not in depot_node:
                    depot_node[d] = len(self.nodes)
                    self.nodes.append(_Node("depot", d, problem.depots[d].location))
        # Vehicles allowed per stop copy, in vehicle (model) indices.
        self.copy_vehicles: dict[int, list[int]] = {}
        self.stop_copies: dict[int, list[int]] = {}
        self._add_stop_copies()
        self.reload_vehicles: dict[int, list[int]] = {}
        self._add_reload_copies()

        starts = [depot_node[v.start_depot] for v in self.vehicles]
        ends = [depot_node[v.end_depot] for v in self.vehicles]
        self.manager = pywrapcp.RoutingIndexManager(len(self.nodes), len(self.vehicles), starts, ends)
        self.routing = pywrapcp.RoutingModel(self.manager)
        self._costs()
        self._disjunctions()
        self._capacities()
        self._time()
        self._shared_counts()

    # --- vehicles and nodes ----------------------------------------------------------------------------------
    def _vehicles(self) -> tuple[list[_Vehicle], list[str]]:
        p = self.p
        out, unusable = [], []
        for t, k, s, e in [
            (ti, ki, a, b)
            for ti, ki in p.vehicles()
            for a in p.vehicle_types[ti].starts()
            for b in p.vehicle_types[ti].ends()
        ]:
            vt = p.vehicle_types[t]
            start, end = p.depots[s], p.depots[e]
            t0 = max(vt.shift.start, start.opens.start)
            end_max = min(vt.shift.end, end.opens.end) - end.turnaround_s
            span = None if vt.max_duration_s is None else vt.max_duration_s - end.turnaround_s
            end_min = max(end.opens.start, t0 + start.turnaround_s)
            start_max = min(start.opens.end, end_max) - start.turnaround_s
            # A break must fit between the first departure and the return, or the vehicle cannot be used at all.
            first_break_ok = all(
                max(b.window.start, t0 + start.turnaround_s) <= b.window.end
                and max(b.window.start, t0 + start.turnaround_s) + b.duration_s <= end_max
                for b in vt.breaks
            )
            if (
                end_min > end_max
                or start_max < t0
                or (span is not None and span < start.turnaround_s)
                or not first_break_ok
            ):
                unusable.append(
                    f"{vt.name}#{k + 1}"
                    + (f" ({start.name} -> {end.name})" if len(vt.starts()) * len(vt.ends()) > 1 else "")
                )
                continue
            out.append(_Vehicle(t, k, s, e, t0, start_max, end_min, end_max, span))
        return out, unusable

    def _shared_counts(self) -> None:
        """A vehicle that may choose its depots is one model vehicle per (start, end) pair, at most one used; a
        fleet cap bounds the used model vehicles of its types."""
        routing, solver = self.routing, self.routing.solver()
        copies: dict[tuple[int, int], list[int]] = {}
        for v, veh in enumerate(self.vehicles):
            copies.setdefault((veh.type_index, veh.number), []).append(v)
        for group in copies.values():
            if len(group) > 1:
                solver.Add(solver.Sum([routing.ActiveVehicleVar(v) for v in group]) <= 1)
        for cap in self.p.fleet_caps:
            group = [v for v, veh in enumerate(self.vehicles) if veh.type_index in cap.types]
            if len({(self.vehicles[v].type_index, self.vehicles[v].number) for v in group}) > cap.max_vehicles:
                solver.Add(solver.Sum([routing.ActiveVehicleVar(v) for v in group]) <= cap.max_vehicles)

    def _add_stop_copies(self) -> None:
        p = self.p
        profile_vehicles: dict[str, list[int]] = {}
        for v, veh in enumerate(self.vehicles):
            profile_vehicles.setdefault(p.vehicle_types[veh.type_index].profile, []).append(v)
        for s, stop in enumerate(p.stops):
            by_piece: dict[Interval, list[int]] = {}
            for profile, vehicles in profile_vehicles.items():
                for piece in stop.allowed(profile, p.horizon):
                    # Only vehicles that can carry the stop at all: keeps useless copies out of the search.
                    usable = [
                        v
                        for v in vehicles
                        if all(
                            q <= c for q, c in zip(stop.demand, p.vehicle_types[self.vehicles[v].type_index].capacity)
                        )
                    ]
                    if usable:
                        by_piece.setdefault(piece, []).extend(usable)
            self.stop_copies[s] = []
            for piece in sorted(by_piece):
                self.copy_vehicles[len(self.nodes)] = sorted(by_piece[piece])
                self.stop_copies[s].append(len(self.nodes))
                self.nodes.append(_Node("stop", s, stop.location, piece))

    def _add_reload_copies(self) -> None:
        p = self.p
        if not p.stops:
            return
        total = np.sum([s.demand for s in p.stops], axis=0)
        # One pool of unload copies per depot, shared by every vehicle that may unload there (whatever its type):
        # a pool per type and depot multiplied the nodes by the number of types without adding any choice.
        users: dict[int, list[int]] = {}
        for v, veh in enumerate(self.vehicles):
            for d in dict.fromkeys(p.vehicle_types[veh.type_index].reload_depots):
                users.setdefault(d, []).append(v)
        for d in sorted(users):
            vehicles = users[d]
            types = sorted({self.vehicles[v].type_index for v in vehicles})
            # Trips to carry everything in the smallest vehicle unloading here, and each vehicle's own cap.
            trips = max(int(max(math.ceil(q / c) for q, c in zip(total, p.vehicle_types[t].capacity))) for t in types)
            # A required last unload is one more visit per vehicle, outside its max_reloads.
            last = sum(1 for v in vehicles if p.vehicle_types[self.vehicles[v].type_index].unload_before_end)
            caps = [p.vehicle_types[self.vehicles[v].type_index].max_reloads for v in vehicles]
            limit = sum(min(trips, trips if cap is None else cap) for cap in caps)
            pool = min(limit, trips + len(vehicles), len(p.stops)) + last
            for _ in range(pool):
                self.reload_vehicles[len(self.nodes)] = vehicles
                self.nodes.append(_Node("reload", d, p.depots[d].location))

    def _service(self, node: _Node) -> int:
        if node.kind == "stop":
            return self.p.stops[node.index].service_s
        return self.p.depots[node.index].turnaround_s

    # --- model parts ------------------------------------------------------------------------------------------
    def _matrix(self, values: np.ndarray) -> list[list[int]]:
        locs = np.array([n.location for n in self.nodes])
        return values[np.ix_(locs, locs)].astype(np.int64).tolist()

    def _costs(self) -> None:
        p, routing = self.p, self.routing
        callbacks: dict[tuple[str, int, int], int] = {}
        for v, veh in enumerate(self.vehicles):
            vt = p.vehicle_types[veh.type_index]
            key = (vt.profile, vt.distance_cost, vt.duration_cost)
            if key not in callbacks:
                prof = p.profiles[vt.profile]
                cost = (
                    prof.distance.astype(np.int64) * vt.distance_cost
                    + prof.duration.astype(np.int64) * vt.duration_cost
                )
                callbacks[key] = routing.RegisterTransitMatrix(self._matrix(cost))
            routing.SetArcCostEvaluatorOfVehicle(callbacks[key], v)
            routing.SetFixedCostOfVehicle(vt.fixed_cost, v)

    def _disjunctions(self) -> None:
        routing, manager = self.routing, self.manager
        for s, copies in self.stop_copies.items():
            stop = self.p.stops[s]
            if not copies:
                continue
            indices = [manager.NodeToIndex(n) for n in copies]
            if stop.required:
                # A mandatory disjunction makes the whole search fail when the first-solution heuristic cannot place
                # a stop (tight fleets); a prohibitive penalty instead lets it start with the stop left out and insert
                # it later. A required stop still unserved at the end makes the result infeasible.
                routing.AddDisjunction(indices, _REQUIRED_PENALTY)
            else:
                routing.AddDisjunction(indices, int(stop.penalty))
            for n, index in zip(copies, indices):
                self._allow(index, self.copy_vehicles[n])
        for n, vehicles in self.reload_vehicles.items():
            index = manager.NodeToIndex(n)
            routing.AddDisjunction([index], 0)
            self._allow(index, vehicles)

    def _allow(self, index: int, vehicles: list[int]) -> None:
        if len(vehicles) == len(self.vehicles):
            return
        try:
            self.routing.SetAllowedVehiclesForIndex(vehicles, index)
        except TypeError:
            # The SWIG wrapper of ortools 9.15 lacks the absl::Span typemap; restricting the vehicle variable is
            # equivalent (-1 keeps the copy free to stay unperformed).
            self.routing.VehicleVar(index).SetValues([-1, *vehicles])

    def _capacities(self) -> None:
        p, routing, manager = self.p, self.routing, self.manager
        has_reloads = bool(self.reload_vehicles)
        for d, dim in enumerate(p.dimensions):
            caps = [int(p.vehicle_types[veh.type_index].capacity[d]) for veh in self.vehicles]
            big = max(caps)
            demand = [
                p.stops[n.index].demand[d] if n.kind == "stop" else (-big if n.kind == "reload" else 0)
                for n in self.nodes
            ]
            cb = routing.RegisterUnaryTransitVector([int(q) for q in demand])
            routing.AddDimensionWithVehicleCapacity(cb, big if has_reloads else 0, caps, True, f"load_{dim}")
            load = routing.GetDimensionOrDie(f"load_{dim}")
            for v, veh in enumerate(self.vehicles):
                if p.vehicle_types[veh.type_index].unload_before_end:
                    # A required last unload: nothing may be carried into the end depot.
                    load.CumulVar(routing.End(v)).SetMax(0)
            if has_reloads:
                # Slack only where the vehicle unloads: elsewhere the load on arrival is exact.
                for index in range(routing.Size()):
                    if routing.IsEnd(index):
                        continue
                    if routing.IsStart(index) or self.nodes[manager.IndexToNode(index)].kind != "reload":
                        load.SlackVar(index).SetValue(0)
        # The required last unload is not a reload: it gets one more unload visit to count.
        limits = [
            None if vt.max_reloads is None else vt.max_reloads + int(vt.unload_before_end)
            for vt in (self.p.vehicle_types[veh.type_index] for veh in self.vehicles)
        ]
        if has_reloads and any(m is not None for m in limits):
            cb = routing.RegisterUnaryTransitVector([1 if n.kind == "reload" else 0 for n in self.nodes])
            cap = len(self.reload_vehicles)
            routing.AddDimensionWithVehicleCapacity(
                cb, 0, [cap if m is None else int(m) for m in limits], True, "reloads"
            )

    def _time(self) -> None:
        p, routing, manager = self.p, self.routing, self.manager
        service = np.array([self._service(n) for n in self.nodes], dtype=np.int64)
        callbacks: dict[str, int] = {}
        per_vehicle = []
        for veh in self.vehicles:
            profile = p.vehicle_types[veh.type_index].profile
            if profile not in callbacks:
                travel = np.array(self._matrix(p.profiles[profile].duration), dtype=np.int64)
                callbacks[profile] = routing.RegisterTransitMatrix((travel + service[:, None]).tolist())
            per_vehicle.append(callbacks[profile])
        horizon = max([p.horizon.end] + [vt.shift.end for vt in p.vehicle_types] + [d.opens.end for d in p.depots])
        routing.AddDimensionWithVehicleTransits(per_vehicle, horizon, horizon, False, "time")
        self.time = routing.GetDimensionOrDie("time")
        for n, node in enumerate(self.nodes):
            if node.kind == "depot":
                continue
            index = manager.NodeToIndex(n)
            if node.kind == "stop":
                assert node.piece is not None  # every stop copy is made for one piece
                # Half-open pieces: the last allowed start is one second before the end.
                self.time.CumulVar(index).SetRange(node.piece.start, node.piece.end - 1)
            else:
                opens = p.depots[node.index].opens
                self.time.CumulVar(index).SetRange(opens.start, opens.end - p.depots[node.index].turnaround_s)
        solver = routing.solver()
        visit_transits = [int(service[manager.IndexToNode(i)]) for i in range(routing.Size())]
        for v, veh in enumerate(self.vehicles):
            vt = p.vehicle_types[veh.type_index]
            start, end = routing.Start(v), routing.End(v)
            # The simulator starts a vehicle when the engine says (never before the shift), so the start may float.
            self.time.CumulVar(start).SetRange(veh.start_min, veh.start_max)
            self.time.CumulVar(end).SetRange(veh.end_min, veh.end_max)
            if veh.max_span is not None:
                self.time.SetSpanUpperBoundForVehicle(veh.max_span, v)
            # Finish as early as possible, then start as late as that allows: no idle time at either end.
            routing.AddVariableMinimizedByFinalizer(self.time.CumulVar(end))
            routing.AddVariableMaximizedByFinalizer(self.time.CumulVar(start))
            if vt.breaks:
                turnaround = p.depots[veh.start_depot].turnaround_s
                intervals = []
                for b, brk in enumerate(vt.breaks):
                    interval = solver.FixedDurationIntervalVar(
                        max(brk.window.start, veh.start_min + turnaround),
                        brk.window.end,
                        brk.duration_s,
                        False,
                        f"break {b} of vehicle {v}",
                    )
                    # The simulator takes breaks at a departure: never before the first one, never after the return.
                    solver.Add(interval.StartExpr() >= self.time.CumulVar(start) + turnaround)
                    solver.Add(interval.EndExpr() <= self.time.CumulVar(end))
                    intervals.append(interval)
                self.time.SetBreakIntervalsOfVehicle(intervals, v, visit_transits)

    # --- back to netplan ----------------------------------------------------------------------------------------
    def routes(self, assignment) -> tuple[list[Route], set[int], list[str], list[str]]:
        """Routes of the used vehicles, the stops served, routes reordered to suit the greedy breaks, and routes
        the simulator will reject."""
        routing, manager = self.routing, self.manager
        routes, served, repaired, mismatch = [], set(), [], []
        for v, veh in enumerate(self.vehicles):
            vt = self.p.vehicle_types[veh.type_index]
            sequence: list[_Node] = []
            index = routing.Start(v)
            while True:
                sequence.append(self.nodes[manager.IndexToNode(index)])
                if routing.IsEnd(index):
                    break
                index = assignment.Value(routing.NextVar(index))
            if not any(n.kind == "stop" for n in sequence):
                continue
            sequence = _drop_idle_reloads(sequence, keep_last=vt.unload_before_end)
            start_s = assignment.Value(self.time.CumulVar(routing.Start(v)))
            times, issues = replay(self.p, vt, sequence, start_s)
            label = f"{vt.name}#{veh.number + 1}"
            if issues:
                # OR-Tools placed a break where the simulator's greedy rule would not: look for an order that suits it.
                fixed = _repair(self.p, vt, sequence, start_s, veh.start_min, veh.start_max)
                if fixed is None:
                    mismatch.append(f"{label}: " + "; ".join(issues))
                else:
                    sequence, times = fixed
                    repaired.append(label)
            visits = []
            for node, t in zip(sequence, times):
                visits.append(Visit("stop" if node.kind == "stop" else "depot", node.index, int(round(t))))
                if node.kind == "stop":
                    served.add(node.index)
            routes.append(Route(veh.type_index, veh.number, tuple(visits)))
        return routes, served, repaired, mismatch


def route_cost(problem: RoutingProblem, routes: list[Route]) -> int:
    """Fixed and arc costs of ``routes`` in the problem's cost unit.

    Parameters
    ----------
    problem
        The routing problem.
    routes
        Routes of any engine.

    Returns
    -------
    int
        Sum over routes of the vehicle's fixed cost and, per leg, distance x
        ``distance_cost`` + travel time x ``duration_cost``.
    """
    total = 0
    for route in routes:
        vt = problem.vehicle_types[route.vehicle_type]
        prof = problem.profiles[vt.profile]
        locs = [
            problem.stops[v.index].location if v.kind == "stop" else problem.depots[v.index].location
            for v in route.visits
        ]
        total += vt.fixed_cost
        for a, b in zip(locs, locs[1:]):
            total += int(prof.distance[a, b]) * vt.distance_cost + int(prof.duration[a, b]) * vt.duration_cost
    return total


def _drop_idle_reloads(sequence: list[_Node], *, keep_last: bool = False) -> list[_Node]:
    """Remove unloads that unload nothing at the place the vehicle already is.

    Unused reload nodes cost nothing when they follow a visit of the same
    depot (zero-length arcs), so OR-Tools leaves them in; they would only
    add turnarounds to the schedule. With ``keep_last`` (a required last
    unload) an unload just before an end depot at the same place is kept.
    """
    out = [sequence[0]]
    for i, node in enumerate(sequence[1:-1], start=1):
        if node.kind == "reload":
            prev, nxt = out[-1], sequence[i + 1]
            if (prev.kind != "stop" and prev.location == node.location) or (
                not keep_last and nxt.kind == "depot" and nxt.location == node.location
            ):
                continue
        out.append(node)
    out.append(sequence[-1])
    return out


def replay(
    problem: RoutingProblem, vt: VehicleType, sequence: list[_Node], start_s: float | None = None
) -> tuple[list[float], list[str]]:
    """Earliest schedule of a node sequence under the simulator's driving and break policy.

    Parameters
    ----------
    problem
        The routing problem.
    vt
        The vehicle's type.
    sequence
        Start depot, stop and reload copies, end depot.
    start_s
        Planned arrival at the start depot (the simulator never starts
        before the shift and the depot's opening).

    Returns
    -------
    times
        Service (turnaround) start per node.
    issues
        Rules the schedule breaks (a stop's allowed times missed, load,
        shift end, working time, depot hours, a break not taken): only
        possible when the simulator's greedy breaks differ from the model's
        break placement, or for a reordered sequence.
    """
    p = problem
    issues: list[str] = []
    breaks = sorted(vt.breaks, key=lambda b: b.window.start)
    taken = [False] * len(breaks)
    prof = p.profiles[vt.profile]
    first = p.depots[sequence[0].index]
    t = float(max(vt.shift.start, first.opens.start, start_s or 0))
    times = [t]
    t += first.turnaround_s
    load = np.zeros(len(p.dimensions))
    capacity = np.asarray(vt.capacity)
    for prev, node in zip(sequence, sequence[1:]):
        for i, brk in enumerate(breaks):
            # Same rule as the simulator: a break starts at the first departure inside its window, or never.
            if not taken[i] and brk.window.start <= t <= brk.window.end:
                t += brk.duration_s
                taken[i] = True
        arrive = t + float(prof.duration[prev.location, node.location])
        if node.kind == "stop":
            stop = p.stops[node.index]
            start = None
            for piece in stop.allowed(vt.profile, p.horizon):
                if arrive < piece.end:
                    start = max(arrive, float(piece.start))
                    break
            if start is None:
                issues.append(f"reaches stop {stop.name!r} at {arrive:.0f} s, after the times open to it")
                start = arrive
            t = start + stop.service_s
            load += stop.demand
            if np.any(load > capacity):
                issues.append(f"over capacity after stop {stop.name!r}")
        else:
            depot = p.depots[node.index]
            start = max(arrive, float(depot.opens.start))
            if start + depot.turnaround_s > depot.opens.end:
                issues.append(f"at depot {depot.name!r} after closing")
            t = start + depot.turnaround_s
            load[:] = 0
        times.append(start)
    if t > vt.shift.end:
        issues.append(f"finishes at {t:.0f} s, after the shift")
    if vt.max_duration_s is not None and t - times[0] > vt.max_duration_s:
        issues.append("works longer than max_duration_s")
    for brk, done in zip(breaks, taken):
        if not done:
            issues.append(f"break {brk.window} not taken")
    return times, issues


#: Largest route (stops and unloads) whose orders are all tried when its breaks need repair.
_REPAIR_EXHAUSTIVE = 7


def _repair(  # noqa: C901 - staged search sharing closures over one route
    problem: RoutingProblem, vt: VehicleType, sequence: list[_Node], planned: int, start_min: int, start_max: int
) -> tuple[list[_Node], list[float]] | None:
    """A schedule of a route that the simulator's greedy breaks accept, if one is found.

    First the same order with another start time (OR-Tools may idle
    anywhere, the simulator never does, so a later start can move the
    greedy break to where the model had it); then the cheapest reordering:
    every order for short routes, for longer ones a descent over single
    relocations that first reduces the number of broken rules, then the cost.
    """
    inner = sequence[1:-1]
    prof = problem.profiles[vt.profile]
    step = max(60, (start_max - start_min) // 200)
    for start in sorted(range(start_min, start_max + 1, step), key=lambda t: abs(t - planned)):
        times, issues = replay(problem, vt, sequence, start)
        if not issues:
            return sequence, times
    starts = [planned, start_min]

    def cost(seq: list[_Node]) -> int:
        return sum(
            int(prof.distance[a.location, b.location]) * vt.distance_cost
            + int(prof.duration[a.location, b.location]) * vt.duration_cost
            for a, b in zip(seq, seq[1:])
        )

    def evaluate(order) -> tuple[int, int, list[_Node], list[float]]:
        seq = [sequence[0], *order, sequence[-1]]
        best: tuple[int, int, list[_Node], list[float]] | None = None
        for start in starts:
            times, issues = replay(problem, vt, seq, start)
            if best is None or len(issues) < best[0]:
                best = (len(issues), cost(seq), seq, times)
        assert best is not None  # starts is never empty
        return best

    if len(inner) <= _REPAIR_EXHAUSTIVE:
        found = None
        seen = set()
        for order in itertools.permutations(inner):
            key = tuple((n.kind, n.index) for n in order)
            if key in seen:
                continue
            seen.add(key)
            bad, c, seq, times = evaluate(order)
            if bad == 0 and (found is None or c < found[0]):
                found = (c, seq, times)
        return None if found is None else (found[1], found[2])
    current = list(inner)
    score = evaluate(current)
    for _ in range(20 * len(inner)):
        improved = False
        for i in range(len(current)):
            for j in range(len(current)):
                if i == j:
                    continue
                trial = current[:i] + current[i + 1 :]
                trial.insert(j, current[i])
                result = evaluate(trial)
                if result[:2] < score[:2]:
                    current, score, improved = trial, result, True
                    break
            if improved:
                break
        if not improved:
            break
    return (score[2], score[3]) if score[0] == 0 else None
