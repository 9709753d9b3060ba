"""Capacitated facility location (CFLP): opening cost plus assignment cost, under capacities.

Each candidate site ``j`` has an opening cost ``f_j`` and a capacity ``u_j``;
each demand point ``i`` has a demand ``d_i``; serving *all* of ``i`` from
``j`` costs ``c_ij`` (``inf`` where not allowed). The model opens sites and
assigns every demand point so that the opening plus assignment cost is
least and no open site receives more than its capacity.

Two variants:

* **split** (``single_source=False``): a demand point may be divided among
  sites; ``x_ij`` is the served share.
* **single source** (the default): every demand point goes to one site.

Both are solved as a MIP in the strong formulation (``x_ij <= y_j`` for
every allowed pair, plus the aggregate cut ``sum_j u_j y_j >= sum_i d_i``)
with variables only for allowed pairs. When the MIP cannot prove optimality
within the time limit, a Lagrangian relaxation of the assignment constraints
supplies a valid lower bound (and, with a transportation or assignment step
on its open set, a solution when the MIP found none).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import optimize, sparse

from netplan.city import City
from netplan.locate.base import SOLVER_NAMES, LocationResult, make_mip, network_costs, relative_gap, run_mip

__all__ = ["CapacitatedLocation", "METHODS"]

METHODS = {"scip": "SCIP", "highs": "HIGHS", "cp-sat": "CP_SAT", "cbc": "CBC"}
"""``solve(method=...)`` names and their OR-Tools backends (plus ``"auto"`` and ``"lagrangian"``)."""

# Chosen from benchmarks/cflp_bench.py on OR-Library cap*/capa (see benchmarks/results/cflp.md).
AUTO_BACKEND = {"split": "HIGHS", "single": "SCIP"}

# pywraplp's default relative MIP gap (1e-4) equals the tolerance the published optima are
# checked to; "optimal" must mean optimal, so solve much tighter than that.
MIP_GAP = 1e-7
# Share of the time limit kept back from the MIP so that, when it cannot finish, the
# Lagrangian relaxation and the heuristic still have time to give a bound and a solution.
LAGRANGIAN_RESERVE = 0.15
# Above this many allowed pairs the root LP of the strong formulation alone can take a minute
# (capa: 100,000 pairs); such instances are first shrunk with the Lagrangian relaxation.
LARGE_ARCS = 20_000
# Share of the time limit the relaxation and heuristic get on large instances before the MIP.
LARGE_LAGRANGIAN_SHARE = 0.3
# Up to this many pairs the heuristic solves single-source assignments exactly (scipy/HiGHS MIP, 2 s at
# most); beyond, or when that finds nothing, it rounds the transportation LP (a fraction of a second).
GAP_MIP_ARCS = 2_000
_TOL = 1e-9
_PREVIEW = 5


class CapacitatedLocation:
    """Capacitated facility location with opening costs, split or single source.

    Build it with :meth:`from_cost_matrix` or :meth:`from_geodataframes`; the
    constructor takes the same arguments as :meth:`from_cost_matrix` and
    checks the instance (infeasible inputs raise ``ValueError`` naming the
    cause).

    Parameters
    ----------
    assign_cost
        ``n x m``: cost of serving all of demand point ``i`` from site ``j``
        (``np.inf`` = not allowed). A share ``x`` costs ``x`` times as much.
    demand
        ``(n,)`` demand of each point (same unit as ``capacity``).
    capacity
        ``(m,)`` capacity of each site.
    open_cost
        ``(m,)`` cost of opening each site.
    single_source
        Serve every demand point from one site (True) or allow splitting.
    fixed_open
        Indices of sites that must be open (existing facilities kept).
    min_open, max_open
        Bounds on the number of open sites (``max_open=None``: no bound).
    name
        Model name shown in results.
    """

    def __init__(
        self,
        assign_cost: np.ndarray,
        demand: np.ndarray,
        capacity: np.ndarray,
        open_cost: np.ndarray,
        single_source: bool = True,
        fixed_open: Sequence[int] = (),
        min_open: int = 0,
        max_open: int | None = None,
        name: str = "CFLP",
    ):
        cost = np.array(assign_cost, dtype=float, ndmin=2, copy=True)
        if cost.ndim != 2:
            raise ValueError(f"assign_cost must be a 2-D n x m matrix, got shape {cost.shape}")
        n, m = cost.shape
        d = _vector(demand, n, "demand")
        u = _vector(capacity, m, "capacity")
        f = _vector(open_cost, m, "open_cost")
        if m == 0:
            raise ValueError("there are no candidate sites (assign_cost has 0 columns)")
        if np.isnan(cost).any():
            raise ValueError("assign_cost contains NaN; use np.inf for pairs that are not allowed")
        if (cost < 0).any():
            raise ValueError("assign_cost must be non-negative (np.inf for pairs that are not allowed)")
        fixed = np.unique(np.asarray(fixed_open, dtype=np.int64).ravel())
        if fixed.size and (fixed.min() < 0 or fixed.max() >= m):
            raise ValueError(f"fixed_open indices must lie in [0, {m}); got {fixed.tolist()[:_PREVIEW]}")
        min_open = int(min_open)
        max_open = m if max_open is None else int(max_open)
        if min_open > m:
            raise ValueError(f"min_open={min_open} exceeds the number of candidate sites ({m})")
        if max_open < max(min_open, 0):
            raise ValueError(f"max_open={max_open} is below min_open={min_open}")
        if fixed.size > max_open:
            raise ValueError(f"{fixed.size} sites are fixed open but max_open={max_open}")

        self.name = name
        self.single_source = bool(single_source)
        self.assign_cost = cost
        self.demand = d
        self.capacity = u
        self.open_cost = f
        self.fixed_open = fixed
        self.min_open = max(min_open, 0)
        self.max_open = max_open
        self.n, self.m = n, m
        self._build_arcs()
        self._check_feasible()
        self._k_lo = max(self.min_open, _min_count(u, self._usable(), fixed, float(d.sum())))

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_cost_matrix(cls, *args: Any, **kwargs: Any) -> CapacitatedLocation:
        """A model from plain arrays: the constructor's arguments, in its order, under its names.

        Parameters
        ----------
        assign_cost
            ``n x m``: cost of serving all of demand point ``i`` from site
            ``j``; ``np.inf`` where not allowed (e.g. beyond a maximum
            distance).
        demand
            ``(n,)`` demand per point.
        capacity
            ``(m,)`` capacity per site, in the unit of ``demand``.
        open_cost
            ``(m,)`` opening cost per site.
        single_source
            One site per demand point (True) or split assignment (False).
        fixed_open
            Site indices forced open.
        min_open, max_open
            Bounds on the number of open sites.
        name
            Model name shown in results.

        Returns
        -------
        CapacitatedLocation
            The model.

        Raises
        ------
        ValueError
            When the instance is malformed or cannot be feasible: total
            capacity (of the sites that can serve anyone, at most
            ``max_open`` of them) below total demand, a demand point with no
            allowed site, or, single source, a demand point larger than the
            capacity of every site allowed to serve it.
        """
        return cls(*args, **kwargs)

    @classmethod
    def from_geodataframes(
        cls,
        city: City,
        demand_gdf: pd.DataFrame,
        sites_gdf: pd.DataFrame,
        demand_col: str = "kg_day",
        capacity_col: str = "cap_t2",
        cost_col: str = "cost_t2",
        cost_per_unit_distance: float = 1.0,
        max_distance: float | None = None,
        mode: Literal["walk", "drive"] = "drive",
        weight: str = "length",
        single_source: bool = True,
        fixed_open: Sequence[int] = (),
        min_open: int = 0,
        max_open: int | None = None,
        name: str = "CFLP",
    ) -> CapacitatedLocation:
        """A model from demand points and candidate sites on the city's network.

        The assignment cost is ``demand_i x distance_ij x cost_per_unit_distance``,
        with the network distance from :func:`~netplan.locate.base.network_costs`;
        pairs farther than ``max_distance`` are not allowed.

        Parameters
        ----------
        city
            The city.
        demand_gdf
            Demand points (WGS-84) with a ``demand_col`` column.
        sites_gdf
            Candidate sites (WGS-84) with capacity and opening-cost columns;
            pass only the sites eligible for the tier being located (a
            missing value raises ``ValueError``).
        demand_col, capacity_col, cost_col
            Column names (defaults: ``kg_day`` and the transfer-station tier's
            ``cap_t2``/``cost_t2``).
        cost_per_unit_distance
            Cost of moving one unit of demand one unit of ``weight``.
        max_distance
            Longest allowed assignment, in the unit of ``weight``.
        mode
            Network: ``"drive"`` or ``"walk"``.
        weight
            ``"length"`` (m) or ``"travel_time"`` (s).
        single_source, fixed_open, min_open, max_open, name
            As in :meth:`from_cost_matrix`; ``fixed_open`` holds positions in
            ``sites_gdf``.

        Returns
        -------
        CapacitatedLocation
            The model.
        """
        for frame, cols, what in ((demand_gdf, [demand_col], "demand"), (sites_gdf, [capacity_col, cost_col], "sites")):
            missing = [c for c in cols if c not in frame.columns]
            if missing:
                raise ValueError(f"{what} has no column {missing}; columns are {list(frame.columns)}")
        for col in (capacity_col, cost_col):
            bad = np.flatnonzero(sites_gdf[col].isna().to_numpy())
            if bad.size:
                raise ValueError(
                    f"sites column {col!r} is missing at positions {bad[:_PREVIEW].tolist()} "
                    f"({bad.size} in all); pass only sites eligible for this tier"
                )
        if not np.isfinite(cost_per_unit_distance) or cost_per_unit_distance < 0:
            raise ValueError(f"cost_per_unit_distance must be finite and >= 0, got {cost_per_unit_distance}")
        dist = network_costs(city, demand_gdf, sites_gdf, mode=mode, weight=weight, limit=max_distance)
        if max_distance is not None:
            dist = np.where(dist <= max_distance, dist, np.inf)
        d = demand_gdf[demand_col].to_numpy(dtype=float)
        # 0 x inf would be NaN: an unreachable pair stays forbidden whatever the demand.
        with np.errstate(invalid="ignore"):
            cost = np.where(np.isfinite(dist), d[:, None] * dist * float(cost_per_unit_distance), np.inf)
        return cls(
            cost,
            d,
            sites_gdf[capacity_col].to_numpy(dtype=float),
            sites_gdf[cost_col].to_numpy(dtype=float),
            single_source=single_source,
            fixed_open=fixed_open,
            min_open=min_open,
            max_open=max_open,
            name=name,
        )

    def _build_arcs(self) -> None:
        allowed = np.isfinite(self.assign_cost)
        if self.single_source:
            # A pair whose demand exceeds the site's capacity can never be used whole.
            allowed &= self.demand[:, None] <= self.capacity[None, :] * (1 + 1e-12)
        rows, cols = np.nonzero(allowed)
        order = np.lexsort((rows, cols))
        self._row = rows[order]
        self._col = cols[order]
        self._cost = self.assign_cost[self._row, self._col]
        self._arc_d = self.demand[self._row]
        self._row_order = np.lexsort((self._col, self._row))
        self._row_order_rows = self._row[self._row_order]

    def _usable(self) -> np.ndarray:
        """Sites that at least one demand point may use."""
        usable = np.zeros(self.m, dtype=bool)
        usable[self._col] = True
        return usable

    def _check_feasible(self) -> None:
        finite = np.isfinite(self.assign_cost)
        orphans = np.flatnonzero(~finite.any(axis=1))
        if orphans.size:
            raise ValueError(
                f"{orphans.size} demand point(s) have no site with a finite assignment cost "
                f"(e.g. none within the maximum distance): indices {_preview(orphans)}"
            )
        d, u = self.demand, self.capacity
        if self.single_source:
            reach_cap = np.where(finite, u[None, :], -np.inf).max(axis=1)
            big = np.flatnonzero(d > reach_cap * (1 + 1e-12))
            if big.size:
                worst = big[np.argsort(-(d[big] - reach_cap[big]), kind="stable")]
                items = ", ".join(f"#{i} (demand {d[i]:g} > {reach_cap[i]:g})" for i in worst[:_PREVIEW])
                scope = (
                    "every site's capacity"
                    if (d[big] > u.max()).all()
                    else "the capacity of every site allowed to serve it"
                )
                raise ValueError(
                    f"single source: {big.size} demand point(s) exceed {scope} "
                    f"(largest capacity {u.max():g}); worst: {items}. Allow split assignment or larger sites."
                )
        best = _best_capacity(u, self._usable(), self.fixed_open, self.max_open)
        total = float(d.sum())
        if best < total * (1 - 1e-12):
            limit = "" if self.max_open >= self.m else f", at most max_open={self.max_open} open"
            raise ValueError(
                f"total capacity {best:g} of the sites that can serve demand{limit} is below total demand "
                f"{total:g}: short by {total - best:g}"
            )

    # ------------------------------------------------------------------ evaluation

    @property
    def variant(self) -> str:
        """``"single"`` or ``"split"``."""
        return "single" if self.single_source else "split"

    def evaluate(
        self, open_mask: np.ndarray, assignment: np.ndarray | None = None, flows: np.ndarray | None = None
    ) -> float:
        """Opening plus assignment cost of a solution (``inf`` if it uses a forbidden pair).

        Parameters
        ----------
        open_mask
            ``(m,)`` booleans: open sites.
        assignment
            ``(n,)`` serving site per demand point (single source).
        flows
            ``n x m`` served shares (split); takes precedence over ``assignment``.

        Returns
        -------
        float
            The cost.
        """
        total = float(self.open_cost[np.asarray(open_mask, dtype=bool)].sum())
        if flows is not None:
            used = flows > 0
            if np.isinf(self.assign_cost[used]).any():
                return float("inf")
            return total + float((self.assign_cost[used] * flows[used]).sum())
        if assignment is None or self.n == 0:
            return total
        return total + float(self.assign_cost[np.arange(self.n), assignment].sum())

    # ------------------------------------------------------------------ solve

    def solve(self, time_limit: float = 60.0, seed: int = 0, method: str = "auto") -> LocationResult:
        """Solve to optimality or until the time limit.

        Small instances go straight to the MIP. Large ones (more than
        ``LARGE_ARCS`` allowed pairs) first run the Lagrangian relaxation
        with its heuristic, close or open the sites whose opposite choice
        provably costs more than the incumbent, and give the MIP the reduced
        problem. Whenever the MIP does not prove optimality, the reported
        bound is the better of the MIP's and the Lagrangian one.

        Parameters
        ----------
        time_limit
            Seconds for the whole solve (model building included).
        seed
            Random seed of the MIP backend; runs are single-threaded, so the
            same seed gives the same answer unless the time limit cuts in.
        method
            ``"auto"`` (the backend measured fastest for the variant),
            ``"scip"``, ``"highs"``, ``"cp-sat"`` (single source only: it
            has no continuous variables), ``"cbc"``, or ``"lagrangian"`` (no
            MIP: Lagrangian bound plus heuristic).

        Returns
        -------
        LocationResult
            Model ``"CFLP-single"`` or ``"CFLP-split"``. For split,
            ``flows`` holds each demand point's share per site and
            ``assignment`` the site with the largest share.
        """
        start = time.perf_counter()
        deadline = start + float(time_limit)
        method = method.lower()
        details: dict[str, Any] = {
            "n": self.n,
            "m": self.m,
            "arcs": int(self._row.size),
            "method": method,
            "min_count": self._k_lo,
        }
        if method == "lagrangian":
            lr = self._lagrangian(deadline, None, details)
            return self._finish(None, -np.inf, lr, "heuristic+lagrangian", start, details)
        backend = AUTO_BACKEND[self.variant] if method == "auto" else METHODS.get(method)
        if backend is None:
            raise ValueError(f"unknown method {method!r}; use 'auto', 'lagrangian' or one of {sorted(METHODS)}")
        if backend == "CP_SAT" and not self.single_source:
            raise ValueError(
                "CP-SAT has no continuous variables, so it cannot solve the split variant; use 'scip' or 'highs'"
            )
        solver = SOLVER_NAMES[backend]
        mip_deadline = start + time_limit * (1 - LAGRANGIAN_RESERVE)
        if self._row.size <= LARGE_ARCS:
            mip_status, sol, mip_bound = self._solve_mip(backend, mip_deadline, seed, details)
            if mip_status == "infeasible":
                return self._result("infeasible", None, np.nan, solver, start, details)
            if mip_status == "optimal" and sol is not None:
                return self._result("optimal", sol, sol.objective, solver, start, details)
            lr = self._lagrangian(deadline, sol, details)
            return self._finish(sol, mip_bound, lr, solver, start, details)
        # Large: the relaxation first, to shrink the MIP and to hand it an incumbent.
        lr_deadline = start + time_limit * LARGE_LAGRANGIAN_SHARE
        lr = self._lagrangian(lr_deadline, None, details)
        incumbent = lr.solution
        if incumbent is None:
            mip_status, sol, mip_bound = self._solve_mip(backend, deadline, seed, details)
            return self._finish(sol, mip_bound, lr, solver, start, details)
        if incumbent.objective - lr.bound <= 1e-9 * max(1.0, abs(incumbent.objective)):
            return self._finish(None, -np.inf, lr, "heuristic+lagrangian", start, details)
        force_open, force_closed = self._fix_sites(lr, incumbent.objective, details)
        mip_status, sol, mip_bound = self._solve_mip(
            backend, deadline, seed, details, force_open=force_open, force_closed=force_closed, hint=incumbent
        )
        if np.isfinite(mip_bound) and force_closed.any() | force_open.any():
            # Solutions cut off by the fixing cost more than the incumbent had when fixing.
            mip_bound = min(mip_bound, incumbent.objective)
        if mip_status == "infeasible":  # only the incumbent (or its equals) survived the fixing
            mip_status, mip_bound = "optimal", incumbent.objective
        if (
            mip_status == "optimal"
            and sol is not None
            and sol.objective <= incumbent.objective + _TOL * max(1.0, abs(incumbent.objective))
        ):
            return self._result("optimal", sol, sol.objective, solver, start, details)
        return self._finish(sol, mip_bound, lr, solver, start, details)

    def _finish(
        self, mip_sol: _Solution | None, mip_bound: float, lr: _Lagrangian, solver: str, start: float, details: dict
    ) -> LocationResult:
        best = mip_sol
        if lr.solution is not None and (
            best is None or lr.solution.objective < best.objective - _TOL * max(1.0, abs(lr.solution.objective))
        ):
            best = lr.solution
            solver = solver if solver.startswith("heuristic") else f"{solver}+heuristic"
        mip_bound = mip_bound if np.isfinite(mip_bound) else -np.inf
        bound = max(mip_bound, lr.bound)
        details["bound_source"] = "lagrangian" if lr.bound >= mip_bound else "mip"
        if best is None:
            return self._result("no_solution", None, bound, solver, start, details)
        status = "optimal" if best.objective - bound <= 1e-9 * max(1.0, abs(best.objective)) else "feasible"
        return self._result(status, best, bound, solver, start, details)

    def _result(
        self, status: str, sol: _Solution | None, bound: float, solver: str, start: float, details: dict
    ) -> LocationResult:
        if sol is None:
            open_mask = np.zeros(self.m, dtype=bool)
            assignment = np.full(self.n, -1, dtype=np.int64)
            objective, flows = float("nan"), None
        else:
            open_mask, assignment, flows, objective = sol.open, sol.assignment, sol.flows, sol.objective
            # A bound above the objective can only be round-off; never report a negative gap.
            bound = min(bound, objective) if np.isfinite(bound) else bound
        gap = 0.0 if status == "optimal" else relative_gap(objective, bound)
        if status == "optimal":
            bound = objective
        return LocationResult(
            model=f"CFLP-{self.variant}",
            status=status,  # type: ignore[arg-type]
            open=open_mask,
            assignment=assignment,
            objective=objective,
            bound=float(bound),
            gap=gap,
            solve_time=time.perf_counter() - start,
            solver=solver,
            sense="min",
            flows=flows,
            details=details,
        )

    # ------------------------------------------------------------------ MIP

    def _solve_mip(
        self,
        backend: str,
        deadline: float,
        seed: int,
        details: dict,
        force_open: np.ndarray | None = None,
        force_closed: np.ndarray | None = None,
        hint: _Solution | None = None,
    ) -> tuple[str, _Solution | None, float]:
        t0 = time.perf_counter()
        mip = make_mip(backend)
        inf = mip.infinity()
        m, n = self.m, self.n
        lower = np.zeros(m)
        lower[self.fixed_open] = 1.0
        if force_open is not None:
            lower[force_open] = 1.0
        upper = np.ones(m)
        if force_closed is not None:
            upper[force_closed] = 0.0
        arcs = np.flatnonzero(upper[self._col] > 0)
        y = [mip.IntVar(float(lower[j]), float(upper[j]), f"y{j}") for j in range(m)]
        make_x = mip.BoolVar if self.single_source else (lambda nm: mip.NumVar(0.0, 1.0, nm))
        x = [make_x(f"x{k}") for k in range(arcs.size)]
        objective = mip.Objective()
        for j in range(m):
            objective.SetCoefficient(y[j], float(self.open_cost[j]))
        assign = [mip.Constraint(1.0, 1.0, f"a{i}") for i in range(n)]
        cap = [mip.Constraint(-inf, 0.0, f"c{j}") for j in range(m)]
        for j in range(m):
            cap[j].SetCoefficient(y[j], -float(self.capacity[j]))
        for xk, i, j, c, dk in zip(
            x, self._row[arcs].tolist(), self._col[arcs].tolist(), self._cost[arcs].tolist(), self._arc_d[arcs].tolist()
        ):
            objective.SetCoefficient(xk, c)
            assign[i].SetCoefficient(xk, 1.0)
            if dk:
                cap[j].SetCoefficient(xk, dk)
            # The strong linking x_ij <= y_j: the LP bound it gives is what makes the model solve fast.
            link = mip.Constraint(-inf, 0.0)
            link.SetCoefficient(xk, 1.0)
            link.SetCoefficient(y[j], -1.0)
        cover = mip.Constraint(float(self.demand.sum()), inf, "cover")
        # The count bound from the capacities (self._k_lo) is implied, but the LP does not see it.
        count = mip.Constraint(float(self._k_lo), float(self.max_open), "count")
        for j in range(m):
            cover.SetCoefficient(y[j], float(self.capacity[j]))
            count.SetCoefficient(y[j], 1.0)
        objective.SetMinimization()
        # pywraplp's HiGHS interface crashes on SetHint (ortools 9.15), so HiGHS starts cold.
        if hint is not None and backend != "HIGHS":
            hx = np.zeros(self._row.size)
            if self.single_source:
                assert hint.assignment is not None  # a single-source solution always carries its assignment
                hx[(hint.assignment[self._row] == self._col)] = 1.0
            else:
                assert hint.flows is not None  # a split solution always carries its flows
                hx = hint.flows[self._row, self._col]
            mip.SetHint(y + x, hint.open.astype(float).tolist() + hx[arcs].tolist())
        details["backend"] = SOLVER_NAMES[backend]
        details["mip_arcs"] = int(arcs.size)
        details["build_s"] = round(time.perf_counter() - t0, 3)
        budget = max(deadline - time.perf_counter(), 0.05)
        status, obj, bound, secs = run_mip(mip, backend, budget, seed, mip_gap=MIP_GAP)
        details.update(mip_status=status, mip_objective=obj, mip_bound=bound, mip_s=round(secs, 3))
        if status not in ("optimal", "feasible"):
            return status, None, bound
        yv = np.array([v.solution_value() for v in y]) > 0.5
        xv = np.zeros(self._row.size)
        xv[arcs] = [v.solution_value() for v in x]
        sol = self._solution_from_arcs(yv, xv)
        if sol is None:  # the backend's incumbent breaks a constraint beyond tolerance
            details["mip_solution_rejected"] = True
            return "no_solution", None, bound
        if status == "optimal":
            bound = sol.objective
        return status, sol, bound

    def _solution_from_arcs(self, open_mask: np.ndarray, xv: np.ndarray) -> _Solution | None:
        xv = np.clip(xv, 0.0, 1.0)
        if self.single_source:
            pick = xv > 0.5
            assignment = np.full(self.n, -1, dtype=np.int64)
            assignment[self._row[pick]] = self._col[pick]
            return self._make_solution(open_mask, assignment=assignment)
        xv = np.where(xv > 1e-9, xv, 0.0)
        flows = np.zeros((self.n, self.m))
        flows[self._row, self._col] = xv
        return self._make_solution(open_mask, flows=flows)

    def _make_solution(
        self, open_mask: np.ndarray, assignment: np.ndarray | None = None, flows: np.ndarray | None = None
    ) -> _Solution | None:
        """Check a solution independently of whoever produced it; None if it is not feasible."""
        open_mask = np.asarray(open_mask, dtype=bool).copy()
        d, u = self.demand, self.capacity
        if flows is not None:
            if np.abs(flows.sum(axis=1) - 1.0).max(initial=0.0) > 1e-6:
                return None
            load = d @ flows
            assignment = np.argmax(flows, axis=1) if self.n else np.zeros(0, dtype=np.int64)
            used = (flows > 0).any(axis=0)
        else:
            assert assignment is not None, "_make_solution needs an assignment or flows"
            if (assignment < 0).any():
                return None
            load = np.bincount(assignment, weights=d, minlength=self.m)
            used = np.zeros(self.m, dtype=bool)
            used[assignment] = True
        if (used & ~open_mask).any():
            return None
        if (load > u + 1e-6 * np.maximum(u, 1.0)).any():
            return None
        if not open_mask[self.fixed_open].all() or not self.min_open <= open_mask.sum() <= self.max_open:
            return None
        objective = self.evaluate(open_mask, assignment=assignment, flows=flows)
        if not np.isfinite(objective):
            return None
        return _Solution(open_mask, np.asarray(assignment, dtype=np.int64), flows, objective)

    # ------------------------------------------------------------------ Lagrangian relaxation

    def _lagrangian(self, deadline: float, incumbent: _Solution | None, details: dict) -> _Lagrangian:  # noqa: C901 - subgradient loop with step control, heuristic calls and checkpoints in one place
        """Subgradient optimisation of the relaxation of ``sum_j x_ij = 1``.

        For multipliers ``lam`` the relaxation splits into one knapsack per
        site (continuous for split, 0-1 for single source: items are the
        demand points with ``c_ij - lam_i < 0``) and a covering problem over
        the sites (LP relaxation of ``sum_j u_j y_j >= D`` with the
        open-count bounds). Any ``lam`` gives a valid lower bound. Open sets
        of the relaxation seed the heuristic (assignment step, then local
        search).
        """
        t0 = time.perf_counter()
        n = self.n
        ub = incumbent.objective if incumbent is not None else np.inf
        best_sol: _Solution | None = None
        tried: set[bytes] = set()
        heur_calls, heur_time = 0, 0.0

        def heuristic(y: np.ndarray, v: np.ndarray) -> None:
            nonlocal ub, best_sol, heur_calls, heur_time
            mask = self._repair_open(y > 1e-6, v)
            if mask is None or mask.tobytes() in tried:
                return
            h0 = time.perf_counter()
            tried.add(mask.tobytes())
            heur_calls += 1
            sol = self._assign(mask, deadline)
            if sol is not None and sol.objective < ub:
                ub = sol.objective
                best_sol = sol
            heur_time += time.perf_counter() - h0

        lam = self._initial_multipliers()
        best_bound, best_lam, best_v, best_y = -np.inf, lam.copy(), self.open_cost.copy(), None
        theta, stall, it = 2.0, 0, 0
        checkpoint = -np.inf
        while it < 5000:
            it += 1
            r = self._cost - lam[self._row]
            k_val, x_arc = self._continuous_knapsacks(r)
            v = self.open_cost + k_val
            y = self._open_relaxation(v)
            assert y is not None  # without ``upper`` the relaxation is feasible (total capacity was checked)
            bound = float(lam.sum() + v @ y)
            if bound > best_bound + 1e-12 * max(1.0, abs(bound)):
                best_bound, best_lam, best_v, best_y, stall = bound, lam.copy(), v, y, 0
            else:
                stall += 1
                if stall >= 20:
                    theta, stall = theta / 2, 0
            # Spend at most about half of the relaxation's time on the heuristic.
            if it == 1 or heur_time <= 0.5 * (time.perf_counter() - t0):
                heuristic(y, v)
            if time.perf_counter() >= deadline and it > 1:
                break
            g = 1.0 - np.bincount(self._row, weights=x_arc * y[self._col], minlength=n)
            norm = float(g @ g)
            if norm < 1e-18 or theta < 1e-4:
                break
            if it % 200 == 0:
                # Subgradient tails crawl: stop once 200 iterations gained next to nothing.
                if best_bound - checkpoint <= 1e-7 * max(1.0, abs(best_bound)):
                    break
                checkpoint = best_bound
            if np.isfinite(ub) and (ub - best_bound) <= 1e-9 * max(1.0, abs(ub)):
                break
            target = ub if np.isfinite(ub) else best_bound + 0.05 * abs(best_bound) + 1.0
            step = theta * max(target - bound, 1e-9 * max(1.0, abs(bound))) / norm
            lam = np.maximum(lam + step * g, 0.0)
        if best_y is not None:
            heuristic(best_y, best_v)
        if best_sol is None and incumbent is None:
            heuristic(np.ones(self.m), self.open_cost)
        if best_sol is not None:
            best_sol = self._local_search(best_sol, best_v, deadline)
        if self.single_source and time.perf_counter() < deadline:
            # The 0-1 knapsacks can only raise the bound above the split (continuous) one.
            r = self._cost - best_lam[self._row]
            v = self.open_cost + self._binary_knapsack_values(r)
            exact = float(best_lam.sum() + v @ self._open_relaxation(v))
            details["lagrangian_binary_bound"] = exact
            if exact > best_bound:
                best_bound, best_v = exact, v
        details.update(
            lagrangian_bound=best_bound,
            lagrangian_iterations=it,
            lagrangian_s=round(time.perf_counter() - t0, 3),
            heuristic_calls=heur_calls,
            heuristic_objective=None if best_sol is None else best_sol.objective,
        )
        return _Lagrangian(best_bound, best_sol, best_lam, best_v)

    def _fix_sites(self, lr: _Lagrangian, ub: float, details: dict) -> tuple[np.ndarray, np.ndarray]:
        """Sites whose opposite choice lifts the Lagrangian bound above ``ub``: fix them.

        With ``lam`` fixed the bound is ``sum(lam) + min v.y`` over the
        covering polytope, so forcing ``y_j`` to the other value and
        re-solving that small LP gives a valid bound for every solution with
        that choice.
        """
        base = lr.lam.sum()
        lower = np.zeros(self.m)
        lower[self.fixed_open] = 1.0
        y0 = self._open_relaxation(lr.v)
        assert y0 is not None  # without ``upper`` the relaxation is feasible (total capacity was checked)
        margin = ub + 1e-6 * max(1.0, abs(ub))
        force_open = np.zeros(self.m, dtype=bool)
        force_closed = np.zeros(self.m, dtype=bool)
        for j in range(self.m):
            if lower[j] == 1.0:
                continue
            if y0[j] < 1.0:
                lo = lower.copy()
                lo[j] = 1.0
                if base + lr.v @ self._open_relaxation(lr.v, lower=lo) > margin:
                    force_closed[j] = True
            if y0[j] > 0.0:
                hi = np.ones(self.m)
                hi[j] = 0.0
                y = self._open_relaxation(lr.v, upper=hi)
                if y is None or base + lr.v @ y > margin:
                    force_open[j] = True
        details.update(fixed_open_by_bound=int(force_open.sum()), fixed_closed_by_bound=int(force_closed.sum()))
        return force_open, force_closed

    def _initial_multipliers(self) -> np.ndarray:
        # Price of serving i: its cheapest allowed cost plus its share of that site's opening cost.
        share = np.where(
            self.capacity[self._col] > 0,
            self.open_cost[self._col] * self._arc_d / np.maximum(self.capacity[self._col], _TOL),
            np.inf,
        )
        lam = np.full(self.n, np.inf)
        np.minimum.at(lam, self._row, self._cost + share)
        fallback = np.full(self.n, np.inf)
        np.minimum.at(fallback, self._row, self._cost)
        return np.where(np.isfinite(lam), lam, fallback)

    def _continuous_knapsacks(self, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per site: min sum r_k x_k, sum d_k x_k <= u_j, 0 <= x <= 1 (Dantzig's greedy).

        Returns the value per site and the solution per arc (x is 0 on arcs with r >= 0).
        """
        x = np.zeros(r.size)
        idx = np.flatnonzero(r < 0)
        if idx.size == 0:
            return np.zeros(self.m), x
        w = self._arc_d[idx]
        rr = r[idx]
        col = self._col[idx]
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(w > 0, rr / np.where(w > 0, w, 1.0), -np.inf)
        order = np.lexsort((ratio, col))
        idx, w, rr, col = idx[order], w[order], rr[order], col[order]
        cum = np.cumsum(w)
        first = np.r_[True, col[1:] != col[:-1]]
        group = np.cumsum(first) - 1
        before = cum - w - (cum - w)[first][group]
        room = self.capacity[col] - before
        with np.errstate(divide="ignore", invalid="ignore"):
            take = np.where(w > 0, np.clip(room / np.where(w > 0, w, 1.0), 0.0, 1.0), 1.0)
        x[idx] = take
        return np.bincount(col, weights=rr * take, minlength=self.m), x

    def _binary_knapsack_values(self, r: np.ndarray) -> np.ndarray:
        """Per site: a lower bound on min sum r_k x_k, sum d_k x_k <= u_j, x binary.

        Exact by dynamic programming when the demands are integers and the
        capacity is small; otherwise on weights rounded down and capacity
        rounded up (a relaxation, so still a valid bound), never weaker than
        the continuous knapsack.
        """
        cont, _ = self._continuous_knapsacks(r)
        out = cont.copy()
        neg = r < 0
        bounds = np.r_[0, np.cumsum(np.bincount(self._col, minlength=self.m))]
        for j in range(self.m):
            sl = slice(bounds[j], bounds[j + 1])
            mask = neg[sl]
            w = self._arc_d[sl][mask]
            p = -r[sl][mask]
            cap = float(self.capacity[j])
            if w.size == 0 or w.sum() <= cap:
                out[j] = -p.sum()
                continue
            scale = min(1.0, 20000.0 / max(cap, _TOL))
            wi = np.floor(w * scale * (1 - 1e-12)).astype(np.int64)
            ci = int(np.floor(cap * scale * (1 + 1e-12) + 1e-9))
            table = np.zeros(ci + 1)
            free = 0.0
            for wk, pk in zip(wi.tolist(), p.tolist()):
                if wk == 0:
                    free += pk
                elif wk <= ci:
                    np.maximum(table[wk:], table[:-wk] + pk, out=table[wk:])
            out[j] = max(cont[j], -(table[ci] + free))
        return out

    def _open_relaxation(
        self, v: np.ndarray, lower: np.ndarray | None = None, upper: np.ndarray | None = None
    ) -> np.ndarray | None:
        """LP relaxation of min v.y s.t. sum u_j y_j >= D, open count in [k_lo, max_open], lower <= y <= upper.

        None when those bounds leave it infeasible (only with ``upper`` given).
        """
        m = self.m
        if lower is None:
            lower = np.zeros(m)
            lower[self.fixed_open] = 1.0
        if upper is None:
            upper = np.ones(m)
        total = float(self.demand.sum())
        # Greedy (Dantzig) for the cover alone; if it also meets the count bounds it is optimal.
        y = lower.copy()
        y[(v < 0) & (upper > 0)] = 1.0
        need = total - float(self.capacity @ y)
        if need > 0:
            cand = np.flatnonzero((y < upper) & (self.capacity > 0))
            cand = cand[np.argsort(v[cand] / self.capacity[cand], kind="stable")]
            cum = np.cumsum(self.capacity[cand])
            full = cum < need
            y[cand[full]] = 1.0
            rest = np.flatnonzero(~full)
            if rest.size:
                k = cand[rest[0]]
                y[k] = (need - (cum[rest[0]] - self.capacity[k])) / self.capacity[k]
            else:
                return None
        count = y.sum()
        if self._k_lo - 1e-9 <= count <= self.max_open + 1e-9:
            return y
        res = optimize.linprog(
            v,
            A_ub=np.vstack([-self.capacity, np.ones(m), -np.ones(m)]),
            b_ub=np.array([-total, self.max_open, -self._k_lo]),
            bounds=np.column_stack([lower, upper]),
            method="highs",
        )
        if res.status == 2:
            return None
        if res.status != 0:
            raise RuntimeError(f"covering LP failed: {res.message}")
        return np.clip(res.x, lower, upper)

    # ------------------------------------------------------------------ heuristic

    def _repair_open(self, open_mask: np.ndarray, score: np.ndarray) -> np.ndarray | None:
        """Make an open set usable: fixed sites, max/min count, every point reachable, capacity enough."""
        mask = open_mask.copy()
        mask[self.fixed_open] = True
        fixed = np.zeros(self.m, dtype=bool)
        fixed[self.fixed_open] = True
        order = np.argsort(score, kind="stable")
        if mask.sum() > self.max_open:
            keep = fixed.copy()
            for j in order:
                if keep.sum() >= self.max_open:
                    break
                keep[j] |= mask[j]
            mask = keep
        reach = np.zeros(self.n, dtype=bool)
        reach[self._row[mask[self._col]]] = True
        for i in np.flatnonzero(~reach):
            if reach[i]:
                continue
            sites = self._col[self._row == i]
            if mask.sum() >= self.max_open or sites.size == 0:
                return None
            j = sites[np.argmin(score[sites])]
            mask[j] = True
            reach[self._row[self._col == j]] = True
        total = float(self.demand.sum())
        # Single source needs some slack beyond the total to pack indivisible demands.
        need = total * (1.02 if self.single_source else 1.0)
        by_ratio = np.argsort(
            np.where(self.capacity > 0, score / np.maximum(self.capacity, _TOL), np.inf), kind="stable"
        )
        for j in by_ratio:
            if float(self.capacity[mask].sum()) >= need or mask.sum() >= self.max_open:
                break
            if not mask[j] and self.capacity[j] > 0:
                mask[j] = True
        if float(self.capacity[mask].sum()) < total:
            return None
        for j in order:
            if mask.sum() >= self._k_lo:
                break
            mask[j] = True
        return mask

    def _local_search(self, sol: _Solution, v: np.ndarray, deadline: float) -> _Solution:
        """Close, open or swap one site at a time while that lowers the cost (first improvement).

        Candidates are tried in order of the Lagrangian site value ``v``
        (cheapest to open first, dearest to keep first), a few of each.
        """
        fixed = np.zeros(self.m, dtype=bool)
        fixed[self.fixed_open] = True
        seen: set[bytes] = {sol.open.tobytes()}
        improved = True
        while improved and time.perf_counter() < deadline:
            improved = False
            opened = np.flatnonzero(sol.open & ~fixed)
            closed = np.flatnonzero(~sol.open & (self.capacity > 0))
            opened = opened[np.argsort(-v[opened], kind="stable")][:8]
            closed = closed[np.argsort(v[closed], kind="stable")][:8]
            moves = (
                [(j, None) for j in opened]
                + [(None, k) for k in closed]
                + [(j, k) for j in opened[:4] for k in closed[:4]]
            )
            for drop, add in moves:
                if time.perf_counter() >= deadline:
                    break
                mask = sol.open.copy()
                if drop is not None:
                    mask[drop] = False
                if add is not None:
                    mask[add] = True
                if mask.tobytes() in seen or not self._k_lo <= mask.sum() <= self.max_open:
                    continue
                seen.add(mask.tobytes())
                if float(self.capacity[mask].sum()) < float(self.demand.sum()):
                    continue
                lower = float(self.open_cost[mask].sum())
                if lower >= sol.objective:
                    continue
                cand = self._assign(mask, deadline)
                if cand is not None and cand.objective < sol.objective - 1e-9 * max(1.0, abs(sol.objective)):
                    sol, improved = cand, True
                    break
        return sol

    def _assign(self, open_mask: np.ndarray, deadline: float) -> _Solution | None:
        """A good assignment to a given open set.

        Split: the transportation LP (optimal). Single source: the exact
        assignment MIP when it is small, else the transportation LP rounded
        (a basic solution splits fewer points than there are open sites) and
        improved by single moves.
        """
        keep = open_mask[self._col]
        rows, cols, cost = self._row[keep], self._col[keep], self._cost[keep]
        if rows.size == 0 and self.n:
            return None
        k = rows.size
        eq = sparse.csr_array((np.ones(k), (rows, np.arange(k))), shape=(self.n, k))
        capm = sparse.csr_array((self._arc_d[keep], (cols, np.arange(k))), shape=(self.m, k))
        constraints = [optimize.LinearConstraint(eq, 1.0, 1.0), optimize.LinearConstraint(capm, -np.inf, self.capacity)]
        remaining = max(deadline - time.perf_counter(), 1.0)
        exact = self.single_source and k <= GAP_MIP_ARCS
        res = None
        if exact:
            res = optimize.milp(
                cost,
                integrality=np.ones(k),
                bounds=optimize.Bounds(0.0, 1.0),
                constraints=constraints,
                options={"time_limit": min(remaining, 2.0), "disp": False, "mip_rel_gap": 1e-6},
            )
            exact = res.x is not None
        if not exact:
            res = optimize.milp(
                cost,
                integrality=np.zeros(k),
                bounds=optimize.Bounds(0.0, 1.0),
                constraints=constraints,
                options={"time_limit": min(remaining, 10.0), "disp": False},
            )
        assert res is not None  # set by the exact MIP or by the LP fallback above
        if res.x is None:
            return None
        xv = np.zeros(self._row.size)
        xv[np.flatnonzero(keep)] = res.x
        if self.single_source and not exact:
            assignment = self._round(open_mask, xv)
            return None if assignment is None else self._make_solution(open_mask, assignment=assignment)
        return self._solution_from_arcs(open_mask, xv)

    def _round(self, open_mask: np.ndarray, xv: np.ndarray) -> np.ndarray | None:
        """Single-source assignment from split shares: whole points stay, split ones go where they fit best."""
        n, d, u = self.n, self.demand, self.capacity
        whole = xv > 1 - 1e-7
        assignment = np.full(n, -1, dtype=np.int64)
        assignment[self._row[whole]] = self._col[whole]
        load = np.bincount(assignment[assignment >= 0], weights=d[assignment >= 0], minlength=self.m)
        starts = np.searchsorted(self._row_order_rows, np.arange(n + 1))
        cost_by_row = self._cost[self._row_order]
        col_by_row = self._col[self._row_order]
        for i in np.flatnonzero(assignment < 0)[np.argsort(-d[assignment < 0], kind="stable")]:
            cols = col_by_row[starts[i] : starts[i + 1]]
            costs = cost_by_row[starts[i] : starts[i + 1]]
            ok = open_mask[cols] & (load[cols] + d[i] <= u[cols] * (1 + 1e-12))
            if not ok.any():
                return None
            j = cols[ok][np.argmin(costs[ok])]
            assignment[i] = j
            load[j] += d[i]
        # Shift points to cheaper open sites with room until nothing moves.
        for _ in range(5):
            moved = False
            for i in range(n):
                cols = col_by_row[starts[i] : starts[i + 1]]
                costs = cost_by_row[starts[i] : starts[i + 1]]
                now = costs[cols == assignment[i]][0]
                ok = open_mask[cols] & (costs < now - 1e-12) & (load[cols] + d[i] <= u[cols] * (1 + 1e-12))
                if ok.any():
                    j = cols[ok][np.argmin(costs[ok])]
                    load[assignment[i]] -= d[i]
                    load[j] += d[i]
                    assignment[i] = j
                    moved = True
            if not moved:
                break
        return assignment


class _Lagrangian:
    """Outcome of the relaxation: best bound, heuristic solution, multipliers and site values there."""

    __slots__ = ("bound", "solution", "lam", "v")

    def __init__(self, bound: float, solution: _Solution | None, lam: np.ndarray, v: np.ndarray):
        self.bound = bound
        self.solution = solution
        self.lam = lam
        self.v = v


class _Solution:
    """A checked solution: open sites, assignment, flows (split) and its recomputed cost."""

    __slots__ = ("open", "assignment", "flows", "objective")

    def __init__(self, open_mask: np.ndarray, assignment: np.ndarray, flows: np.ndarray | None, objective: float):
        self.open = open_mask
        self.assignment = assignment
        self.flows = flows
        self.objective = objective


def _vector(values: Any, size: int, what: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float).ravel()
    if arr.size != size:
        raise ValueError(f"{what} has {arr.size} entries, expected {size}")
    bad = np.flatnonzero(~np.isfinite(arr) | (arr < 0))
    if bad.size:
        raise ValueError(f"{what} must be finite and non-negative; bad at indices {_preview(bad)}")
    return arr


def _preview(indices: np.ndarray) -> str:
    shown = ", ".join(str(int(i)) for i in indices[:_PREVIEW])
    return f"[{shown}{', ...' if indices.size > _PREVIEW else ''}] ({indices.size} in all)"


def _best_capacity(capacity: np.ndarray, usable: np.ndarray, fixed: np.ndarray, max_open: int) -> float:
    """Largest total capacity of an allowed open set: the fixed sites plus the biggest usable others."""
    is_fixed = np.zeros(capacity.size, dtype=bool)
    is_fixed[fixed] = True
    base = float(capacity[is_fixed & usable].sum())
    others = np.sort(capacity[usable & ~is_fixed])[::-1]
    return base + float(others[: max(max_open - int(is_fixed.sum()), 0)].sum())


def _min_count(capacity: np.ndarray, usable: np.ndarray, fixed: np.ndarray, total: float) -> int:
    """Fewest open sites that can cover the demand: the fixed ones plus as few of the biggest others as will do."""
    is_fixed = np.zeros(capacity.size, dtype=bool)
    is_fixed[fixed] = True
    need = total - float(capacity[is_fixed & usable].sum())
    if need <= 0:
        return int(is_fixed.sum())
    cum = np.cumsum(np.sort(capacity[usable & ~is_fixed])[::-1])
    # Round the need down a little: too low a count is merely weak, too high would cut off solutions.
    return int(is_fixed.sum()) + int(np.searchsorted(cum, need * (1 - 1e-9))) + 1
