#!/usr/bin/env python
"""Multi-trip VRPTW with release dates (PyVRP/Instances MTVRPTWR, Solomon-based): gaps to the proven optima.

The 81 Solomon-based instances (C2, R2, RC2 classes x release factors 0.25,
0.5, 0.75; 100 customers; vehicles may reload at the depot) have proven
optima (80) or a best-known value (RC208R0.5) in the DIMACS convention
(distances truncated to one decimal, costs x10 as integers).

Release dates: a customer's release time is the earliest departure from the
depot of the trip that serves it. netplan's ``RoutingProblem`` has no field
for it, so the netplan engines solve the instance **without release dates**
(a relaxation: their cost may fall below the optimum and their routes may
break a release date — both are counted). ``pyvrp`` (PyVRP directly,
``pyvrp.read(path, round_func="dimacs")``) solves the exact model with release
dates; ``pyvrp-norelease`` the same relaxation the netplan engines see.

Usage::

    python benchmarks/multitrip_bench.py [--time 60 | --cpu-limit 60] [--instances solomon|one-per-class|all|C201R*,...]
        [--solvers netplan-pyvrp,netplan-ortools,pyvrp,pyvrp-norelease] [--jobs 1] [--seed 0]
        [--runs benchmarks/results/multitrip_runs.jsonl] [--fresh] [--report-only]
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
    fmt,
    git_head,
    latest,
    machine,
    mean,
    publish,
    rule_of,
    run_all,
    time_shown,
    versions,
)

FOLDER = DATA / "multitrip"
SOLVERS = ("netplan-pyvrp", "netplan-ortools", "pyvrp", "pyvrp-norelease")


def cls(name: str) -> str:
    m = re.match(r"([A-Z]+)(\d)", name)
    return f"{m.group(1)}{m.group(2)}" if m else "?"


def one_per_class(files: list[Path]) -> list[Path]:
    """C201, R201 and RC201 at the three release factors."""
    return [f for f in files if re.fullmatch(r"(C|R|RC)201R0\.\d+", f.stem)]


def reference(name: str) -> tuple[float, bool]:
    ref = read_vrplib_solution(FOLDER / f"{name}.sol")
    return ref.cost, bool(ref.optimal)


def _release_label(solver: str, sim: list[dict]) -> str:
    """How the solver treats release dates: by design for the peers, from the routes for netplan's engines."""
    if solver == "pyvrp":
        return "modelled"
    if solver == "pyvrp-norelease" or not sim:
        return "ignored"
    # netplan-pyvrp models them since Stop.release_s exists (commit cc0e3bd); older records broke them.
    return "modelled" if all(r.get("release_violating_routes", 0) == 0 for r in sim) else "ignored"


def report(records: list[dict], time_limit: float, rule: str = "wall") -> str:
    recs = [r for r in latest(records) if float(r["time_limit"]) == float(time_limit) and rule_of(r) == rule]
    solvers = [s for s in SOLVERS if any(r["solver"] == s for r in recs)]
    instances = sorted({r["instance"] for r in recs})
    by = {(r["solver"], r["instance"]): r for r in recs}
    dates = sorted({r.get("date", "?") for r in recs})
    loads = [r.get("load_before") for r in recs if r.get("load_before") is not None]
    what = "CPU s (of the search, `--cpu-limit`)" if rule == "cpu" else "s (wall clock)"
    lines = [f"### {time_limit:g} {what} per instance, {len(instances)} instance(s) — measured {', '.join(dates)}", ""]
    if len(instances) < 81:
        lines += [f"Instances: {', '.join(instances)}.", ""]
    if loads:
        lines += [
            f"Load average (1 min) when the runs started: mean {mean(loads):.2f}, max {max(loads):.2f} on "
            f"{machine()} (CPU shared with other work).",
            "",
        ]
    head = [
        "solver",
        "release dates",
        "solved",
        "sim-feasible",
        "feasible with release dates",
        "mean gap %",
        "worst gap %",
        "below optimum",
        "mean vehicles",
        "mean trips",
        "mean time s",
        "mean CPU s",
    ]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for s in solvers:
        have = [by[(s, i)] for i in instances if (s, i) in by]
        solved = [r for r in have if r.get("found")]
        sim = [r for r in solved if r.get("sim_ok")]
        exact = [r for r in solved if r.get("exact_ok")]
        gaps = []
        below = 0
        for r in sim:
            cost, _ = reference(r["instance"])
            gaps.append((r["cost_int"] / cost - 1) * 100)
            below += r["cost_int"] < cost
        lines.append(
            "| "
            + " | ".join(
                [
                    s,
                    _release_label(s, sim),
                    f"{len(solved)}/{len(have)}",
                    f"{len(sim)}/{len(have)}",
                    f"{len(exact)}/{len(have)}",
                    fmt(mean(gaps)),
                    fmt(max(gaps) if gaps else None),
                    str(below),
                    fmt(mean(r["vehicles"] for r in sim), ".1f"),
                    fmt(mean(r["trips"] for r in sim), ".1f"),
                    fmt(mean(r.get("runtime_s") for r in have), ".1f"),
                    fmt(mean(r["cpu_s"] for r in have if r.get("cpu_s") is not None), ".1f"),
                ]
            )
            + " |"
        )
    lines.append("")
    notes = []
    for r in recs:
        if r.get("error"):
            notes.append(f"- {r['solver']} {r['instance']}: error `{r['error'][:200]}`")
        elif r.get("found") and not r.get("sim_ok"):
            notes.append(
                f"- {r['solver']} {r['instance']}: **simulator violations** ({r.get('sim_violation_count')}): "
                f"{'; '.join(r.get('sim_violations', [])[:2])}"
            )
    if notes:
        lines += ["Notes on single runs:", ""] + sorted(notes) + [""]
    lines += [
        "<details><summary>Per instance (cost ×10, DIMACS; gap %; routes breaking a release date)</summary>",
        "",
        "| instance | optimum | " + " | ".join(solvers) + " |",
        "|" + "---|" * (2 + len(solvers)),
    ]
    for i in instances:
        cost, optimal = reference(i)
        row = [i, f"{cost:.0f}" + ("" if optimal else " (BKS)")]
        for s in solvers:
            r = by.get((s, i))
            if r is None:
                row.append("")
            elif r.get("found") and r.get("sim_ok"):
                rel = r.get("release_violating_routes", 0)
                row.append(
                    f"{r['cost_int']} ({(r['cost_int'] / cost - 1) * 100:+.2f}%)" + (f", {rel} rel." if rel else "")
                )
            else:
                row.append("–")
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", "</details>", ""]
    return "\n".join(lines)


HEADER = (
    """# Multi-trip VRPTW with release dates (MTVRPTWR, Solomon-based): gaps to the proven optima

**How to run** (repository root, project venv; data `../shared/benchmarks/vrptw/multitrip/`):

```
python benchmarks/multitrip_bench.py --time 60 --instances solomon --jobs 1
python benchmarks/multitrip_bench.py --cpu-limit 60 --solvers netplan-pyvrp   # 60 CPU-s of search per instance
python benchmarks/multitrip_bench.py --report-only       # rebuild from benchmarks/results/multitrip_runs.jsonl
```

Two stopping rules: `--time` (wall clock, model building included: the result depends on the machine's load) and
`--cpu-limit` (the CPU seconds used by netplan-pyvrp's search, `MaxCpuTime` on `time.process_time()`: "t seconds on
an idle core" whatever else runs; the wall clock is then only a 20x safety cap). Each section says which it used.

The 81 Solomon-based instances (C2/R2/RC2 × release factor 0.25/0.5/0.75, 100 customers, 8 vehicles that may
reload at the depot) are read by `benchmarks.instances.read_vrplib` in the set's DIMACS convention (distances
truncated to one decimal: matrices = ⌊10·d⌋, times ×10) with the depot as reload depot. Reference: the `.sol`
costs (×10 integers; 80 proven optima, RC208R0.5 a best-known value). Release dates are `Stop.release_s` in
netplan's problem model since commit cc0e3bd: `netplan-pyvrp` models them (runs before that commit — the 10 s
section — solved the relaxation without them: their gap could be negative and their routes broke release dates);
`netplan-ortools` refuses problems with release times. `pyvrp` = PyVRP directly
(`pyvrp.read(path, round_func="dimacs")`, release dates modelled, the exact problem); `pyvrp-norelease` = the same
with release dates removed (what the netplan engines see).

**Columns.** *solved* = every customer served; *sim-feasible* = passes netplan's schedule simulator (capacity per
trip, windows, reloads at the depot; release dates for records since commit cc0e3bd); """
    """*feasible with release dates* = also passes the independent
re-check with release dates (each trip leaves after the latest release of its customers) in the DIMACS convention;
*mean/worst gap* = cost (sum of per-leg truncated distances ×10, recomputed from the routes) / reference − 1 over
the sim-feasible solutions; *below optimum* = how many are cheaper than the optimum (possible only without release
dates); *trips* = trips per solution (routes + reloads).
"""
)


def write_md(records: list[dict], out: Path) -> None:
    parts = [HEADER, f"Machine: {machine()}; {versions()}; netplan at commit {git_head()}.", ""]
    for rule, t in sorted(
        {(rule_of(r), float(r["time_limit"])) for r in records}, key=lambda k: (k[0] != "cpu", -k[1])
    ):
        parts.append(report(records, t, rule))
    out.write_text("\n".join(parts))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--time", type=float, default=60.0, help="wall-clock seconds per instance")
    ap.add_argument(
        "--cpu-limit",
        type=float,
        default=None,
        help="CPU seconds of the search per instance instead of --time (netplan-pyvrp only; independent of load)",
    )
    ap.add_argument(
        "--instances",
        default="solomon",
        help="solomon (the 81 Solomon-based) | one-per-class | all | comma list of names or globs",
    )
    ap.add_argument("--solvers", default=",".join(SOLVERS))
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--runs", type=Path, default=RESULTS / "multitrip_runs.jsonl")
    ap.add_argument("--out", type=Path, default=RESULTS / "multitrip.md")
    ap.add_argument("--fresh", action="store_true")
    ap.add_argument("--report-only", action="store_true")
    args = ap.parse_args(argv)
    if not args.report_only:
        if not FOLDER.exists():
            raise SystemExit(f"needs {FOLDER} (../shared beside the repository)")
        if args.instances == "solomon":
            files = [f for f in sorted(FOLDER.glob("*.vrp")) if "_2_" not in f.stem]
        else:
            files = expand_instances(args.instances, FOLDER, "*.vrp", one_per_class)
        solvers = [s.strip() for s in args.solvers.split(",") if s.strip()]
        rule, limit = ("cpu", args.cpu_limit) if args.cpu_limit is not None else ("wall", args.time)
        tasks = [
            Task(solver=s, path=str(f), mode="mt", time_limit=limit, seed=args.seed, convention="dimacs", rule=rule)
            for f in files
            for s in solvers
        ]
        run_all(tasks, args.runs, jobs=args.jobs, fresh=args.fresh)
    if args.cpu_limit is not None:
        publish(args.runs, args.out, write_md, lambda records: report(records, args.cpu_limit, "cpu"))
    else:
        publish(args.runs, args.out, write_md, lambda records: report(records, time_shown(records, args.time)))


if __name__ == "__main__":
    main()
