"""How large a multi-trip collection day the OR-Tools engine can route: model size, time, memory, stops served.

A synthetic city day (reproducible from ``--seed``): N collection stops spread over 20 x 20 km, three depots, one
vehicle type per depot (3 t trucks, 06:00-18:00, 15-min unloads at their own depot, 5 min + 6 min/t service), one
vehicle per ~30 stops, travel at 8 m/s on Euclidean distances. Every stop is required. Each size runs in a fresh
process (peak memory is the process's), with the OR-Tools engine's default strategies and the given time limit, which
includes building the model.

``--engine pyvrp`` routes the same days with the PyVRP engine for comparison.

Usage::

    python benchmarks/ortools_scale_bench.py --sizes 250 500 1000 1500 --time-limit 60 [--engine pyvrp]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def day(n: int, seed: int = 1):
    """The synthetic day with ``n`` stops (see the module docstring)."""
    from netplan.route.problem import Depot, Interval, Location, Profile, RoutingProblem, Stop, VehicleType

    rng = np.random.default_rng(seed)
    depots_xy = np.array([[5000.0, 5000.0], [15000.0, 6000.0], [10000.0, 15000.0]])
    xy = np.vstack([depots_xy, rng.uniform(0, 20000, (n, 2))])
    dist = np.rint(np.hypot(*(xy[:, None] - xy[None]).transpose(2, 0, 1))).astype(np.int64)
    dur = np.ceil(dist / 8.0).astype(np.int64)
    kg = rng.integers(100, 900, n)
    stops = [Stop(f"s{i}", 3 + i, (int(q),), int(300 + 360 * q / 1000)) for i, q in enumerate(kg)]
    per = max(1, round(n / 30 / 3))
    types = [
        VehicleType(
            f"truck@{d}",
            per,
            (3000,),
            start_depot=d,
            end_depot=d,
            reload_depots=(d,),
            shift=Interval(6 * 3600, 18 * 3600),
            fixed_cost=3_000_000,
            distance_cost=35,
            duration_cost=125,
        )
        for d in range(3)
    ]
    locations = [Location(f"l{i}", *xy[i]) for i in range(len(xy))]
    depots = [Depot(f"depot{d}", d, turnaround_s=900) for d in range(3)]
    return RoutingProblem(
        locations, {"default": Profile("default", dist, dur)}, stops, depots, types, name=f"synthetic day {n}"
    ).validate()


def one(n: int, time_limit: float, seed: int, engine: str = "ortools") -> dict:
    """Route one size in this process and return the measurements."""
    from netplan.route.engines import solve
    from netplan.route.simulate import simulate

    problem = day(n, seed)
    began = time.perf_counter()
    row: dict = {"stops": n, "vehicles": problem.num_vehicles, "time_limit_s": time_limit, "engine": engine}
    try:
        sol = solve(problem, engine, time_limit_s=time_limit)
        row.update(
            served=n - len(sol.dropped),
            used=sol.num_vehicles,
            km=round(sol.distance(problem) / 1000, 1),
            feasible=sol.feasible and simulate(problem, sol).ok,
            nodes=sol.info.get("nodes", "–"),
            build_s=sol.info.get("build_s", "–"),
            stopped_by=sol.info["stopped_by"],
        )
    except Exception as exc:  # the refusal or failure is the measurement
        row.update(error=f"{type(exc).__name__}: {exc}"[:300])
    row["wall_s"] = round(time.perf_counter() - began, 1)
    row["peak_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[250, 500, 1000, 1500])
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--engine", default="ortools", choices=["ortools", "pyvrp"])
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one is not None:
        print(json.dumps(one(args.one, args.time_limit, args.seed, args.engine)))
        return
    print(f"engine {args.engine}, {args.time_limit:g} s per size (model building included)")
    print("| stops | vehicles | nodes | build s | wall s | peak MB | served | vehicles used | km | verified | note |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |")
    for n in args.sizes:
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--one",
                str(n),
                "--time-limit",
                str(args.time_limit),
                "--seed",
                str(args.seed),
                "--engine",
                args.engine,
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(
            f"| {r['stops']} | {r['vehicles']} | {r.get('nodes', '–')} | {r.get('build_s', '–')} | {r['wall_s']} | "
            f"{r['peak_mb']} | {r.get('served', '–')} | {r.get('used', '–')} | {r.get('km', '–')} | "
            f"{r.get('feasible', '–')} | {r.get('error', r.get('stopped_by', ''))} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
