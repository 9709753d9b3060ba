#!/usr/bin/env python
"""Gehring–Homberger 1000-customer VRPTW: how time and gap grow with size.

Instances ``../shared/benchmarks/vrptw/homberger1000/*.vrp`` (VRPLIB, from
PyVRP/Instances) with their ``.sol`` BKS in the DIMACS convention (distance
only, distances and times truncated to one decimal). netplan reads them with
:func:`benchmarks.instances.read_vrplib` (matrices = floor(10 d)); the
fleet is the file's (250 vehicles), distance is minimised, as in the BKS.

Solvers: ``netplan-pyvrp``, ``netplan-pyvrp-whole`` (the engine's search settings without the route
decomposition, the default before 2026-12-03), ``netplan-ortools``, ``pyvrp`` (PyVRP directly,
``pyvrp.read(path, round_func="dimacs")``) and ``ortools-doc`` (the
documented OR-Tools model, PATH_CHEAPEST_ARC + GLS).

Usage::

    python benchmarks/homberger_bench.py [--time 60[,120]] [--instances one-per-class|C1_10_1,R1_10_1]
        [--solvers netplan-pyvrp,netplan-ortools,pyvrp,ortools-doc] [--jobs 1] [--seed 0]
        [--runs benchmarks/results/homberger_runs.jsonl] [--fresh] [--report-only]
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.instances import read_vrplib_solution  # noqa: E402
from benchmarks.peers.common import (  # noqa: E402
    DATA,
    RESULTS,
    Task,
    expand_instances,
    git_head,
    latest,
    machine,
    mean,
    publish,
    run_all,
    versions,
)

FOLDER = DATA / "homberger1000"
SOLVERS = ("netplan-pyvrp", "netplan-pyvrp-whole", "netplan-ortools", "pyvrp", "ortools-doc")


def one_per_class(files: list[Path]) -> list[Path]:
    """C1_10_1, C2_10_1, R1_10_1, R2_10_1, RC1_10_1, RC2_10_1."""
    return [f for f in files if re.fullmatch(r"(C|R|RC)[12]_10_1", f.stem)]


def report(records: list[dict]) -> str:
    recs = latest(records)
    solvers = [s for s in SOLVERS if any(r["solver"] == s for r in recs)]
    keys = sorted({(r["instance"], float(r["time_limit"])) for r in recs})
    by = {(r["solver"], r["instance"], float(r["time_limit"])): r for r in recs}
    dates = sorted({r.get("date", "?") for r in recs})
    loads = [r.get("load_before") for r in recs if r.get("load_before") is not None]
    lines = [f"### Results — measured {', '.join(dates)}", ""]
    if loads:
        lines += [
            f"Load average (1 min) when the runs started: mean {mean(loads):.2f}, max {max(loads):.2f} on "
            f"{machine()} (CPU shared with other work).",
            "",
        ]
    head = ["instance", "time limit s", "BKS (veh / dist)"] + [f"{s}: gap % (veh, time s)" for s in solvers]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for inst, t in keys:
        ref = read_vrplib_solution(FOLDER / f"{inst}.sol")
        row = [inst, f"{t:g}", f"{len(ref.routes)} / {ref.cost:.1f}"]
        for s in solvers:
            r = by.get((s, inst, t))
            if r is None:
                row.append("")
            elif r.get("found") and r.get("sim_ok"):
                cost = r["cost_int"] / 10
                row.append(f"{(cost / ref.cost - 1) * 100:+.2f} ({r['vehicles']}, {r['runtime_s']:.0f})")
            elif r.get("found"):
                row.append(f"violations ({r.get('sim_violation_count')})")
            else:
                row.append(f"no solution ({r.get('runtime_s', 0):.0f} s)")
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    notes = []
    for r in recs:
        if r.get("error"):
            notes.append(f"- {r['solver']} {r['instance']} t={r['time_limit']:g}: error `{r['error'][:200]}`")
        elif r.get("found") and not r.get("sim_ok"):
            notes.append(
                f"- {r['solver']} {r['instance']}: **simulator violations**: "
                f"{'; '.join(r.get('sim_violations', [])[:2])}"
            )
    if notes:
        lines += ["Notes on single runs:", ""] + sorted(notes) + [""]
    # growth with size: Solomon (100) at the same time limits, if recorded
    return "\n".join(lines)


HEADER = """# Gehring–Homberger 1000-customer VRPTW: time and gap at scale

**How to run** (repository root, project venv; data `../shared/benchmarks/vrptw/homberger1000/`):

```
python benchmarks/homberger_bench.py --time 60,120 --instances C1_10_1,R1_10_1 --jobs 1
python benchmarks/homberger_bench.py --report-only      # rebuild from benchmarks/results/homberger_runs.jsonl
```

Instances are read by `benchmarks.instances.read_vrplib` in the DIMACS convention of their BKS (distances and
times truncated to one decimal: matrices = ⌊10·d⌋); the fleet is the file's (250), distance is minimised, as for
the BKS (CVRPLIB, distance only). **Columns:** *gap* = (sum of the per-leg truncated distances of the routes, i.e.
the DIMACS cost recomputed from the routes) / BKS − 1, only for solutions that serve every customer and pass
netplan's schedule simulator; *veh* = vehicles used; *time* = wall time of the run including model building (the
solvers are given the limit; an engine that overruns shows it here). `pyvrp` = PyVRP 0.14 directly
(`pyvrp.read(path, round_func="dimacs")`), `ortools-doc` = the OR-Tools documentation's VRPTW model
(PATH_CHEAPEST_ARC + GLS). Compare with `vrptw.md` (100 customers) for the growth with size.
"""


def write_md(records: list[dict], out: Path) -> None:
    out.write_text(
        "\n".join([HEADER, f"Machine: {machine()}; {versions()}; netplan at commit {git_head()}.", "", report(records)])
    )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--time", default="60", help="one or more limits, comma separated")
    ap.add_argument("--instances", default="one-per-class")
    ap.add_argument("--solvers", default=",".join(s for s in SOLVERS if s != "netplan-pyvrp-whole"))
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--runs", type=Path, default=RESULTS / "homberger_runs.jsonl")
    ap.add_argument("--out", type=Path, default=RESULTS / "homberger.md")
    ap.add_argument("--fresh", action="store_true")
    ap.add_argument("--report-only", action="store_true")
    args = ap.parse_args(argv)
    if not args.report_only:
        if not FOLDER.exists():
            raise SystemExit(f"needs {FOLDER} (../shared beside the repository)")
        files = expand_instances(args.instances, FOLDER, "*.vrp", one_per_class)
        solvers = [s.strip() for s in args.solvers.split(",") if s.strip()]
        tasks = [
            Task(solver=s, path=str(f), mode="b", time_limit=float(t), seed=args.seed, convention="dimacs")
            for t in args.time.split(",")
            for f in files
            for s in solvers
        ]
        run_all(tasks, args.runs, jobs=args.jobs, fresh=args.fresh)
    publish(args.runs, args.out, write_md, report)


if __name__ == "__main__":
    main()
