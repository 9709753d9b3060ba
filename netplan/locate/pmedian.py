"""The p-median model: open ``p`` sites to minimise the total weighted distance.

Every demand point is served by its nearest open site; the objective is
``sum_i w_i * min_{j open} d_ij``. :class:`PMedian` solves it exactly in
up to four stages, each cheap enough to skip the rest when it already proves
optimality:

1. **Heuristic upper bound.** Greedy addition, then a best-improvement swap
   local search (Whitaker's fast interchange; the gain of every
   insert/remove pair is computed at once with numpy), restarted from the
   Lagrangian solutions and from seeded random perturbations.
2. **Lagrangian lower bound** (Beasley 1993). Relaxing "each demand point is
   served once" leaves a problem solved by sorting; subgradient optimisation
   of the multipliers gives a valid bound, equal at best to the LP bound.
   The multipliers also give reduced costs: a site whose opening (or
   closing) would push the bound above the incumbent is fixed closed (open).
3. **Lagrangian branch-and-bound** over the sites left free: depth-first,
   each node bounded by a few warm-started subgradient steps on its own
   relaxation (multipliers clipped to what the node's open sites already
   guarantee), with reduced-cost fixing at every node and the node's
   relaxed solution (polished by local search) as a primal candidate.
4. **Exact MIP** as the fallback when the tree does not finish in its share
   of the time: Elloumi's (2010) radius formulation (one variable per
   *distinct* cost level of each demand point instead of one per
   demand-site pair), chained so that each site appears once per demand
   point, restricted by the fixings and by Lagrangian radius cuts, solved
   with OR-Tools (SCIP by default; HiGHS and CBC selectable).

On OR-Library pmed1-40 stages 1-3 prove the published optimum of all 40
instances (``benchmarks/results/pmedian.md``); the MIP is the safety net.

For data whose products ``w_i * d_ij`` are integers the bound is rounded up,
so a heuristic solution within less than one unit of the Lagrangian bound is
optimal without any MIP.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable

import geopandas as gpd
import numpy as np
from scipy import sparse

from netplan.city import City
from netplan.locate.base import SOLVER_NAMES, LocationResult, make_mip, network_costs, relative_gap, run_mip

# method -> (run the Lagrangian branch-and-bound?, MIP backend or None). SCIP is the default MIP:
# the direct radius MIP ("scip" vs "highs") on 14 pmed instances took 56.8 s against 64.4 s in
# total, SCIP winning the three largest (pmed29/30/34), and HiGHS in pywraplp takes no hint.
_METHODS = {
    "auto": (True, "SCIP"),
    "highs": (False, "HIGHS"),
    "scip": (False, "SCIP"),
    "cbc": (False, "CBC"),
    "bb": (True, None),
    "heuristic": (False, None),
}
DEFAULT_BACKEND = "SCIP"


class PMedian:
    """Open ``p`` sites minimising the weighted distance of every demand point to its nearest open site.

    Parameters
    ----------
    cost
        ``n x m`` demand-to-site costs (distance or time); ``inf`` marks an
        unreachable pair.
    weights
        ``n`` non-negative demand weights (households, kg/day, ...).
    p
        Number of sites to open, ``fixed_open`` included.
    fixed_open
        Indices of sites that must be open (existing points).
    name
        Model name for the result.
    """

    def __init__(
        self, cost: np.ndarray, weights: np.ndarray, p: int, fixed_open: Iterable[int] = (), name: str = "p-median"
    ):
        self.cost = np.asarray(cost, dtype=float)
        if self.cost.ndim != 2 or self.cost.shape[0] == 0 or self.cost.shape[1] == 0:
            raise ValueError(f"cost must be a non-empty 2-D matrix (demand x sites), got shape {self.cost.shape}")
        n, m = self.cost.shape
        if np.isnan(self.cost).any() or (self.cost < 0).any():
            raise ValueError("cost must hold non-negative numbers or inf (no NaN)")
        self.weights = np.asarray(weights, dtype=float).reshape(-1)
        if self.weights.shape != (n,):
            raise ValueError(f"weights must have one value per demand row ({n}), got shape {self.weights.shape}")
        if not np.isfinite(self.weights).all() or (self.weights < 0).any():
            raise ValueError("weights must be finite and >= 0")
        fixed = np.unique(np.asarray(list(fixed_open), dtype=int))
        if len(fixed) and (fixed.min() < 0 or fixed.max() >= m):
            raise ValueError(f"fixed_open indices must lie in 0..{m - 1}, got {fixed.tolist()}")
        self.fixed_open = np.zeros(m, dtype=bool)
        self.fixed_open[fixed] = True
        if int(p) != p or p < 1:
            raise ValueError(f"p must be a positive integer, got {p}")
        self.p = int(p)
        if self.p > m:
            raise ValueError(f"p = {self.p} exceeds the number of candidate sites ({m})")
        if self.p < len(fixed):
            raise ValueError(f"p = {self.p} is less than the {len(fixed)} sites in fixed_open")
        unreachable = np.flatnonzero(~np.isfinite(self.cost).any(axis=1))
        if len(unreachable):
            worst = unreachable[np.argsort(-self.weights[unreachable], kind="stable")][:5]
            listed = ", ".join(f"row {i} (weight {self.weights[i]:g})" for i in worst)
            raise ValueError(f"{len(unreachable)} demand point(s) have no finite cost to any site: {listed}")
        self.name = name

    @classmethod
    def from_cost_matrix(
        cls, cost: np.ndarray, weights: np.ndarray, p: int, fixed_open: Iterable[int] = (), name: str = "p-median"
    ) -> PMedian:
        """Build the model from a demand x site cost matrix.

        Parameters
        ----------
        cost
            ``n x m`` costs (``inf`` = unreachable).
        weights
            ``n`` demand weights.
        p
            Sites to open (fixed ones included).
        fixed_open
            Site indices that must be open.
        name
            Model name.

        Returns
        -------
        PMedian
            The model.
        """
        return cls(cost, weights, p, fixed_open=fixed_open, name=name)

    @classmethod
    def from_geodataframes(
        cls,
        city: City,
        demand_gdf: gpd.GeoDataFrame,
        sites_gdf: gpd.GeoDataFrame,
        p: int,
        weight_col: str | None = "households",
        mode: str = "walk",
        weight: str = "length",
        fixed_open: Iterable[int] = (),
    ) -> PMedian:
        """Build the model from demand points and candidate sites on the city's network.

        Parameters
        ----------
        city
            The city.
        demand_gdf, sites_gdf
            GeoDataFrames (WGS-84) from the demand and sites stages.
        p
            Sites to open (fixed ones included).
        weight_col
            Demand column to weight by; None weighs every point 1.
        mode
            ``"walk"`` or ``"drive"`` network.
        weight
            ``"length"`` (m) or ``"travel_time"`` (s).
        fixed_open
            Positions (0-based rows of ``sites_gdf``) that must be open.

        Returns
        -------
        PMedian
            The model.
        """
        cost = network_costs(city, demand_gdf, sites_gdf, mode=mode, weight=weight)  # type: ignore[arg-type]
        weights = demand_gdf[weight_col].to_numpy(dtype=float) if weight_col else np.ones(len(demand_gdf))
        return cls(cost, weights, p, fixed_open=fixed_open)

    def objective_of(self, open_mask: np.ndarray) -> float:
        """Total weighted distance of a set of open sites, recomputed from the matrix.

        Parameters
        ----------
        open_mask
            Boolean mask over sites.

        Returns
        -------
        float
            ``sum_i w_i * min_{j open} d_ij`` (``inf`` if a weighted point is unreachable).
        """
        open_mask = np.asarray(open_mask, dtype=bool)
        if not open_mask.any():
            return float("inf")
        nearest = self.cost[:, open_mask].min(axis=1)
        used = self.weights > 0
        return float((self.weights[used] * nearest[used]).sum())

    def solve(self, time_limit: float = 60, seed: int = 0, method: str = "auto") -> LocationResult:
        """Solve to proven optimality, or return the best solution and bound at the time limit.

        Parameters
        ----------
        time_limit
            Wall-clock seconds for the whole solve.
        seed
            Seed for the heuristic's perturbations and the MIP backend.
        method
            ``"auto"`` (heuristic, Lagrangian bound, Lagrangian
            branch-and-bound, and the radius MIP in SCIP if the tree has not
            finished in 60% of the remaining time); ``"scip"``, ``"highs"``
            or ``"cbc"`` (heuristic and Lagrangian bound, then straight to the
            radius MIP in that backend); ``"bb"`` (no MIP: the tree gets all
            the time); ``"heuristic"`` (heuristic solution with the
            Lagrangian bound only).

        Returns
        -------
        LocationResult
            Open sites, nearest-open assignment, status, objective, bound,
            gap, time, solver and details (formulation, iterations, sizes).

        Raises
        ------
        ValueError
            For an unknown method, or when no choice of ``p`` sites reaches
            every weighted demand point.
        """
        key = method.lower()
        if key not in _METHODS:
            raise ValueError(f"method must be one of {sorted(_METHODS)}, got {method!r}")
        start = time.perf_counter()
        use_bb, backend = _METHODS[key]
        core = _Solver(self, seed=seed, deadline=start + float(time_limit), backend=backend, use_bb=use_bb)
        open_mask, bound, status, solver, details = core.run()
        objective = self.objective_of(open_mask)
        used = self.weights > 0
        if not np.isfinite(objective) and status == "optimal":
            bad = np.flatnonzero(~np.isfinite(self.cost[:, open_mask].min(axis=1)) & used)
            worst = bad[np.argsort(-self.weights[bad], kind="stable")][:5]
            raise ValueError(
                f"no choice of {self.p} sites reaches every demand point; unreachable in the best choice: "
                + ", ".join(f"row {i}" for i in worst)
            )
        gap = 0.0 if status == "optimal" else relative_gap(objective, bound)
        return LocationResult(
            model=self.name,
            status=status,  # type: ignore[arg-type]
            open=open_mask,
            assignment=_nearest(self.cost, open_mask),
            objective=objective,
            bound=objective if status == "optimal" else bound,
            gap=gap,
            solve_time=time.perf_counter() - start,
            solver=solver,
            sense="min",
            details=details,
        )


def _nearest(cost: np.ndarray, open_mask: np.ndarray) -> np.ndarray:
    idx = np.flatnonzero(open_mask)
    if len(idx) == 0:
        return np.full(cost.shape[0], -1)
    sub = cost[:, idx]
    best = sub.argmin(axis=1)
    reach = np.isfinite(sub[np.arange(len(best)), best])
    return np.where(reach, idx[best], -1)


class _Solver:
    """One solve: works on the weighted matrix ``C = w * d`` of the positive-weight demand points."""

    def __init__(self, model: PMedian, seed: int, deadline: float, backend: str | None, use_bb: bool = True):
        self.model = model
        self.use_bb = use_bb
        self.patience = 30
        self.node_iters = 10
        self.node_step = 1.0
        self.rng = np.random.default_rng(seed)
        self.seed = int(seed)
        self.deadline = deadline
        self.backend = backend
        rows = np.flatnonzero(model.weights > 0)
        w = model.weights[rows]
        C = w[:, None] * model.cost[rows]
        finite = np.isfinite(C)
        if not finite.all():
            # An unreachable pair costs more than any solution that serves everybody, so
            # the optimisation avoids it whenever it can; solve() reports it when it cannot.
            big = float(np.where(finite, C, 0.0).max(axis=1).sum()) + 1.0
            C = np.where(finite, C, big)
        self.C = np.ascontiguousarray(C)
        self.n, self.m = C.shape
        self.p = model.p
        self.fixed = model.fixed_open.copy()
        prod = C[np.isfinite(C)]
        self.integral = bool(np.all(prod == np.round(prod))) and float(np.abs(prod).max(initial=0)) < 2**52
        self.details: dict = {
            "n_demand": int(model.cost.shape[0]),
            "n_sites": int(self.m),
            "p": int(self.p),
            "integral": self.integral,
        }

    def left(self) -> float:
        return self.deadline - time.perf_counter()

    def delta(self, ub: float) -> float:
        # Improving solutions must beat the incumbent by delta: one unit on integral data,
        # less a slack for float noise in sums of up to ~1e6 per unit; 1e-9 relative otherwise.
        if self.integral:
            return 1.0 - max(1e-3, 1e-9 * abs(ub))
        return 1e-9 * max(abs(ub), 1.0)

    def round_bound(self, lb: float) -> float:
        # On integral data every solution costs an integer, so a bound can be rounded up.
        if self.integral and np.isfinite(lb):
            return float(math.ceil(lb - max(1e-6, 1e-12 * abs(lb))))
        return lb

    # ------------------------------------------------------------------ driver

    def run(self) -> tuple[np.ndarray, float, str, str, dict]:
        m, p = self.m, self.p
        if self.n == 0 or p == m or p == int(self.fixed.sum()):
            open_mask = self.fixed.copy()
            if self.n == 0:
                # Nothing to serve: any p sites are optimal; keep the fixed ones and fill by index.
                extra = np.flatnonzero(~open_mask)[: p - int(open_mask.sum())]
                open_mask[extra] = True
            elif p == m:
                open_mask[:] = True
            obj = self.cost_of(open_mask)
            self.details["formulation"] = "trivial"
            return open_mask, obj, "optimal", "trivial", self.details

        t0 = time.perf_counter()
        self.closed = np.zeros(m, dtype=bool)  # fixed closed by reduced costs
        self.forced = self.fixed.copy()  # fixed open: given + reduced costs
        best = self.local_search(self.greedy())
        self.best, self.ub = best, self.cost_of(best)
        self.details["greedy_interchange_ub"] = self.ub
        self.details["heuristic_s"] = round(time.perf_counter() - t0, 3)

        t1 = time.perf_counter()
        lb, lam = self.lagrangian()
        self.details["lagrangian_s"] = round(time.perf_counter() - t1, 3)
        self.details["lagrangian_lb"] = lb
        self.details["fixed_closed"] = int(self.closed.sum())
        self.details["fixed_open"] = int(self.forced.sum())
        if self.proven(lb):
            self.details["formulation"] = "lagrangian"
            return self.best, self.ub, "optimal", "heuristic+lagrangian", self.details

        # Seeded perturbation restarts: cheap, and a better incumbent tightens every reduction below.
        t2 = time.perf_counter()
        self.perturb(rounds=4)
        self.details["perturb_s"] = round(time.perf_counter() - t2, 3)
        if self.proven(lb):
            self.details["formulation"] = "lagrangian"
            return self.best, self.ub, "optimal", "heuristic+lagrangian", self.details

        if self.use_bb:
            t3 = time.perf_counter()
            # Leave the MIP a share of the time in case the tree is too large.
            budget = self.left() * (0.6 if self.backend else 1.0)
            done, bb_lb = self.branch_and_bound(lam, budget)
            self.details["bb_s"] = round(time.perf_counter() - t3, 3)
            if done:
                self.details["formulation"] = "lagrangian branch-and-bound"
                return self.best, self.ub, "optimal", "lagrangian-b&b", self.details
            lb = max(lb, bb_lb)

        if self.backend is None or self.left() <= 0.5:
            self.details["formulation"] = "lagrangian"
            bound = min(self.round_bound(lb), self.ub)
            return self.best, bound, "feasible", "heuristic+lagrangian", self.details

        return self.mip(lb, lam)

    def branch_and_bound(self, lam: np.ndarray, budget: float) -> tuple[bool, float]:
        """Depth-first search over the free sites, bounded by the Lagrangian with node-adjusted multipliers.

        A node opens the sites ``T`` and may still open ``r`` more from
        ``U``. Its bound is the Lagrangian with ``lam_i`` clipped to
        ``[min(cap_i, min_U c_ij), cap_i]``, ``cap_i`` the cost of point i at
        ``T`` and the forced sites: lowering ``lam_i`` to ``cap_i`` and raising
        it to the nearest reachable cost can only raise the bound, and costs
        one pass over ``n x |U|``. Sites whose inclusion would lift the
        bound past the incumbent leave ``U``; the site with the most negative
        reduced cost is branched on, "open" first.

        Returns
        -------
        tuple
            Whether the search finished (the incumbent is then optimal) and,
            when it did not, the smallest bound among the unexplored nodes.
        """
        stop_at = time.perf_counter() + budget
        free = np.flatnonzero(~self.forced & ~self.closed)
        k = self.p - int(self.forced.sum())
        Cf = np.ascontiguousarray(self.C[:, free])
        forced_idx = np.flatnonzero(self.forced)
        cap0 = self.C[:, forced_idx].min(axis=1) if len(forced_idx) else np.full(self.n, np.inf)
        cut = self.ub - self.delta(self.ub)
        stack: list[tuple[np.ndarray, np.ndarray, np.ndarray, float, np.ndarray]] = [
            (np.zeros(0, dtype=int), np.arange(len(free)), cap0, -np.inf, lam)
        ]
        nodes = 0
        while stack:
            if nodes % 128 == 0 and time.perf_counter() > stop_at:
                self.details["bb_nodes"] = nodes
                return False, min(min(e[3] for e in stack), self.ub)
            T, U, cap, parent, lam_parent = stack.pop()
            if parent > cut:
                # The incumbent improved since this node was pushed.
                continue
            nodes += 1
            r = k - len(T)
            if r == 0 or len(U) <= r:
                # A leaf (all r remaining sites forced when |U| == r): its exact cost.
                if len(U) >= r:
                    leaf = np.minimum(cap, Cf[:, U].min(axis=1)) if r else cap
                    self._leaf(free, T if not r else np.append(T, U), float(leaf.sum()))
                    cut = self.ub - self.delta(self.ub)
                continue
            CU = Cf[:, U]
            bound, VU, lam_node, sel = self._node_bound(CU, cap, lam_parent, r, cut)
            if sel is not None:
                # The node's relaxation is primal: its selection is the node's optimum.
                self._leaf(free, np.append(T, U[sel]), bound)
                cut = self.ub - self.delta(self.ub)
                continue
            if bound > cut:
                continue
            # The relaxation's selection is a complete solution; with a tight bound it is
            # often near-optimal, and a better incumbent prunes the rest of the tree.
            pick = np.argpartition(VU, r - 1)[:r]
            value = float(np.minimum(cap, CU[:, pick].min(axis=1)).sum())
            if value < self.ub - self.delta(self.ub):
                mask = self.forced.copy()
                mask[free[np.append(T, U[pick])]] = True
                self.offer(mask)
                cut = self.ub - self.delta(self.ub)
                if bound > cut:
                    continue
            part = VU[pick]
            keep = bound + VU - part.max() <= cut
            U, VU = U[keep], VU[keep]
            if len(U) <= r:
                stack.append((T, U, cap, bound, lam_node))
                continue
            j = int(np.argmin(VU))
            rest = np.delete(U, j)
            stack.append((T, rest, cap, bound, lam_node))
            stack.append((np.append(T, U[j]), rest, np.minimum(cap, Cf[:, U[j]]), bound, lam_node))
        self.details["bb_nodes"] = nodes
        return True, self.ub

    def _node_bound(
        self, CU: np.ndarray, cap: np.ndarray, lam0: np.ndarray, r: int, cut: float
    ) -> tuple[float, np.ndarray, np.ndarray, np.ndarray | None]:
        """Lagrangian bound of a node, with a few warm-started subgradient steps.

        Returns the bound, the reduced costs ``V`` of ``U`` and the
        multipliers at the best bound, and the selection when the relaxation
        turned out primal feasible (the node is then solved), else None.
        """
        lo = np.minimum(cap, CU.min(axis=1))
        lam = np.clip(lam0, lo, cap)
        best = -np.inf
        best_v = best_lam = None
        step = self.node_step
        for it in range(self.node_iters + 1):
            R = CU - lam[:, None]
            np.minimum(R, 0.0, out=R)
            VU = R.sum(axis=0)
            sel = np.argpartition(VU, r - 1)[:r]
            bound = float(lam.sum() + VU[sel].sum())
            if bound > best:
                best, best_v, best_lam = bound, VU, lam
            if best > cut or it == self.node_iters:
                break
            g = 1.0 - (R[:, sel] < 0).sum(axis=1)
            norm = float(g @ g)
            if norm == 0:
                # Every point has exactly one selected site below its multiplier and none at
                # its cap: the selection costs exactly the bound.
                return bound, VU, lam, sel
            lam = np.clip(lam + step * max(self.ub - bound, 1e-9) / norm * g, lo, cap)
        return best, best_v, best_lam, None  # type: ignore[return-value]

    def _leaf(self, free: np.ndarray, chosen: np.ndarray, cost: float) -> None:
        if cost < self.ub - 1e-9 * max(1.0, abs(self.ub)):
            mask = self.forced.copy()
            mask[free[chosen]] = True
            self.best, self.ub = mask, cost

    def proven(self, lb: float) -> bool:
        return lb > self.ub - self.delta(self.ub)

    def cost_of(self, open_mask: np.ndarray) -> float:
        if self.n == 0:
            return 0.0
        return float(self.C[:, open_mask].min(axis=1).sum())

    # --------------------------------------------------------------- heuristic

    def greedy(self, noise: float = 0.0) -> np.ndarray:
        """Add, one at a time, the site that lowers the total cost most (optionally with seeded noise)."""
        open_mask = self.forced.copy()
        allowed = ~self.closed
        cur = self.C[:, open_mask].min(axis=1) if open_mask.any() else None
        while open_mask.sum() < self.p:
            totals = self.C.sum(axis=0) if cur is None else np.minimum(self.C, cur[:, None]).sum(axis=0)
            if noise:
                totals = totals * (1.0 + noise * self.rng.random(self.m))
            totals[open_mask | ~allowed] = np.inf
            j = int(np.argmin(totals))
            open_mask[j] = True
            cur = self.C[:, j].copy() if cur is None else np.minimum(cur, self.C[:, j])
        return open_mask

    def local_search(self, open_mask: np.ndarray, max_iter: int = 10_000) -> np.ndarray:
        """Best-improvement swaps until none lowers the cost (fast interchange, vectorised)."""
        C, n = self.C, self.n
        open_mask = open_mask.copy()
        insertable = ~self.closed
        rows = np.arange(n)
        for _ in range(max_iter):
            if self.left() <= 0:
                break
            S = np.flatnonzero(open_mask)
            removable = ~self.forced[S]
            cand = insertable & ~open_mask
            if not removable.any() or not cand.any():
                break
            sub = C[:, S]
            if len(S) >= 2:
                two = np.argpartition(sub, 1, axis=1)[:, :2]
                a, b = sub[rows, two[:, 0]], sub[rows, two[:, 1]]
                first = np.where(a <= b, two[:, 0], two[:, 1])
                d1, d2 = np.minimum(a, b), np.maximum(a, b)
            else:
                first = np.zeros(n, dtype=int)
                d1, d2 = sub[:, 0], np.full(n, np.inf)
            m1 = np.minimum(C, d1[:, None])
            base = m1.sum(axis=0)  # cost after inserting j, removing nothing
            # Removing r hurts only the points r serves: they fall back to min(d_ij, d2_i).
            extra = np.minimum(C, d2[:, None])
            extra -= m1
            owner = sparse.csr_array((np.ones(n), (first, rows)), shape=(len(S), n))
            loss = owner @ extra  # len(S) x m
            total = loss + base[None, :]
            total[~removable, :] = np.inf
            total[:, ~cand] = np.inf
            flat = int(np.argmin(total))
            r, j = divmod(flat, self.m)
            current = float(d1.sum())
            if total[r, j] < current - 1e-9 * max(1.0, abs(current)):
                open_mask[S[r]] = False
                open_mask[j] = True
            else:
                break
        return open_mask

    def offer(self, open_mask: np.ndarray, polish: bool = True) -> None:
        """Keep ``open_mask`` (after local search) if it beats the incumbent."""
        if polish:
            open_mask = self.local_search(open_mask)
        cost = self.cost_of(open_mask)
        if cost < self.ub - 1e-9 * max(1.0, abs(self.ub)):
            self.best, self.ub = open_mask, cost

    def perturb(self, rounds: int) -> None:
        """Random swaps of a few open sites, then local search; keeps improvements."""
        k = max(1, min(self.p - int(self.forced.sum()), max(2, self.p // 5)))
        for _ in range(rounds):
            if self.left() <= 0:
                return
            mask = self.best.copy()
            movable = np.flatnonzero(mask & ~self.forced)
            out = self.rng.choice(movable, size=min(k, len(movable)), replace=False)
            mask[out] = False
            pool = np.flatnonzero(~mask & ~self.closed)
            take = self.rng.choice(pool, size=min(len(out), len(pool)), replace=False)
            mask[take] = True
            self.offer(mask)

    # -------------------------------------------------------------- lagrangian

    def lagrangian(self, max_iter: int = 5000) -> tuple[float, np.ndarray]:
        """Subgradient optimisation of the relaxed assignment constraints.

        Returns the best bound (valid for solutions that improve on the
        incumbent, since sites are fixed along the way) and its multipliers.
        """
        C = self.C
        # Start from each point's current service cost: the LP dual is close to it.
        lam = C[:, self.best].min(axis=1).copy()
        lam_floor = C.min(axis=1)
        best_lb, best_lam = -np.inf, lam.copy()
        step, stall, it = 2.0, 0, 0
        tried: set[bytes] = set()
        while it < max_iter and step > 1e-4 and self.left() > 0:
            it += 1
            R = C - lam[:, None]
            np.minimum(R, 0.0, out=R)
            V = R.sum(axis=0)
            sel, lb = self._select(V, lam)
            if not np.isfinite(best_lb) or lb > best_lb + 1e-9 * max(1.0, abs(best_lb)):
                best_lb, best_lam, stall = lb, lam.copy(), 0
            else:
                stall += 1
                if stall >= self.patience:
                    step, stall = step / 2, 0
            if self.proven(best_lb):
                break
            if it % 5 == 1:
                self._fix(V, lb)
            key = np.packbits(sel).tobytes()
            if key not in tried and len(tried) < 400:
                tried.add(key)
                # Lagrangian heuristic: the relaxation's open sites are often near-optimal.
                cost = self.cost_of(sel)
                if cost < self.ub * 1.02 + 1e-9:
                    self.offer(sel, polish=cost > self.ub - self.delta(self.ub) or len(tried) % 10 == 1)
            g = 1.0 - (R[:, sel] < 0).sum(axis=1)
            norm = float(g @ g)
            if norm == 0:
                # The relaxation's solution is feasible and complementary: it is optimal.
                self.offer(sel, polish=False)
                best_lb = max(best_lb, lb)
                break
            t = step * max(self.ub - lb, 1e-9 * max(1.0, abs(self.ub))) / norm
            lam = np.maximum(lam + t * g, lam_floor)
        self.details["lagrangian_iterations"] = it
        R = C - best_lam[:, None]
        np.minimum(R, 0.0, out=R)
        self._fix(R.sum(axis=0), best_lb)
        return self.round_bound(best_lb), best_lam

    def _select(self, V: np.ndarray, lam: np.ndarray) -> tuple[np.ndarray, float]:
        """The relaxation's optimum: forced sites plus the most negative ``V`` among the free ones."""
        sel = self.forced.copy()
        k = self.p - int(sel.sum())
        if k > 0:
            free = np.flatnonzero(~self.forced & ~self.closed)
            pick = free[np.argpartition(V[free], k - 1)[:k]] if k < len(free) else free
            sel[pick] = True
        return sel, float(lam.sum() + V[sel].sum())

    def _fix(self, V: np.ndarray, lb: float) -> None:
        """Reduced-cost fixing: sites whose opening / closing lifts the bound past the incumbent."""
        cut = self.ub - self.delta(self.ub)
        free = np.flatnonzero(~self.forced & ~self.closed)
        k = self.p - int(self.forced.sum())
        if k <= 0 or k >= len(free):
            return
        order = free[np.argsort(V[free], kind="stable")]
        chosen, rest = order[:k], order[k:]
        worst_in, best_out = V[chosen[-1]], V[rest[0]]
        close = rest[lb + V[rest] - worst_in > cut]
        open_ = chosen[lb - V[chosen] + best_out > cut]
        self.closed[close] = True
        self.forced[open_] = True

    # --------------------------------------------------------------------- MIP

    def radius_levels(self, lam: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, bool]]:
        """Per demand point: its distinct cost levels over free sites, capped, and which site sits at which level.

        The cap is the smallest of (a) the nearest forced-open site, (b) the
        ``(|free| - p_free + 1)``-th nearest free site (any choice of
        ``p_free`` free sites includes one at least that close), and (c) the
        Lagrangian radius: the level past which the bound, with the point
        barred from closer sites, exceeds the incumbent (valid for improving
        solutions).
        """
        C = self.C
        free = np.flatnonzero(~self.forced & ~self.closed)
        k = self.p - int(self.forced.sum())
        forced_idx = np.flatnonzero(self.forced)
        r_forced = C[:, forced_idx].min(axis=1) if len(forced_idx) else np.full(self.n, np.inf)
        Cf = C[:, free]
        kth = np.partition(Cf, len(free) - k, axis=1)[:, len(free) - k]
        cap = np.minimum(r_forced, kth)
        rad = self.lagrangian_radius(lam, free, k) if k > 0 else np.full(self.n, np.inf)
        out: list[tuple[np.ndarray, np.ndarray, np.ndarray, bool]] = []
        for i in range(self.n):
            row = Cf[i]
            if rad[i] < cap[i]:
                # Soft cap: some open free site must cost <= rad (rad is one of this row's values).
                pos = np.flatnonzero(row <= rad[i])
                levels = np.unique(row[pos])
                barred = True
            else:
                # Hard cap: the point never costs more than cap, whatever the choice.
                pos = np.flatnonzero(row < cap[i])
                levels = np.append(np.unique(row[pos]), cap[i])
                barred = False
            out.append((levels, pos, np.searchsorted(levels, row[pos]), barred))
        return out

    def lagrangian_radius(self, lam: np.ndarray, free: np.ndarray, k: int) -> np.ndarray:
        """For each point, the cost level it must be served below in any improving solution (inf: no cut).

        Barring point i from every free site closer than level ``D`` removes
        its negative reduced costs from those sites' ``V``; the relaxation is
        re-solved for each candidate level, growing ``D`` until the bound
        passes the incumbent.
        """
        C = self.C
        cut = self.ub - self.delta(self.ub)
        R = C - lam[:, None]
        np.minimum(R, 0.0, out=R)
        V = R.sum(axis=0)
        forced_idx = np.flatnonzero(self.forced)
        base = float(lam.sum() + V[forced_idx].sum())
        Vf = V[free]
        rad = np.full(self.n, np.inf)
        for i in range(self.n):
            neg = np.flatnonzero(R[i, free] < 0)
            if len(neg) == 0:
                continue
            order = neg[np.argsort(C[i, free[neg]], kind="stable")]
            costs = C[i, free[order]]
            uniq, starts = np.unique(costs, return_index=True)
            Vi = Vf.copy()
            # Forced sites keep i's contribution: only free sites are barred here.
            fixed_part = base
            for level in range(len(uniq)):
                lo = starts[level]
                hi = starts[level + 1] if level + 1 < len(uniq) else len(order)
                Vi[order[lo:hi]] -= R[i, free[order[lo:hi]]]
                lb = fixed_part + float(np.partition(Vi, k - 1)[:k].sum())
                if lb > cut:
                    # Barred from every site up to this level, no improving solution is left:
                    # in any of them the point is served by a free site costing <= this level.
                    rad[i] = uniq[level]
                    break
        return rad

    def mip(self, lb: float, lam: np.ndarray) -> tuple[np.ndarray, float, str, str, dict]:  # noqa: C901 - builds the radius-level MIP, warm-starts it and reads it back in one pass
        backend = self.backend or DEFAULT_BACKEND
        t0 = time.perf_counter()
        free = np.flatnonzero(~self.forced & ~self.closed)
        k = self.p - int(self.forced.sum())
        if k == 0:
            # Fixing left a single candidate for an improving solution.
            self.offer(self.forced.copy(), polish=False)
            self.details["formulation"] = "lagrangian"
            return self.best, self.ub, "optimal", "heuristic+lagrangian", self.details
        levels = self.radius_levels(lam)
        solver = make_mip(backend)
        solver.SuppressOutput()
        y = [solver.BoolVar(f"y{j}") for j in free]
        card = solver.Constraint(k, k)
        for v in y:
            card.SetCoefficient(v, 1.0)
        objective = solver.Objective()
        constant = 0.0
        n_z = n_nz = n_cut = 0
        for i, (lv, pos, lvl, barred) in enumerate(levels):
            constant += float(lv[0])
            n_levels = len(lv)
            groups: list[list[int]] = [[] for _ in range(n_levels)]
            for q, l_ in zip(pos, lvl):
                groups[l_].append(int(q))
            # z_t (t = 1..L-1): no open site below level t. Chained, z_t >= z_{t-1} - sum of the
            # y at level t-1 (z_0 = 1), so each site appears once per point instead of once per level.
            prev = None
            for t in range(1, n_levels):
                z = solver.NumVar(0.0, 1.0, f"z{i}_{t}")
                objective.SetCoefficient(z, float(lv[t] - lv[t - 1]))
                con = solver.Constraint(1.0 if prev is None else 0.0, solver.infinity())
                con.SetCoefficient(z, 1.0)
                if prev is not None:
                    con.SetCoefficient(prev, -1.0)
                for q in groups[t - 1]:
                    con.SetCoefficient(y[q], 1.0)
                n_nz += len(groups[t - 1]) + 2
                prev = z
                n_z += 1
            if barred:
                # Lagrangian radius cut: some open site at or below the last level.
                con = solver.Constraint(1.0 if prev is None else 0.0, solver.infinity())
                if prev is not None:
                    con.SetCoefficient(prev, -1.0)
                for q in groups[n_levels - 1]:
                    con.SetCoefficient(y[q], 1.0)
                n_nz += len(groups[n_levels - 1]) + 1
                n_cut += 1
        objective.SetOffset(constant)
        objective.SetMinimization()
        try:
            # pywraplp's HiGHS interface crashes on hints (OR-Tools 9.15): SCIP and CBC only.
            if backend != "HIGHS":
                solver.SetHint(y, [1.0 if self.best[j] else 0.0 for j in free])
        except Exception:  # hints are optional
            pass
        self.details.update(
            formulation="elloumi-radius (chained)",
            mip_backend=SOLVER_NAMES.get(backend, backend),
            mip_free_sites=int(len(free)),
            mip_open_to_choose=int(k),
            mip_z=int(n_z),
            mip_nonzeros=int(n_nz),
            mip_radius_cuts=int(n_cut),
            mip_build_s=round(time.perf_counter() - t0, 3),
        )
        status, value, mip_bound, elapsed = run_mip(solver, backend, max(self.left(), 0.05), self.seed)
        self.details["mip_s"] = round(elapsed, 3)
        self.details["mip_status"] = status
        if status in ("optimal", "feasible"):
            mask = self.forced.copy()
            for j, v in zip(free, y):
                if v.solution_value() > 0.5:
                    mask[j] = True
            self.offer(mask, polish=False)
        name = SOLVER_NAMES.get(backend, backend)
        # The MIP covers every improving solution exactly, so its optimum (or its infeasibility) settles them.
        if status == "infeasible":
            return self.best, self.ub, "optimal", name, self.details
        bound = lb
        if status == "optimal":
            bound = max(bound, self.round_bound(value))
        elif status == "feasible" and np.isfinite(mip_bound):
            bound = max(bound, self.round_bound(mip_bound))
        if self.proven(bound) or (status == "optimal" and bound >= self.ub - self.delta(self.ub)):
            return self.best, self.ub, "optimal", name, self.details
        if status == "optimal":
            # Every improving solution is feasible in the MIP with its true cost, so its optimum is optimal.
            return self.best, min(bound, self.ub), "optimal", name, self.details
        return self.best, min(bound, self.ub), "feasible", name, self.details
