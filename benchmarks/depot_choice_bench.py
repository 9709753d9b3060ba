"""Vehicles that choose their depot, with a driver cap: PyVRP's split search against OR-Tools' exact model.

A synthetic collection day (reproducible from ``--seed``, the day of ``ortools_scale_bench.py``): N required stops
over 20 x 20 km, three depots, 3 t trucks (06:00-18:00, 15-min unloads, multi-trip), one truck per ~30 stops. Three
ways to give the fleet its depots, each routed and replayed by the simulator:

- ``choice``: one vehicle type whose trucks may start at any depot, unload at any and end at any, with a cap of
  drivers for 80 % of the trucks (a limit shared across the trucks that binds);
- ``homes``: the same trucks and drivers fixed at home depots, a third at each (what a planner had to write before
  the PyVRP engine took depot choices: ``home_types``), the cap split the same way.

The PyVRP engine searches ``choice`` as one type per depot pair after a first search with the counts relaxed
(``netplan.route.engines.pyvrp.split_counts``); OR-Tools models the choice and the cap exactly (up to 1,000 stops).

Usage::

    python benchmarks/depot_choice_bench.py --sizes 100 300 900 1500 [--iterations 3000] [--ortools-limit 120]
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.ortools_scale_bench import day  # noqa: E402
from netplan.route.problem import FleetCap, RoutingInputError, RoutingProblem  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "depot_choice.md"


def variants(n: int, seed: int) -> dict[str, RoutingProblem]:
    """The day with depot choice and a driver cap, and with the same trucks and drivers at fixed homes."""
    base = day(n, seed)
    trucks = sum(vt.count for vt in base.vehicle_types)
    drivers = max(1, round(0.8 * trucks))
    anywhere = replace(
        base.vehicle_types[0],
        name="truck",
        count=trucks,
        start_depots=(0, 1, 2),
        end_depots=(0, 1, 2),
        reload_depots=(0, 1, 2),
    )
    choice = replace(base, vehicle_types=[anywhere], fleet_caps=(FleetCap((0,), drivers, "drivers"),)).validate()
    per_home = [drivers // 3 + (1 if d < drivers % 3 else 0) for d in range(3)]
    homes = [replace(vt, count=k) for vt, k in zip(base.vehicle_types, per_home, strict=True) if k > 0]
    fixed = replace(base, vehicle_types=homes).validate()
    return {"choice": choice, "homes": fixed}


def replayed_cost(problem: RoutingProblem, sol, routes) -> float:
    """Fixed, distance and duration costs of the routes as the simulator replayed them (the same for both engines)."""
    total = 0.0
    for route, (_, row) in zip(sol.routes, routes.iterrows(), strict=True):
        vt = problem.vehicle_types[route.vehicle_type]
        total += vt.fixed_cost + vt.distance_cost * row["distance"] + vt.duration_cost * (row["end_s"] - row["start_s"])
    return total


def run(problem: RoutingProblem, engine: str, iterations: int, ortools_limit: float) -> dict:
    from netplan.route.engines import solve
    from netplan.route.simulate import simulate

    began = time.perf_counter()
    try:
        if engine == "pyvrp":
            sol = solve(problem, "pyvrp", max_iterations=iterations, time_limit_s=20 * ortools_limit)
        else:
            sol = solve(problem, "ortools", time_limit_s=ortools_limit)
    except RoutingInputError as err:  # the engine refuses or leaves required stops: a result of the benchmark
        return {"error": str(err).split(" (")[0][:120], "s": round(time.perf_counter() - began, 1)}
    wall = time.perf_counter() - began
    sim = simulate(problem, sol)
    starts = sorted({r.visits[0].index for r in sol.routes})
    return {
        "served": len(problem.stops) - len(sol.dropped),
        "vehicles": sol.num_vehicles,
        "km": round(sol.distance(problem) / 1000, 1),
        "cost": round(replayed_cost(problem, sol, sim.routes) / 10_000, 1),
        "verified": sim.ok and sol.feasible,
        "s": round(wall, 1),
        "depots used": ",".join(map(str, starts)),
        "split": (sol.info.get("depot_split") or {}).get("vehicles"),
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 300, 900, 1500])
    ap.add_argument("--iterations", type=int, default=3000, help="PyVRP iterations per day")
    ap.add_argument("--ortools-limit", type=float, default=120.0, help="OR-Tools seconds per day (up to 1,000 stops)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    header = "| stops | fleet | engine | served | trucks used | km | cost | verified | wall s | start depots | split |"
    lines = [header, "|" + "---|" * 11]
    print(header, flush=True)
    for n in args.sizes:
        for name, problem in variants(n, args.seed).items():
            engines = ["pyvrp"] + (["ortools"] if name == "choice" and n <= 1000 else [])
            for engine in engines:
                r = run(problem, engine, args.iterations, args.ortools_limit)
                cap = f"{name} ({sum(vt.count for vt in problem.vehicle_types)} trucks"
                cap += f", {problem.fleet_caps[0].max_vehicles} drivers)" if problem.fleet_caps else ")"
                if "error" in r:
                    row = f"| {n} | {cap} | {engine} | error: {r['error']} | | | | | {r['s']} | | |"
                else:
                    row = (
                        f"| {n} | {cap} | {engine} | {r['served']} | {r['vehicles']} | {r['km']:,} | {r['cost']:,} | "
                        f"{'yes' if r['verified'] else 'NO'} | {r['s']} | {r['depots used']} | {r['split'] or '-'} |"
                    )
                print(row, flush=True)
                lines.append(row)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    RESULTS.write_text(
        f"# Depot choice and a driver cap\n\nGenerated by `benchmarks/depot_choice_bench.py` {stamp}: PyVRP "
        f"{args.iterations} iterations per day (the split's first search a quarter of them), OR-Tools "
        f"{args.ortools_limit:g} s per day; cost = fixed + distance + duration costs of the routes "
        "as the simulator replayed them, / 10,000.\n\n" + "\n".join(lines) + "\n"
    )


if __name__ == "__main__":
    main()
