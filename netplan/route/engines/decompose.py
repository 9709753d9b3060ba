"""Route-based decomposition for PyVRP's search on large instances (Santini, Schneider, Vidal and Vigo 2023).

The whole-instance search runs first; then, in each round, the incumbent's
routes are split into groups of nearby routes (by the polar angle of each
route's centroid around the clients' barycentre, the split rotated from one
round to the next), and each group becomes a subproblem: the clients of those
routes, every depot, and exactly the vehicles those routes use (a vehicle
keeps its type, hence its depots). Each subproblem is searched from its
current routes and its result kept only if it is feasible and cheaper; the
routes are stitched back and the whole-instance search goes on from there.

The budget is split in fixed shares (:class:`DecompositionSettings`) of
whatever limits the search: iterations when ``max_iterations`` is given (then
the routes are the same for the same seed and budget on any machine), else
CPU seconds, else the wall clock. Subproblems share a round's budget in
proportion to their clients.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pyvrp
from pyvrp.stop import MaxIterations, MaxRuntime, MultipleCriteria

#: PyVRP's penalties: per load dimension, time warp, excess distance.
Penalties = tuple[list[float], float, float]
#: ``run(data, stop, seed, start, penalties)``: netplan's PyVRP search (the engine's ``_run``), with the penalties
#: to start from (``None``: the instance's initial ones); its result and the penalties at its end.
Runner = Callable[
    [pyvrp.ProblemData, Any, int, pyvrp.Solution | None, Penalties | None], tuple[pyvrp.Result, Penalties]
]


@dataclass(frozen=True)
class DecompositionSettings:
    """How a decomposed search spends its budget.

    The defaults are the better of the two configurations measured on the
    Vidal instances of 700-960 customers at 60 CPU seconds (see the README's
    "Multi-depot VRPTW"): 30 % of the budget for the first whole-instance
    search, then three rounds of which 80 % goes to subproblems of about 200
    clients.

    Attributes
    ----------
    group_clients
        Target number of clients per subproblem.
    rounds
        Decomposition rounds after the first whole-instance search.
    first_share
        Share of the budget of the first whole-instance search.
    sub_share
        Share of each round's budget spent on the subproblems; the rest of
        the round goes to the whole-instance search from the stitched routes.
        Each round gets ``(1 - first_share) / rounds`` of the budget.
    """

    group_clients: int = 200
    rounds: int = 3
    first_share: float = 0.3
    sub_share: float = 0.8

    def __post_init__(self) -> None:
        if self.group_clients < 2 or self.rounds < 1:
            raise ValueError(f"group_clients must be >= 2 and rounds >= 1, got {self.group_clients}, {self.rounds}")
        if not (0.0 < self.first_share < 1.0 and 0.0 < self.sub_share <= 1.0):
            raise ValueError(f"first_share must lie in (0, 1) and sub_share in (0, 1], got {self}")


class Budget:
    """Cumulative marks on one budget: a phase ends when the search has used ``mark`` of it since the start.

    Marks are cumulative, so rounding (iterations) and each phase's set-up
    (CPU, wall clock) never add up beyond the total. Global caps (the CPU
    limit, the wall-clock safety cap) hold in every phase.
    """

    def __init__(self, *, max_iterations: int | None, cpu_limit_s: float | None, time_limit_s: float) -> None:
        self.max_iterations, self.cpu_limit_s, self.time_limit_s = max_iterations, cpu_limit_s, time_limit_s
        self.kind = "iterations" if max_iterations is not None else "cpu" if cpu_limit_s is not None else "time"
        self.cpu0, self.wall0 = time.process_time(), time.perf_counter()
        self.iterations = 0

    def stop(self, mark: float) -> MultipleCriteria:
        """The stopping criterion of a phase that ends at ``mark`` (a share of the whole budget, 0-1)."""
        wall_left = max(0.0, self.time_limit_s - (time.perf_counter() - self.wall0))
        criteria: list[Any] = [MaxRuntime(wall_left)]
        if self.cpu_limit_s is not None:
            criteria.append(_CpuUntil(self.cpu0 + self.cpu_limit_s))
        if self.kind == "iterations":
            assert self.max_iterations is not None
            criteria.append(MaxIterations(max(0, round(mark * self.max_iterations) - self.iterations)))
        elif self.kind == "cpu":
            assert self.cpu_limit_s is not None
            criteria.append(_CpuUntil(self.cpu0 + mark * self.cpu_limit_s))
        else:
            criteria.append(MaxRuntime(max(0.0, mark * self.time_limit_s - (time.perf_counter() - self.wall0))))
        return MultipleCriteria(criteria)


class _CpuUntil:
    """Stop once this process's CPU clock passes ``deadline`` (``time.process_time``)."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline

    def __call__(self, best_cost: float) -> bool:
        return time.process_time() > self.deadline


@dataclass
class DecompositionReport:
    """What a decomposed search did (for the solution's ``info``)."""

    iterations: int = 0
    subproblems: int = 0
    improved: int = 0
    gain: int = 0
    costs: list[int] = field(default_factory=list)


def cost(solution: pyvrp.Solution) -> int:
    """A solution's objective: distance, duration and fixed costs plus uncollected prizes."""
    return int(
        solution.distance_cost()
        + solution.duration_cost()
        + solution.fixed_vehicle_cost()
        + solution.uncollected_prizes()
    )


def _clients(route: pyvrp.Route) -> list[int]:
    return [int(a.idx) for a in route.schedule() if a.is_client()]


def route_groups(
    data: pyvrp.ProblemData, routes: list[pyvrp.Route], *, group_clients: int, turn: float
) -> list[list[int]]:
    """Routes split into groups of nearby routes, each of about ``group_clients`` clients.

    Routes are ordered by the polar angle of their clients' centroid around
    the barycentre of all routed clients, starting at the angle ``turn`` (a
    fraction of a group's sector, so that successive rounds cut elsewhere),
    then cut into contiguous groups of balanced client counts. Ties are broken
    by route index, so the groups depend on nothing but the routes.

    Returns
    -------
    list of list of int
        Route indices per group; a single group when the routes hold fewer
        than two groups' clients.
    """
    visits = [_clients(r) for r in routes]
    total = sum(len(v) for v in visits)
    k = total // group_clients
    if k < 2:
        return [list(range(len(routes)))]
    xy = {c: data.location(data.client(c).location) for v in visits for c in v}
    bx = sum(p.x for p in xy.values()) / len(xy)
    by = sum(p.y for p in xy.values()) / len(xy)
    start = 2 * math.pi * (turn % 1.0) / k
    angle: dict[int, float] = {}
    for i, v in enumerate(visits):
        if v:
            cx = sum(xy[c].x for c in v) / len(v) - bx
            cy = sum(xy[c].y for c in v) / len(v) - by
            angle[i] = (math.atan2(cy, cx) - start) % (2 * math.pi)
    order = sorted(angle, key=lambda i: (angle[i], i))
    groups: list[list[int]] = [[] for _ in range(k)]
    seen = 0
    for i in order:
        groups[min(k - 1, seen * k // total)].append(i)
        seen += len(visits[i])
    return [g for g in groups if g]


def _subproblem(
    data: pyvrp.ProblemData, routes: list[pyvrp.Route]
) -> tuple[pyvrp.ProblemData, pyvrp.Solution, list[int], list[int]]:
    """The subproblem of ``routes``: their clients, all depots and locations, one vehicle per route.

    Returns
    -------
    tuple
        The data, the routes as its solution, the original index of each of
        its clients and of each of its vehicle types.
    """
    clients = sorted({c for r in routes for c in _clients(r)})
    new = {c: i for i, c in enumerate(clients)}
    types = sorted({r.vehicle_type() for r in routes})
    counts = {t: sum(1 for r in routes if r.vehicle_type() == t) for t in types}
    sub = data.replace(
        clients=[data.client(c) for c in clients],
        vehicle_types=[data.vehicle_type(t).replace(num_available=counts[t]) for t in types],
        groups=[],
    )
    start = pyvrp.Solution(sub, [_route(sub, r, new, types.index(r.vehicle_type())) for r in routes])
    return sub, start, clients, types


def _route(data: pyvrp.ProblemData, route: pyvrp.Route, client_map: Any, vehicle_type: int) -> pyvrp.Route:
    """``route`` in ``data``'s indices (``client_map[c]``: the client's index there), as vehicle type given."""
    acts = [
        pyvrp.Activity(pyvrp.ActivityType.CLIENT, client_map[int(a.idx)])
        if a.is_client()
        else pyvrp.Activity(pyvrp.ActivityType.DEPOT, int(a.idx))
        for a in route.schedule()[1:-1]
    ]
    return pyvrp.Route(data, acts, vehicle_type)


def _round(
    data: pyvrp.ProblemData,
    best: pyvrp.Solution,
    *,
    run: Runner,
    budget: Budget,
    seed: int,
    marks: tuple[float, float],
    groups: list[list[int]],
    penalties: Penalties,
    report: DecompositionReport,
) -> pyvrp.Solution:
    """Search each group's subproblem between the budget marks ``marks``; the stitched solution.

    Every subproblem starts from the whole-instance search's ``penalties``.
    """
    routes = list(best.routes())
    sizes = [sum(routes[i].num_clients() for i in g) for g in groups]
    done, kept = 0, []
    for g, (group, size) in enumerate(zip(groups, sizes, strict=True)):
        done += size
        sub, start, clients, types = _subproblem(data, [routes[i] for i in group])
        mark = marks[0] + (marks[1] - marks[0]) * done / sum(sizes)
        result, _ = run(sub, budget.stop(mark), seed + 7919 * (g + 1), start, penalties)
        budget.iterations += int(result.num_iterations)
        report.subproblems += 1
        found = result.best
        if found.is_feasible() and cost(found) < cost(start):
            report.improved += 1
            report.gain += cost(start) - cost(found)
            kept += [_route(data, r, clients, types[r.vehicle_type()]) for r in found.routes()]
        else:
            kept += [routes[i] for i in group]
    rest = sorted(set(range(len(routes))) - {i for g in groups for i in g})
    return pyvrp.Solution(data, [routes[i] for i in rest] + kept)


def solve_decomposed(
    data: pyvrp.ProblemData,
    *,
    run: Runner,
    budget: Budget,
    seed: int,
    settings: DecompositionSettings,
    start: pyvrp.Solution | None = None,
) -> tuple[pyvrp.Solution, DecompositionReport]:
    """Whole-instance search, then ``settings.rounds`` rounds of subproblems and whole-instance search.

    Each search after the first starts from the penalties the last
    whole-instance search ended with.

    A round is skipped (its budget goes to the whole-instance search) while
    the incumbent is infeasible, has fewer than two groups' clients, or the
    instance has client groups (mutually exclusive visits are not split).

    Returns
    -------
    tuple
        The best solution found and what the decomposition did.
    """
    report = DecompositionReport()
    result, penalties = run(data, budget.stop(settings.first_share), seed, start, None)
    budget.iterations += int(result.num_iterations)
    best = result.best
    report.costs.append(cost(best))
    per_round = (1.0 - settings.first_share) / settings.rounds
    for r in range(settings.rounds):
        begin = settings.first_share + r * per_round
        split = begin + settings.sub_share * per_round
        routes = list(best.routes())
        groups = route_groups(data, routes, group_clients=settings.group_clients, turn=r * (math.sqrt(5) - 1) / 2)
        if best.is_feasible() and data.num_groups == 0 and len(groups) > 1:
            best = _round(
                data,
                best,
                run=run,
                budget=budget,
                seed=seed + r,
                marks=(begin, split),
                groups=groups,
                penalties=penalties,
                report=report,
            )
            report.costs.append(cost(best))
        result, penalties = run(data, budget.stop(begin + per_round), seed + 104729 * (r + 1), best, penalties)
        budget.iterations += int(result.num_iterations)
        if not best.is_feasible() or (result.best.is_feasible() and cost(result.best) <= cost(best)):
            best = result.best
        report.costs.append(cost(best))
    report.iterations = budget.iterations
    return best, report
