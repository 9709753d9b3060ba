#!/usr/bin/env python
"""Multi-depot VRPTW (Vidal et al. 2013, PR11A-PR24B in PyVRP's VRPLIB dialect): gaps to the published solutions.

Each instance is read with :func:`benchmarks.instances.read_vrplib` (distances
x1000, rounded per leg, PyVRP's ``round_func="exact"``, the convention of the
``.sol`` costs; each vehicle starts and ends at its ``VEHICLES_DEPOT_SECTION``
depot, one vehicle type per depot; ``VEHICLES_MAX_DURATION`` is the types'
``max_duration_s``), solved by netplan's PyVRP engine with a wall-clock limit
per instance, replayed by netplan's schedule simulator (on the instance's
matrices), and its distance compared with the published cost.

The runs are wall-clock limited, so they depend on the machine and its load
(the load average when each run starts is recorded); the README says so.

Usage::

    python benchmarks/multidepot_bench.py [--time 5] [--instances all|PR11A,PR2*] [--seed 0]
        [--runs benchmarks/results/multidepot_runs.jsonl] [--fresh] [--report-only]
"""

from __future__ import annotations

import argparse
import datetime as dt
import fnmatch
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.instances import read_vrplib, read_vrplib_solution  # noqa: E402
from benchmarks.peers.common import DATA, RESULTS, fmt, git_head, machine, mean, versions  # noqa: E402
from netplan.route.engines import solve  # noqa: E402
from netplan.route.simulate import simulate  # noqa: E402

FOLDER = DATA / "multidepot"


def run_one(path: Path, time_limit: float, seed: int) -> dict:
    """Solve one instance and check it; the record of the run."""
    problem = read_vrplib(path, scale=1000, rounding="round").validate()
    ref = read_vrplib_solution(path.with_suffix(".sol"))
    rec = {
        "instance": path.stem,
        "time_limit": time_limit,
        "seed": seed,
        "engine": "netplan-pyvrp",
        "date": dt.date.today().isoformat(),
        "commit": git_head(),
        "load_before": os.getloadavg()[0],
        "depots": len(problem.depots),
        "customers": len(problem.stops),
        "fleet": problem.num_vehicles,
        "reference": ref.cost,
    }
    sol = solve(problem, "pyvrp", time_limit_s=time_limit, seed=seed)
    sched = simulate(problem, sol)
    cost = sol.distance(problem)
    rec.update(
        feasible=sol.feasible,
        dropped=len(sol.dropped),
        sim_ok=sched.ok,
        sim_violations=sched.violations[:3],
        cost=cost,
        gap_pct=(cost / ref.cost - 1) * 100,
        vehicles=sol.num_vehicles,
        runtime_s=round(sol.runtime_s, 2),
        iterations=sol.info.get("iterations"),
    )
    return rec


def load(runs: Path) -> list[dict]:
    if not runs.exists():
        return []
    return [json.loads(line) for line in runs.read_text().splitlines() if line.strip()]


def report(records: list[dict], time_limit: float) -> str:
    """Markdown for one time limit: summary per depot count, then per instance (the latest run of each)."""
    latest: dict[str, dict] = {}
    for r in records:
        if float(r["time_limit"]) == float(time_limit):
            latest[r["instance"]] = r
    recs = [latest[k] for k in sorted(latest)]
    ok = [r for r in recs if r["sim_ok"] and r["feasible"] and not r["dropped"]]
    dates = sorted({r["date"] for r in recs})
    loads = [r["load_before"] for r in recs]
    lines = [
        f"### {time_limit:g} s per instance, {len(recs)} instance(s), seed {recs[0]['seed'] if recs else '-'} "
        f"— measured {', '.join(dates)}",
        "",
        f"Machine: {machine()}; {versions()}. Shared with other work: load average (1 min) at the start of the "
        f"runs mean {fmt(mean(loads))}, max {fmt(max(loads) if loads else None)}. Wall-clock limits: the "
        "numbers depend on that load.",
        "",
        "| depots | instances | feasible and simulator-clean | mean gap % | worst gap % | mean vehicles (ref fleet) |",
        "|---|---|---|---|---|---|",
    ]
    for nd in sorted({r["depots"] for r in recs}) + ["all"]:
        group = [r for r in recs if nd == "all" or r["depots"] == nd]
        good = [r for r in group if r in ok]
        gaps = [r["gap_pct"] for r in good]
        lines.append(
            f"| {nd} | {len(group)} | {len(good)}/{len(group)} | {fmt(mean(gaps))} | "
            f"{fmt(max(gaps) if gaps else None)} | {fmt(mean(r['vehicles'] for r in good), '.1f')} "
            f"({fmt(mean(r['fleet'] for r in group), '.1f')}) |"
        )
    lines += [
        "",
        "| instance | depots | customers | published | netplan-pyvrp | gap % | vehicles | iterations | "
        "feasible | simulator |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in recs:
        lines.append(
            f"| {r['instance']} | {r['depots']} | {r['customers']} | {r['reference']:.0f} | {r['cost']} | "
            f"{r['gap_pct']:+.2f} | {r['vehicles']}/{r['fleet']} | {r['iterations']} | {r['feasible']} | "
            f"{'ok' if r['sim_ok'] else '; '.join(r['sim_violations'])} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--time", type=float, default=5.0, help="seconds per instance")
    ap.add_argument("--instances", default="all", help="all, or comma-separated names / globs")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--runs", type=Path, default=RESULTS / "multidepot_runs.jsonl")
    ap.add_argument("--fresh", action="store_true", help="re-run instances already in the runs file")
    ap.add_argument("--report-only", action="store_true")
    args = ap.parse_args(argv)
    files = sorted(FOLDER.glob("*.vrp"))
    if args.instances != "all":
        pats = args.instances.split(",")
        files = [f for f in files if any(fnmatch.fnmatch(f.stem, p) for p in pats)]
    records = load(args.runs)
    if not args.report_only:
        done = {(r["instance"], float(r["time_limit"]), r["seed"]) for r in records}
        for f in files:
            if not args.fresh and (f.stem, args.time, args.seed) in done:
                continue
            rec = run_one(f, args.time, args.seed)
            print(
                f"{rec['instance']}: {rec['cost']} vs {rec['reference']:.0f} ({rec['gap_pct']:+.2f} %), "
                f"{rec['vehicles']} vehicles, sim {'ok' if rec['sim_ok'] else 'FAILED'}",
                flush=True,
            )
            with args.runs.open("a") as fh:
                fh.write(json.dumps(rec) + "\n")
            records.append(rec)
    limits = sorted({float(r["time_limit"]) for r in records})
    text = [
        "# Multi-depot VRPTW (Vidal et al. 2013), netplan's PyVRP engine",
        "",
        "Generated by `benchmarks/multidepot_bench.py` from `multidepot_runs.jsonl`. Gap = distance (x1000, "
        "rounded per leg) / published cost - 1.",
        "",
    ]
    text += [report(records, t) for t in limits]
    (RESULTS / "multidepot.md").write_text("\n".join(text))
    if limits:
        print(report(records, args.time if args.time in limits else limits[-1]))


if __name__ == "__main__":
    main()
