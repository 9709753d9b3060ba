"""Single-source capacitated location of one tier by Lagrangian relaxation, for whole cities.

The problem of one level of :class:`~netplan.locate.network_model.TieredNetwork`:
sources ``i`` with weights ``w_i`` (demand points, or the open sites of the
tier below) must each use exactly one site ``j`` they have an arc to; a site
carries at most its capacity ``Q_j``; opening costs ``f_j``; assigning costs
``c_ij``; some sites must open; the number open may be bounded.

Relaxing the assignment constraints with multipliers ``u_i`` leaves one
knapsack per site (Beasley 1988, *Eur. J. Oper. Res.* 33). Here each knapsack
is solved in its LP relaxation (a sort), so one evaluation of the dual costs
``O(arcs log arcs)`` — linear in the city for a fixed walking radius — and
the bound is never above the optimum. The opening decisions of the relaxed
problem are bounded twice (once keeping the count bounds, once the total
capacity cover) and the larger bound is kept; both are valid. Multipliers move
by subgradient steps (Polyak steps towards the best plan found).

The plan comes from a Lagrangian heuristic: the open set of the relaxed
problem, a greedy single-source assignment that opens sites where it must,
then a local search of shift, close and open moves (in the spirit of
Resende & Werneck's fast swap search) priced exactly.

Everything is plain numpy with stable sorts and iteration counts as the only
limits: the same input gives the same plan in any process. Wall time is only a
safety cap, reported when it binds.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from netplan.progress import report


@dataclass(frozen=True)
class LevelProblem:
    """One level of the siting: sources to assign whole to sites, under capacities and count bounds.

    Attributes
    ----------
    weights
        Weight of each source (kg/day); sources with ``active`` False take no part.
    active
        Sources that must be assigned (a zero weight is allowed: it still needs a site).
    src, dst, cost
        Allowed assignments and the cost of each (per year, for the source's whole weight).
    capacity, open_cost, fixed_open
        Per site.
    min_count, max_count
        Bounds on the number of open sites.
    """

    weights: np.ndarray
    active: np.ndarray
    src: np.ndarray
    dst: np.ndarray
    cost: np.ndarray
    capacity: np.ndarray
    open_cost: np.ndarray
    fixed_open: np.ndarray
    min_count: int = 0
    max_count: int | None = None

    def parts(self) -> tuple[Any, ...]:
        """The fields in order, as they are (no copies)."""
        return (
            self.weights,
            self.active,
            self.src,
            self.dst,
            self.cost,
            self.capacity,
            self.open_cost,
            self.fixed_open,
            self.min_count,
            self.max_count,
        )


@dataclass
class LevelResult:
    """Outcome of :func:`solve_level`.

    Attributes
    ----------
    open
        Open mask over sites.
    assign
        Site per source (-1 for inactive sources).
    objective
        Opening plus assignment cost of the plan (inf when none was found).
    bound
        Valid lower bound on the optimum of the level.
    iterations
        Subgradient iterations done.
    time_limit_hit
        Whether the wall-clock safety cap ended the search before its work limit.
    details
        Counts for the report.
    """

    open: np.ndarray
    assign: np.ndarray
    objective: float
    bound: float
    iterations: int
    time_limit_hit: bool
    details: dict[str, Any] = field(default_factory=dict)


def solve_level(  # noqa: C901 - one subgradient loop; splitting it would scatter its shared state
    level: LevelProblem,
    *,
    iterations: int = 300,
    heuristic_every: int = 25,
    time_limit: float = float("inf"),
    binary: bool = False,
    window: int = 16,
    window_arcs: int = 32,
    seed: int = 0,
    lp_start: bool = False,
    lp_arcs: int = 16,
    lp_full_arcs: int = 100_000,
    columns: int = 0,
    column_nodes: int = 10,
) -> LevelResult:
    """Site one level: Lagrangian bound plus Lagrangian heuristic and local search.

    Parameters
    ----------
    level
        The level's sources, sites, allowed assignments and count bounds.
    iterations
        Subgradient iterations (the work limit that ends the search).
    heuristic_every
        Run the Lagrangian heuristic every this many iterations.
    time_limit
        Wall-clock safety cap in seconds.
    binary
        Bound each site's knapsack in 0-1 (dynamic programming) rather than
        continuously: a stronger bound at some cost per iteration.
    window
        Sources per window of the exact large-neighbourhood search that ends
        the heuristic (:func:`window_search`; 0 = none).
    window_arcs
        Arcs per source in a window's MIP: each source's cheapest this many
        and its current one (0 = all). At N = 5,000 (85 arcs per source) the
        windows over all arcs took 135 s of CPU for 0.25 % of tier 1's cost,
        over 32 arcs 48 s for 0.07 %; at N = 2,000 32 arcs saved as much as all.
    seed
        Seed of the window MIPs.
    lp_start
        Start the multipliers at the duals of the level's strong LP relaxation
        (:func:`_lp_multipliers`, HiGHS interior point + crossover, at most half
        the time limit). With continuous knapsacks the Lagrangian dual equals
        that LP, so the bound starts at the LP's value, where 300 subgradient
        steps from the cheapest-assignment start stop a few per cent short on a
        large connected block. The bound is still evaluated exactly at the
        multipliers, so it stays valid whatever the LP's accuracy.
    lp_arcs, lp_full_arcs
        A level with more than ``lp_full_arcs`` arcs gets an LP over each
        source's ``lp_arcs`` cheapest arcs only (assignment plus its share of
        the site's opening cost): the LP only has to give good multipliers, and
        the full LP of a dense block (85 arcs per source at N = 5,000) takes
        minutes. Smaller levels get the full LP: on Chengdu's blocks the
        restricted one's multipliers were worse than no LP at all.
    columns, column_nodes
        Sources per window of the price-and-branch search that ends the
        heuristic (:func:`netplan.locate.columns.column_search`; 0 = none),
        and HiGHS nodes per window's MIP.

    Returns
    -------
    LevelResult
        The plan and the bound.
    """
    weights, active, src, dst, cost, capacity, open_cost, fixed_open, min_count, max_count = level.parts()
    start = time.perf_counter()
    w_all = np.asarray(weights, dtype=float)
    keep = np.asarray(active, dtype=bool)[src]
    src, dst, cost = np.asarray(src)[keep], np.asarray(dst)[keep], np.asarray(cost, dtype=float)[keep]
    n, m = len(w_all), len(capacity)
    act = np.flatnonzero(active)
    w = w_all[src]
    cap = np.asarray(capacity, dtype=float)
    f = np.asarray(open_cost, dtype=float)
    fixed = np.asarray(fixed_open, dtype=bool)
    total = float(w_all[act].sum())
    hi = m if max_count is None else int(max_count)
    working = _Working(src, dst, cost, w_all, act, cap, f, fixed, min_count, hi)

    # multipliers start at each source's cheapest assignment plus its share of that site's opening cost
    share = cost + f[dst] * w / np.maximum(cap[dst], 1e-9)
    u = np.full(n, np.inf)
    np.minimum.at(u, src, share)
    u = np.where(np.isfinite(u), u, 0.0)
    u[~np.asarray(active, dtype=bool)] = 0.0
    ratio_w = np.where(w > 0, w, 1.0)
    lam, hit, lp_s = 2.0, False, 0.0
    if lp_start and len(src):
        t_lp = time.perf_counter()
        near = _nearest_arcs(src, share, n, lp_arcs) if len(src) > lp_full_arcs else np.arange(len(src))
        u_lp, hit = _lp_multipliers(
            n=n,
            act=act,
            src=src[near],
            dst=dst[near],
            cost=cost[near],
            w=w[near],
            cap=cap,
            f=f,
            fixed=fixed,
            time_limit=time_limit / 4,
        )
        lp_s = time.perf_counter() - t_lp
        if u_lp is not None:
            # already near the dual optimum: small steps refine it rather than throw it away
            u, lam = u_lp, 0.05

    best_bound, best_plan = -np.inf, None
    best_obj = np.inf
    stall = 0
    it = 0
    tried: set[bytes] = set()
    for it in range(1, iterations + 1):
        if time.perf_counter() - start > time_limit:
            hit = True
            break
        rc = cost - u[src]
        g, x = _binary_knapsacks(rc, w, dst, cap, m) if binary else _knapsacks(rc, w, ratio_w, dst, cap, m)
        v = f + g
        value, y = _open_bound(v, cap, fixed, min_count, hi, total)
        value += float(u[act].sum())
        if not np.isfinite(best_bound) or value > best_bound + 1e-9 * max(abs(best_bound), 1.0):
            best_bound, stall = value, 0
        else:
            stall += 1
            if stall >= 20:
                lam, stall = lam / 2, 0
        if it == 1 or it % heuristic_every == 0:
            open_ = fixed | (v < 0)
            key = np.packbits(open_).tobytes()
            if key not in tried:
                tried.add(key)
                plan = _construct(open_, working)
                if plan is not None:
                    obj = _plan_cost(plan[0], plan[1], src, dst, cost, f, act)
                    if obj < best_obj:
                        best_obj, best_plan = obj, plan
        report(bound=best_bound, incumbent=best_obj, detail="Lagrangian subgradient", step=it)  # live progress only
        if np.isfinite(best_obj) and best_obj - best_bound <= 1e-7 * max(abs(best_obj), 1.0):
            break
        # subgradient: how often each source is served in the relaxed solution, minus one
        served = np.bincount(src, weights=x * y[dst], minlength=n)
        s = np.zeros(n)
        s[act] = 1.0 - served[act]
        norm = float(s @ s)
        if norm < 1e-12 or lam < 1e-4:
            break
        target = best_obj if np.isfinite(best_obj) else value + 0.05 * abs(value) + 1.0
        step = lam * max(target - value, 1e-9 * max(abs(value), 1.0)) / norm
        u = u + step * s
    ls_start = time.perf_counter()
    if best_plan is None:
        # every site allowed: the greedy then fails only where the sites in reach are truly short
        best_plan = _construct(np.ones(m, bool), working)
    if best_plan is None:
        return LevelResult(
            np.zeros(m, bool), np.full(n, -1), float("inf"), float(best_bound), it, hit, {"arcs": int(len(src))}
        )
    open_, assign = _local_search(best_plan[0], best_plan[1], working, deadline=start + time_limit)
    improved = 0
    if window and max_count is None and min_count <= int(fixed.sum()):
        open_, assign, improved, window_hit = window_search(
            open_,
            assign,
            LevelProblem(w_all, active, src, dst, cost, cap, f, fixed),
            window=window,
            arcs_per_source=window_arcs,
            seed=seed,
            deadline=start + time_limit,
        )
        hit |= window_hit
        open_, assign = _local_search(open_, assign, working, deadline=start + time_limit)
    priced: dict[str, Any] = {}
    if columns and max_count is None and min_count <= int(fixed.sum()):
        from netplan.locate.columns import column_search

        t_col = time.perf_counter()
        open_, assign, col = column_search(
            open_,
            assign,
            LevelProblem(w_all, active, src, dst, cost, cap, f, fixed),
            window=columns,
            node_limit=column_nodes,
            deadline=start + time_limit,
        )
        hit |= col.time_limit_hit
        if col.improved:
            open_, assign = _local_search(open_, assign, working, deadline=start + time_limit)
        priced = {
            "column_windows": col.windows,
            "column_windows_improved": col.improved,
            "column_saving": round(col.saving, 2),
            "column_s": round(time.perf_counter() - t_col, 3),
        }
    obj = _plan_cost(open_, assign, src, dst, cost, f, act)
    bound = min(float(best_bound), obj)
    return LevelResult(
        open_,
        assign,
        obj,
        bound,
        it,
        hit or time.perf_counter() - start > time_limit,
        {
            "arcs": int(len(src)),
            "heuristic_plans": len(tried),
            "windows_improved": improved,
            "local_search_s": round(time.perf_counter() - ls_start, 3),
            **({"lp_s": round(lp_s, 3)} if lp_start else {}),
            **priced,
        },
    )


def level_bound(
    level: LevelProblem,
    *,
    iterations: int = 100,
    time_limit: float = float("inf"),
    lp_full_arcs: int = 100_000,
) -> tuple[float, bool]:
    """A valid lower bound of a level, without a plan: its strong LP's multipliers, refined by subgradient steps.

    The bound half of :func:`solve_level`: the assignment rows relaxed with
    multipliers ``u`` leave one continuous knapsack per site (so the bound is
    also valid when sources may split between sites), the open decisions
    bounded by :func:`_open_bound`. ``u`` starts at the duals of the level's
    strong LP (:func:`_lp_multipliers`) when it has at most ``lp_full_arcs``
    arcs, where the Lagrangian dual equals that LP (above, at each source's
    cheapest assignment: on the dense 5,000-point benchmark, 1.4 M pairs, the
    LP over each source's 16 cheapest ran for minutes, and there the joint LP of
    ``bound.py`` is the stronger bound anyway), and every evaluation is exact at
    its ``u``, so the bound is valid whatever the LP's accuracy. Iterations, not
    the clock, end it; ``time_limit`` is a cap.

    Parameters
    ----------
    level
        The sources, sites and allowed assignments.
    iterations
        Subgradient steps after the start (the work limit).
    time_limit
        Wall-clock safety cap in seconds (the LP gets at most half).
    lp_full_arcs
        Most arcs for the LP start.

    Returns
    -------
    tuple
        The bound (inf when an active source has no arc) and whether the time cap ended it.
    """
    weights, active, src, dst, cost, capacity, open_cost, fixed_open, min_count, max_count = level.parts()
    start = time.perf_counter()
    w_all = np.asarray(weights, dtype=float)
    act_mask = np.asarray(active, dtype=bool)
    keep = act_mask[src]
    src, dst, cost = np.asarray(src)[keep], np.asarray(dst)[keep], np.asarray(cost, dtype=float)[keep]
    n, m = len(w_all), len(capacity)
    act = np.flatnonzero(act_mask)
    if len(act) and np.bincount(src, minlength=n)[act].min() == 0:
        return float("inf"), False
    w = w_all[src]
    cap = np.asarray(capacity, dtype=float)
    f = np.asarray(open_cost, dtype=float)
    fixed = np.asarray(fixed_open, dtype=bool)
    total = float(w_all[act].sum())
    hi = m if max_count is None else int(max_count)
    share = cost + f[dst] * w / np.maximum(cap[dst], 1e-9)
    u = np.full(n, np.inf)
    np.minimum.at(u, src, share)
    u = np.where(np.isfinite(u) & act_mask, u, 0.0)
    lam, hit = 2.0, False
    if 0 < len(src) <= lp_full_arcs:
        u_lp, hit = _lp_multipliers(
            n=n,
            act=act,
            src=src,
            dst=dst,
            cost=cost,
            w=w,
            cap=cap,
            f=f,
            fixed=fixed,
            time_limit=time_limit / 2,
        )
        if u_lp is not None:
            u, lam = u_lp, 0.05
    ratio_w = np.where(w > 0, w, 1.0)
    best, stall = -np.inf, 0
    for _ in range(iterations + 1):
        if time.perf_counter() - start > time_limit:
            hit = True
            break
        g, x = _knapsacks(cost - u[src], w, ratio_w, dst, cap, m)
        value, y = _open_bound(f + g, cap, fixed, min_count, hi, total)
        value += float(u[act].sum())
        if value > best + 1e-9 * max(abs(best), 1.0) if np.isfinite(best) else True:
            best, stall = value, 0
        else:
            stall += 1
            if stall >= 20:
                lam, stall = lam / 2, 0
        served = np.bincount(src, weights=x * y[dst], minlength=n)
        s = np.zeros(n)
        s[act] = 1.0 - served[act]
        norm = float(s @ s)
        if norm < 1e-12 or lam < 1e-4:
            break
        # no plan to aim at: a target a little above the current value
        u = u + lam * (0.05 * abs(value) + 1.0) / norm * s
    return float(best), hit


def _nearest_arcs(src: np.ndarray, price: np.ndarray, n: int, k: int) -> np.ndarray:
    """Indices of each source's ``k`` cheapest arcs (ties by arc index), in arc order."""
    order = np.lexsort((np.arange(len(src)), price, src))
    first = np.searchsorted(src[order], np.arange(n))
    rank = np.arange(len(src)) - first[src[order]]
    return np.sort(order[rank < k])


def _lp_multipliers(
    *,
    n: int,
    act: np.ndarray,
    src: np.ndarray,
    dst: np.ndarray,
    cost: np.ndarray,
    w: np.ndarray,
    cap: np.ndarray,
    f: np.ndarray,
    fixed: np.ndarray,
    time_limit: float,
) -> tuple[np.ndarray | None, bool]:
    """Multipliers of the assignment rows from the level's strong LP relaxation (HiGHS), or None.

    The LP: ``min c.x + f.y`` with ``sum_j x_ij = 1`` per active source,
    ``sum_i w_ij x_ij <= Q_j y_j`` and ``x_ij <= y_j`` per arc, fixed sites at
    ``y = 1``, all in ``[0, 1]`` (count bounds left out: the multipliers only
    need to be good, not optimal). HiGHS's interior point with crossover is
    single-threaded and deterministic; the time limit is only a safety cap.

    Returns
    -------
    tuple
        Multiplier per source (None when the LP did not finish), and whether the time limit ended it.
    """
    from scipy import sparse
    from scipy.optimize import linprog

    a, m = len(src), len(cap)
    row = np.full(n, -1)
    row[act] = np.arange(len(act))
    arange = np.arange(a)
    eq = sparse.csr_array((np.ones(a), (row[src], arange)), shape=(len(act), a + m))
    capacity = sparse.coo_array(
        (np.r_[w, -cap], (np.r_[dst, np.arange(m)], np.r_[arange, a + np.arange(m)])), shape=(m, a + m)
    )
    link = sparse.coo_array(
        (np.r_[np.ones(a), -np.ones(a)], (np.r_[arange, arange], np.r_[arange, a + dst])), shape=(a, a + m)
    )
    bounds = np.zeros((a + m, 2))
    bounds[:, 1] = 1.0
    bounds[a:, 0] = fixed
    res = linprog(
        np.r_[cost, f],
        A_ub=sparse.vstack([capacity, link]).tocsr(),
        b_ub=np.zeros(m + a),
        A_eq=eq,
        b_eq=np.ones(len(act)),
        bounds=bounds,
        method="highs-ipm",
        options={"time_limit": max(float(time_limit), 0.01)} if np.isfinite(time_limit) else {},
    )
    if res.status != 0 or res.eqlin is None:
        return None, res.status == 1 and np.isfinite(time_limit)
    u = np.zeros(n)
    u[act] = res.eqlin.marginals
    return u, False


def _knapsacks(
    rc: np.ndarray, w: np.ndarray, ratio_w: np.ndarray, dst: np.ndarray, cap: np.ndarray, m: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per site, the LP relaxation of its knapsack over the arcs with negative reduced cost.

    Returns the value per site and the fraction taken of each arc.
    """
    x = np.zeros(len(rc))
    neg = np.flatnonzero(rc < 0)
    if not len(neg):
        return np.zeros(m), x
    ratio = np.where(w[neg] > 0, rc[neg] / ratio_w[neg], -np.inf)
    order = neg[np.lexsort((neg, ratio, dst[neg]))]
    d = dst[order]
    cw = np.cumsum(w[order])
    first = np.r_[0, np.flatnonzero(d[1:] != d[:-1]) + 1]
    group_start = np.repeat(cw[first] - w[order][first], np.diff(np.r_[first, len(order)]))
    before = cw - w[order] - group_start  # weight taken by earlier items of the same site
    room = cap[d] - before
    frac = np.where(w[order] > 0, np.clip(room / ratio_w[order], 0.0, 1.0), 1.0)
    x[order] = frac
    g = np.bincount(dst, weights=rc * x, minlength=m)
    return g, x


def _binary_knapsacks(
    rc: np.ndarray, w: np.ndarray, dst: np.ndarray, cap: np.ndarray, m: int, units: int = 400
) -> tuple[np.ndarray, np.ndarray]:
    """Per site, a lower bound on its 0-1 knapsack ``min rc.x, w.x <= cap`` over the negative arcs, and its solution.

    Dynamic programming on weights scaled to at most ``units`` per capacity and rounded down (and
    capacities rounded down after scaling): every feasible set stays feasible, so the value is a
    valid bound. All sites advance together, one item rank at a time; the items taken come from
    backtracking the decisions (they may overfill a site slightly, which only matters for the
    direction of the next step, never for the bound).
    """
    g = np.zeros(m)
    x = np.zeros(len(rc))
    neg = np.flatnonzero(rc < 0)
    if not len(neg):
        return g, x
    order = neg[np.lexsort((neg, dst[neg]))]
    d = dst[order]
    profit = -rc[order]
    total_w = np.bincount(d, weights=w[order], minlength=m)
    total_p = np.bincount(d, weights=profit, minlength=m)
    fits = total_w <= cap * (1 + 1e-12)
    g[fits] = -total_p[fits]
    easy = fits[d]
    x[order[easy]] = 1.0
    if easy.all():
        return g, x
    order, d, profit = order[~easy], d[~easy], profit[~easy]
    scale = units / np.maximum(cap, 1e-9)
    wi = np.floor(w[order] * scale[d] * (1 - 1e-12)).astype(np.int64)
    ci = np.floor(cap * scale * (1 + 1e-12) + 1e-9).astype(np.int64)
    sites = np.unique(d)
    row = np.searchsorted(sites, d)
    first = np.r_[0, np.flatnonzero(d[1:] != d[:-1]) + 1]
    rank = np.arange(len(d)) - np.repeat(first, np.diff(np.r_[first, len(d)]))
    width = int(ci[sites].max()) + 1
    # the table is columns [width, 2 width); an item heavier than a column reads the -inf to their left
    padded = np.full((len(sites), 2 * width), -np.inf)
    padded[:, width:] = 0.0
    table = padded[:, width:]
    shifts = sliding_window_view(padded, width, axis=1)  # shifts[s, width - k]: site s's table moved k columns right
    by_rank = np.argsort(rank, kind="stable")
    starts = np.searchsorted(rank[by_rank], np.arange(int(rank.max()) + 2))
    taken: list[tuple[np.ndarray, np.ndarray]] = []
    for r in range(int(rank.max()) + 1):
        at = by_rank[starts[r] : starts[r + 1]]
        rows, wk, pk = row[at], wi[at], profit[at]
        old = table[rows]
        shifted = shifts[rows, width - np.minimum(wk, width)] + pk[:, None]
        take = shifted > old
        table[rows] = np.where(take, shifted, old)
        taken.append((at, take))
    g[sites] = -table[np.arange(len(sites)), ci[sites]]
    c = ci[sites].copy()
    for at, take in reversed(taken):
        rows = row[at]
        chosen = take[np.arange(len(at)), c[rows]]
        x[order[at[chosen]]] = 1.0
        c[rows[chosen]] -= wi[at[chosen]]
    return g, x


def _open_bound(
    v: np.ndarray, cap: np.ndarray, fixed: np.ndarray, lo: int, hi: int, total: float
) -> tuple[float, np.ndarray]:
    """Lower bound of ``min v.y`` over the open decisions, and the (fractional) y attaining it.

    Two relaxations of {fixed open, ``lo <= sum y <= hi``, ``cap.y >= total``}: the
    count bounds alone (exact by sorting) and the capacity cover alone (its LP,
    exact by the ratio rule). Each is a relaxation, so the larger is valid.
    """
    m = len(v)
    # count bounds only
    y1 = fixed.astype(float)
    free = np.flatnonzero(~fixed)
    order = free[np.lexsort((free, v[free]))]
    k_fixed = int(fixed.sum())
    n_neg = int((v[order] < 0).sum())
    k = min(max(n_neg, lo - k_fixed), max(hi - k_fixed, 0))
    y1[order[:k]] = 1.0
    val1 = float(v @ y1)
    # capacity cover only (LP)
    y2 = (fixed | (v < 0)).astype(float)
    short = total - float(cap @ y2)
    if short > 0:
        rest = np.flatnonzero(y2 == 0)
        order2 = rest[np.lexsort((rest, v[rest] / cap[rest]))]
        cum = np.cumsum(cap[order2])
        take = np.clip((short - (cum - cap[order2])) / cap[order2], 0.0, 1.0)
        y2[order2] = take
    val2 = float(v @ y2)
    if val2 > val1:
        return val2, y2
    return val1, y1 if m else y1


def _plan_cost(
    open_: np.ndarray,
    assign: np.ndarray,
    src: np.ndarray,
    dst: np.ndarray,
    cost: np.ndarray,
    f: np.ndarray,
    act: np.ndarray,
) -> float:
    lookup = _arc_lookup(src, dst)
    arcs = np.array([lookup[(int(i), int(assign[i]))] for i in act], dtype=int)
    return float(f[open_].sum() + cost[arcs].sum())


def _arc_lookup(src: np.ndarray, dst: np.ndarray) -> dict[tuple[int, int], int]:
    return {(int(a), int(b)): k for k, (a, b) in enumerate(zip(src.tolist(), dst.tolist()))}


def _by_source(src: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(src, kind="stable")
    bounds = np.searchsorted(src[order], np.arange(n + 1))
    return order, bounds


class _Working(NamedTuple):
    """A level's arrays as the heuristics use them: active arcs only, floats, source indices, count bounds."""

    src: np.ndarray
    dst: np.ndarray
    cost: np.ndarray
    w: np.ndarray
    act: np.ndarray
    cap: np.ndarray
    f: np.ndarray
    fixed: np.ndarray
    lo: int
    hi: int


def _construct(open_: np.ndarray, level: _Working) -> tuple[np.ndarray, np.ndarray] | None:
    """Greedy single-source assignment to ``open_``, opening sites where a source fits nowhere.

    Sources go heaviest first (first-fit decreasing, as in bin packing), each to
    the open site with room where its cost plus the opening cost of the room it
    leaves unused is least (best fit); a source with none opens the closed site in
    reach with room that costs least to open and use. When that order strands a
    source, the most constrained sources (fewest sites in reach) go first
    instead. None when neither gives a feasible plan.
    """
    src, dst, cost, w, act, cap, f, fixed, lo, hi = level
    order, bounds = _by_source(src, len(w))
    n_options = np.diff(bounds)
    for sequence in (act[np.lexsort((act, -w[act]))], act[np.lexsort((act, -w[act], n_options[act]))]):
        plan = _greedy(open_, sequence, order, bounds, dst, cost, w, act, cap, f, fixed, lo, hi)
        if plan is not None:
            return plan
    return None


def _greedy(
    open_: np.ndarray,
    sequence: np.ndarray,
    order: np.ndarray,
    bounds: np.ndarray,
    dst: np.ndarray,
    cost: np.ndarray,
    w: np.ndarray,
    act: np.ndarray,
    cap: np.ndarray,
    f: np.ndarray,
    fixed: np.ndarray,
    lo: int,
    hi: int,
) -> tuple[np.ndarray, np.ndarray] | None:
    open_ = open_.copy()
    if int(open_.sum()) > hi:
        # keep the fixed sites and the cheapest to open
        free = np.flatnonzero(open_ & ~fixed)
        drop = free[np.lexsort((free, -f[free]))][: int(open_.sum()) - hi]
        open_[drop] = False
    load = np.zeros(len(cap))
    assign = np.full(len(w), -1)
    for i in sequence:
        arcs = order[bounds[i] : bounds[i + 1]]
        j_all = dst[arcs]
        fits = load[j_all] + w[i] <= cap[j_all] + 1e-9
        ok = fits & open_[j_all]
        if ok.any():
            # cost plus the opening cost of the room the move would leave unused: fills sites (best fit)
            room_cost = f[j_all] / cap[j_all] * (cap[j_all] - load[j_all] - w[i])
            a = arcs[ok][np.argmin((cost[arcs] + room_cost)[ok])]
        elif fits.any() and int(open_.sum()) < hi:
            a = arcs[fits][np.argmin(cost[arcs[fits]] + f[j_all[fits]])]
            open_[dst[a]] = True
        else:
            return None
        assign[i] = dst[a]
        load[dst[a]] += w[i]
    # sites opened but unused (and not fixed) are closed, unless the minimum count needs them
    unused = open_ & ~fixed & (load <= 0) & ~np.isin(np.arange(len(cap)), assign[act])
    for j in np.flatnonzero(unused)[::-1]:
        if int(open_.sum()) > lo:
            open_[j] = False
    if int(open_.sum()) < lo:
        closed = np.flatnonzero(~open_)
        open_[closed[np.lexsort((closed, f[closed]))][: lo - int(open_.sum())]] = True
    return open_, assign


def _local_search(  # noqa: C901 - the local search's move types share one state; kept whole so results stay the same
    open_: np.ndarray,
    assign: np.ndarray,
    level: _Working,
    deadline: float,
    max_passes: int = 20,
    swaps: int = 100_000,
) -> tuple[np.ndarray, np.ndarray]:
    """Shift, close, open and swap moves, each priced exactly and taken when it saves; first improvement, fixed order.

    A swap opens a closed site and closes the open sites near it whose residents then all fit (into it or
    elsewhere): the move that re-packs a city where every point reaches only a few open sites.
    """
    src, dst, cost, w, act, cap, f, fixed, lo, hi = level
    open_, assign = open_.copy(), assign.copy()
    n, m = len(w), len(cap)
    order, bounds = _by_source(src, n)
    lookup = _arc_lookup(src, dst)
    cur = np.zeros(n)
    for i in act:
        cur[i] = cost[lookup[(int(i), int(assign[i]))]]
    load = np.bincount(assign[act], weights=w[act], minlength=m)
    served: list[list[int]] = [[] for _ in range(m)]
    for i in act:
        served[assign[i]].append(int(i))
    by_dst_order = np.argsort(dst, kind="stable")
    by_dst_bounds = np.searchsorted(dst[by_dst_order], np.arange(m + 1))
    # when each site last changed (opened, closed, gained or lost a resident): a swap that failed is not tried
    # again until a site it read has changed, since it would read the same state and fail the same way
    stamp = np.zeros(m, dtype=np.int64)
    clock = [0]

    def touch(*sites: int) -> None:
        clock[0] += 1
        stamp[list(sites)] = clock[0]

    def shift_all() -> bool:
        moved = False
        for i in act:
            arcs = order[bounds[i] : bounds[i + 1]]
            j_all = dst[arcs]
            ok = open_[j_all] & (load[j_all] + w[i] <= cap[j_all] + 1e-9) & (cost[arcs] < cur[i] - 1e-9)
            if ok.any():
                a = arcs[ok][np.argmin(cost[arcs[ok]])]
                j_old, j_new = assign[i], dst[a]
                load[j_old] -= w[i]
                load[j_new] += w[i]
                served[j_old].remove(int(i))
                served[j_new].append(int(i))
                assign[i], cur[i] = j_new, cost[a]
                touch(j_old, j_new)
                moved = True
        return moved

    def close_and_move(closed: list[int], moves: list[tuple[int, int, float]]) -> None:
        # the closed sites empty first, then each resident lands on its new site
        for j in closed:
            open_[j] = False
            load[j] = 0.0
            served[j] = []
        for i, k, c in moves:
            assign[i], cur[i] = k, c
            load[k] += w[i]
            served[k].append(i)
        touch(*closed, *(k for _, k, _ in moves))

    def try_close(j: int) -> bool:
        people = sorted(served[j], key=lambda i: (-w[i], i))
        saving = float(f[j])
        moves: list[tuple[int, int, float]] = []
        extra = np.zeros(m)
        for i in people:
            arcs = order[bounds[i] : bounds[i + 1]]
            j_all = dst[arcs]
            ok = open_[j_all] & (j_all != j) & (load[j_all] + extra[j_all] + w[i] <= cap[j_all] + 1e-9)
            if not ok.any():
                return False
            a = arcs[ok][np.argmin(cost[arcs[ok]])]
            saving -= cost[a] - cur[i]
            extra[dst[a]] += w[i]
            moves.append((i, int(dst[a]), float(cost[a])))
        if saving <= 1e-6:
            return False
        close_and_move([j], moves)
        return True

    def try_open(j: int) -> bool:
        arcs = by_dst_order[by_dst_bounds[j] : by_dst_bounds[j + 1]]
        gain = cur[src[arcs]] - cost[arcs]
        good = arcs[gain > 1e-9]
        if not len(good):
            return False
        good = good[np.lexsort((src[good], -(cur[src[good]] - cost[good])))]
        room, saving, take = cap[j], -float(f[j]), []
        for a in good:
            i = src[a]
            if w[i] <= room + 1e-9:
                room -= w[i]
                saving += cur[i] - cost[a]
                take.append(int(a))
        if saving <= 1e-6:
            return False
        open_[j] = True
        for a in take:
            i = int(src[a])
            j_old = assign[i]
            load[j_old] -= w[i]
            served[j_old].remove(i)
            assign[i], cur[i] = j, cost[a]
            load[j] += w[i]
            served[j].append(i)
            touch(j_old)
        touch(j)
        # sites left empty by the move close (they only cost)
        return True

    marks = np.zeros(m, dtype=bool)

    def distinct(*parts: np.ndarray) -> np.ndarray:
        """The sorted distinct sites in ``parts`` (``np.unique`` of their union, without sorting them)."""
        for part in parts:
            marks[part] = True
        out = np.flatnonzero(marks)
        marks[out] = False
        return out

    def swap_region(k: int) -> np.ndarray:
        """The sites whose state :func:`try_swap` reads for ``k``: ``k``, the sites serving its reach, and every site
        in reach of their residents."""
        near = distinct(assign[src[by_dst_order[by_dst_bounds[k] : by_dst_bounds[k + 1]]]])
        people = [i for j in near[~fixed[near]].tolist() for i in served[j]]
        arcs = np.concatenate([order[bounds[i] : bounds[i + 1]] for i in people]) if people else np.zeros(0, int)
        return distinct(np.array([k]), near, dst[arcs])

    def try_swap(k: int) -> bool:
        """Open ``k`` and close the open sites near it whose residents all fit into ``k`` or other open sites."""
        arcs_k = by_dst_order[by_dst_bounds[k] : by_dst_bounds[k + 1]]
        near = distinct(assign[src[arcs_k]])
        near = near[~fixed[near]]
        if not len(near):
            return False
        near = near[np.lexsort((near, load[near] / cap[near]))]
        open_[k] = True
        extra = np.zeros(m)
        # this site's tentative additions, as an array (read per arc) and a dict (the sites touched, in order)
        added_at = np.zeros(m)
        closed_mask = np.zeros(m, dtype=bool)
        saving = -float(f[k])
        plan: list[tuple[int, int, float]] = []
        closed: list[int] = []
        for j in near.tolist():
            people = sorted(served[j], key=lambda i: (-w[i], i))
            moves: list[tuple[int, int, float]] = []
            added: dict[int, float] = {}
            ok_all = True
            delta = 0.0
            for i in people:
                arcs = order[bounds[i] : bounds[i + 1]]
                j_all = dst[arcs]
                room_ok = open_[j_all] & (j_all != j) & ~closed_mask[j_all]
                room_ok &= load[j_all] + extra[j_all] + added_at[j_all] + w[i] <= cap[j_all] + 1e-9
                if not room_ok.any():
                    ok_all = False
                    break
                # into k first when it can take them (that is what k is opened for), else the cheapest
                pick = arcs[room_ok]
                into_k = pick[dst[pick] == k]
                a = into_k[0] if len(into_k) else pick[np.argmin(cost[pick])]
                q = int(dst[a])
                added[q] = added.get(q, 0.0) + w[i]
                added_at[q] = added[q]
                delta += cost[a] - cur[i]
                moves.append((i, q, float(cost[a])))
            touched = list(added)
            added_at[touched] = 0.0
            if not ok_all or f[j] - delta <= 0:
                continue
            for q, v in added.items():
                extra[q] += v
            saving += float(f[j]) - delta
            plan.extend(moves)
            closed.append(j)
            closed_mask[j] = True
        if saving <= 1e-6 or not closed:
            open_[k] = False
            return False
        close_and_move(closed, plan)
        return True

    failed: dict[int, np.ndarray] = {}  # swap candidate -> the sites it read when it last failed
    failed_at = np.zeros(m, dtype=np.int64)
    for _ in range(max_passes):
        if time.perf_counter() > deadline:
            break
        improved = shift_all()
        closable = np.flatnonzero(open_ & ~fixed)
        # the emptiest sites first: their residents most likely fit elsewhere
        for j in closable[np.lexsort((closable, -f[closable], load[closable] / cap[closable]))]:
            if int(open_.sum()) <= lo:
                break
            if open_[j] and try_close(int(j)):
                improved = True
        if int(open_.sum()) < hi:
            # open moves: only sites whose optimistic gain (capacity ignored) beats their opening cost
            gain = np.bincount(dst, weights=np.maximum(cur[src] - cost, 0.0) * np.isin(src, act), minlength=m)
            cand = np.flatnonzero(~open_ & (gain > f))
            for j in cand[np.lexsort((cand, -(gain[cand] - f[cand])))]:
                if int(open_.sum()) >= hi:
                    break
                if try_open(int(j)):
                    improved = True
        if swaps and int(open_.sum()) < hi + 1:
            # swap moves: closed sites that many open sites' residents can reach, the most reached first
            reach_w = np.bincount(dst, weights=w[src], minlength=m)
            cand = np.flatnonzero(~open_ & (reach_w > 0))
            for k in cand[np.lexsort((cand, -reach_w[cand]))][:swaps].tolist():
                if time.perf_counter() > deadline:
                    break
                if open_[k] or (k in failed and stamp[failed[k]].max() <= failed_at[k]):
                    continue
                if try_swap(k):
                    improved = True
                else:
                    failed[k], failed_at[k] = swap_region(k), clock[0]
        empty = np.flatnonzero(open_ & ~fixed & (load <= 1e-12))
        for j in empty:
            if int(open_.sum()) > lo and not served[j]:
                open_[j] = False
                touch(int(j))
                improved = True
        if not improved:
            break
    return open_, assign


def solve_level_mip(  # noqa: C901 - a straight build-solve-read of one MIP; the branches are its constraint groups
    level: LevelProblem, *, node_limit: int = 1000, time_limit: float = 60.0, seed: int = 0
) -> LevelResult:
    """The same level as one MIP in HiGHS (single thread, seeded, node-limited: deterministic).

    For components small enough to solve exactly in well under a second.
    The bound is HiGHS's proven bound (the objective when optimal).
    """
    from netplan.locate.base import make_mip, run_mip

    start = time.perf_counter()
    weights, active, src, dst, cost, capacity, open_cost, fixed_open, min_count, max_count = level.parts()
    act = np.asarray(active, dtype=bool)
    keep = act[src]
    src, dst, cost = np.asarray(src)[keep], np.asarray(dst)[keep], np.asarray(cost, dtype=float)[keep]
    n, m = len(weights), len(capacity)
    used = np.unique(dst)
    solver = make_mip("HIGHS")
    inf = solver.infinity()
    # the constraint API (not the natural one): building is then a small part of a window's solve
    y = {int(j): solver.BoolVar(f"y{j}") for j in used.tolist()}
    x = [solver.BoolVar(f"x{a}") for a in range(len(src))]
    objective = solver.Objective()
    for j, var in y.items():
        objective.SetCoefficient(var, float(open_cost[j]))
    for var, c in zip(x, cost.tolist()):
        objective.SetCoefficient(var, c)
    objective.SetMinimization()
    order, bounds = _by_source(src, n)
    for i in np.flatnonzero(act).tolist():
        row = solver.Constraint(1.0, 1.0)
        for a in order[bounds[i] : bounds[i + 1]].tolist():
            row.SetCoefficient(x[a], 1.0)
    by_dst = np.argsort(dst, kind="stable")
    dbounds = np.searchsorted(dst[by_dst], np.arange(m + 1))
    w_src = np.asarray(weights, dtype=float)[src].tolist()
    for j in used.tolist():
        arcs = by_dst[dbounds[j] : dbounds[j + 1]].tolist()
        for a in arcs:
            row = solver.Constraint(-inf, 0.0)
            row.SetCoefficient(x[a], 1.0)
            row.SetCoefficient(y[j], -1.0)
        row = solver.Constraint(-inf, 0.0)
        for a in arcs:
            row.SetCoefficient(x[a], w_src[a])
        row.SetCoefficient(y[j], -float(capacity[j]))
    fixed_cost = 0.0
    fixed_idx = np.flatnonzero(fixed_open).tolist()
    for j in fixed_idx:
        if j in y:
            y[j].SetLb(1)
        else:
            fixed_cost += float(open_cost[j])
    n_fixed_unused = sum(1 for j in fixed_idx if j not in y)
    if min_count or max_count is not None:
        row = solver.Constraint(
            float(min_count - n_fixed_unused), float(max_count - n_fixed_unused) if max_count is not None else inf
        )
        for var in y.values():
            row.SetCoefficient(var, 1.0)
    status, value, bound, elapsed = run_mip(solver, "HIGHS", time_limit, seed, node_limit=node_limit)
    hit = status != "optimal" and elapsed >= 0.95 * time_limit
    if status not in ("optimal", "feasible"):
        return LevelResult(
            np.zeros(m, bool),
            np.full(n, -1),
            float("inf"),
            float(bound) + fixed_cost if np.isfinite(bound) and abs(bound) < 1e19 else -np.inf,
            0,
            hit,
            {"arcs": int(len(src)), "status": status},
        )
    open_ = np.asarray(fixed_open, dtype=bool).copy()
    for j, v in y.items():
        open_[j] = v.solution_value() > 0.5
    assign = np.full(n, -1)
    for a, v in enumerate(x):
        if v.solution_value() > 0.5:
            assign[src[a]] = dst[a]
    obj = _plan_cost(open_, assign, src, dst, cost, np.asarray(open_cost, dtype=float), np.flatnonzero(act))
    bound = obj if status == "optimal" else (float(bound) + fixed_cost if abs(bound) < 1e19 else -np.inf)
    return LevelResult(
        open_,
        assign,
        obj,
        min(bound, obj),
        0,
        hit,
        {"arcs": int(len(src)), "status": status, "seconds": round(time.perf_counter() - start, 3)},
    )


def solve_level_split(
    level: LevelProblem,
    *,
    iterations: int = 300,
    exact_sources: int = 20,
    window: int = 16,
    binary: bool = False,
    node_limit: int = 1000,
    time_limit: float = float("inf"),
    seed: int = 0,
    lp_start: bool = False,
    exact_floor_s: float = 60.0,
    close_exact: bool = False,
    binary_arcs: int = 0,
    columns: int = 0,
    column_sources: int = 1000,
    column_nodes: int = 10,
    workers: int = 1,
    memo: dict[bytes, tuple[LevelResult, dict[str, int]]] | None = None,
) -> LevelResult:
    """Site a level component by component: exactly (HiGHS) where small, by Lagrangian relaxation where large.

    Sources and sites that share no arc path are independent problems (unless
    count bounds couple them: then the level is one component), so the plans
    join into one plan and their bounds add up to a valid bound. Components
    are solved in a fixed order (by their smallest source index). The time
    limit is a safety cap: a component solved by Lagrangian relaxation may use
    the larger of its share by size and half of what is left (so only a level
    out of time cuts one short); a component small enough for the exact MIP
    gets its share by size but at least ``exact_floor_s`` seconds of what is
    left (so its node limit, not the clock, ends it). Components cut short are
    counted in ``details["blocks_at_cap"]``. ``lp_start`` is passed on
    to :func:`solve_level` for the components solved by Lagrangian relaxation.
    A component solved by Lagrangian relaxation with at most ``binary_arcs``
    arcs uses 0-1 knapsacks (``binary``; the dynamic programme costs about
    400 cells per arc and iteration, cheap on a small component, hours on the
    dense city's largest). A component small enough for the MIP that the MIP could not site is also
    sited by :func:`split_then_assign`, and the cheaper plan kept (the larger
    of the two bounds). With ``close_exact``, a component small enough for the MIP that the MIP could
    not site gets :func:`close_sites` after the Lagrangian plan (off by default:
    on the dense 5,000-point city its MIPs took the time tier 2's later blocks
    needed, and on the spread one it closed nothing). A component solved by Lagrangian relaxation with at least
    ``column_sources`` sources ends with the price-and-branch windows of ``columns`` sources (0 = none), each
    window's MIP within ``column_nodes`` nodes. With ``workers`` > 1 a level of at least
    :data:`parallel_sources` sources is sited in that many processes (:func:`netplan.processes.worker_pool`),
    the largest components first; each component's result depends on its own work limits alone, so the plan is the
    one a single process gives (``tests/locate/test_lagrangian.py``). ``memo`` (a dict the caller keeps) holds the
    components already sited, keyed by their data and settings: a component met again takes its earlier result,
    which its work limits alone decided (results a time cap cut short are not kept), so the plan is the one siting it
    again would give; ``details["reused"]`` counts them.
    """
    weights, active, src, dst, cost, capacity, open_cost, fixed_open, min_count, max_count = level.parts()
    start = time.perf_counter()
    from scipy import sparse
    from scipy.sparse.csgraph import connected_components

    act = np.asarray(active, dtype=bool)
    n, m = len(weights), len(capacity)
    fixed = np.asarray(fixed_open, dtype=bool)
    keep = act[src]
    s_, d_ = np.asarray(src)[keep], np.asarray(dst)[keep]
    coupled = (max_count is not None) or (min_count > int(fixed.sum()))
    if coupled:
        labels = np.zeros(n + m, dtype=int)
    else:
        graph = sparse.coo_array((np.ones(len(s_)), (s_, n + d_)), shape=(n + m, n + m))
        _, labels = connected_components(graph, directed=False)
    src_label = labels[:n]
    comps = np.unique(src_label[act])
    # fixed sites outside every component with sources stay open at their cost
    open_ = fixed.copy()
    assign = np.full(n, -1)
    bound = float(open_cost[fixed & ~np.isin(labels[n:], comps)].sum()) if len(comps) else float(open_cost[fixed].sum())
    objective = bound
    hit = False
    counts = {"components": int(len(comps)), "exact": 0, "lagrangian": 0, "iterations": 0}
    sizes = {int(c): int(((src_label == c) & act).sum()) for c in comps}
    total_sources = max(sum(sizes.values()), 1)
    settings = {
        "iterations": iterations,
        "exact_sources": exact_sources,
        "window": window,
        "binary": binary,
        "node_limit": node_limit,
        "seed": seed,
        "lp_start": lp_start,
        "exact_floor_s": exact_floor_s,
        "close_exact": close_exact,
        "binary_arcs": binary_arcs,
        "columns": columns,
        "column_sources": column_sources,
        "column_nodes": column_nodes,
        "finite": bool(np.isfinite(time_limit)),
    }
    parts: list[tuple[np.ndarray, np.ndarray, LevelProblem]] = []
    for c in comps.tolist():
        in_src = act & (src_label == c)
        in_site = labels[n:] == c
        arcs = np.flatnonzero(keep & in_src[src])
        part = LevelProblem(
            weights,
            in_src,
            np.asarray(src)[arcs],
            np.asarray(dst)[arcs],
            np.asarray(cost, dtype=float)[arcs],
            capacity,
            np.where(in_site, open_cost, 0.0),
            fixed & in_site,
            min_count,
            max_count,
        )
        parts.append((in_src, in_site, part))
    # a component's search reads the level's full weight and capacity arrays too: one digest of them for all
    shared = _digest(np.asarray(weights, dtype=float), np.asarray(capacity, dtype=float)) if memo is not None else b""
    keys = [_component_key(part, in_site, settings, shared) if memo is not None else b"" for _, in_site, part in parts]
    known = [memo.get(key) if memo is not None else None for key in keys]
    todo = [i for i, cached in enumerate(known) if cached is None]
    counts["reused"] = len(parts) - len(todo)
    total_sources = max(sum(sizes[c] for c in comps[todo].tolist()), 1)
    solved: dict[int, tuple[LevelResult, dict[str, int], bool]] = {}
    if workers > 1 and len(todo) > 1 and total_sources >= parallel_sources:
        # every component's caps as if the ones before it took no time: caps are a safety net, and a plan
        # decided by work limits is the same whichever process sites it
        left = time_limit - (time.perf_counter() - start)
        jobs = []
        for i in todo:
            c = int(comps[i])
            by_size, limit = block_time_limits(left, sizes[c], total_sources)
            total_sources -= sizes[c]
            jobs.append((parts[i][2], sizes[c], by_size, limit, left, settings))
        from netplan.processes import largest_first

        results = largest_first(site_component, jobs, [sizes[int(comps[i])] for i in todo], workers, what="components")
        solved = dict(zip(todo, results))
    else:
        for i in todo:
            c = int(comps[i])
            left = time_limit - (time.perf_counter() - start)
            by_size, limit = block_time_limits(left, sizes[c], total_sources)
            total_sources -= sizes[c]
            solved[i] = site_component(parts[i][2], sizes[c], by_size, limit, left, settings)
            if not np.isfinite(solved[i][0].objective):
                break
    done = []
    for i, (in_src, in_site, _) in enumerate(parts):
        cached = known[i]
        if cached is not None:
            done.append(_expand_component(cached[0], cached[1], in_src, in_site))
            continue
        if i not in solved:
            break  # a component before it found no plan
        done.append(solved[i])
        res, part_counts, part_hit = solved[i]
        if memo is not None and not part_hit and np.isfinite(res.objective):
            memo[keys[i]] = _compact_component(res, part_counts, in_src, in_site)
    for (in_src, in_site, _), (res, part_counts, part_hit) in zip(parts, done):
        for key, value in part_counts.items():
            counts[key] = max(counts[key], value) if key == "iterations" else counts.get(key, 0) + value
        hit |= part_hit
        if not np.isfinite(res.objective):
            return LevelResult(
                np.zeros(m, bool), np.full(n, -1), float("inf"), -np.inf, counts["iterations"], hit, counts
            )
        open_ |= res.open & in_site
        assign[in_src] = res.assign[in_src]
        objective += res.objective
        bound += res.bound
    return LevelResult(open_, assign, objective, min(bound, objective), counts["iterations"], hit, counts)


def _digest(*arrays: np.ndarray, extra: str = "") -> bytes:
    """A digest of arrays (their dtype and bytes, in order) and a text."""
    import hashlib

    digest = hashlib.blake2b(digest_size=20)
    for array in arrays:
        digest.update(array.dtype.str.encode())
        digest.update(np.ascontiguousarray(array).tobytes())
        digest.update(b"|")
    digest.update(extra.encode())
    return digest.digest()


def _component_key(part: LevelProblem, in_site: np.ndarray, settings: dict[str, Any], shared: bytes) -> bytes:
    """A digest of everything a component's result depends on: its sources, sites, arcs, data and settings.

    ``shared`` is the digest of the level's full weight and capacity arrays.
    """
    weights, active, src, dst, cost, capacity, open_cost, fixed, min_count, max_count = part.parts()
    sources = np.flatnonzero(np.asarray(active, dtype=bool))
    sites = np.flatnonzero(in_site)
    return _digest(
        sources.astype(np.int64),
        sites.astype(np.int64),
        np.asarray(src, dtype=np.int64),
        np.asarray(dst, dtype=np.int64),
        np.asarray(cost, dtype=np.float64),
        np.asarray(open_cost, dtype=np.float64)[sites],
        np.asarray(fixed, dtype=bool)[sites],
        extra=repr((shared.hex(), len(weights), len(capacity), min_count, max_count, sorted(settings.items()))),
    )


def _compact_component(
    res: LevelResult, counts: dict[str, int], in_src: np.ndarray, in_site: np.ndarray
) -> tuple[LevelResult, dict[str, int]]:
    """A component's result with only its own sources' and sites' entries, for the memo."""
    small = LevelResult(
        np.flatnonzero(res.open & in_site),
        res.assign[in_src].copy(),
        res.objective,
        res.bound,
        res.iterations,
        res.time_limit_hit,
        dict(res.details),
    )
    return small, dict(counts)


def _expand_component(
    small: LevelResult, counts: dict[str, int], in_src: np.ndarray, in_site: np.ndarray
) -> tuple[LevelResult, dict[str, int], bool]:
    """The full-size result of a component kept by :func:`_compact_component`."""
    open_ = np.zeros(len(in_site), dtype=bool)
    open_[small.open] = True
    assign = np.full(len(in_src), -1)
    assign[in_src] = small.assign
    res = LevelResult(
        open_, assign, small.objective, small.bound, small.iterations, small.time_limit_hit, dict(small.details)
    )
    return res, dict(counts), False


parallel_sources = 200
"""Levels with fewer active sources than this are sited in one process even when workers are offered: starting the
pool would cost more than it saves."""


def site_component(  # noqa: C901 - the fallbacks of one component in the order they are tried
    part: LevelProblem, size: int, by_size: float, limit: float, left: float, settings: dict[str, Any]
) -> tuple[LevelResult, dict[str, int], bool]:
    """Site one component of a level (see :func:`solve_level_split`): its result, its counts and whether a cap bound.

    ``by_size`` and ``limit`` are its caps from :func:`block_time_limits`, ``left``
    the level's time left when they were set; ``settings`` holds
    :func:`solve_level_split`'s keyword arguments.
    """
    counts: dict[str, int] = {}
    hit = False
    res = None
    cap = 600.0
    exact = size <= settings["exact_sources"]
    if exact:
        # A small block's share of the time can be under a second while its 1,000 nodes take 20 s (a
        # 19-source block of a 5,000-point city): it gets at least a minute of what the level has left, so
        # the node limit, not the clock, ends it.
        if settings["finite"]:
            cap = min(max(by_size, settings["exact_floor_s"]), max(left, 1e-3), 600.0)
        res = solve_level_mip(part, node_limit=settings["node_limit"], time_limit=cap, seed=settings["seed"])
        # a MIP cut short by its time share changes what follows (the Lagrangian fallback): say so
        hit |= res.time_limit_hit
        counts["exact"] = 1 if np.isfinite(res.objective) else 0
    if res is None or not np.isfinite(res.objective):
        use_binary = settings["binary"] or len(part.src) <= settings["binary_arcs"]
        res = solve_level(
            part,
            iterations=settings["iterations"],
            time_limit=limit,
            window=settings["window"],
            seed=settings["seed"],
            binary=use_binary,
            lp_start=settings["lp_start"],
            columns=settings["columns"] if size >= settings["column_sources"] else 0,
            column_nodes=settings["column_nodes"],
        )
        counts["lagrangian"] = 1
        for key in ("column_windows", "column_windows_improved", "column_saving"):
            if key in res.details:
                counts[key] = res.details[key]
        counts["binary"] = int(use_binary)
        counts["iterations"] = res.iterations
        if exact and np.isfinite(res.objective):
            # the single-source MIP found nothing in its nodes (a bin packing of stations into few centres):
            # the split-flow MIP chooses the open set, an exact assignment then makes it single-source
            split = split_then_assign(part, node_limit=settings["node_limit"], time_limit=cap)
            hit |= split.time_limit_hit
            counts["split_flow"] = 1
            if split.objective < res.objective - 1e-9 * max(abs(res.objective), 1.0):
                split.bound = max(split.bound, res.bound)
                res = split
            else:
                res.bound = max(res.bound, split.bound)
        if settings["close_exact"] and exact and np.isfinite(res.objective):
            # small enough for the MIP, which found nothing: close sites where an exact re-assignment lets it
            res, closed = close_sites(part, res, node_limit=settings["node_limit"])
            counts["closed"] = closed
    if res.time_limit_hit:
        counts["blocks_at_cap"] = 1
    hit |= res.time_limit_hit
    return res, counts, hit


def block_time_limits(left: float, sources: int, sources_left: int) -> tuple[float, float]:
    """The safety caps of one component of a level: ``(by size, generous)``.

    ``by size`` is the component's share of the time ``left`` by its count of
    sources among the ``sources_left`` still to site (with a floor of a
    millisecond); the generous cap is the larger of that and half of ``left``.
    The time limit is a safety net, not a schedule: with the generous cap a
    component meets its cap only when the level as a whole is out of time. A
    share by size alone cut a 600-source component of a 10,000-point city
    short while its level had time to spare (a component's work grows faster
    than its sources), so the plan depended on the clock.
    """
    if not np.isfinite(left):
        return float("inf"), float("inf")
    by_size = max(left * sources / max(sources_left, 1), 1e-3)
    return by_size, max(by_size, left / 2)


def split_then_assign(level: LevelProblem, *, node_limit: int = 100, time_limit: float = 600.0) -> LevelResult:
    """Open the sites of the split-flow MIP, then assign every source to one of them exactly.

    Letting a source's weight split over several sites turns the level into a
    capacitated facility-location MIP whose open set HiGHS finds quickly, where
    the single-source MIP can stall on the bin packing (tier 3 of a
    5,000-point city: 62 stations into 200 t sorting centres; the single-source
    MIP found no plan in 100 nodes, this one the 5 centres of the optimum's
    cost). The open set is then kept and every source assigned to one of its
    sites by a generalized assignment MIP. Both MIPs are node-limited (work,
    not time, decides); ``time_limit`` is a safety cap.

    Returns
    -------
    LevelResult
        The plan (objective ``inf`` when either MIP found none); its bound is
        the split-flow MIP's dual bound, valid for the single-source level too.
    """
    from scipy import optimize, sparse

    start = time.perf_counter()
    act, src, dst, cost, w, cap, f, fixed = _active_parts(level)
    min_count, max_count = level.min_count, level.max_count
    n, m, a = len(w), len(cap), len(src)
    sources = np.flatnonzero(act)
    failed = LevelResult(np.zeros(m, bool), np.full(n, -1), float("inf"), -np.inf, 0, False, {"split_flow": "none"})
    if not np.isin(sources, src).all():
        return failed
    used, site = np.unique(dst, return_inverse=True)  # one open/closed column per site with an arc
    site = np.asarray(site).ravel()
    u = len(used)
    row = np.searchsorted(sources, src)
    arange = np.arange(a)
    zcol = a + np.arange(u)
    fixed_elsewhere = int((fixed & ~np.isin(np.arange(m), used)).sum())
    blocks = [
        (sparse.csr_array((np.ones(a), (row, arange)), shape=(len(sources), a + u)), 1.0, 1.0),
        (
            sparse.csr_array(
                (np.r_[w[src], -cap[used]], (np.r_[site, np.arange(u)], np.r_[arange, zcol])), shape=(u, a + u)
            ),
            -np.inf,
            0.0,
        ),
        (
            sparse.csr_array(
                (np.r_[np.ones(a), -np.ones(a)], (np.r_[arange, arange], np.r_[arange, a + site])), (a, a + u)
            ),
            -np.inf,
            0.0,
        ),
    ]
    if min_count or max_count is not None:
        hi = float(max_count - fixed_elsewhere) if max_count is not None else np.inf
        count = sparse.csr_array((np.ones(u), (np.zeros(u, int), zcol)), shape=(1, a + u))
        blocks.append((count, float(min_count - fixed_elsewhere), hi))
    res = optimize.milp(
        np.r_[cost, f[used]],
        constraints=[optimize.LinearConstraint(mat, lo, hi) for mat, lo, hi in blocks],
        integrality=np.r_[np.zeros(a), np.ones(u)],
        bounds=optimize.Bounds(np.r_[np.zeros(a), fixed[used].astype(float)], np.ones(a + u)),
        options={"node_limit": int(node_limit), "time_limit": max(time_limit, 1e-3)},
    )
    hit = res.status == 1 and time.perf_counter() - start >= 0.95 * time_limit
    # the dual bound, never the incumbent: HiGHS stops at a relative gap, so the incumbent may lie above the optimum
    dual = getattr(res, "mip_dual_bound", None)
    bound = float(dual) if dual is not None and np.isfinite(dual) else -np.inf
    bound += float(f[fixed].sum()) - float(f[used][fixed[used]].sum())  # fixed sites without arcs stay open
    failed.bound, failed.time_limit_hit = bound, hit
    if res.x is None:
        return failed
    open_ = fixed.copy()
    open_[used] |= res.x[a:] > 0.5
    found = _assign_exactly(src, dst, cost, w, cap, open_, act, node_limit)
    if found is None:
        return failed
    assign, served = found
    objective = float(f[open_].sum()) + served
    details = {
        "split_flow": "optimal" if res.status == 0 else "node_limit",
        "seconds": round(time.perf_counter() - start, 3),
    }
    return LevelResult(open_, assign, objective, min(bound, objective), 0, hit, details)


def close_sites(level: LevelProblem, res: LevelResult, *, node_limit: int = 1000) -> tuple[LevelResult, int]:
    """Close open sites of a small level's plan where an exact re-assignment of every source lets it, cheapest first.

    The local search moves one source at a time, so it cannot empty a site
    when the others' room is fragmented: a bin packing (tier 3 of a
    5,000-point city: 64 stations into 200 t centres, 6 open where 5 hold
    them all). Here each open site in turn (least loaded first) is closed and
    all sources re-assigned to the remaining open sites by a generalized
    assignment MIP (HiGHS, ``node_limit`` nodes: work, not time, ends it); the
    first closing that lowers the plan's cost is kept and the pass starts
    again. Last, the open set's assignment itself is re-solved exactly.

    Returns
    -------
    tuple
        The (possibly) improved result and how many sites it closed.
    """
    act, src, dst, cost, w, cap, f, fixed = _active_parts(level)
    min_count = level.min_count
    total = float(w[act].sum())
    open_, assign, objective = res.open.copy(), res.assign.copy(), float(res.objective)
    closed = 0
    while True:
        loads = np.bincount(assign[act], weights=w[act], minlength=len(cap))
        candidates = np.flatnonzero(open_ & ~fixed)
        better = None
        for j in candidates[np.lexsort((candidates, loads[candidates]))].tolist():
            rest = open_.copy()
            rest[j] = False
            if int(rest.sum()) < min_count or float(cap[rest].sum()) < total * (1 - 1e-12):
                continue
            found = _assign_exactly(src, dst, cost, w, cap, rest, act, node_limit)
            if found is not None and float(f[rest].sum()) + found[1] < objective - 1e-9 * max(abs(objective), 1.0):
                better = (rest, found[0], float(f[rest].sum()) + found[1])
                break
        if better is None:
            break
        open_, assign, objective = better
        closed += 1
    found = _assign_exactly(src, dst, cost, w, cap, open_, act, node_limit)
    if found is not None and float(f[open_].sum()) + found[1] < objective - 1e-9 * max(abs(objective), 1.0):
        assign, objective = found[0], float(f[open_].sum()) + found[1]
    if objective >= res.objective:
        return res, 0
    out = LevelResult(open_, assign, objective, min(res.bound, objective), res.iterations, res.time_limit_hit)
    out.details = dict(res.details)
    return out, closed


def _active_parts(
    level: LevelProblem,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The level as float/bool arrays with only the arcs of active sources: act, src, dst, cost, w, cap, f, fixed."""
    weights, active, src, dst, cost, capacity, open_cost, fixed_open, _, _ = level.parts()
    act = np.asarray(active, dtype=bool)
    keep = act[src]
    src, dst, cost = np.asarray(src)[keep], np.asarray(dst)[keep], np.asarray(cost, dtype=float)[keep]
    cap, f = np.asarray(capacity, dtype=float), np.asarray(open_cost, dtype=float)
    return act, src, dst, cost, np.asarray(weights, dtype=float), cap, f, np.asarray(fixed_open, dtype=bool)


def _assign_exactly(
    src: np.ndarray,
    dst: np.ndarray,
    cost: np.ndarray,
    w: np.ndarray,
    cap: np.ndarray,
    open_: np.ndarray,
    act: np.ndarray,
    node_limit: int,
) -> tuple[np.ndarray, float] | None:
    """Cheapest single-source assignment of the active sources to the open sites (HiGHS MIP), or None."""
    from scipy import optimize, sparse

    arcs = np.flatnonzero(open_[dst])
    sources = np.flatnonzero(act)
    if not np.isin(sources, src[arcs]).all():
        return None
    s, d = src[arcs], dst[arcs]
    row = np.searchsorted(sources, s)
    a = len(arcs)
    one = sparse.csr_array((np.ones(a), (row, np.arange(a))), shape=(len(sources), a))
    room = sparse.csr_array((w[s], (d, np.arange(a))), shape=(len(cap), a))
    res = optimize.milp(
        cost[arcs],
        constraints=[
            optimize.LinearConstraint(one, 1.0, 1.0),
            optimize.LinearConstraint(room, -np.inf, cap),
        ],
        integrality=np.ones(a),
        bounds=optimize.Bounds(0.0, 1.0),
        options={"node_limit": int(node_limit), "presolve": True},
    )
    if res.x is None:
        return None
    x = res.x > 0.5
    assign = np.full(len(w), -1)
    assign[s[x]] = d[x]
    if (assign[sources] < 0).any():
        return None
    loads = np.bincount(d[x], weights=w[s[x]], minlength=len(cap))
    if (loads > cap * (1 + 1e-9)).any():
        return None
    return assign, float(cost[arcs][x].sum())


def window_search(
    open_: np.ndarray,
    assign: np.ndarray,
    level: LevelProblem,
    *,
    window: int = 24,
    passes: int = 1,
    node_limit: int = 200,
    arcs_per_source: int = 0,
    seed: int = 0,
    deadline: float = float("inf"),
) -> tuple[np.ndarray, np.ndarray, int, bool]:
    """Large-neighbourhood search: re-solve small windows of neighbouring sources exactly (HiGHS), keep what saves.

    A window is a source and the sources it meets through shared sites
    (breadth first, in index order) up to ``window`` of them not yet in a window
    of this pass. Everything
    outside stays as it is: a site that also serves outside sources stays open
    (at no extra cost, with the room left). Windows start at every source not yet
    in a window of this pass, in index order, so the search is deterministic.
    Only for levels without count bounds. With ``arcs_per_source`` the window's
    MIP offers each member only its that many cheapest arcs and its current
    one (so the current plan stays feasible): a dense city's windows shrink by
    a factor of 2-3.

    Returns
    -------
    tuple
        Open mask, assignment, number of windows improved, and whether the
        clock stopped the search (the deadline, or a window's MIP at its
        60 s safety cap before its node limit).
    """
    weights, active, src, dst, cost, capacity, open_cost, fixed_open, _, _ = level.parts()
    w = np.asarray(weights, dtype=float)
    act_mask = np.asarray(active, dtype=bool)
    keep = act_mask[src]
    src, dst, cost = src[keep], dst[keep], np.asarray(cost, dtype=float)[keep]
    n, m = len(w), len(capacity)
    f = np.asarray(open_cost, dtype=float)
    fixed = np.asarray(fixed_open, dtype=bool)
    open_, assign = open_.copy(), assign.copy()
    lookup = _arc_lookup(src, dst)
    improved, hit = 0, False
    for _ in range(passes):
        for members_arr, arcs in tiled_windows(src, dst, cost, act_mask, assign, window, arcs_per_source, m):
            if time.perf_counter() > deadline:
                return open_, assign, improved, True
            win = np.zeros(n, dtype=bool)
            win[members_arr] = True
            load = np.bincount(assign[act_mask], weights=w[act_mask], minlength=m)
            inside = np.bincount(assign[members_arr], weights=w[members_arr], minlength=m)
            outside_users = np.bincount(assign[act_mask & ~win], minlength=m) > 0
            sites = np.unique(dst[arcs])
            # current cost of what the window decides: sites only its members use, and their assignments
            own = sites[open_[sites] & ~fixed[sites] & ~outside_users[sites]]
            current = float(f[own].sum()) + float(sum(cost[lookup[(int(i), int(assign[i]))]] for i in members_arr))
            room = capacity - (load - inside)
            stay = fixed | outside_users
            window_level = LevelProblem(
                w,
                win,
                src[arcs],
                dst[arcs],
                cost[arcs],
                np.maximum(room, 0.0),
                np.where(stay, 0.0, f),
                np.zeros(m, dtype=bool),
            )
            res = solve_level_mip(
                window_level,
                node_limit=node_limit,
                time_limit=60.0,
                seed=seed,
            )
            hit |= res.time_limit_hit
            if not np.isfinite(res.objective) or res.objective >= current - 1e-6 * max(current, 1.0) - 1e-6:
                continue
            new_open = res.open & np.isin(np.arange(m), sites)
            open_[own] = False
            open_[sites[new_open[sites]]] = True
            assign[members_arr] = res.assign[members_arr]
            improved += 1
    return open_, assign, improved, hit


def tiled_windows(
    src: np.ndarray,
    dst: np.ndarray,
    cost: np.ndarray,
    active: np.ndarray,
    assign: np.ndarray,
    window: int,
    arcs_per_source: int,
    sites: int,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Windows of neighbouring sources that tile the active ones: ``(members, their arcs)`` in a fixed order.

    A window is a source and the sources it meets through shared sites
    (breadth first, in index order) up to ``window`` of them not yet in a
    window; windows start at every active source not yet in one, in index
    order. With ``arcs_per_source`` a member offers only its that many cheapest
    arcs and the one to its site in ``assign`` — read when the window is cut,
    so a caller that changes ``assign`` in place between windows is followed.
    """
    n = len(active)
    order, bounds = _by_source(src, n)
    by_dst = np.argsort(dst, kind="stable")
    cheap = np.zeros(len(src), dtype=bool)
    if arcs_per_source:
        cheap[_nearest_arcs(src, cost, n, arcs_per_source)] = True
    # the windows' breadth-first searches meet the same sources again and again: their neighbours, once each
    sites_of = _LazyNeighbours(dst, order, bounds)
    sources_of = _LazyNeighbours(src, by_dst, np.searchsorted(dst[by_dst], np.arange(sites + 1)))
    seen = np.zeros(n, dtype=bool)
    for seed_i in np.flatnonzero(active).tolist():
        if seen[seed_i]:
            continue
        members = np.array(sorted(_window_members(seed_i, window, seen, sites_of, sources_of)))
        seen[members] = True
        arcs = np.concatenate([order[bounds[i] : bounds[i + 1]] for i in members])
        if arcs_per_source:
            arcs = arcs[cheap[arcs] | (dst[arcs] == assign[src[arcs]])]
        yield members, arcs


class _LazyNeighbours(dict):
    """The sorted distinct ``other[arcs]`` over each key's arcs ``order[bounds[key] : bounds[key + 1]]``, on demand."""

    def __init__(self, other: np.ndarray, order: np.ndarray, bounds: np.ndarray):
        super().__init__()
        self.other, self.order, self.bounds = other, order, bounds

    def __missing__(self, key: int) -> list[int]:
        value = np.unique(self.other[self.order[self.bounds[key] : self.bounds[key + 1]]]).tolist()
        self[key] = value
        return value


def _window_members(
    seed_i: int, window: int, seen: np.ndarray, sites_of: _LazyNeighbours, sources_of: _LazyNeighbours
) -> list[int]:
    """Breadth first from ``seed_i`` through shared sites: up to ``window`` unseen sources, in the order met.

    Sources already in a window of this pass are passed through, not taken
    again. The members are the first ``window`` unseen sources in the order
    the search meets them, so it stops as soon as it has met that many: on a
    level where every source shares sites with a thousand others (the
    stations of a dense city) expanding the members too cost 0.4 s a window.
    """
    met, in_win = [seed_i], {seed_i}
    unseen = 0 if seen[seed_i] else 1
    head = 0
    while head < len(met) and unseen < window:
        i = met[head]
        head += 1
        for j in sites_of[i]:
            for k in sources_of[j]:
                if k in in_win:
                    continue
                in_win.add(k)
                met.append(k)
                if not seen[k]:
                    unseen += 1
                    if unseen == window:
                        break
            if unseen == window:
                break
    return [k for k in met if not seen[k]][:window]
