"""Routing engines behind one call: :func:`solve` dispatches on the engine's name."""

from __future__ import annotations

from netplan.route.problem import RoutingProblem
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
        Wall-clock limit.
    seed
        Random seed (same seed, same problem: same routes, given the same
        number of iterations; see the engines' docs).
    **options
        Engine-specific options.

    Returns
    -------
    RouteSolution
        The engine's best solution.
    """
    if engine == "pyvrp":
        from netplan.route.engines.pyvrp import solve as run
    elif engine == "ortools":
        from netplan.route.engines.ortools import solve as run
    else:
        raise ValueError(f"unknown routing engine {engine!r}; choose one of {ENGINES}")
    return run(problem, time_limit_s=time_limit_s, seed=seed, **options)
