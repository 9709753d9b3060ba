"""City-scale benchmark of the tiered network model on the real Chengdu extract.

Runs (with ``--engine lagrangian``, the default, or ``mip``) the 3-tier and 4-tier models
(``scenarios/chengdu.yaml`` and ``scenarios/chengdu_4tier.yaml``) on the finest demand netplan builds from OSM
(every residential compound, split into parts of at most
``--households-per-point`` households, and every residential building outside
compounds), each in a fresh subprocess so that peak memory (max RSS) is that
run's alone. Prints one markdown table: sizes, objective, bound, gap, time and
peak memory, and what integration saved against the bottom-up mode.

    python benchmarks/location_city_bench.py [--time-limit 60] [--households-per-point 400]
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED_CITY = ROOT.parent / "shared" / "cities" / "chengdu_central.osm"


def _one(scenario_file: str, time_limit: float, per_point: float, mode: str, engine: str = "lagrangian") -> dict:
    from netplan.locate.tiers import build_model
    from netplan.pipeline import build_plan
    from netplan.scenario import load_scenario

    scenario = load_scenario(ROOT / scenario_file)
    if SHARED_CITY.is_file():
        scenario.city.source = str(SHARED_CITY)
    scenario.demand.osm.max_households_per_point = per_point
    scenario.locate.enabled = False
    scenario.locate.engine = engine  # type: ignore[assignment]
    plan = build_plan(scenario)
    start = time.perf_counter()
    model, candidates, _ = build_model(plan.city, plan.demand, plan.sites, scenario)
    build_s = time.perf_counter() - start
    solutions = model.solve(mode, time_limit, scenario.seed, scenario.locate.backend)
    return {
        "scenario": scenario_file,
        "demand_points": int((plan.demand["kg_day"] > 0).sum()),
        "candidates": [len(c) for c in candidates],
        "arcs": [int(len(a.src)) for a in model.arcs],
        "excluded": int(len(model.excluded)),
        "build_s": round(build_s, 2),
        "solutions": {m: s.summary() for m, s in solutions.items()},
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--households-per-point", type=float, default=400.0)
    parser.add_argument("--mode", default="both")
    parser.add_argument("--engine", default="lagrangian", choices=["lagrangian", "mip"])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_one(args.child, args.time_limit, args.households_per_point, args.mode, args.engine)))
        return
    rows = []
    for scenario in ("scenarios/chengdu.yaml", "scenarios/chengdu_4tier.yaml"):
        print(f"running {scenario} ...", file=sys.stderr)
        start = time.perf_counter()
        proc = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                scenario,
                "--time-limit",
                str(args.time_limit),
                "--households-per-point",
                str(args.households_per_point),
                "--mode",
                args.mode,
                "--engine",
                args.engine,
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        result["wall_s"] = round(time.perf_counter() - start, 1)
        rows.append(result)
    print(
        f"City-scale location benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"{platform.processor() or platform.machine()}, {len(__import__('os').sched_getaffinity(0))} cores, "
        f"engine {args.engine}, time limit {args.time_limit:g} s for the stage, "
        f"city {SHARED_CITY if SHARED_CITY.is_file() else 'data/chengdu_central.osm.bz2'}"
    )
    print()
    print(
        "| scenario | tiers | demand points | candidates per tier | links | mode | status | objective (CNY/yr) | bound "
        "| gap | open per tier | solve s | peak RSS MB |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        tiers = len(r["candidates"])
        for mode, s in r["solutions"].items():
            opened = "/".join(str(s[f"open_t{t}"]) for t in range(1, tiers + 1))
            print(
                f"| {Path(r['scenario']).stem} | {tiers} | {r['demand_points']} "
                f"| {'/'.join(map(str, r['candidates']))} | "
                f"{'/'.join(map(str, r['arcs']))} | {mode} | {s['status']} | {s['objective']:,.0f} "
                f"| {s['bound']:,.0f} | "
                f"{s['gap']:.2%} | {opened} | {s['solve_time_s']:.1f} | {r['peak_rss_mb']:.0f} |"
            )
    for r in rows:
        sols = r["solutions"]
        if "integrated" in sols and "bottom_up" in sols:
            saving = sols["bottom_up"]["objective"] - sols["integrated"]["objective"]
            print(
                f"\n{Path(r['scenario']).stem}: integration saved {saving:,.0f} CNY/year against bottom-up "
                f"({saving / sols['bottom_up']['objective']:.2%}); whole run {r['wall_s']} s, "
                f"{r['excluded']} demand point(s) excluded as unreachable."
            )


if __name__ == "__main__":
    main()
