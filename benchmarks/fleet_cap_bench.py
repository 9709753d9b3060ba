"""A driver cap over small and big trucks: which vehicles PyVRP's depot split keeps.

A synthetic day (reproducible from the seed): N optional stops (1-4 kg each, 2-minute service, 20,000 per stop left)
over a square that grows with N, three garages, small trucks (60 kg) and big ones (100 kg), both single-trip on 4-hour
shifts (``--shift-hours``) and free to start and end at any garage they may use (the small at all three, the big at
two), and a cap on drivers shared across both types, below the trucks there are. Each case is routed twice by the
PyVRP engine with the same iteration budget and seed:

- ``stops``: the split ranks the first search's routes by their stops and keeps them while the counts and the cap
  allow (the rule until 2026-12-03; ``SearchSettings(split_for_load=False)``);
- ``load``: the same, then swaps vehicles for ones that carry more while the counted ones cannot carry the load their
  shifts could reach (``netplan.route.engines.pyvrp.split_counts``, the engine's rule).

Every plan is replayed by the simulator. The table gives the cost (distance, fixed costs and the stops' penalties),
the stops left, the load carried, the big trucks counted, and the drop audit (``netplan/route/audit.py``: stops left
that a vehicle could have served / stops checked / stops its work limit did not reach).

Usage::

    python benchmarks/fleet_cap_bench.py [--sizes 150 600] [--seeds 7 8 9 10 11 12] [--iterations 3000]
        [--shift-hours 4]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from netplan.route.engines import solve  # noqa: E402
from netplan.route.engines.pyvrp import SearchSettings  # noqa: E402
from netplan.route.problem import (  # noqa: E402
    Depot,
    FleetCap,
    Interval,
    Location,
    Profile,
    RoutingProblem,
    Stop,
    VehicleType,
)
from netplan.route.simulate import simulate  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "fleet_cap.md"
RULES = {"stops": SearchSettings(split_for_load=False), "load": SearchSettings()}


def day(n: int, seed: int, drivers: int, shift_hours: float = 4.0) -> RoutingProblem:
    """N stops, 3 garages, ``n // 25`` small and ``n // 50`` big trucks, ``drivers`` drivers for both."""
    rng = random.Random(seed)
    half = round(3000 * (n / 150) ** 0.5)  # the same density at every N
    points = [(rng.randint(-half, half), rng.randint(-half, half)) for _ in range(n)]
    points += [(-5 * half // 6, 0), (5 * half // 6, 0), (0, 5 * half // 6)]
    xy = np.array(points, dtype=float)
    dist = np.rint(np.hypot(xy[:, None, 0] - xy[None, :, 0], xy[:, None, 1] - xy[None, :, 1])).astype(np.int64)
    shift = Interval(0, round(shift_hours * 3600))
    small = VehicleType(
        "small", n // 25, (60,), start_depots=(0, 1, 2), end_depots=(0, 1, 2), shift=shift, fixed_cost=3000
    )
    big = VehicleType("big", n // 50, (100,), start_depots=(0, 2), end_depots=(0, 2), shift=shift, fixed_cost=5000)
    return RoutingProblem(
        locations=[Location(f"p{i}", x, y) for i, (x, y) in enumerate(points)],
        profiles={"default": Profile("default", dist, dist.copy())},  # 1 distance unit = 1 s of driving
        stops=[Stop(f"s{i}", i, (rng.randint(1, 4),), 120, required=False, penalty=20000) for i in range(n)],
        depots=[Depot(f"garage-{k}", n + k, turnaround_s=120) for k in range(3)],
        vehicle_types=[small, big],
        fleet_caps=(FleetCap((0, 1), drivers, "drivers"),),
    ).validate()


def run(problem: RoutingProblem, rule: str, iterations: int, ortools_s: float = 0.0) -> dict:
    """One plan: PyVRP with the rule's split, or (``rule == "ortools"``) OR-Tools' exact model for ``ortools_s``."""
    began = time.perf_counter()
    if rule == "ortools":
        sol = solve(problem, "ortools", time_limit_s=ortools_s)
        big = sum(1 for r in sol.routes if r.vehicle_type == 1)
    else:
        sol = solve(problem, "pyvrp", time_limit_s=600.0, max_iterations=iterations, search=RULES[rule])
        pairs, counts = sol.info["depot_split"]["pairs"], sol.info["depot_split"]["vehicles"]
        big = sum(n for (t, _, _), n in zip(pairs, counts, strict=True) if t == 1)
    violations = simulate(problem, sol).violations
    return {
        "cost": sol.cost,
        "left": len(sol.dropped),
        "load": sum(problem.stops[s].demand[0] for r in sol.routes for s in r.stops()),
        "big": big,
        "clean": violations == [],
        "stopped_by": sol.info["stopped_by"],
        # the simulator's check of the stops left (route/audit.py): servable / checked / not reached
        "audit": "/".join(
            str(len(a["servable"]) if k == "servable" else a[k]) for k in ("servable", "checked", "unchecked")
        )
        if (a := sol.info.get("drop_audit"))
        else "-",
        "s": time.perf_counter() - began,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[150, 600])
    ap.add_argument("--seeds", type=int, nargs="+", default=[7, 8, 9, 10, 11, 12])
    ap.add_argument("--iterations", type=int, default=3000)
    ap.add_argument("--shift-hours", type=float, default=4.0, help="the trucks' shift (default 4 h)")
    ap.add_argument(
        "--ortools-limit", type=float, default=0.0, help="also OR-Tools' exact model, this many seconds (0: not run)"
    )
    args = ap.parse_args(argv)
    if min(args.sizes) < 50:
        ap.error("--sizes: at least 50 stops (a size below gives no big truck)")
    header = (
        "| stops | seed | drivers (small + big trucks) | load (kg) | stops rule: cost, left, kg carried, big trucks, "
        "audit | load rule: cost, left, kg carried, big trucks, audit | change |"
        + (
            f" OR-Tools {args.ortools_limit:g} s: cost, left, kg carried, big trucks used |"
            if args.ortools_limit
            else ""
        )
    )
    rule_line = "| ---: | ---: | --- | ---: | --- | --- | ---: |" + (" --- |" if args.ortools_limit else "")
    rows, changes = [header, rule_line], []
    print(header, flush=True)
    for n in args.sizes:
        trucks = n // 25 + n // 50
        for seed in args.seeds:
            for share in (4 / 9, 5 / 9, 6 / 9):
                drivers = max(1, round(share * trucks))
                p = day(n, seed, drivers, args.shift_hours)
                rules = [*RULES, "ortools"] if args.ortools_limit else list(RULES)
                out = {rule: run(p, rule, args.iterations, args.ortools_limit) for rule in rules}
                if not all(o["clean"] for o in out.values()):
                    raise SystemExit(f"n={n} seed={seed} drivers={drivers}: a plan failed the simulator")
                a, b = out["stops"], out["load"]
                change = (b["cost"] - a["cost"]) / a["cost"] * 100
                changes.append(change)

                def cell(o: dict) -> str:
                    return f"{o['cost']:,.0f}, {o['left']}, {o['load']}, {o['big']}, {o['audit']} ({o['s']:.1f} s)"

                load = sum(s.demand[0] for s in p.stops)
                fleet = f"{drivers} ({n // 25} + {n // 50})"
                row = f"| {n} | {seed} | {fleet} | {load} | {cell(a)} | {cell(b)} | {change:+.1f} % |"
                row += f" {cell(out['ortools'])} |" if args.ortools_limit else ""
                rows.append(row)
                print(row, flush=True)
    better, worse = sum(c < -0.01 for c in changes), sum(c > 0.01 for c in changes)
    summary = f"mean change {np.mean(changes):+.2f} %, better on {better}, worse on {worse} of {len(changes)}"
    print(summary)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    text = (
        f"# Driver cap over small and big trucks ({stamp}, `{' '.join(sys.argv)}`)\n\n"
        f"{args.iterations} PyVRP iterations per plan, {args.shift_hours:g}-hour shifts, "
        "every plan simulator-clean.\n\n" + "\n".join(rows) + f"\n\n{summary}\n"
    )
    name = "fleet_cap" + (f"_{args.shift_hours:g}h" if args.shift_hours != 4.0 else "")
    path = RESULTS.with_name(name + ("_ortools" if args.ortools_limit else "") + ".md")
    path.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
