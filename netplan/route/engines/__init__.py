"""Routing engines behind one call: :func:`solve` dispatches on the engine's name.

Several independent starts (``starts``) share the search budget: start ``k``
runs with seed ``seed + k`` and ``max_iterations // starts`` iterations (or
``cpu_limit_s / starts`` CPU seconds, the benchmarks' rule), in ``workers``
processes (one per core by default), and the best result wins (feasible
first, then cost, ties to the lowest seed). Each start is decided by its seed
and budget alone, so the result does not depend on the number of workers or
on their timing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from netplan.processes import default_workers, worker_pool
from netplan.route.audit import audit_drops
from netplan.route.drops import fill_drops
from netplan.route.fleet import minimise_fleet
from netplan.route.problem import RoutingProblem
from netplan.route.simulate import simulate
from netplan.route.solution import RouteSolution

ENGINES = ("pyvrp", "ortools")


def solve(
    problem: RoutingProblem,
    engine: str = "pyvrp",
    time_limit_s: float = 10.0,
    seed: int = 0,
    *,
    starts: int = 1,
    workers: int | None = None,
    fleet_rounds: int = 0,
    fleet_iterations: int | None = None,
    **options: Any,
) -> RouteSolution:
    """Solve ``problem`` with the named engine.

    Parameters
    ----------
    problem
        A validated routing problem.
    engine
        ``"pyvrp"`` (default; hybrid genetic search) or ``"ortools"``
        (OR-Tools routing with guided local search).
    time_limit_s
        Wall-clock limit; a safety cap when the engine's budget option
        (``max_iterations`` for PyVRP, ``solution_limit`` for OR-Tools) is
        given, which is what makes results reproducible.
    seed
        Random seed (same seed, same problem, same budget: same routes).
    starts
        Independent starts sharing the budget (PyVRP only: OR-Tools' search
        has no seed); see the module docstring.
    workers
        Processes for the starts (default: one per core, at most ``starts``).
    fleet_rounds
        After the search, at most this many warm-started re-solves with the
        fleet cut (PyVRP only; :func:`netplan.route.fleet.minimise_fleet`):
        a cheaper plan with fewer vehicles that drops no stop more is kept.
    fleet_iterations
        PyVRP iterations per such re-solve (default: half of
        ``max_iterations``, or 1,000 without it).
    **options
        Engine-specific options.

    Returns
    -------
    RouteSolution
        The engine's best solution, with every dropped optional stop that a
        vehicle still has time and room for served when that costs less than
        its penalty (:func:`netplan.route.drops.fill_drops`; ``info["filled"]``
        names them, ``info["drop_insertion_cost"]`` gives the cheapest
        feasible insertion of each stop still dropped), and the simulator's
        own check of the stops still left in ``info["drop_audit"]``
        (:func:`netplan.route.audit.audit_drops`: the stops a vehicle could
        have served, and how many stops it checked). With several starts
        ``info["starts"]`` lists every start's seed, cost and drops.
    """
    if engine not in ENGINES:
        raise ValueError(f"unknown routing engine {engine!r}; choose one of {ENGINES}")
    if starts < 1:
        raise ValueError(f"starts must be at least 1, got {starts}")
    if fleet_rounds and engine != "pyvrp":
        raise ValueError(f"fleet minimisation (fleet_rounds) needs engine pyvrp's warm starts, not {engine}")
    best = _search(problem, engine, time_limit_s, seed, starts, workers, options)
    if fleet_rounds < 1:
        return audited(problem, best)
    budget = options.get("max_iterations")
    per_round = fleet_iterations or (max(1, int(budget) // 2) if budget is not None else 1000)
    fewer = minimise_fleet(
        problem, best, rounds=fleet_rounds, iterations=per_round, seed=seed, time_limit_s=time_limit_s
    )
    return audited(problem, fewer)


def solve_with(problem: RoutingProblem, options: dict[str, Any]) -> RouteSolution:
    """:func:`solve` with its arguments in one mapping: what a worker process is handed (see ``route.collection``).

    Parameters
    ----------
    problem
        A validated routing problem.
    options
        :func:`solve`'s keyword arguments (``engine``, ``time_limit_s``, ``seed``, ``starts``, budgets, ...).

    Returns
    -------
    RouteSolution
        As :func:`solve`.
    """
    return solve(problem, **options)


def _search(
    problem: RoutingProblem,
    engine: str,
    time_limit_s: float,
    seed: int,
    starts: int,
    workers: int | None,
    options: dict[str, Any],
) -> RouteSolution:
    """The engine's search: one start, or several sharing the budget (see the module docstring)."""
    if starts == 1:
        return _one(problem, engine, time_limit_s, seed, options)
    if engine != "pyvrp":
        raise ValueError(f"several starts need a seeded engine (pyvrp); {engine}'s search has no seed")
    budget = options.get("max_iterations")
    if budget is not None:
        options = {**options, "max_iterations": max(1, int(budget) // starts)}
    if options.get("cpu_limit_s") is not None:  # a CPU budget is shared like an iteration budget
        options = {**options, "cpu_limit_s": float(options["cpu_limit_s"]) / starts}
    workers = max(1, min(starts, workers or default_workers()))
    # Without an iteration budget the clock is the budget: the starts share it.
    limit = time_limit_s if budget is not None else time_limit_s * workers / starts
    seeds = [seed + k for k in range(starts)]
    if workers == 1:
        results = [_one(problem, engine, limit, s, options) for s in seeds]
    else:
        with worker_pool(workers) as pool:
            results = pool.starmap(_one, [(problem, engine, limit, s, options) for s in seeds], chunksize=1)
    best = min(results, key=lambda r: (not r.feasible, r.cost, r.info.get("seed", 0)))
    best.info["starts"] = [
        {
            "seed": r.info.get("seed"),
            "cost": r.cost,
            "feasible": r.feasible,
            "dropped": len(r.dropped),
            "iterations": r.info.get("iterations"),
            "stopped_by": r.info.get("stopped_by"),
        }
        for r in results
    ]
    if any(r.info.get("stopped_by") == "time" for r in results):
        best.info["stopped_by"] = "time"
    best.info["workers"] = workers
    return best


def _one(
    problem: RoutingProblem, engine: str, time_limit_s: float, seed: int, options: dict[str, Any]
) -> RouteSolution:
    """One start: the engine's search, then the dropped stops a vehicle still has time for."""
    run: Callable[..., RouteSolution]  # the engines share the leading arguments, not their options
    if engine == "pyvrp":
        from netplan.route.engines.pyvrp import solve as pyvrp_solve

        run = pyvrp_solve
    else:
        from netplan.route.engines.ortools import solve as ortools_solve

        run = ortools_solve
    solution = run(problem, time_limit_s=time_limit_s, seed=seed, **options)
    return fill_dropped(problem, solution)


def fill_dropped(problem: RoutingProblem, solution: RouteSolution) -> RouteSolution:
    """Serve the dropped stops a vehicle still has time and room for (kept only if the simulator agrees)."""
    if not solution.dropped or not solution.feasible:
        return solution
    filled, cheapest = fill_drops(problem, solution)
    if filled is not solution:
        check = simulate(problem, filled)
        if check.ok:
            solution = filled
        else:  # the insertion check and the simulator disagree: keep the engine's result, and say so
            solution.info["fill_rejected"] = check.violations[:3]
    solution.info["drop_insertion_cost"] = cheapest
    return solution


def audited(problem: RoutingProblem, solution: RouteSolution) -> RouteSolution:
    """``solution`` with ``info["drop_audit"]``: the simulator's own check of the stops it leaves
    (:func:`netplan.route.audit.audit_drops`), when it is feasible and leaves any."""
    if solution.dropped and solution.feasible:
        audit = audit_drops(problem, solution)
        solution.info["drop_audit"] = {
            "servable": [dataclasses.asdict(found) for found in audit.servable],
            "checked": audit.checked,
            "unchecked": audit.unchecked,
            "replays": audit.replays,
        }
    return solution
