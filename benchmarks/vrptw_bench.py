#!/usr/bin/env python
"""Solomon VRPTW (56 instances): netplan's two engines vs the documented OR-Tools model vs PyVRP.

Solvers (``--solvers``, comma list):

* ``netplan-pyvrp``, ``netplan-ortools``: :func:`netplan.route.engines.solve`
  on the problem of :func:`benchmarks.instances.read_solomon` (distances
  x1000, rounded; travel time = distance);
* ``ortools-doc``: the VRPTW model of the OR-Tools documentation
  (PATH_CHEAPEST_ARC + GUIDED_LOCAL_SEARCH, ``benchmarks/peers/ortools_doc.py``);
  ``ortools-doc-pci`` is the same with PARALLEL_CHEAPEST_INSERTION;
* ``pyvrp``: PyVRP directly (``benchmarks/peers/pyvrp_direct.py``), same
  integer matrices.

Modes (``--mode a,b``):

* **a**: the fleet fixed at the best-known (hierarchical) vehicle count of
  ``bks.csv``; reported: feasible count and mean distance gap to the BKS;
* **b**: up to 25 vehicles (the file's fleet), distance minimised; reported:
  per class (C1, C2, R1, R2, RC1, RC2) the mean distance relative to PyVRP's
  on the instances both solved, vehicles used, and the gap to the
  distance-only BKS.

Every solution is replayed by netplan's schedule simulator and re-checked in
double precision; distances are recomputed from the coordinates.

Usage::

    python benchmarks/vrptw_bench.py [--time 60] [--instances all|one-per-class|R101,RC1*]
        [--solvers netplan-pyvrp,netplan-ortools,ortools-doc,pyvrp] [--mode a,b] [--jobs 1]
        [--seed 0] [--runs benchmarks/results/vrptw_runs.jsonl] [--fresh] [--report-only]

Runs are appended to the ``--runs`` JSON-lines file and skipped when already
there (``--fresh`` re-runs). The table of this run's time limit is printed;
``benchmarks/results/vrptw.md`` is rewritten from every record in the runs
file, one section per time limit.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.instances import read_bks_csv  # noqa: E402
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
    run_all,
    time_shown,
    versions,
)

FOLDER = DATA / "solomon"
CLASSES = ("C1", "C2", "R1", "R2", "RC1", "RC2")
SOLVERS = ("netplan-pyvrp", "netplan-ortools", "ortools-doc", "pyvrp")
REFERENCE = "pyvrp"


def cls(name: str) -> str:
    """Solomon class of an instance name (R101 -> R1, RC208 -> RC2)."""
    m = re.match(r"([A-Za-z]+)(\d)", name)
    return f"{m.group(1).upper()}{m.group(2)}" if m else "?"


def one_per_class(files: list[Path]) -> list[Path]:
    """The first instance of each class (C101, C201, R101, R201, RC101, RC201)."""
    out = []
    for c in CLASSES:
        hit = [f for f in files if cls(f.stem) == c]
        if hit:
            out.append(hit[0])
    return out


def tasks_for(files: list[Path], solvers: list[str], modes: list[str], time_limit: float, seed: int) -> list[Task]:
    bks = read_bks_csv(FOLDER / "bks.csv")
    tasks = []
    for mode in modes:
        for f in files:
            for s in solvers:
                vehicles = bks[f.stem].vehicles if mode == "a" else None
                tasks.append(
                    Task(
                        solver=s,
                        path=str(f),
                        mode=mode,
                        time_limit=time_limit,
                        seed=seed,
                        vehicles=vehicles,
                        convention="exact",
                    )
                )
    return tasks


# --- report ------------------------------------------------------------------------------------------------------


def report(records: list[dict], time_limit: float) -> str:  # noqa: C901 - one table row per branch, read top to bottom
    """Markdown for one time limit: the summary table and the per-instance table."""
    bks = read_bks_csv(FOLDER / "bks.csv")
    recs = [r for r in latest(records) if float(r["time_limit"]) == float(time_limit)]
    solvers = [s for s in (*SOLVERS, "ortools-doc-pci") if any(r["solver"] == s for r in recs)]
    by = {(r["solver"], r["mode"], r["instance"]): r for r in recs}
    instances = sorted(
        {r["instance"] for r in recs}, key=lambda n: (CLASSES.index(cls(n)) if cls(n) in CLASSES else 9, n)
    )
    n_inst = len(instances)
    dates = sorted({r.get("date", "?") for r in recs})
    loads = [r.get("load_before") for r in recs if r.get("load_before") is not None]

    def ok(r: dict | None) -> bool:
        return bool(r and r.get("sim_ok") and r.get("found"))

    lines = [f"### {time_limit:g} s per instance, {n_inst} instance(s) — measured {', '.join(dates)}", ""]
    if n_inst < 56:
        lines += [f"Instances: {', '.join(instances)}.", ""]
    if loads:
        lines += [
            f"Load average (1 min) when the runs started: mean {mean(loads):.2f}, max {max(loads):.2f} on "
            f"{machine()} — the CPU was shared with other work, so times and solution quality at a fixed "
            "time limit are somewhat pessimistic.",
            "",
        ]
    head = (
        ["solver", "(a) feasible", "(a) gap to BKS %", "(b) feasible"]
        + [f"(b) {c} vs PyVRP %" for c in CLASSES]
        + ["(b) all vs PyVRP %", "(b) vehicles", "(b) gap to dist-only BKS %", "mean time s"]
    )
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for s in solvers:
        row = [s]
        a = [by.get((s, "a", i)) for i in instances]
        a_have = [r for r in a if r is not None]
        if a_have:
            feas = [r for r in a_have if ok(r)]
            row.append(f"{len(feas)}/{len(a_have)}")
            row.append(fmt(mean((r["distance"] / bks[r["instance"]].distance - 1) * 100 for r in feas)))
        else:
            row += ["–", "–"]
        b = [by.get((s, "b", i)) for i in instances]
        b_have = [r for r in b if r is not None]
        if b_have:
            feas = [r for r in b_have if ok(r)]
            row.append(f"{len(feas)}/{len(b_have)}")
            for group in (*CLASSES, None):
                pairs = []
                missing = 0
                for i in instances:
                    if group is not None and cls(i) != group:
                        continue
                    mine, ref = by.get((s, "b", i)), by.get((REFERENCE, "b", i))
                    if mine is None or ref is None:
                        continue
                    if ok(mine) and ok(ref):
                        pairs.append((mine["distance"], ref["distance"]))
                    elif not ok(mine):
                        missing += 1
                if not pairs:
                    row.append("–" if not missing else f"({missing} infeasible)")
                    continue
                d = (sum(p[0] for p in pairs) / sum(p[1] for p in pairs) - 1) * 100
                row.append(f"{d:+.2f}" + (f" ({missing} infeasible)" if missing else ""))
            row.append(fmt(mean(r["vehicles"] for r in feas), ".1f"))
            row.append(
                fmt(
                    mean(
                        (r["distance"] / bks[r["instance"]].distance_only - 1) * 100
                        for r in feas
                        if bks[r["instance"]].distance_only
                    )
                )
            )
        else:
            row += ["–"] * (3 + len(CLASSES) + 2)
        row.append(fmt(mean(r.get("runtime_s") for r in a_have + b_have), ".1f"))
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    # anything odd: engine errors, simulator violations, disagreement between checks
    notes = []
    for r in recs:
        if r.get("error"):
            notes.append(f"- {r['solver']} {r['instance']} mode {r['mode']}: error `{r['error'][:200]}`")
        elif r.get("found") and not r.get("sim_ok"):
            notes.append(
                f"- {r['solver']} {r['instance']} mode {r['mode']}: **simulator violations** "
                f"({r.get('sim_violation_count')}): {'; '.join(r.get('sim_violations', [])[:2])}"
            )
        elif r.get("found") and r.get("sim_ok") and not r.get("exact_ok"):
            notes.append(
                f"- {r['solver']} {r['instance']} mode {r['mode']}: feasible on the x1000-rounded matrix but "
                f"not in double precision: {'; '.join(r.get('exact_violations', [])[:2])}"
            )
        elif (
            r["solver"].startswith("netplan")
            and r.get("found")
            and r.get("solver_feasible") is False
            and r.get("sim_ok")
        ):
            notes.append(
                f"- {r['solver']} {r['instance']} mode {r['mode']}: engine reports infeasible, simulator accepts"
            )
    if notes:
        lines += ["Notes on single runs:", ""] + sorted(notes) + [""]
    # per-instance table
    lines += ["<details><summary>Per instance (distance, vehicles; “–” = no feasible solution)</summary>", ""]
    head = (
        ["instance", "BKS veh / dist", "dist-only BKS"] + [f"{s} (a)" for s in solvers] + [f"{s} (b)" for s in solvers]
    )
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for i in instances:
        ref = bks[i]
        row = [
            i,
            f"{ref.vehicles} / {ref.distance:.2f}",
            f"{ref.distance_only_vehicles} / {ref.distance_only:.2f}" if ref.distance_only else "–",
        ]
        for mode in ("a", "b"):
            for s in solvers:
                r = by.get((s, mode, i))
                if r is None:
                    row.append("")
                elif ok(r):
                    row.append(f"{r['distance']:.2f} ({r['vehicles']})")
                else:
                    row.append("–" if not r.get("found") else "viol.")
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", "</details>", ""]
    return "\n".join(lines)


HEADER = """# VRPTW (Solomon, 56 instances): netplan vs the documented OR-Tools model vs PyVRP

**How to run** (repository root, project venv; the data is `../shared/benchmarks/vrptw/solomon/`):

```
python benchmarks/vrptw_bench.py --time 60 --instances all --mode a,b --jobs 1
python benchmarks/vrptw_bench.py --report-only          # rebuild this file from benchmarks/results/vrptw_runs.jsonl
```

Runs are stored in `benchmarks/results/vrptw_runs.jsonl` (one JSON record per solver × instance × mode × time limit,
with the routes), so a run can be split and resumed; this file is rebuilt from all records, one section per time
limit. **Solvers:** `netplan-pyvrp` and `netplan-ortools` are `netplan.route.engines.solve(problem, engine=...)` on
the problem of `benchmarks.instances.read_solomon` (Euclidean distances × 1000, rounded; travel time =
distance; horizon = depot window); `ortools-doc` is the VRPTW model exactly as the OR-Tools documentation shows it
(PATH_CHEAPEST_ARC + GUIDED_LOCAL_SEARCH, the doc's time dimension, service time added to the transit, capacity
dimension of the CVRP page; `benchmarks/peers/ortools_doc.py`); `pyvrp` is PyVRP 0.14 used directly
(`benchmarks/peers/pyvrp_direct.py`, `pyvrp.solve(..., stop=MaxRuntime(t), seed=0)`) on the same integer matrices.
Every solver gets the same wall-clock limit, model building included, one process at a time.

**Columns.** *(a)*: fleet fixed at the best-known vehicle count (`bks.csv`, hierarchical objective); *feasible* =
solutions that serve every customer and pass netplan's schedule simulator (`netplan.route.simulate`) on the
integer problem, out of the instances run; *gap to BKS* = mean over those of distance / BKS distance − 1.
*(b)*: up to 25 vehicles, distance minimised; *X vs PyVRP* = (Σ distance / Σ PyVRP distance − 1) over the
instances of class X that both solved (negative = shorter than PyVRP); *vehicles* = mean vehicles used; *gap to
dist-only BKS* = mean gap to the best known distance with a free fleet (`distance_only` in `bks.csv`; it can be
below the hierarchical BKS, so mode (b) is compared with PyVRP, not the hierarchical BKS). All distances are
recomputed in double precision from the coordinates, not taken from any solver; every route set is also re-checked
in double precision (notes list any disagreement). *mean time* = wall time per run including model building.
"""


def write_md(records: list[dict], out: Path) -> None:
    times = sorted({float(r["time_limit"]) for r in records}, reverse=True)
    parts = [
        HEADER,
        f"Machine: {machine()}; {versions()}; netplan at commit {git_head()}. "
        f"Results measured 2026-11-23 (dates per section).",
        "",
    ]
    for t in times:
        parts.append(report(records, t))
    out.write_text("\n".join(parts))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--time", type=float, default=60.0, help="seconds per instance and solver (default 60)")
    ap.add_argument("--instances", default="all", help="all | one-per-class | comma list of names or globs")
    ap.add_argument("--solvers", default=",".join(SOLVERS))
    ap.add_argument("--mode", default="a,b", help="a, b or a,b")
    ap.add_argument("--jobs", type=int, default=1, help="parallel processes (default 1)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--runs", type=Path, default=RESULTS / "vrptw_runs.jsonl")
    ap.add_argument("--out", type=Path, default=RESULTS / "vrptw.md")
    ap.add_argument("--fresh", action="store_true", help="re-run tasks already in the runs file")
    ap.add_argument("--report-only", action="store_true", help="only rebuild the markdown from the runs file")
    args = ap.parse_args(argv)
    if not args.report_only:
        if not FOLDER.exists():
            raise SystemExit(f"needs {FOLDER} (../shared beside the repository)")
        files = expand_instances(args.instances, FOLDER, "*.txt", one_per_class)
        solvers = [s.strip() for s in args.solvers.split(",") if s.strip()]
        modes = [m.strip() for m in args.mode.split(",") if m.strip()]
        run_all(tasks_for(files, solvers, modes, args.time, args.seed), args.runs, jobs=args.jobs, fresh=args.fresh)
    publish(args.runs, args.out, write_md, lambda records: report(records, time_shown(records, args.time)))


if __name__ == "__main__":
    main()
