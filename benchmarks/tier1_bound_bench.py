"""How far can a bound prove tier 1 of a dense city? LP, 0-1 Lagrangian and Dantzig-Wolfe bounds (issue 13).

Tier 1 of ``scale_bench.py``'s city (N demand points, 3N collection-point
candidates, capacity 1,000 kg/day, single-source, within the walking radius)
is where the whole-city gap sits. This script builds that level exactly as
siting does and measures, in one process:

1. ``solve_level_split`` as siting runs it (continuous knapsacks: the
   Lagrangian dual equals the strong LP, started from the LP's duals):
   the plan and its bound;
2. the same with 0-1 knapsacks (``binary=True``): the Lagrangian dual with
   integral knapsacks, i.e. the Dantzig-Wolfe bound, as far as the
   subgradient steps reach it;
3. column generation for that Dantzig-Wolfe bound: a restricted master
   (columns = a site and a set of sources that fits its capacity, covering
   every source, each site at most once; HiGHS LP), priced by the same 0-1
   knapsacks at the master's duals. The Lagrangian value at every round's
   duals is a valid lower bound; the restricted master's LP value is an upper
   bound on the Dantzig-Wolfe bound (the full master can only be lower). So
   the two bracket the best bound any Lagrangian relaxation of the assignment
   constraints can prove;
4. optionally, "price and branch": HiGHS's MIP over the generated columns,
   a plan (its dual bound holds for those columns only, not for the level).

With ``--windows K`` it measures instead what price and branch on windows of
the siting plan finds (steps 2-4 are skipped): siting's own
:func:`netplan.locate.columns.column_search` on the first K windows of
``--window`` sources, with ``--rounds`` rounds of column generation,
``--window-nodes`` HiGHS nodes per window and each source's ``--window-arcs``
cheapest sites (0 = all).

    python benchmarks/tier1_bound_bench.py [--n 2000] [--rounds 12] [--mip-seconds 0] [--seed 0]
    python benchmarks/tier1_bound_bench.py --n 5000 --windows 5 [--window 120] [--window-arcs 0] [--rounds 60]

Rounds, not seconds, end the column generation, so its numbers repeat; the
LP times depend on the machine.
"""

from __future__ import annotations

import argparse
import platform
import resource
import sys
import time
from datetime import UTC, datetime

import numpy as np
import scale_bench
from scipy import optimize, sparse


def tier1_level(model):
    """Tier 1 of a :class:`TieredNetwork` as the bottom-up siting poses it."""
    from netplan.locate.lagrangian import LevelProblem

    tier, arcs, w = model.tiers[0], model.arcs[0], model.demand
    per_kg_m = model.access * model.days / 1e6
    return LevelProblem(
        weights=w,
        active=w > 0,
        src=arcs.src,
        dst=arcs.dst,
        cost=w[arcs.src] * arcs.distance * per_kg_m,
        capacity=tier.capacity,
        open_cost=tier.open_cost,
        fixed_open=tier.fixed_open,
        min_count=tier.min_count,
        max_count=tier.max_count,
    )


def _fit(j: int, take: np.ndarray, src, w, rc, cap) -> list[int]:
    """The knapsack's sources for site ``j``, trimmed (worst profit per kg first) until they fit its capacity."""
    arcs = take[np.argsort(-rc[take] / np.maximum(w[take], 1e-9), kind="stable")]  # best profit per kg first
    keep, load = [], 0.0
    for a in arcs:
        if load + w[a] <= cap[j] + 1e-9:
            keep.append(int(src[a]))
            load += w[a]
    return sorted(keep)


def _master(columns: dict, acts: np.ndarray, n: int, m: int) -> tuple[list, sparse.csr_array, sparse.csr_array]:
    """The columns in order, their cover rows (active sources) and their once-per-site rows."""
    keys = list(columns)
    rows = [i for _, s in keys for i in s]
    cols = [k for k, (_, s) in enumerate(keys) for _ in s]
    cover = sparse.csr_array((np.ones(len(rows)), (rows, cols)), shape=(n, len(keys)))[acts]
    once = sparse.csr_array((np.ones(len(keys)), ([j for j, _ in keys], np.arange(len(keys)))), shape=(m, len(keys)))
    return keys, cover, once


def column_generation(level, plan_open, plan_assign, rounds: int, mip_seconds: float) -> dict:
    """Dantzig-Wolfe bound bracket by column generation from the plan's columns; see the module docstring."""
    from netplan.locate.lagrangian import _binary_knapsacks, _open_bound

    act = np.asarray(level.active, dtype=bool)
    keep = act[level.src]
    src, dst, cost = level.src[keep], level.dst[keep], np.asarray(level.cost, dtype=float)[keep]
    cap, f = np.asarray(level.capacity, dtype=float), np.asarray(level.open_cost, dtype=float)
    fixed = np.asarray(level.fixed_open, dtype=bool)
    n, m = len(level.weights), len(cap)
    hi = m if level.max_count is None else int(level.max_count)
    acts = np.flatnonzero(act)
    w = np.asarray(level.weights, dtype=float)[src]
    arc_cost = {(int(s), int(d)): float(c) for s, d, c in zip(src, dst, cost)}
    total = float(np.asarray(level.weights, dtype=float)[acts].sum())
    columns: dict[tuple[int, tuple[int, ...]], float] = {}

    def add(j: int, sources: list[int]) -> bool:
        key = (j, tuple(sources))
        if key in columns or not sources:
            return False
        columns[key] = f[j] + sum(arc_cost[(i, j)] for i in sources)
        return True

    for j in np.flatnonzero(plan_open):
        add(int(j), sorted(np.flatnonzero(plan_assign == j).tolist()))
    out: dict = {"rounds": [], "best_bound": -np.inf}
    for r in range(rounds):
        keys, cover, once = _master(columns, acts, n, m)
        t0 = time.perf_counter()
        lp = optimize.linprog(
            np.array([columns[k] for k in keys]),
            A_ub=sparse.vstack([-cover, once]).tocsc(),
            b_ub=np.r_[-np.ones(len(acts)), np.ones(m)],
            bounds=(0, None),
            method="highs",
        )
        lp_s = time.perf_counter() - t0
        u = np.zeros(n)
        u[acts] = -lp.ineqlin.marginals[: len(acts)]
        site_dual = lp.ineqlin.marginals[len(acts) :]
        rc = cost - u[src]
        g, x = _binary_knapsacks(rc, w, dst, cap, m)
        value = f + g
        bound = _open_bound(value, cap, fixed, level.min_count, hi, total)[0] + float(u[acts].sum())
        out["best_bound"] = max(out["best_bound"], bound)
        new = 0
        for j in np.flatnonzero(value - site_dual < -1e-6):
            new += add(int(j), _fit(int(j), np.flatnonzero((dst == j) & (x > 0)), src, w, rc, cap))
        out["rounds"].append(
            {"round": r, "master_lp": lp.fun, "lagrangian": bound, "columns": len(keys), "new": new, "lp_s": lp_s}
        )
        print(
            f"round {r}: master {lp.fun:,.0f} Lagrangian {bound:,.0f} columns {len(keys):,} new {new:,} "
            f"LP {lp_s:.1f} s",
            file=sys.stderr,
            flush=True,
        )
        if new == 0:
            break
    out["master_lp"] = out["rounds"][-1]["master_lp"]
    if mip_seconds > 0:
        keys, cover, once = _master(columns, acts, n, m)
        t0 = time.perf_counter()
        mip = optimize.milp(
            np.array([columns[k] for k in keys]),
            constraints=[
                optimize.LinearConstraint(
                    sparse.vstack([cover, once]).tocsc(),
                    np.r_[np.ones(len(acts)), np.zeros(m)],
                    np.r_[np.full(len(acts), np.inf), np.ones(m)],
                )
            ],
            integrality=np.ones(len(keys)),
            bounds=optimize.Bounds(0, 1),
            options={"time_limit": mip_seconds},
        )
        out["mip"] = {
            "objective": mip.fun,
            "dual_bound": getattr(mip, "mip_dual_bound", None),
            "seconds": time.perf_counter() - t0,
            "columns": len(keys),
        }
    return out


def _windows_table(level, plan, args) -> None:
    """Price and branch (:func:`netplan.locate.columns.column_search`) on the plan's first windows, as a table."""
    from netplan.locate.columns import column_search
    from netplan.locate.lagrangian import _plan_cost

    t0 = time.perf_counter()
    open_, assign, report = column_search(
        plan.open,
        plan.assign,
        level,
        window=args.window,
        rounds=args.rounds,
        node_limit=args.window_nodes,
        arcs_per_source=args.window_arcs,
        max_windows=args.windows,
    )
    seconds = time.perf_counter() - t0
    after = _plan_cost(open_, assign, level.src, level.dst, level.cost, level.open_cost, np.flatnonzero(level.active))
    print("| windows (improved) | columns | saving (CNY/yr) | tier-1 plan after | change | sites open | seconds |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    print(
        f"| {report.windows} ({report.improved}) | {report.columns:,} | {report.saving:,.0f} | {after:,.0f} "
        f"| {100 * (after / plan.objective - 1):+.2f}% | {int(plan.open.sum()):,} → {int(open_.sum()):,} "
        f"| {seconds:.1f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--mip-seconds", type=float, default=0.0, help="price and branch over the columns (0 = no)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--windows", type=int, default=0, help="price and branch on this many windows of the plan")
    parser.add_argument("--window", type=int, default=120, help="sources per window")
    parser.add_argument("--window-arcs", type=int, default=0, help="each source's cheapest sites only (0 = all)")
    parser.add_argument("--window-nodes", type=int, default=10, help="HiGHS nodes per window's MIP")
    args = parser.parse_args()
    from netplan.locate.lagrangian import solve_level_split

    model, info = scale_bench.build_model(args.n, "lagrangian", args.seed)
    level = tier1_level(model)
    settings = {
        "iterations": model.iterations,
        "node_limit": model.exact_nodes,
        "exact_sources": 20,
        "lp_start": True,
        "seed": args.seed,
    }
    rows = []
    if args.windows:
        t0 = time.perf_counter()
        plan = solve_level_split(level, **settings)
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        print(
            f"Measured {stamp} on {platform.node()}: tier 1 of scale_bench.py's city at N = {args.n:,}, its siting "
            f"plan {plan.objective:,.0f} CNY/yr ({int(plan.open.sum()):,} sites, {time.perf_counter() - t0:.1f} s), "
            f"windows of {args.window} sources.\n"
        )
        _windows_table(level, plan, args)
        return
    for name, binary in (("strong LP start + continuous knapsacks (siting)", False), ("0-1 knapsacks", True)):
        t0 = time.perf_counter()
        res = solve_level_split(level, binary=binary, **settings)
        rows.append((name, res.objective, res.bound, time.perf_counter() - t0))
        print(rows[-1], file=sys.stderr, flush=True)
        if not binary:
            plan = res
    t0 = time.perf_counter()
    cg = column_generation(level, plan.open, plan.assign, args.rounds, args.mip_seconds)
    cg_s = time.perf_counter() - t0
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(
        f"\nMeasured {stamp} on {platform.node()}: tier 1 of scale_bench.py's city at N = {args.n:,} "
        f"({int(level.active.sum()):,} sources, {len(level.capacity):,} sites, {len(level.src):,} arcs).\n"
    )
    print("| method | plan (CNY/yr) | bound | tier-1 gap | seconds |")
    print("| --- | ---: | ---: | ---: | ---: |")
    best_plan = plan.objective
    for name, obj, bound, secs in rows:
        print(f"| {name} | {obj:,.0f} | {bound:,.0f} | {100 * (best_plan - bound) / best_plan:.2f}% | {secs:.1f} |")
    print(
        f"| column generation, {len(cg['rounds'])} rounds: best Lagrangian bound | | {cg['best_bound']:,.0f} "
        f"| {100 * (best_plan - cg['best_bound']) / best_plan:.2f}% | {cg_s:.1f} |"
    )
    print(
        f"| column generation: restricted master LP (the Dantzig-Wolfe bound is at most this) | "
        f"| {cg['master_lp']:,.0f} | {100 * (best_plan - cg['master_lp']) / best_plan:.2f}% | |"
    )
    if "mip" in cg:
        mip = cg["mip"]
        print(
            f"| price and branch: HiGHS MIP over {mip['columns']:,} columns | {mip['objective']:,.0f} "
            f"| ({mip['dual_bound']:,.0f}, those columns only) | | {mip['seconds']:.1f} |"
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\nPeak RSS {peak:,.0f} MB. Gaps against the siting plan ({best_plan:,.0f}).")


if __name__ == "__main__":
    main()
