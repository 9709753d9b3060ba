#!/usr/bin/env python
"""How much netplan-pyvrp's quality depends on the seed: Solomon RC1/RC2 and the multi-trip set, several seeds each.

Per set and seed the mean gap (%) over the set's instances to the published reference (Solomon: the best known
distance with a free fleet, ``distance_only`` of ``bks.csv``, the fleet of the file; multi-trip: the ``.sol``
optimum), then over the seeds the best, median and worst of those means, and per instance the mean spread
(worst - best seed). ``--starts K`` runs the engine with K independent starts sharing the time (``engines.solve``'s
``starts``), so single-start and multi-start spreads can be compared at the same time limit; ``--cpu-limit S``
gives each run S CPU seconds of search whatever the load (K starts share them, S/K each, run side by side on the
cores), instead of ``--time`` wall-clock seconds. A run with K starts and seed s uses seeds s, ..., s + K - 1, so
its seeds are spaced K apart (``--seeds 0,2,4,6,8`` for K = 2) for runs that share no start.

Usage::

    python benchmarks/seeds_bench.py [--time 10 | --cpu-limit 30] [--seeds 0,1,2,3,4] [--starts 1]
        [--solomon RC1*,RC2*] [--multitrip one-per-class] [--jobs 1]

Runs are appended to ``benchmarks/results/seeds_runs.jsonl`` (skipped when already there) and the report is
rewritten to ``benchmarks/results/seeds.md``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import multitrip_bench, vrptw_bench  # noqa: E402
from benchmarks.instances import read_bks_csv  # noqa: E402
from benchmarks.peers.common import DATA, RESULTS, Task, expand_instances, load_records, machine, rule_of, run_all  # noqa: E402

RUNS = RESULTS / "seeds_runs.jsonl"
OUT = RESULTS / "seeds.md"


def solver_name(starts: int) -> str:
    return "netplan-pyvrp" if starts == 1 else f"netplan-pyvrp*{starts}"


def gaps(records: list[dict]) -> dict[tuple[str, str, float, str], dict[int, dict[str, float | None]]]:
    """(set, solver, rule, time) -> seed -> instance -> gap % (None when no verified solution)."""
    bks = read_bks_csv(DATA / "solomon" / "bks.csv")
    out: dict = {}
    for r in records:
        if r["mode"] == "b":
            ref, name, value = bks[r["instance"]].distance_only, "Solomon " + vrptw_bench.cls(r["instance"]), "distance"
        elif r["mode"] == "mt":  # as multitrip_bench: the integer cost (x10, DIMACS) against the .sol cost
            ref, name, value = multitrip_bench.reference(r["instance"])[0], "multi-trip", "cost_int"
        else:
            continue
        ok = r.get("sim_ok") and r.get("found") and r.get(value) is not None and ref
        gap = (r[value] / ref - 1) * 100 if ok else None
        group = (name, r["solver"], rule_of(r), float(r["time_limit"]))
        out.setdefault(group, {}).setdefault(r["seed"], {})[r["instance"]] = gap
    return out


def report(records: list[dict]) -> str:
    dates = sorted({r.get("date", "?") for r in records})
    loads = [r["load_before"] for r in records if r.get("load_before") is not None]
    lines = [
        "# netplan-pyvrp across seeds",
        "",
        f"Measured {', '.join(dates)} on {machine()}; load average (1 min) when the runs started: mean "
        f"{statistics.fmean(loads):.1f}, max {max(loads):.1f}. Rule `wall`: wall-clock seconds, which buy fewer "
        "iterations on a loaded machine; rule `cpu`: CPU seconds of search, the same whatever the load."
        if loads
        else "",
        "",
        "| set | solver | rule | time s | seeds | instances | best seed mean gap % | median | worst | "
        "mean spread per instance (pp) | unsolved runs |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (name, solver, rule, limit), by_seed in sorted(gaps(records).items()):
        instances = sorted({i for per in by_seed.values() for i in per})
        complete = {s: per for s, per in by_seed.items() if all(per.get(i) is not None for i in instances)}
        means = sorted(statistics.fmean(per[i] for i in instances) for per in complete.values())
        spreads = (
            [max(by_seed[s][i] for s in complete) - min(by_seed[s][i] for s in complete) for i in instances]
            if len(complete) > 1
            else []
        )
        unsolved = sum(1 for per in by_seed.values() for g in per.values() if g is None)
        head = f"| {name} | {solver} | {rule} | {limit:g} | {len(by_seed)} | {len(instances)} | "
        lines.append(
            head
            + (
                f"{means[0]:.2f} | {statistics.median(means):.2f} | {means[-1]:.2f} | "
                f"{statistics.fmean(spreads) if spreads else 0:.2f} | {unsolved} |"
                if means
                else f"– | – | – | – | {unsolved} |"
            )
        )
    lines += [
        "",
        "Gap: Solomon to the best known distance with a free fleet (`distance_only` in `bks.csv`), "
        "multi-trip to the published optimum (`.sol`); every solution replayed by netplan's simulator. "
        "`netplan-pyvrp*K`: K independent starts sharing the time limit (with the CPU rule, S/K CPU seconds each, "
        "side by side on the cores).",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--time", type=float, default=10.0)
    ap.add_argument("--seeds", default="0,1,2,3,4")
    ap.add_argument("--cpu-limit", type=float, default=None, help="CPU seconds of search per run, not --time")
    ap.add_argument("--starts", type=int, default=1)
    ap.add_argument("--solomon", default="RC1*,RC2*", help="Solomon instances (names or globs), or 'none'")
    ap.add_argument("--multitrip", default="one-per-class", help="multi-trip instances, or 'none'")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--runs", type=Path, default=RUNS, help="the JSON-lines file of runs (one per process at a time)")
    ap.add_argument("--report-only", action="store_true")
    args = ap.parse_args(argv)
    if not args.report_only:
        seeds = [int(s) for s in args.seeds.split(",")]
        solver = solver_name(args.starts)
        rule, limit = ("cpu", args.cpu_limit) if args.cpu_limit is not None else ("wall", args.time)
        tasks = []
        if args.solomon != "none":
            files = expand_instances(args.solomon, vrptw_bench.FOLDER, "*.txt", vrptw_bench.one_per_class)
            tasks += [
                Task(solver=solver, path=str(f), mode="b", time_limit=limit, seed=s, convention="exact", rule=rule)
                for s in seeds
                for f in files
            ]
        if args.multitrip != "none":
            files = expand_instances(args.multitrip, multitrip_bench.FOLDER, "*.vrp", multitrip_bench.one_per_class)
            tasks += [
                Task(solver=solver, path=str(f), mode="mt", time_limit=limit, seed=s, convention="dimacs", rule=rule)
                for s in seeds
                for f in files
            ]
        run_all(tasks, args.runs, jobs=args.jobs)
    OUT.write_text(report(load_records(args.runs)), encoding="utf-8")
    print(OUT.read_text())


if __name__ == "__main__":
    main()
