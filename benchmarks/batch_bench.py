#!/usr/bin/env python
"""Benchmark ``netplan batch``: one sweep on 1 dask worker, then on 2; speed-up and identical results.

Runs the sweep (by default ``scenarios/sweeps/chengdu_radius_capacity.yaml``:
24 runs on the embedded Chengdu city, tier-1 radius x capacity x fusion
discount with cheap siting settings) through :func:`netplan.batch.run_sweep`
once per worker count, each time into a fresh folder (nothing is resumed)
on a new dask LocalCluster of single-threaded worker processes. Wall time
covers everything ``netplan batch`` does: starting the cluster, every
worker loading the city once, the runs, per-run outputs, table and plots.

The tables of the runs are then compared with the timing columns
(``seconds``, ``city_load_s``) left out: they must be equal, value for
value. The machine's load is read before and after, because the 2 cores
may be shared with other work; the report says so.

Usage::

    python benchmarks/batch_bench.py [--sweep scenarios/sweeps/chengdu_radius_capacity.yaml]
                                     [--workers 1,2] [--out benchmarks/results/batch.md]
                                     [--keep DIR] [--docs]

``--docs`` copies the last run's plots to ``docs/batch_coverage_vs_radius.png``
and ``docs/batch_cost_vs_coverage.png`` and its table to
``docs/batch_runs.csv`` (the README's example).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _load() -> str:
    try:
        return " / ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def _snapshot(sweep_path: Path, root: Path) -> Path:
    """Copy the sweep and its base scenario into ``root`` with absolute input paths.

    Every sweep of the benchmark then runs the very same settings even if
    someone edits the scenario files in the working tree meanwhile (the run
    ids hash the full settings, so an edit would otherwise show as different
    results).
    """
    import yaml

    sweep = yaml.safe_load(sweep_path.read_text(encoding="utf-8"))
    base_path = (sweep_path.parent / sweep["base"]).resolve()
    base = yaml.safe_load(base_path.read_text(encoding="utf-8"))
    source = base.get("city", {}).get("source")
    if source and not str(source).lower().startswith("pyrosm:"):
        base["city"]["source"] = str((base_path.parent / source).resolve())
    base_copy = root / "base_scenario.yaml"
    base_copy.write_text(yaml.safe_dump(base, allow_unicode=True, sort_keys=False), encoding="utf-8")
    sweep["base"] = base_copy.name
    sweep.get("outputs", {}).pop("dir", None)
    sweep_copy = root / sweep_path.name
    sweep_copy.write_text(yaml.safe_dump(sweep, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return sweep_copy


def main(argv: list[str] | None = None) -> int:
    from netplan.batch import TIMING_COLUMNS, run_sweep

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sweep", default=str(REPO / "scenarios" / "sweeps" / "chengdu_radius_capacity.yaml"))
    parser.add_argument("--workers", default="1,2", help="worker counts to compare, comma-separated")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "batch.md"))
    parser.add_argument("--keep", help="keep the sweep folders here (default: a temporary folder, removed)")
    parser.add_argument("--docs", action="store_true", help="copy the plots and table of the last run into docs/")
    args = parser.parse_args(argv)

    counts = [int(w) for w in args.workers.split(",")]
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="netplan_batch_bench_"))
    root.mkdir(parents=True, exist_ok=True)
    sweep_file = _snapshot(Path(args.sweep).resolve(), root)
    results = []
    tables: dict[int, pd.DataFrame] = {}
    for workers in counts:
        folder = root / f"workers_{workers}"
        if folder.exists():
            shutil.rmtree(folder)  # a benchmark measures a fresh sweep, never a resumed one
        before = _load()
        log(f"sweep with {workers} worker(s) into {folder} (load average {before})")
        start = time.perf_counter()
        result = run_sweep(sweep_file, out=folder, workers=workers, progress=True)
        wall = time.perf_counter() - start
        table = result.table
        tables[workers] = table
        results.append(
            {
                "workers": workers,
                "runs": len(table),
                "ok": int((table["status"] == "ok").sum()),
                "failed": int((table["status"] != "ok").sum()),
                "wall_s": wall,
                "run_s_sum": float(pd.to_numeric(table["seconds"]).sum()),
                "city_loads": int((pd.to_numeric(table["city_load_s"]) > 0).sum()),
                "load_before": before,
                "load_after": _load(),
                "folder": folder,
                "plots": result.plots,
            }
        )
        log(f"  {wall:.1f} s wall, {results[-1]['ok']} ok, {results[-1]['failed']} failed")

    base = results[0]["wall_s"]
    first = tables[counts[0]].drop(columns=list(TIMING_COLUMNS))
    same = {}
    for workers in counts[1:]:
        other = tables[workers].drop(columns=list(TIMING_COLUMNS))
        try:
            pd.testing.assert_frame_equal(first, other, check_exact=True)
            same[workers] = "identical"
        except AssertionError as exc:
            same[workers] = "DIFFERENT: " + str(exc).splitlines()[0]

    date = _dt.date.today().isoformat()
    busy = any(float(str(r["load_before"]).split("/")[0]) > 1.5 for r in results)
    sweep = Path(args.sweep).resolve()
    sweep_shown = sweep.relative_to(REPO) if sweep.is_relative_to(REPO) else args.sweep
    lines = [
        "# `netplan batch`: 1 worker vs 2 workers",
        "",
        f"Measured {date} with `python benchmarks/batch_bench.py` on {platform.platform()}, "
        f"{os.cpu_count()} logical cores, Python {platform.python_version()}.",
        f"Sweep: `{sweep_shown}`, "
        f"{results[0]['runs']} runs on the embedded Chengdu city. Each sweep ran into a fresh folder on a new dask "
        "LocalCluster of single-threaded worker processes; wall time covers starting the cluster, every worker "
        "loading the city once, the runs, per-run outputs, the table and the plots.",
        "",
        (
            "**The machine was busy** (1-minute load average above 1.5 before a sweep): other jobs shared the cores, "
            "so "
            "the wall times are pessimistic and the speed-up lower than on an idle machine."
            if busy
            else "The machine was otherwise idle (1-minute load average at most 1.5 before each sweep)."
        )
        + " The load averages (1/5/15 min) before and after each sweep are in the table.",
        "",
        "| workers | runs | ok | failed | wall time | sum of run times | city loads | speed-up | load avg before | "
        "load avg after |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for r in results:
        lines.append(
            f"| {r['workers']} | {r['runs']} | {r['ok']} | {r['failed']} | {r['wall_s']:.1f} s | "
            f"{r['run_s_sum']:.1f} s | "
            f"{r['city_loads']} | {base / r['wall_s']:.2f}× | {r['load_before']} | {r['load_after']} |"
        )
    lines += [
        "",
        "Results: "
        + "; ".join(
            f"{w} workers vs {counts[0]}: {v} (table without {', '.join(TIMING_COLUMNS)})" for w, v in same.items()
        )
        + ".",
        "",
    ]
    last = results[-1]
    ok = tables[last["workers"]]
    ok = ok[ok["status"] == "ok"]
    if len(ok):
        lines += [
            f"Per run (ok runs, {last['workers']} workers): median {pd.to_numeric(ok['seconds']).median():.1f} s, "
            f"max {pd.to_numeric(ok['seconds']).max():.1f} s; 'city loads' counts the runs that loaded the city "
            "(once per worker process, the rest reuse it).",
            "",
        ]
    text = "\n".join(lines)
    out = Path(args.out)
    from netplan.io import write_text

    write_text(out, text)
    print(text)
    if args.docs:
        docs = REPO / "docs"
        for name, path in last["plots"].items():
            shutil.copyfile(path, docs / f"batch_{name}.png")
        shutil.copyfile(last["folder"] / "runs.csv", docs / "batch_runs.csv")
        log(f"copied plots and table to {docs}")
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    return 0 if all(v == "identical" for v in same.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
