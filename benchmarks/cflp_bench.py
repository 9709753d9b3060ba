#!/usr/bin/env python
"""Benchmark :class:`netplan.locate.cflp.CapacitatedLocation` on OR-Library's capacitated warehouse location set.

Reads ``../shared/benchmarks/cflp/`` (Beasley's cap41–cap134, capa, capb,
capc; see its README) and compares, per instance, the split-variant value
with ``optimal`` and the single-source value with ``optimal_single_source``
from ``optimal.csv``. Every solution is re-checked here from the raw data
(capacities, full assignment, objective recomputed), independently of the
solver. Where the published single-source value is ``infeasible``, the
model must refuse the instance with ``ValueError``.

Usage::

    python benchmarks/cflp_bench.py [--instances required|all|cap|NAME ...] [--time-limit 60]
                                    [--variants split single] [--methods auto] [--seed 0]
                                    [--out benchmarks/results/cflp.md]

Instance names: ``cap61`` ..., and ``capa-8000`` (capa/capb/capc with the
capacity from ``optimal.csv``). Several ``--methods`` (``auto``, ``scip``,
``highs``, ``cp-sat``, ``cbc``, ``lagrangian``) add a per-backend timing table.
"""

from __future__ import annotations

import argparse
import csv
import datetime as _dt
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.orlib import read_capacitated as read_instance  # noqa: E402
from netplan.locate.cflp import CapacitatedLocation  # noqa: E402

DATA = REPO.parent / "shared" / "benchmarks" / "cflp"
REQUIRED = [
    "cap61",
    "cap62",
    "cap63",
    "cap64",
    "cap82",
    "cap124",
    "cap133",
    "capa-8000",
    "capa-10000",
    "capa-12000",
    "capa-14000",
]
MATCH_REL = 1e-4
CHECK_TOL = 1e-6


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def reference_rows() -> dict[str, dict]:
    rows = {}
    with open(DATA / "optimal.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            key = (
                row["instance"]
                if row["instance"].startswith("cap") and row["instance"][3].isdigit()
                else f"{row['instance']}-{row['capacity']}"
            )
            rows[key] = row
    return rows


def expand(names: list[str], refs: dict[str, dict]) -> list[str]:
    out: list[str] = []
    for name in names:
        if name == "required":
            out += REQUIRED
        elif name == "all":
            out += list(refs)
        elif name in ("cap", "small"):
            out += [k for k in refs if "-" not in k]
        elif name in ("capa", "capb", "capc"):
            out += [k for k in refs if k.startswith(name + "-")]
        elif name in refs:
            out.append(name)
        else:
            raise SystemExit(f"unknown instance {name!r}; known: {', '.join(refs)}")
    return list(dict.fromkeys(out))


def check(res, cost, demand, capacity, fixed_cost, single: bool) -> tuple[bool, float, str]:
    """Independent feasibility check and objective; returns (ok, objective, problem)."""
    n, m = cost.shape
    is_open = np.asarray(res.open, dtype=bool)
    if single:
        a = np.asarray(res.assignment)
        if (a < 0).any() or not is_open[a].all():
            return False, np.nan, "unassigned or closed site"
        load = np.bincount(a, weights=demand, minlength=m)
        value = fixed_cost[is_open].sum() + cost[np.arange(n), a].sum()
    else:
        flows = np.asarray(res.flows)
        if np.abs(flows.sum(axis=1) - 1).max() > CHECK_TOL or (flows < -1e-9).any():
            return False, np.nan, "demand not fully served"
        if (flows[:, ~is_open] > 1e-9).any():
            return False, np.nan, "flow to a closed site"
        load = demand @ flows
        value = fixed_cost[is_open].sum() + (cost * flows).sum()
    if (load > capacity + CHECK_TOL).any():
        return False, value, "capacity exceeded"
    return True, float(value), ""


def run_one(key: str, ref_row: dict, variant: str, method: str, time_limit: float, seed: int) -> dict:
    name = key.split("-")[0]
    cap = float(ref_row["capacity"]) if "-" in key else None
    cost, demand, capacity, fixed_cost = read_instance(DATA / f"{name}.txt", cap)
    single = variant == "single"
    ref_text = ref_row["optimal_single_source" if single else "optimal"]
    row = {
        "instance": key,
        "size": f"{cost.shape[1]}x{cost.shape[0]}",
        "variant": variant,
        "method": method,
        "published": ref_text,
    }
    if ref_text == "infeasible":
        try:
            CapacitatedLocation.from_cost_matrix(cost, demand, capacity, fixed_cost, single_source=single)
        except ValueError as exc:
            row.update(
                objective=np.nan,
                rel_diff=np.nan,
                status="ValueError",
                gap=np.nan,
                time=0.0,
                backend="-",
                match=True,
                note=str(exc)[:90],
            )
        else:
            row.update(
                objective=np.nan,
                rel_diff=np.nan,
                status="accepted",
                gap=np.nan,
                time=0.0,
                backend="-",
                match=False,
                note="not refused",
            )
        return row
    ref = float(ref_text)
    t0 = time.perf_counter()
    model = CapacitatedLocation.from_cost_matrix(cost, demand, capacity, fixed_cost, single_source=single)
    res = model.solve(time_limit=time_limit, seed=seed, method=method)
    elapsed = time.perf_counter() - t0
    ok, value, problem = (
        check(res, cost, demand, capacity, fixed_cost, single)
        if res.status in ("optimal", "feasible")
        else (False, np.nan, res.status)
    )
    rel = abs(value - ref) / ref if np.isfinite(value) else np.nan
    if ok and res.bound > ref * (1 + MATCH_REL):
        ok, problem = False, f"bound {res.bound:.2f} above the published optimum"
    row.update(
        objective=value,
        rel_diff=rel,
        status=res.status,
        gap=res.gap,
        bound=res.bound,
        time=elapsed,
        backend=res.solver,
        match=bool(ok and rel <= MATCH_REL),
        note=problem,
        details=res.details,
    )
    return row


def fmt(x: float, spec: str) -> str:
    return "-" if x is None or not np.isfinite(x) else format(x, spec)


def md_table(headers: list[str], rows: list[list[object]]) -> str:
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"  # noqa: E731
    return "\n".join(
        [line(cells[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|"] + [line(r) for r in cells[1:]]
    )


def results_table(rows: list[dict]) -> str:
    headers = [
        "instance",
        "m x n",
        "variant",
        "method",
        "published",
        "objective",
        "rel. diff",
        "status",
        "gap",
        "time (s)",
        "solver",
        "match",
    ]
    body = [
        [
            r["instance"],
            r["size"],
            r["variant"],
            r["method"],
            r["published"],
            fmt(r["objective"], ",.3f"),
            fmt(r["rel_diff"], ".1e"),
            r["status"],
            fmt(r["gap"], ".2e"),
            f"{r['time']:.2f}",
            r["backend"],
            ("yes" if r["match"] else "**no**") + (f" ({r['note']})" if r.get("note") and not r["match"] else ""),
        ]
        for r in rows
    ]
    return md_table(headers, body)


def summary(rows: list[dict]) -> str:
    lines = []
    for method in dict.fromkeys(r["method"] for r in rows):
        for variant in ("split", "single"):
            sel = [r for r in rows if r["method"] == method and r["variant"] == variant]
            if not sel:
                continue
            solved = [r for r in sel if r["status"] != "ValueError"]
            refused = [r for r in sel if r["status"] == "ValueError"]
            lines.append(
                f"- {method}, {variant}: matched {sum(r['match'] for r in solved)}/{len(solved)} published optima "
                f"(within {MATCH_REL:g} relative), proven optimal "
                f"{sum(r['status'] == 'optimal' for r in solved)}/{len(solved)}, "
                f"total time {sum(r['time'] for r in solved):.1f} s"
                + (f"; {len(refused)} published-infeasible instance(s) refused with ValueError" if refused else "")
            )
    return "\n".join(lines)


def backend_table(rows: list[dict]) -> str:
    methods = list(dict.fromkeys(r["method"] for r in rows))
    keys = list(dict.fromkeys((r["instance"], r["variant"]) for r in rows if r["status"] != "ValueError"))
    body = []
    for inst, variant in keys:
        cells = [inst, variant]
        for method in methods:
            r = next(
                (r for r in rows if r["instance"] == inst and r["variant"] == variant and r["method"] == method), None
            )
            if r is None:
                cells.append("n/a")
            elif r["status"] == "optimal" and r["match"]:
                cells.append(f"{r['time']:.2f} s")
            else:
                cells.append(f"{r['status']} gap {fmt(r['gap'], '.1e')} ({r['time']:.0f} s)")
        body.append(cells)
    return md_table(["instance", "variant"] + methods, body)


def header(args: argparse.Namespace) -> str:
    import ortools
    import scipy

    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return "\n".join(
        [
            f"- date: {_dt.datetime.now(_dt.UTC):%Y-%m-%d %H:%M} UTC",
            f"- machine: {platform.platform()}; {cpu}; {os.cpu_count()} CPUs (every solver single-threaded)",
            f"- python {platform.python_version()}, ortools {ortools.__version__}, numpy {np.__version__}, scipy "
            f"{scipy.__version__}",
            f"- command: python benchmarks/cflp_bench.py {' '.join(sys.argv[1:])}",
            f"- time limit {args.time_limit:g} s per solve, seed {args.seed}; 'time' includes building the model",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", nargs="+", default=["required"])
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--variants", nargs="+", default=["split", "single"], choices=["split", "single"])
    parser.add_argument("--methods", nargs="+", default=["auto"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="also write the report (markdown) here")
    args = parser.parse_args(argv)
    if not (DATA / "optimal.csv").exists():
        print(f"needs {DATA} (../shared beside the repository), which is absent", file=sys.stderr)
        return 2
    refs = reference_rows()
    rows = []
    start = time.perf_counter()
    for key in expand(args.instances, refs):
        for variant in args.variants:
            for method in args.methods:
                if method == "cp-sat" and variant == "split":
                    continue  # CP-SAT has no continuous variables
                row = run_one(key, refs[key], variant, method, args.time_limit, args.seed)
                rows.append(row)
                log(
                    f"{key:12s} {variant:6s} {method:10s} {row['status']:10s} obj {fmt(row['objective'], '.3f'):>16s} "
                    f"rel {fmt(row['rel_diff'], '.1e'):>8s} gap {fmt(row['gap'], '.1e'):>8s} {row['time']:6.1f}s "
                    f"{row['backend']} {'ok' if row['match'] else 'NO ' + row.get('note', '')}"
                )
    report = [header(args), "", results_table(rows), "", summary(rows)]
    if len(args.methods) > 1:
        report += ["", "Time to a proven optimum per method (else status and gap):", "", backend_table(rows)]
    report += ["", f"Wall time of the whole run: {time.perf_counter() - start:.0f} s"]
    text = "\n".join(report)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    return 0 if all(r["match"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
