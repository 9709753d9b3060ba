#!/usr/bin/env python
"""Benchmark netplan's exact p-median against spopt (CBC) and a textbook MIP on OR-Library pmed1-40.

Each instance (``../shared/benchmarks/pmedian/pmedN.txt``) is an undirected
graph; the cost matrix is its all-pairs shortest paths, every vertex is a
client of weight 1 and a candidate site. In the same run, for each instance:

* **netplan**: :class:`netplan.locate.pmedian.PMedian` (heuristic + Lagrangian
  bound + reduced radius-formulation MIP), with ``--time-limit``;
* **spopt**: ``spopt.locate.PMedian.from_cost_matrix(cost, weights,
  p_facilities=p)`` solved with ``pulp.PULP_CBC_CMD(msg=False,
  timeLimit=cap)``; the time counted is model build + solve, and a run that
  reaches the cap counts the cap, so every ratio against it is a lower bound;
* **textbook**: the classic assignment formulation (``x_ij <= y_j``,
  ``sum_j x_ij = 1``, ``sum_j y_j = p``) in OR-Tools SCIP, single thread,
  same cap and the same accounting.

Usage::

    python benchmarks/pmedian_bench.py [--instances pmed1-40] [--time-limit 60]
                                       [--spopt-time-limit 120] [--no-spopt]
                                       [--compare-instances pmed1-15,pmed16]
                                       [--textbook-time-limit 120] [--no-textbook]

Output: a markdown table and a summary on stdout, progress on stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import json
import platform
import re
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.orlib import read_pmedian as load_instance  # noqa: E402

DATA = REPO.parent / "shared" / "benchmarks" / "pmedian"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def load_optimal(path: Path) -> dict[str, int]:
    """Published optima by instance name from ``optimal.csv``."""
    out: dict[str, int] = {}
    for line in path.read_text().splitlines()[1:]:
        parts = line.split(",")
        if len(parts) >= 4:
            out[parts[0]] = int(parts[3])
    return out


def parse_instances(spec: str) -> list[str]:
    """``"pmed1-40"``, ``"pmed1-15,pmed21,pmed26"`` -> instance names."""
    names: list[str] = []
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        match = re.fullmatch(r"(?:pmed)?(\d+)(?:-(?:pmed)?(\d+))?", part)
        if not match:
            raise SystemExit(f"bad instance spec {part!r}")
        lo = int(match.group(1))
        hi = int(match.group(2) or lo)
        names.extend(f"pmed{k}" for k in range(lo, hi + 1))
    return names


def run_netplan(cost: np.ndarray, p: int, time_limit: float, seed: int) -> dict[str, Any]:
    from netplan.locate.pmedian import PMedian

    start = time.perf_counter()
    result = PMedian.from_cost_matrix(cost, np.ones(len(cost)), p).solve(time_limit=time_limit, seed=seed)
    elapsed = time.perf_counter() - start
    # Recompute the objective from the open sites: the table must not trust the solver's own number.
    check = float(cost[:, result.open].min(axis=1).sum())
    return {
        "time": elapsed,
        "objective": check,
        "reported": result.objective,
        "status": result.status,
        "gap": result.gap,
        "solver": result.solver,
        "n_open": result.n_open,
        "details": {k: v for k, v in result.details.items() if isinstance(v, (int, float, str))},
    }


def run_spopt(cost: np.ndarray, p: int, cap: float) -> dict[str, Any]:
    import pulp
    from spopt.locate import PMedian as SpoptPMedian

    start = time.perf_counter()
    model = SpoptPMedian.from_cost_matrix(cost, np.ones(len(cost)), p_facilities=p)
    built = time.perf_counter()
    solver = pulp.PULP_CBC_CMD(msg=False, timeLimit=cap)
    status = "error"
    objective = float("nan")
    try:
        model.solve(solver, results=False)
        status = "optimal"
    except Exception as exc:  # spopt raises when CBC stops without proving optimality
        status = f"error: {type(exc).__name__}"
    solve_t = time.perf_counter() - built
    problem = model.problem
    # CBC with a time limit may still report "Optimal" with sol_status 2 (integer feasible, not proven).
    if getattr(problem, "sol_status", 1) != 1 or solve_t >= cap * 0.98:
        status = "timeout"
    with contextlib.suppress(Exception):
        objective = float(pulp.value(problem.objective))
    elapsed = time.perf_counter() - start
    if status == "timeout":
        elapsed = max(elapsed, (built - start) + cap)
    return {"time": elapsed, "build": built - start, "objective": objective, "status": status}


def run_textbook(cost: np.ndarray, p: int, cap: float, seed: int) -> dict[str, Any]:
    from netplan.locate.base import make_mip, run_mip

    start = time.perf_counter()
    n, m = cost.shape
    solver = make_mip("SCIP")
    y = [solver.BoolVar(f"y{j}") for j in range(m)]
    objective = solver.Objective()
    for i in range(n):
        xs = [solver.NumVar(0.0, 1.0, f"x{i}_{j}") for j in range(m)]
        row = solver.Constraint(1.0, 1.0)
        for j, x in enumerate(xs):
            row.SetCoefficient(x, 1.0)
            link = solver.Constraint(-solver.infinity(), 0.0)
            link.SetCoefficient(x, 1.0)
            link.SetCoefficient(y[j], -1.0)
            objective.SetCoefficient(x, float(cost[i, j]))
    card = solver.Constraint(p, p)
    for v in y:
        card.SetCoefficient(v, 1.0)
    objective.SetMinimization()
    built = time.perf_counter()
    status, value, bound, _ = run_mip(solver, "SCIP", max(cap - (built - start), 1.0), seed)
    elapsed = time.perf_counter() - start
    if status != "optimal":
        elapsed = max(elapsed, cap)
        status = "timeout"
    return {"time": elapsed, "build": built - start, "objective": value, "bound": bound, "status": status}


def fmt_t(seconds: float | None, status: str = "optimal") -> str:
    if seconds is None:
        return "-"
    text = f"{seconds:.2f}" if seconds < 100 else f"{seconds:.0f}"
    return f">{text}" if status == "timeout" else text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--instances", default="pmed1-40")
    parser.add_argument("--time-limit", type=float, default=60.0, help="netplan's limit per instance (s)")
    parser.add_argument("--spopt-time-limit", type=float, default=120.0, help="CBC cap per instance (s)")
    parser.add_argument(
        "--textbook-time-limit", type=float, default=None, help="SCIP textbook cap (default: the spopt cap)"
    )
    parser.add_argument("--compare-instances", default=None, help="subset on which spopt/textbook run (default: all)")
    parser.add_argument("--no-spopt", action="store_true")
    parser.add_argument("--no-textbook", action="store_true")
    parser.add_argument("--no-netplan", action="store_true", help="peers only (for probing their times)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--json", type=Path, default=None, help="also dump the raw rows here")
    args = parser.parse_args(argv)

    if not (args.data / "optimal.csv").exists():
        log(f"no data at {args.data}: the OR-Library pmed files are expected in ../shared/benchmarks/pmedian")
        return 2
    optimal = load_optimal(args.data / "optimal.csv")
    names = parse_instances(args.instances)
    compare = set(parse_instances(args.compare_instances)) if args.compare_instances else set(names)
    tb_cap = args.textbook_time_limit if args.textbook_time_limit is not None else args.spopt_time_limit

    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    for name in names:
        cost, p = load_instance(args.data / f"{name}.txt")
        row: dict[str, Any] = {"instance": name, "n": len(cost), "p": p, "optimal": optimal.get(name)}
        if not args.no_netplan:
            row["netplan"] = run_netplan(cost, p, args.time_limit, args.seed)
            r = row["netplan"]
            log(
                f"{name}: netplan {r['time']:.2f}s obj {r['objective']:.0f} ({r['status']}, {r['solver']}) opt "
                f"{row['optimal']}"
            )
        if name in compare and not args.no_spopt:
            row["spopt"] = run_spopt(cost, p, args.spopt_time_limit)
            log(f"{name}: spopt {row['spopt']['time']:.2f}s {row['spopt']['status']} obj {row['spopt']['objective']}")
        if name in compare and not args.no_textbook:
            row["textbook"] = run_textbook(cost, p, tb_cap, args.seed)
            log(
                f"{name}: textbook {row['textbook']['time']:.2f}s {row['textbook']['status']} obj "
                f"{row['textbook']['objective']}"
            )
        rows.append(row)
        if args.json:
            args.json.write_text(json.dumps(rows, indent=1, default=float))
    wall = time.perf_counter() - started

    print(report(rows, args, wall, tb_cap))
    return 0


def report(rows: list[dict[str, Any]], args: argparse.Namespace, wall: float, tb_cap: float) -> str:
    import ortools
    import scipy

    lines = [
        f"- date: {_dt.datetime.now(_dt.UTC):%Y-%m-%d %H:%M} UTC",
        f"- machine: {platform.platform()}; {platform.processor() or platform.machine()}; 2 cores",
        f"- python {platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}, ortools "
        f"{ortools.__version__}" + _peer_versions(),
        f"- command: python benchmarks/pmedian_bench.py {' '.join(sys.argv[1:])}".rstrip(),
        f"- caps: netplan {args.time_limit:g} s, spopt/CBC {args.spopt_time_limit:g} s, textbook/SCIP {tb_cap:g} s"
        " ('>' = cap reached: the time shown is the measured wall time, never less than the cap)",
        "",
        "| instance | n | p | optimum | netplan obj | = opt | status | solver | netplan s "
        "| spopt s | spopt/netplan | textbook s | textbook/netplan |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        nr = r.get("netplan")
        sp = r.get("spopt")
        tb = r.get("textbook")
        eq = "-" if nr is None or r["optimal"] is None else ("yes" if round(nr["objective"]) == r["optimal"] else "NO")
        cells = [
            r["instance"],
            str(r["n"]),
            str(r["p"]),
            str(r["optimal"]),
            f"{nr['objective']:.0f}" if nr else "-",
            eq,
            nr["status"] if nr else "-",
            nr["solver"] if nr else "-",
            fmt_t(nr["time"]) if nr else "-",
            _peer_cell(sp, r["optimal"]),
            _ratio(sp, nr),
            _peer_cell(tb, r["optimal"]),
            _ratio(tb, nr),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    done = [r for r in rows if "netplan" in r]
    if done:
        n_opt = sum(r["optimal"] is not None and round(r["netplan"]["objective"]) == r["optimal"] for r in done)
        proven = sum(r["netplan"]["status"] == "optimal" for r in done)
        times = [r["netplan"]["time"] for r in done]
        lines.append(
            f"**netplan: published optimum reached on {n_opt}/{len(done)} (proven optimal {proven}/{len(done)}); "
            f"max {max(times):.2f} s, total {sum(times):.1f} s.**"
        )
        for peer, label in (("spopt", "spopt (CBC)"), ("textbook", "textbook SCIP")):
            both = [r for r in done if peer in r]
            if not both:
                continue
            t_peer = sum(r[peer]["time"] for r in both)
            t_np = sum(r["netplan"]["time"] for r in both)
            timeouts = sum(r[peer]["status"] != "optimal" for r in both)
            lines.append(
                f"**{label} on the {len(both)} compared instances: {t_peer:.1f} s vs netplan {t_np:.1f} s -> "
                f"{t_peer / t_np:.1f}x{' (lower bound: ' + str(timeouts) + ' capped)' if timeouts else ''}.**"
            )
            finished = [r for r in both if r[peer]["status"] == "optimal"]
            if finished and timeouts:
                f_peer = sum(r[peer]["time"] for r in finished)
                f_np = sum(r["netplan"]["time"] for r in finished)
                lines.append(
                    f"  {label} on the {len(finished)} instances it finished: {f_peer:.1f} s vs netplan {f_np:.1f} s "
                    "-> "
                    f"{f_peer / f_np:.1f}x."
                )
    lines.append(f"\nwall time of the whole run: {wall / 60:.1f} min")
    return "\n".join(lines)


def _peer_cell(peer: dict[str, Any] | None, optimum: int | None) -> str:
    if not peer:
        return "-"
    text = fmt_t(peer["time"], peer["status"])
    if peer["status"] == "optimal" and optimum is not None and round(peer["objective"]) != optimum:
        text += " (wrong obj)"
    return text


def _ratio(peer: dict[str, Any] | None, netplan: dict[str, Any] | None) -> str:
    if not peer or not netplan:
        return "-"
    ratio = peer["time"] / max(netplan["time"], 1e-9)
    return (">" if peer["status"] != "optimal" else "") + f"{ratio:.1f}x"


def _peer_versions() -> str:
    out = ""
    try:
        import pulp
        import spopt

        out += f", spopt {spopt.__version__}, pulp {pulp.__version__} (CBC bundled)"
    except ImportError:
        pass
    return out


if __name__ == "__main__":
    raise SystemExit(main())
