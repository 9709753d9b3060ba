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

With ``--windows K`` it measures instead what price and branch finds on
windows of the siting plan (steps 2-4 are skipped): the first K windows of
``--window`` sources met breadth-first through shared sites (as
``window_search`` meets them), each with every site in its sources' reach (or
their ``--window-arcs`` cheapest), a site that also serves sources outside the
window staying open with the room it has left; columns generated from the
plan's own until the master LP and the Lagrangian value at its duals agree
within 0.1 % or ``--rounds`` rounds (weights rounded up to whole kilograms, so
every column fits), then HiGHS's MIP over the columns with ``--window-nodes``
nodes. A cheaper window plan is taken before the next window is cut.

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


def _knapsack(profit: np.ndarray, weight: np.ndarray, capacity: int) -> tuple[float, list[int]]:
    """0-1 knapsack by dynamic programming over whole kilograms: the best value and the items taken."""
    best = np.zeros(capacity + 1)
    took = np.zeros((len(profit), capacity + 1), dtype=bool)
    for i in range(len(profit)):
        if profit[i] <= 0 or weight[i] > capacity:
            continue
        cand = np.full(capacity + 1, -np.inf)
        cand[weight[i] :] = best[: capacity + 1 - weight[i]] + profit[i]
        took[i] = cand > best + 1e-12
        best = np.where(took[i], cand, best)
    left, chosen = capacity, []
    for i in range(len(profit) - 1, -1, -1):
        if took[i, left]:
            chosen.append(i)
            left -= int(weight[i])
    return float(best[capacity]), chosen[::-1]


def _matrices(cols: list, sources: int, sites: dict) -> tuple[np.ndarray, sparse.csr_array, sparse.csr_array]:
    """Costs, cover rows and once-per-site rows of a window's columns ``(site, rows, cost)``."""
    rows = np.concatenate([c[1] for c in cols]).astype(int)
    at = np.concatenate([[q] * len(c[1]) for q, c in enumerate(cols)]).astype(int)
    cover = sparse.csr_array((np.ones(len(rows)), (rows, at)), shape=(sources, len(cols)))
    once = sparse.csr_array(
        (np.ones(len(cols)), ([sites[c[0]] for c in cols], np.arange(len(cols)))), shape=(len(sites), len(cols))
    )
    return np.array([c[2] for c in cols]), cover, once


def window_price_and_branch(  # noqa: C901 - one window's column generation and MIP, kept whole for reading
    level, plan_open, plan_assign, *, windows: int, window: int, rounds: int, node_limit: int, arcs_per_source: int
) -> list[dict]:
    """Price and branch on the plan's first ``windows`` windows (see the module docstring); one record per window."""
    from netplan.locate.lagrangian import _by_source, _LazyNeighbours, _nearest_arcs, _window_members

    act = np.asarray(level.active, dtype=bool)
    keep = act[level.src]
    src, dst, cost = level.src[keep], level.dst[keep], np.asarray(level.cost, dtype=float)[keep]
    w = np.asarray(level.weights, dtype=float)
    cap, f = np.asarray(level.capacity, dtype=float), np.asarray(level.open_cost, dtype=float)
    fixed = np.asarray(level.fixed_open, dtype=bool)
    n, m = len(w), len(cap)
    open_, assign = plan_open.copy(), plan_assign.copy()
    order, bounds = _by_source(src, n)
    by_dst = np.argsort(dst, kind="stable")
    sites_of = _LazyNeighbours(dst, order, bounds)
    sources_of = _LazyNeighbours(src, by_dst, np.searchsorted(dst[by_dst], np.arange(m + 1)))
    cheap = np.ones(len(src), dtype=bool)
    if arcs_per_source:
        cheap[:] = False
        cheap[_nearest_arcs(src, cost, n, arcs_per_source)] = True
    kg = np.ceil(w - 1e-9).astype(int)
    seen = np.zeros(n, dtype=bool)
    out: list[dict] = []
    for seed_i in np.flatnonzero(act).tolist():
        if len(out) >= windows:
            break
        if seen[seed_i]:
            continue
        t0 = time.perf_counter()
        members = np.array(sorted(_window_members(seed_i, window, seen, sites_of, sources_of)))
        seen[members] = True
        inside = np.zeros(n, dtype=bool)
        inside[members] = True
        arcs = np.concatenate([order[bounds[i] : bounds[i + 1]] for i in members])
        arcs = arcs[cheap[arcs] | (dst[arcs] == assign[src[arcs]])]
        sites = np.unique(dst[arcs])
        outside = act & ~inside
        stays = fixed | (np.bincount(assign[outside], weights=w[outside], minlength=m) > 1e-12)
        room = np.floor(cap - np.bincount(assign[outside], weights=w[outside], minlength=m) + 1e-9).astype(int)
        fw = np.where(stays, 0.0, f)
        row = {int(i): r for r, i in enumerate(members)}
        arc_cost = {(int(src[a]), int(dst[a])): float(cost[a]) for a in arcs}
        current = float(fw[sites][open_[sites]].sum()) + sum(arc_cost[(int(i), int(assign[i]))] for i in members)
        site_arcs = {int(j): arcs[dst[arcs] == j] for j in sites}
        at = {int(j): q for q, j in enumerate(sites)}
        cols = [
            (j, [row[int(i)] for i in members[assign[members] == j]], 0.0) for j in np.unique(assign[members]).tolist()
        ]
        cols = [(j, r, fw[j] + sum(arc_cost[(int(members[x]), j)] for x in r)) for j, r, _ in cols]
        done = 0
        while done < rounds:
            done += 1
            c, cover, once = _matrices(cols, len(members), at)
            lp = optimize.linprog(
                c,
                A_ub=sparse.vstack([-cover, once]).tocsr(),
                b_ub=np.r_[-np.ones(len(members)), np.ones(len(sites))],
                bounds=(0, None),
                method="highs",
            )
            if lp.status != 0:
                break
            u, v = -lp.ineqlin.marginals[: len(members)], lp.ineqlin.marginals[len(members) :]
            lagrangian, new = float(u.sum()), 0
            for j in sites.tolist():
                a = site_arcs[j]
                rows = np.array([row[int(i)] for i in src[a]])
                profit = u[rows] - cost[a]
                if fw[j] - np.maximum(profit, 0.0).sum() >= 0:
                    continue
                value, chosen = _knapsack(profit, kg[src[a]], max(int(room[j]), 0))
                lagrangian += min(0.0, fw[j] - value)
                if chosen and fw[j] - value - v[at[j]] < -1e-6 * max(1.0, fw[j]):
                    cols.append((j, rows[chosen].tolist(), fw[j] + float(cost[a][chosen].sum())))
                    new += 1
            if not new or lagrangian >= lp.fun - 1e-3 * abs(lp.fun):
                break
        c, cover, once = _matrices(cols, len(members), at)
        mip = optimize.milp(
            c,
            integrality=np.ones(len(c)),
            bounds=optimize.Bounds(0, 1),
            constraints=[optimize.LinearConstraint(cover, 1, np.inf), optimize.LinearConstraint(once, 0, 1)],
            options={"node_limit": node_limit},
        )
        found = float("nan")
        if mip.x is not None:
            new_assign: dict[int, int] = {}
            for q in np.flatnonzero(mip.x > 0.5).tolist():
                j = cols[q][0]
                for x in cols[q][1]:
                    i = int(members[x])
                    # a source two chosen columns cover goes to the cheaper site (the other keeps its room)
                    if i not in new_assign or arc_cost[(i, j)] < arc_cost[(i, new_assign[i])]:
                        new_assign[i] = j
            found = float(sum(fw[j] for j in set(new_assign.values()))) + sum(
                arc_cost[(i, j)] for i, j in new_assign.items()
            )
            if found < current * (1 - 1e-9):
                open_[sites[open_[sites] & ~stays[sites]]] = False
                for i, j in new_assign.items():
                    assign[i], open_[j] = j, True
        out.append(
            {
                "sources": len(members),
                "sites": len(sites),
                "plan": current,
                "price_and_branch": found,
                "rounds": done,
                "columns": len(cols),
                "seconds": time.perf_counter() - t0,
            }
        )
        print(out[-1], file=sys.stderr, flush=True)
    load = np.bincount(assign[act], weights=w[act], minlength=m)
    assert (load <= cap + 1e-6).all() and open_[assign[act]].all(), "a window plan broke a capacity"
    return out


def _windows_table(level, plan, args) -> None:
    records = window_price_and_branch(
        level,
        plan.open,
        plan.assign,
        windows=args.windows,
        window=args.window,
        rounds=args.rounds,
        node_limit=args.window_nodes,
        arcs_per_source=args.window_arcs,
    )
    print("| window | sources | sites | plan (CNY/yr) | price and branch | change | rounds | columns | seconds |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for k, r in enumerate(records, 1):
        change = 100 * (r["price_and_branch"] / r["plan"] - 1)
        print(
            f"| {k} | {r['sources']} | {r['sites']:,} | {r['plan']:,.0f} | {r['price_and_branch']:,.0f} "
            f"| {change:+.2f}% | {r['rounds']} | {r['columns']:,} | {r['seconds']:.1f} |"
        )
    saved = sum(max(r["plan"] - r["price_and_branch"], 0.0) for r in records if np.isfinite(r["price_and_branch"]))
    print(
        f"\nTaken: {saved:,.0f} CNY/yr of the windows' {sum(r['plan'] for r in records):,.0f} "
        f"({100 * saved / plan.objective:.2f} % of the tier's plan {plan.objective:,.0f}); window plans costlier "
        "than the plan are not taken."
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
    parser.add_argument("--window-nodes", type=int, default=500, help="HiGHS nodes per window's MIP")
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
