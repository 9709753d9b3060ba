"""Fleet minimisation: no more vehicles than the day needs (issue 14).

PyVRP's local search moves one stop at a time, and a route that serves a
few dozen stops cannot be emptied that way once every stop on it sits well
where it is: a search that starts from its random solution, which spreads
the stops over the whole fleet, keeps nearly every vehicle busy although a
vehicle's fixed cost is far above what merging routes costs in driving. So,
as PyVRP's own ``minimise_fleet`` does (which takes one vehicle type, no
optional stops and single trips only), the fleet is cut and the search run
again, here warm-started from the previous routes:

1. remove the ``cut`` routes with the least work (busy time, then load) and
   cap every vehicle type at the routes it keeps;
2. re-solve from the kept routes (the removed stops are inserted by the first
   local search) within ``iterations`` PyVRP iterations;
3. keep the new plan only if PyVRP calls it feasible, it drops no stop the
   previous plan served (a required stop stays required; an optional one is
   not given up to save a vehicle), it costs less (fixed + distance +
   duration + uncollected penalties, the objective the engines minimise) and
   the schedule simulator accepts it.

Each cut is half the gap between the routes used and a work estimate (the
first plan's busy vehicle-seconds over the longest shift), at least one; a
rejected cut is halved, for at most ``rounds`` re-solves. Everything is
decided by the seed and the iteration budgets, so the result is the same in
any process.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import replace
from typing import Any

from pyvrp.exceptions import PenaltyBoundWarning

from netplan.route.problem import RoutingProblem
from netplan.route.simulate import simulate
from netplan.route.solution import Route, RouteSolution


def minimise_fleet(
    problem: RoutingProblem,
    solution: RouteSolution,
    *,
    rounds: int,
    iterations: int,
    seed: int = 0,
    time_limit_s: float = 60.0,
) -> RouteSolution:
    """Try to serve the same stops with fewer vehicles at a lower cost; return the best plan found.

    Parameters
    ----------
    problem
        The routing problem ``solution`` solves.
    solution
        A plan of ``problem`` (the step does nothing unless it is feasible).
    rounds
        At most this many re-solves (0: none).
    iterations
        PyVRP iterations per re-solve.
    seed
        PyVRP's seed for every re-solve.
    time_limit_s
        A safety cap per re-solve; a re-solve it ends is not kept, and ``info["stopped_by"]`` becomes ``"time"``
        (the plan then depends on the machine's speed, which the collection day warns about).

    Returns
    -------
    RouteSolution
        ``solution`` itself or a cheaper plan with fewer vehicles that serves every stop it serves;
        ``info["fleet"]`` records every round (vehicles tried, cost, whether kept).
    """
    if not solution.feasible or rounds < 1:
        return solution
    if len(solution.routes) < 2:
        solution.info.update(fleet=[], fleet_vehicles=[len(solution.routes)] * 2)
        return solution
    best = solution
    estimate = _work_estimate(problem, best)
    cut = max(1, math.ceil((len(best.routes) - estimate) / 2))
    history: list[dict[str, Any]] = []
    spent = 0.0
    for _ in range(rounds):
        cut = min(cut, len(best.routes) - 1)
        if cut < 1:
            break
        candidate = _resolve(problem, best, cut, iterations=iterations, seed=seed, time_limit_s=time_limit_s)
        kept = _better(problem, best, candidate)
        history.append(
            {
                "vehicles": len(best.routes) - cut,
                "used": len(candidate.routes),
                "cost": candidate.cost,
                "feasible": candidate.feasible,
                "dropped": len(candidate.dropped),
                "stopped_by": candidate.info.get("stopped_by"),
                "kept": kept,
            }
        )
        spent += candidate.runtime_s
        if kept:
            best = _carry_info(solution, candidate)
            cut = max(1, math.ceil((len(best.routes) - estimate) / 2))
        elif cut == 1:
            break
        else:
            cut //= 2
    best.info["fleet"] = history
    if any(step["stopped_by"] == "time" for step in history):
        best.info["stopped_by"] = "time"  # the rounds' outcome, and so the plan, depends on the machine's speed
    best.info["fleet_vehicles"] = [len(solution.routes), len(best.routes)]
    best.runtime_s = solution.runtime_s + spent
    return best


def _work_estimate(problem: RoutingProblem, solution: RouteSolution) -> int:
    """Vehicles the plan's busy time would fill if every vehicle worked its longest shift (at least 1)."""
    shift = max(
        min(vt.shift.end - vt.shift.start, vt.max_duration_s or vt.shift.end - vt.shift.start)
        for vt in problem.vehicle_types
    )
    return max(1, math.ceil(sum(_busy(r) for r in solution.routes) / max(1, shift)))


def _busy(route: Route) -> int:
    """Seconds from the route's first to its last visit (0 without schedule times)."""
    times = [v.start_s for v in route.visits if v.start_s is not None]
    return max(times) - min(times) if times else 0


def _load(problem: RoutingProblem, route: Route) -> int:
    return sum(sum(problem.stops[s].demand) for s in route.stops())


def _resolve(
    problem: RoutingProblem, best: RouteSolution, cut: int, *, iterations: int, seed: int, time_limit_s: float
) -> RouteSolution:
    """Re-solve with the ``cut`` least-busy routes removed and each type capped at the routes it keeps."""
    from netplan.route.engines.pyvrp import solve as pyvrp_solve

    order = sorted(best.routes, key=lambda r: (_busy(r), _load(problem, r), r.vehicle_type, r.vehicle))
    keep = sorted(order[cut:], key=lambda r: (r.vehicle_type, r.vehicle))
    types = sorted({r.vehicle_type for r in keep})  # a type left with no route leaves the reduced problem
    counts = {t: sum(1 for r in keep if r.vehicle_type == t) for t in types}
    reduced = replace(
        problem,
        vehicle_types=[replace(problem.vehicle_types[t], count=counts[t]) for t in types],
        fleet_caps=(),  # caps bind nothing below the original counts (the pyvrp engine refuses binding ones)
    )
    numbered: dict[int, int] = {}
    start_routes = []
    for r in keep:
        k = numbered[r.vehicle_type] = numbered.get(r.vehicle_type, -1) + 1
        start_routes.append(replace(r, vehicle_type=types.index(r.vehicle_type), vehicle=k))
    start = replace(best, routes=start_routes, info={})
    with warnings.catch_warnings():
        # a cut too deep leaves PyVRP no feasible plan and it warns of its penalty ceiling; the round's record
        # (info["fleet"]) says so, and the plan before the cut is kept
        warnings.simplefilter("ignore", PenaltyBoundWarning)
        result = pyvrp_solve(reduced, time_limit_s=time_limit_s, seed=seed, max_iterations=iterations, initial=start)
    result.routes = [replace(r, vehicle_type=types[r.vehicle_type]) for r in result.routes]
    from netplan.route.engines import fill_dropped

    return fill_dropped(problem, result)


def _better(problem: RoutingProblem, best: RouteSolution, candidate: RouteSolution) -> bool:
    """Whether ``candidate`` may replace ``best`` (see the module docstring)."""
    return (
        candidate.feasible
        and candidate.info.get("stopped_by") != "time"
        and set(candidate.dropped) <= set(best.dropped)
        and candidate.cost < best.cost
        and simulate(problem, candidate).ok
    )


def _carry_info(first: RouteSolution, candidate: RouteSolution) -> RouteSolution:
    """The candidate with the first solve's record (seed, budget, starts) and its own drop record."""
    mine = ("drop_insertion_cost", "filled", "fill_rejected")
    candidate.info = {
        **{k: v for k, v in first.info.items() if k not in mine},
        **{k: v for k, v in candidate.info.items() if k in mine},
    }
    return candidate
