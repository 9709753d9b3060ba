"""Coverage models for collection points: LSCP and MCLP.

* :class:`LSCP` (location set covering): the fewest collection points (or the
  cheapest set) so that every demand point lies within walking distance ``r``
  of one, counting the points that already exist.
* :class:`MCLP` (maximal covering): with ``p`` points, maximise the households
  or kg/day within ``r``.

Both are small integer programs over the sparse "who covers whom" relation
and are solved exactly with OR-Tools (CP-SAT by default, which measured
fastest on these pure 0-1 models; SCIP and HiGHS are selectable).
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import numpy as np
import pandas as pd
from ortools.linear_solver import pywraplp
from ortools.sat.python import cp_model

from netplan import interrupts
from netplan.city import City
from netplan.locate.base import SOLVER_NAMES, LocationResult, make_mip, network_costs, relative_gap, run_mip

_CP_STATUS = {
    cp_model.OPTIMAL: "optimal",
    cp_model.FEASIBLE: "feasible",
    cp_model.INFEASIBLE: "infeasible",
    cp_model.UNKNOWN: "no_solution",
    cp_model.MODEL_INVALID: "no_solution",
}


def _cover_sets(distance: np.ndarray, radius: float) -> list[np.ndarray]:
    return [np.flatnonzero(row <= radius) for row in distance]


def _nearest_open(distance: np.ndarray, open_mask: np.ndarray, radius: float | None) -> np.ndarray:
    if not open_mask.any():
        return np.full(distance.shape[0], -1)
    sub = np.where(open_mask[None, :], distance, np.inf)
    best = sub.argmin(axis=1)
    reach = sub[np.arange(len(best)), best]
    ok = np.isfinite(reach) if radius is None else reach <= radius
    return np.where(ok, best, -1)


class _CoverageModel:
    """Shared parts: data, constructors, validation."""

    name = "coverage"

    def __init__(
        self,
        distance: np.ndarray,
        radius: float,
        weights: np.ndarray | None = None,
        fixed_open: Iterable[int] = (),
        site_cost: np.ndarray | None = None,
    ):
        self.distance = np.asarray(distance, dtype=float)
        if self.distance.ndim != 2:
            raise ValueError("distance must be a 2-D matrix (demand x sites)")
        n, m = self.distance.shape
        self.radius = float(radius)
        self.weights = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
        if self.weights.shape != (n,):
            raise ValueError(f"weights must have one value per demand row ({n}), got shape {self.weights.shape}")
        if (self.weights < 0).any():
            raise ValueError("weights must be >= 0")
        self.fixed_open = np.zeros(m, dtype=bool)
        fixed = np.asarray(list(fixed_open), dtype=int)
        if len(fixed) and (fixed.min() < 0 or fixed.max() >= m):
            raise ValueError(f"fixed_open indices must lie in 0..{m - 1}")
        self.fixed_open[fixed] = True
        self.site_cost = np.ones(m) if site_cost is None else np.asarray(site_cost, dtype=float)
        self.covers = _cover_sets(self.distance, self.radius)

    @classmethod
    def from_cost_matrix(cls, distance: np.ndarray, radius: float, **kwargs):
        """Build the model from a demand x site distance matrix.

        Parameters
        ----------
        distance
            Walking distances (``inf`` = unreachable).
        radius
            Service radius in the matrix's units.
        **kwargs
            ``weights``, ``fixed_open``, and the model's own options (``p``
            for MCLP, ``site_cost`` for LSCP).

        Returns
        -------
        The model.
        """
        return cls(distance, radius, **kwargs)

    @classmethod
    def from_geodataframes(
        cls,
        city: City,
        demand: pd.DataFrame,
        sites: pd.DataFrame,
        radius: float,
        weight_col: str | None = "households",
        fixed_col: str | None = "existing",
        **kwargs,
    ):
        """Build the model from demand points and candidate sites on the city's walk network.

        Parameters
        ----------
        city
            The city (walk network).
        demand, sites
            GeoDataFrames from the demand and sites stages.
        radius
            Walking radius in metres.
        weight_col
            Demand column to weight by (``households`` or ``kg_day``); None = 1 each.
        fixed_col
            Boolean site column marking sites that must stay open (existing).
        **kwargs
            Model options (``p`` for MCLP).

        Returns
        -------
        The model.
        """
        distance = network_costs(city, demand, sites, "walk", "length", limit=radius)
        weights = demand[weight_col].to_numpy(dtype=float) if weight_col else None
        fixed = np.flatnonzero(sites[fixed_col].to_numpy(dtype=bool)) if fixed_col and fixed_col in sites else ()
        return cls(distance, radius, weights=weights, fixed_open=fixed, **kwargs)

    def _result(
        self,
        status: str,
        open_mask: np.ndarray,
        objective: float,
        bound: float,
        elapsed: float,
        backend: str,
        sense: str,
        details: dict,
    ) -> LocationResult:
        """Package a solve: nearest-open assignment, and bound and gap consistent with the status."""
        return LocationResult(
            model=self.name,
            status=status,  # type: ignore[arg-type]
            open=open_mask,
            assignment=_nearest_open(self.distance, open_mask, self.radius),
            objective=objective,
            bound=objective if status == "optimal" else bound,
            gap=0.0 if status == "optimal" else relative_gap(objective, bound),
            solve_time=elapsed,
            solver=SOLVER_NAMES.get(backend, backend),
            sense=sense,  # type: ignore[arg-type]
            details=details,
        )

    def _cp_site_vars(self, model: cp_model.CpModel) -> list[cp_model.IntVar]:
        """One open-or-not variable per site in a CP-SAT model, the ``fixed_open`` ones held open."""
        y_cp = [model.new_bool_var(f"y{j}") for j in range(self.distance.shape[1])]
        for j in np.flatnonzero(self.fixed_open):
            model.add(y_cp[j] == 1)
        return y_cp

    def _mip_with_sites(self, backend: str) -> tuple[pywraplp.Solver, list[pywraplp.Variable]]:
        """A new MIP with one open-or-not variable per site, the ``fixed_open`` ones held open."""
        solver = make_mip(backend)
        y = [solver.BoolVar(f"y{j}") for j in range(self.distance.shape[1])]
        for j in np.flatnonzero(self.fixed_open):
            y[j].SetLb(1)
        return solver, y

    def uncoverable(self) -> np.ndarray:
        """Demand rows (with positive weight) that no site can cover."""
        return np.flatnonzero(np.array([len(c) == 0 for c in self.covers]) & (self.weights > 0))

    def covered_weight(self, open_mask: np.ndarray) -> float:
        """Total weight within the radius of an open site (recomputed from the matrix)."""
        covered = (
            (self.distance[:, open_mask] <= self.radius).any(axis=1)
            if open_mask.any()
            else np.zeros(len(self.weights), bool)
        )
        return float(self.weights[covered].sum())


def _solve_cp(model: cp_model.CpModel, time_limit: float, seed: int) -> tuple[cp_model.CpSolver, str, float]:
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = float(time_limit)
    solver.parameters.random_seed = int(seed)
    solver.parameters.num_workers = 1
    solver.parameters.catch_sigint_signal = False  # a Ctrl-C must end the run, not return a cut-short cover
    start = time.perf_counter()
    code = interrupts.solve(lambda: solver.Solve(model), stop=solver.StopSearch)
    return solver, _CP_STATUS.get(code, "no_solution"), time.perf_counter() - start


def _solve_cp_sites(
    model: cp_model.CpModel, y_cp: list[cp_model.IntVar], *, scale: float, time_limit: float, seed: int
) -> tuple[str, np.ndarray, float, float]:
    """Solve a CP-SAT coverage model and read its open sites and its bound (unscaled).

    Returns
    -------
    tuple
        Status, open-site mask (all closed without a solution), bound (NaN without a solution), seconds.
    """
    solver, status, elapsed = _solve_cp(model, time_limit, seed)
    if status in ("optimal", "feasible"):
        return status, np.array([solver.Value(v) == 1 for v in y_cp]), solver.BestObjectiveBound() / scale, elapsed
    return status, np.zeros(len(y_cp), bool), float("nan"), elapsed


def _solve_mip_sites(
    solver: pywraplp.Solver, y: list[pywraplp.Variable], *, backend: str, time_limit: float, seed: int
) -> tuple[str, np.ndarray, float, float]:
    """Solve a MIP coverage model and read its open sites.

    Returns
    -------
    tuple
        Status, open-site mask (all closed without a solution), the solver's bound, seconds.
    """
    status, _, bound, elapsed = run_mip(solver, backend, time_limit, seed)
    open_mask = (
        np.array([v.solution_value() > 0.5 for v in y]) if status in ("optimal", "feasible") else np.zeros(len(y), bool)
    )
    return status, open_mask, bound, elapsed


class LSCP(_CoverageModel):
    """Location set covering: cover every demand point within ``radius`` at least cost.

    With the default unit ``site_cost`` this is the fewest collection points;
    sites in ``fixed_open`` (existing points) are open and counted.
    """

    name = "LSCP"

    def solve(self, time_limit: float = 60.0, seed: int = 0, backend: str = "CP_SAT") -> LocationResult:
        """Solve to optimality (or the time limit).

        Parameters
        ----------
        time_limit
            Seconds.
        seed
            Solver seed.
        backend
            ``"CP_SAT"`` (default), ``"SCIP"`` or ``"HIGHS"``.

        Returns
        -------
        LocationResult
            Open sites, nearest-open assignment, status, objective (cost or
            count), bound and gap.

        Raises
        ------
        ValueError
            When some demand point has no site within the radius (the worst
            offenders are named by row and weight).
        """
        bad = self.uncoverable()
        if len(bad):
            worst = bad[np.argsort(-self.weights[bad], kind="stable")][:5]
            listed = ", ".join(f"row {i} (weight {self.weights[i]:g})" for i in worst)
            raise ValueError(f"{len(bad)} demand point(s) have no candidate site within {self.radius:g} m: {listed}")
        m = self.distance.shape[1]
        needed = [c for c, w in zip(self.covers, self.weights) if w > 0]
        if backend == "CP_SAT":
            scale = _integer_scale(self.site_cost)
            model = cp_model.CpModel()
            y_cp = self._cp_site_vars(model)
            for cover in needed:
                model.add_bool_or([y_cp[j] for j in cover])
            model.minimize(sum(int(round(self.site_cost[j] * scale)) * y_cp[j] for j in range(m)))
            status, open_mask, bound, elapsed = _solve_cp_sites(
                model, y_cp, scale=scale, time_limit=time_limit, seed=seed
            )
        else:
            solver, y = self._mip_with_sites(backend)
            for cover in needed:
                solver.Add(sum(y[j] for j in cover) >= 1)
            solver.Minimize(sum(float(self.site_cost[j]) * y[j] for j in range(m)))
            status, open_mask, bound, elapsed = _solve_mip_sites(
                solver, y, backend=backend, time_limit=time_limit, seed=seed
            )
        objective = float(self.site_cost[open_mask].sum()) if status in ("optimal", "feasible") else float("nan")
        details = {"radius": self.radius, "demand": len(needed), "sites": m, "fixed_open": int(self.fixed_open.sum())}
        return self._result(status, open_mask, objective, bound, elapsed, backend, "min", details)


class MCLP(_CoverageModel):
    """Maximal covering: open ``p`` sites (existing ones included) to cover the most weight within ``radius``."""

    name = "MCLP"

    def __init__(
        self,
        distance: np.ndarray,
        radius: float,
        p: int,
        weights: np.ndarray | None = None,
        fixed_open: Iterable[int] = (),
    ):
        super().__init__(distance, radius, weights, fixed_open)
        m = self.distance.shape[1]
        if not (1 <= p <= m):
            raise ValueError(f"p must be between 1 and the number of sites ({m}), got {p}")
        if p < int(self.fixed_open.sum()):
            raise ValueError(f"p = {p} is less than the {int(self.fixed_open.sum())} sites that must stay open")
        self.p = int(p)

    def solve(self, time_limit: float = 60.0, seed: int = 0, backend: str = "CP_SAT") -> LocationResult:
        """Solve to optimality (or the time limit).

        Parameters
        ----------
        time_limit
            Seconds.
        seed
            Solver seed.
        backend
            ``"CP_SAT"`` (default), ``"SCIP"`` or ``"HIGHS"``.

        Returns
        -------
        LocationResult
            Open sites, assignment (-1 = uncovered), covered weight as the
            objective and an upper bound (sense ``"max"``).
        """
        rows = [i for i, c in enumerate(self.covers) if len(c) and self.weights[i] > 0]
        if backend == "CP_SAT":
            scale = _integer_scale(self.weights)
            model = cp_model.CpModel()
            # z after y as before; a constraint numbers no variable, so the model is the one it always was
            y_cp = self._cp_site_vars(model)
            z_cp = {i: model.new_bool_var(f"z{i}") for i in rows}
            model.add(sum(y_cp) == self.p)
            for i in rows:
                model.add_bool_or([y_cp[j] for j in self.covers[i]]).OnlyEnforceIf(z_cp[i])
            model.maximize(sum(int(round(self.weights[i] * scale)) * z_cp[i] for i in rows))
            status, open_mask, bound, elapsed = _solve_cp_sites(
                model, y_cp, scale=scale, time_limit=time_limit, seed=seed
            )
        else:
            solver, y = self._mip_with_sites(backend)
            z = {i: solver.NumVar(0, 1, f"z{i}") for i in rows}
            solver.Add(sum(y) == self.p)
            for i in rows:
                solver.Add(z[i] <= sum(y[j] for j in self.covers[i]))
            solver.Maximize(sum(float(self.weights[i]) * z[i] for i in rows))
            status, open_mask, bound, elapsed = _solve_mip_sites(
                solver, y, backend=backend, time_limit=time_limit, seed=seed
            )
        objective = self.covered_weight(open_mask) if status in ("optimal", "feasible") else float("nan")
        details = {"radius": self.radius, "p": self.p, "total_weight": float(self.weights.sum())}
        return self._result(status, open_mask, objective, bound, elapsed, backend, "max", details)


def _integer_scale(values: np.ndarray) -> float:
    """CP-SAT needs integer coefficients: scale so the values keep about 6 significant digits."""
    values = np.asarray(values, dtype=float)
    positive = values[values > 0]
    if len(positive) == 0:
        return 1.0
    if np.allclose(positive, np.round(positive)) and positive.max() < 1e9:
        return 1.0
    return float(10 ** max(0, 6 - int(np.floor(np.log10(positive.max())))))
