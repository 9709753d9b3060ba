"""What every location model shares: the result type and the solver plumbing.

Models (one class each, as in spopt) are built from plain numpy arrays —
a cost or distance matrix, demand weights, capacities — and also from
GeoDataFrames plus the city, through :func:`network_costs`. They never see a
graph. ``solve(time_limit, seed)`` returns a :class:`LocationResult` with the
open sites, the assignment, status, objective, best bound, gap and time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from ortools.linear_solver import pywraplp

from netplan import interrupts
from netplan.city import City
from netplan.progress import report

Status = Literal["optimal", "feasible", "infeasible", "no_solution"]


@dataclass
class LocationResult:
    """The outcome of one location model.

    Attributes
    ----------
    model
        Model name (``"p-median"``, ``"LSCP"``, ...).
    status
        ``"optimal"`` (proven), ``"feasible"`` (a solution with a gap),
        ``"infeasible"`` (proven to have none) or ``"no_solution"`` (none
        found within the time limit).
    open
        Boolean mask over candidate sites: which are open.
    assignment
        For each demand point, the index of the site serving it (-1 when
        unserved or uncovered). With split assignment, the site serving the
        largest share.
    objective
        Objective value of the solution (NaN if none).
    bound
        Best proven bound: a lower bound for minimisation, an upper bound
        for maximisation.
    gap
        Relative gap ``|objective - bound| / max(|objective|, 1e-9)``; 0 when
        optimal.
    solve_time
        Wall-clock seconds.
    solver
        Which engine produced it (``"SCIP"``, ``"HiGHS"``, ``"CP-SAT"``,
        ``"heuristic+lagrangian"``, ...).
    sense
        ``"min"`` or ``"max"``.
    flows
        With split assignment: share of each demand point's weight served by
        each site (``n x m``); None otherwise.
    details
        Anything model-specific (iterations, formulation, sizes).
    """

    model: str
    status: Status
    open: np.ndarray
    assignment: np.ndarray
    objective: float
    bound: float
    gap: float
    solve_time: float
    solver: str
    sense: Literal["min", "max"] = "min"
    flows: np.ndarray | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def open_indices(self) -> np.ndarray:
        """Indices of open sites, ascending."""
        return np.flatnonzero(self.open)

    @property
    def n_open(self) -> int:
        """Number of open sites."""
        return int(self.open.sum())

    def summary(self) -> dict[str, Any]:
        """Scalar fields for tables and KPIs."""
        return {
            "model": self.model,
            "status": self.status,
            "open": self.n_open,
            "objective": self.objective,
            "bound": self.bound,
            "gap": self.gap,
            "solve_time_s": round(self.solve_time, 3),
            "solver": self.solver,
        }


def relative_gap(objective: float, bound: float) -> float:
    """``|objective - bound| / max(|objective|, 1e-9)``, or inf when either is missing."""
    if not (np.isfinite(objective) and np.isfinite(bound)):
        return float("inf")
    return abs(objective - bound) / max(abs(objective), 1e-9)


_STATUS = {
    pywraplp.Solver.OPTIMAL: "optimal",
    pywraplp.Solver.FEASIBLE: "feasible",
    pywraplp.Solver.INFEASIBLE: "infeasible",
    pywraplp.Solver.NOT_SOLVED: "no_solution",
    pywraplp.Solver.ABNORMAL: "no_solution",
    pywraplp.Solver.UNBOUNDED: "no_solution",
}

_SCIP_HEURISTICS = [
    "actconsdiving",
    "adaptivediving",
    "alns",
    "bound",
    "clique",
    "coefdiving",
    "conflictdiving",
    "crossover",
    "dins",
    "distributiondiving",
    "dps",
    "dualval",
    "farkasdiving",
    "feaspump",
    "fixandinfer",
    "fracdiving",
    "gins",
    "guideddiving",
    "indicator",
    "indicatordiving",
    "intdiving",
    "intshifting",
    "linesearchdiving",
    "localbranching",
    "locks",
    "lpface",
    "multistart",
    "mutation",
    "mpec",
    "nlpdiving",
    "objpscostdiving",
    "octane",
    "ofins",
    "oneopt",
    "padm",
    "proximity",
    "pscostdiving",
    "randrounding",
    "rens",
    "reoptsols",
    "repair",
    "rins",
    "rootsoldiving",
    "rounding",
    "scheduler",
    "shiftandpropagate",
    "shifting",
    "simplerounding",
    "subnlp",
    "trivial",
    "trivialnegation",
    "trustregion",
    "twoopt",
    "undercover",
    "vbounds",
    "veclendiving",
    "zeroobj",
    "zirounding",
]

SCIP_BOUND_ONLY = "".join(f"heuristics/{name}/freq = -1\n" for name in _SCIP_HEURISTICS)
"""SCIP settings for a MIP solved only for its lower bound: primal heuristics off.

On the city-scale relaxations the root heuristics take most of the time and
a solution of a relaxation is of no use. ``completesol`` stays on, so a hint
still becomes an incumbent that prunes the search.
"""

SOLVER_NAMES = {"SCIP": "SCIP", "HIGHS": "HiGHS", "CBC": "CBC", "CP_SAT": "CP-SAT"}


def make_mip(backend: str = "SCIP") -> pywraplp.Solver:
    """A pywraplp MIP solver for ``backend`` (``SCIP``, ``HIGHS``, ``CBC``, ``CP_SAT``).

    Parameters
    ----------
    backend
        OR-Tools backend name.

    Returns
    -------
    pywraplp.Solver
        The solver.
    """
    solver = pywraplp.Solver.CreateSolver(backend)
    if solver is None:
        raise RuntimeError(f"OR-Tools has no {backend} backend in this build")
    return solver


def run_mip(
    solver: pywraplp.Solver,
    backend: str,
    time_limit: float,
    seed: int,
    threads: int = 1,
    node_limit: int | None = None,
    mip_gap: float = 1e-7,
    scip_params: str = "",
    cutoff: float | None = None,
) -> tuple[Status, float, float, float]:
    """Solve a built pywraplp model with a time limit and a seed.

    Parameters
    ----------
    solver
        The model.
    backend
        Its backend name (decides how the seed is passed).
    time_limit
        Seconds.
    seed
        Random seed for the backend (same seed, same answer).
    threads
        Worker threads (1 keeps runs deterministic).
    node_limit
        Stop after this many branch-and-bound nodes (SCIP, HiGHS). Unlike a
        wall-clock limit, it ends a search at the same point on any machine,
        so a run that stops early is still reproducible.
    mip_gap
        Relative gap at which the search stops and calls the result optimal.
    scip_params
        Further SCIP settings (``name = value`` lines), e.g.
        :data:`SCIP_BOUND_ONLY` for a model solved only for its bound.
    cutoff
        HiGHS only: search only for solutions below this objective. When there
        are none HiGHS reports ``"infeasible"`` or some value at or above it:
        either only says the model's optimum is at least ``cutoff``.

    Returns
    -------
    tuple
        Status, objective (NaN if no solution), best bound, seconds.
    """
    solver.SetTimeLimit(int(max(time_limit, 0.01) * 1000))
    params = {
        # misc/catchctrlc: SCIP would swallow a Ctrl-C and return its cut-short plan; interrupts.solve stops it instead
        "SCIP": f"randomization/randomseedshift = {seed}\nparallel/maxnthreads = {threads}\nmisc/catchctrlc = FALSE\n"
        + (f"limits/totalnodes = {int(node_limit)}\n" if node_limit else "")
        + scip_params,
        "HIGHS": f"random_seed={seed}\nthreads={threads}\noutput_flag=false\n"
        + (f"mip_max_nodes={int(node_limit)}\n" if node_limit else "")
        + (f"objective_bound={float(cutoff)!r}\n" if cutoff is not None and np.isfinite(cutoff) else ""),
        "CP_SAT": f"random_seed:{seed} num_workers:{max(threads, 1)}",
        "CBC": "",
    }.get(backend, "")
    if params:
        solver.SetSolverSpecificParametersAsString(params)
    # pywraplp's default relative gap (1e-4) would let "optimal" mean up to 0.01 % off: prove it properly.
    mip_params = pywraplp.MPSolverParameters()
    mip_params.SetDoubleParam(pywraplp.MPSolverParameters.RELATIVE_MIP_GAP, mip_gap)
    start = time.perf_counter()
    report(bound=None, incumbent=None, detail=f"{backend} MIP, {solver.NumVariables():,} variables")
    code = interrupts.solve(lambda: solver.Solve(mip_params), stop=solver.InterruptSolve)
    elapsed = time.perf_counter() - start
    status: Status = _STATUS.get(code, "no_solution")  # type: ignore[assignment]
    has_solution = status in ("optimal", "feasible")
    objective = solver.Objective().Value() if has_solution else float("nan")
    try:
        bound = solver.Objective().BestBound()
    except Exception:  # some backends do not expose a bound
        bound = float("nan")
    if status == "optimal":
        bound = objective
    report(bound=bound, incumbent=objective)
    return status, objective, bound, elapsed


def network_costs(
    city: City,
    demand: pd.DataFrame,
    sites: pd.DataFrame,
    mode: Literal["walk", "drive"] = "walk",
    weight: str = "length",
    limit: float | None = None,
) -> np.ndarray:
    """Travel cost from every demand point to every site on the city's network.

    Uses the snapping columns the demand and sites stages write
    (``walk_node``/``offset_m`` for demand, ``<mode>_node``/``<mode>_offset_m``
    for sites) and snaps afresh when they are missing.

    Parameters
    ----------
    city
        The city.
    demand, sites
        GeoDataFrames (WGS-84).
    mode
        ``"walk"`` (residents to collection points) or ``"drive"``.
    weight
        ``"length"`` (m) or ``"travel_time"`` (s; offsets are then converted
        at the network's mean speed for walk, ignored for drive).
    limit
        Bound the search; pairs beyond become ``inf``.

    Returns
    -------
    numpy.ndarray
        ``len(demand) x len(sites)`` costs.
    """
    net = city.network(mode)
    a_nodes, a_off = _nodes(net, demand, mode, "demand")
    b_nodes, b_off = _nodes(net, sites, mode, "sites")
    if weight != "length":
        a_off = np.zeros_like(a_off)
        b_off = np.zeros_like(b_off)
    return net.point_matrix(a_nodes, a_off, b_nodes, b_off, weight=weight, limit=limit)


def network_pairs(
    city: City,
    demand: pd.DataFrame,
    sites: pd.DataFrame,
    mode: Literal["walk", "drive"] = "walk",
    *,
    radius: float,
    nearest: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The (demand row, site row, road length) pairs within ``radius``, without a dense matrix.

    The same pairs and lengths as keeping ``network_costs(..., limit=radius) <= radius``
    (and the ``nearest`` per row), from searches bounded by the radius
    (:meth:`~netplan.city.network.Network.point_arcs`): memory grows with the
    pairs found, so a whole city's candidates fit.

    Parameters
    ----------
    city
        The city.
    demand, sites
        GeoDataFrames (WGS-84) with the snapping columns (see :func:`network_costs`).
    mode
        ``"walk"`` or ``"drive"``.
    radius
        Longest road length kept (m).
    nearest
        Keep at most this many nearest sites per demand row (None = all within the radius).

    Returns
    -------
    tuple of numpy.ndarray
        Demand rows, site rows and lengths (m), sorted by demand row then site row.
    """
    net = city.network(mode)
    a_nodes, a_off = _nodes(net, demand, mode, "demand")
    b_nodes, b_off = _nodes(net, sites, mode, "sites")
    arcs = net.point_arcs(a_nodes, a_off, b_nodes, b_off, radius=float(radius), nearest=nearest)
    return arcs.src, arcs.dst, arcs.cost


def _nodes(net: Any, frame: pd.DataFrame, mode: str, role: str) -> tuple[np.ndarray, np.ndarray]:
    candidates = [(f"{mode}_node", f"{mode}_offset_m")]
    if mode == "walk":
        candidates.append(("walk_node", "offset_m"))
    for node_col, off_col in candidates:
        if node_col in frame.columns and off_col in frame.columns:
            return frame[node_col].to_numpy(dtype=np.int64), frame[off_col].to_numpy(dtype=float)
    snapped = net.snap(frame)
    return snapped.node, snapped.offset_m
