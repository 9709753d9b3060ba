"""Routing engines behind one call: :func:`solve` dispatches on the engine's name."""

from __future__ import annotations

from netplan.route.drops import fill_drops
from netplan.route.problem import RoutingProblem
from netplan.route.simulate import simulate
from netplan.route.solution import RouteSolution

ENGINES = ("pyvrp", "ortools")


def solve(problem: RoutingProblem, engine: str = "pyvrp", time_limit_s: float = 10.0, seed: int = 0,
          **options: object) -> RouteSolution:
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
    **options
        Engine-specific options.

    Returns
    -------
    RouteSolution
        The engine's best solution, with every dropped optional stop that a
        vehicle still has time and room for served when that costs less than
        its penalty (:func:`netplan.route.drops.fill_drops`; ``info["filled"]``
        names them, ``info["drop_insertion_cost"]`` gives the cheapest
        feasible insertion of each stop still dropped).
    """
    if engine == "pyvrp":
        from netplan.route.engines.pyvrp import solve as run
    elif engine == "ortools":
        from netplan.route.engines.ortools import solve as run
    else:
        raise ValueError(f"unknown routing engine {engine!r}; choose one of {ENGINES}")
    solution = run(problem, time_limit_s=time_limit_s, seed=seed, **options)
    return _fill(problem, solution)


def _fill(problem: RoutingProblem, solution: RouteSolution) -> RouteSolution:
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
