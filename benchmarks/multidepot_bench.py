#!/usr/bin/env python
"""Multi-depot VRPTW (Vidal et al. 2013, PR11A-PR24B in PyVRP's VRPLIB dialect): gaps to the published solutions.

Each instance is read with :func:`benchmarks.instances.read_vrplib` (distances
x1000, rounded per leg, PyVRP's ``round_func="exact"``, the convention of the
``.sol`` costs; each vehicle starts and ends at its ``VEHICLES_DEPOT_SECTION``
depot, one vehicle type per depot; ``VEHICLES_MAX_DURATION`` is the types'
``max_duration_s``), solved by netplan's PyVRP engine with a wall-clock limit
per instance, replayed by netplan's schedule simulator (on the instance's
matrices), and its distance compared with the published cost.

Two stopping rules: ``--time`` (wall clock: the result depends on the
machine's load, recorded as the load average when each run starts) or
``--cpu-limit`` (CPU seconds used by the search, :class:`MaxCpuTime` — "t
seconds on an idle core", whatever else runs; the wall clock is then only a
safety cap of 20x). Each record says which rule it used (``rule``).

``--starts k`` runs k independent starts (seeds ``seed``..``seed+k-1``, one
process per core, the best kept; ``engine`` ``netplan-pyvrp*k``), each with
the full limit: under the CPU rule ``--cpu-limit 60 --starts 2`` is 120 CPU s
in all, 60 s of wall clock on two idle cores ("one worker per core").
``--variant NAME`` tags the records (e.g. after a change of the engine's
search settings), so that the tables keep earlier runs for comparison: one
table per rule, limit, engine and variant.

Usage::

    python benchmarks/multidepot_bench.py [--time 5 | --cpu-limit 60] [--instances all|PR11A,PR2*] [--seed 0]
        [--starts 1] [--variant NAME] [--runs benchmarks/results/multidepot_runs.jsonl] [--fresh] [--report-only]
"""

from __future__ import annotations

import argparse
import datetime as dt
import fnmatch
import json
import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.instances import read_vrplib, read_vrplib_solution  # noqa: E402
from benchmarks.peers.common import (  # noqa: E402
    CPU_WALL_CAP,
    DATA,
    RESULTS,
    fmt,
    git_head,
    machine,
    mean,
    rule_of,
    versions,
)
from netplan.route.engines import solve  # noqa: E402
from netplan.route.simulate import simulate  # noqa: E402

FOLDER = DATA / "multidepot"


def run_one(path: Path, time_limit: float, seed: int, rule: str = "wall", starts: int = 1, **engine: Any) -> dict:
    """Solve one instance and check it; the record of the run (``time_limit`` in CPU seconds with ``rule="cpu"``).

    ``starts`` independent starts each get ``time_limit``; ``engine`` holds
    further options of :func:`netplan.route.engines.solve` (``search``).
    """
    problem = read_vrplib(path, scale=1000, rounding="round").validate()
    ref = read_vrplib_solution(path.with_suffix(".sol"))
    rec = {
        "instance": path.stem,
        "time_limit": time_limit,
        "rule": rule,
        "seed": seed,
        "engine": label(starts),
        "date": dt.date.today().isoformat(),
        "commit": git_head(),
        "load_before": os.getloadavg()[0],
        "depots": len(problem.depots),
        "customers": len(problem.stops),
        "fleet": problem.num_vehicles,
        "reference": ref.cost,
    }
    if rule == "cpu":
        sol = solve(
            problem,
            "pyvrp",
            time_limit_s=time_limit * CPU_WALL_CAP,
            cpu_limit_s=time_limit * starts,  # engines.solve shares a CPU limit among the starts
            seed=seed,
            starts=starts,
            **engine,
        )
    else:
        sol = solve(problem, "pyvrp", time_limit_s=time_limit, seed=seed, starts=starts, **engine)
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
        cpu_s=sol.info.get("cpu_s"),
        stopped_by=sol.info.get("stopped_by"),
    )
    return rec


def label(starts: int) -> str:
    """The engine column of a record: ``netplan-pyvrp``, or ``netplan-pyvrp*k`` for k starts."""
    return "netplan-pyvrp" if starts == 1 else f"netplan-pyvrp*{starts}"


def load(runs: Path) -> list[dict]:
    if not runs.exists():
        return []
    return [json.loads(line) for line in runs.read_text().splitlines() if line.strip()]


def section(rec: dict) -> tuple[str, float, str, str]:
    """The table a record belongs to: rule, limit, engine, variant."""
    return rule_of(rec), float(rec["time_limit"]), rec["engine"], rec.get("variant", "")


def report(
    records: list[dict], rule: str = "wall", time_limit: float = 5.0, engine: str = "netplan-pyvrp", variant: str = ""
) -> str:
    """Markdown for one table (see :func:`section`): summary per depot count, then per instance (the latest run)."""
    latest: dict[str, dict] = {}
    for r in records:
        if section(r) == (rule, float(time_limit), engine, variant):
            latest[r["instance"]] = r
    recs = [latest[k] for k in sorted(latest)]
    ok = [r for r in recs if r["sim_ok"] and r["feasible"] and not r["dropped"]]
    dates = sorted({r["date"] for r in recs})
    loads = [r["load_before"] for r in recs]
    what = "CPU s of search (`--cpu-limit`)" if rule == "cpu" else "s wall clock"
    what += " per instance"
    if engine != "netplan-pyvrp":
        what += f" and start, `{engine}` (starts side by side, one per core; the best kept)"
    if variant:
        what += f", {variant}"
    effect = (
        "CPU-time limits: each search got its CPU seconds whatever the load (they still depend on the processor)."
        if rule == "cpu"
        else "Wall-clock limits: the numbers depend on that load."
    )
    lines = [
        f"### {time_limit:g} {what}, {len(recs)} instance(s), seed {recs[0]['seed'] if recs else '-'} "
        f"— measured {', '.join(dates)}",
        "",
        f"Machine: {machine()}; {versions()}. Shared with other work: load average (1 min) at the start of the "
        f"runs mean {fmt(mean(loads))}, max {fmt(max(loads) if loads else None)}. {effect}",
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
    ap.add_argument("--time", type=float, default=5.0, help="wall-clock seconds per instance")
    ap.add_argument("--cpu-limit", type=float, default=None, help="CPU seconds of search per instance, not --time")
    ap.add_argument("--instances", default="all", help="all, or comma-separated names / globs")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--starts", type=int, default=1, help="independent starts, each with the full limit")
    ap.add_argument("--variant", default="", help="tag of these runs (a table of its own)")
    ap.add_argument("--runs", type=Path, default=RESULTS / "multidepot_runs.jsonl")
    ap.add_argument("--fresh", action="store_true", help="re-run instances already in the runs file")
    ap.add_argument("--report-only", action="store_true")
    args = ap.parse_args(argv)
    files = sorted(FOLDER.glob("*.vrp"))
    if args.instances != "all":
        pats = args.instances.split(",")
        files = [f for f in files if any(fnmatch.fnmatch(f.stem, p) for p in pats)]
    records = load(args.runs)
    rule, limit = ("cpu", args.cpu_limit) if args.cpu_limit is not None else ("wall", args.time)
    if not args.report_only:
        done = {(r["instance"], float(r["time_limit"]), r["seed"], rule_of(r), *section(r)[2:]) for r in records}
        for f in files:
            if not args.fresh and (f.stem, limit, args.seed, rule, label(args.starts), args.variant) in done:
                continue
            rec = run_one(f, limit, args.seed, rule, starts=args.starts)
            rec["variant"] = args.variant
            print(
                f"{rec['instance']}: {rec['cost']} vs {rec['reference']:.0f} ({rec['gap_pct']:+.2f} %), "
                f"{rec['vehicles']} vehicles, sim {'ok' if rec['sim_ok'] else 'FAILED'}",
                flush=True,
            )
            with args.runs.open("a") as fh:
                fh.write(json.dumps(rec) + "\n")
            records.append(rec)
    sections = sorted({section(r) for r in records}, key=lambda k: (k[0] != "cpu", k[1], k[2], k[3]))
    text = [
        "# Multi-depot VRPTW (Vidal et al. 2013), netplan's PyVRP engine",
        "",
        "Generated by `benchmarks/multidepot_bench.py` from `multidepot_runs.jsonl`. Gap = distance (x1000, "
        "rounded per leg) / published cost - 1. A table without a variant in its title: the engine with PyVRP's "
        "default search settings (before 2026-12-01; see `pyvrp_settings_bench.py`).",
        "",
    ]
    text += [report(records, *key) for key in sections]
    (args.runs.parent / "multidepot.md").write_text("\n".join(text))  # beside its runs file
    key = (rule, limit, label(args.starts), args.variant)
    if sections:
        print(report(records, *(key if key in sections else sections[-1])))


if __name__ == "__main__":
    main()
