#!/usr/bin/env python
"""Benchmark the plan map with many demand points: HTML size, render time, load time in Chromium.

Takes a real sited plan (by default the Chengdu main job, ``scenarios/chengdu.yaml``,
solved once; or a run's output folder with ``--folder``) and replaces its demand
layer with N synthetic points around the city's own demand (each a real
demand point plus Gaussian jitter of 250 m, households log-normal around 60),
each assigned to its nearest open collection point. The map is then drawn
through the same code path as ``netplan run`` (:func:`netplan.render.plan_map`:
service areas, distances, layers, page), offline (no basemap, streets drawn
from the city graph: the heaviest variant), and written to disk.

Each page is opened over file:// in headless Chromium (/usr/bin/chromium via
Playwright, every non-file request refused) and timed from navigation start
to the ``load`` event and to "layers drawn" (netplan's script has built every
layer and two animation frames have passed, so the canvas has painted).
Times are medians of ``--runs`` page loads in fresh browser contexts.

With ``--baseline CHECKOUT`` (another netplan source tree, e.g. ``git archive
<commit> | tar -x -C /tmp/base``) every page is also drawn by that code (in a
subprocess, from the same synthetic plan) and the two pages are loaded in
turn (ABAB..., then BABA...), so both see the same machine load; the table
then gives both and their ratio. This is how a change to the map code is
checked against the map it replaces on a shared machine.

Usage::

    python benchmarks/map_bench.py [--points 1000,10000,50000] [--runs 3] [--seed 0]
                                   [--folder OUTPUT_FOLDER] [--baseline CHECKOUT] [--out benchmarks/results/maps.md]
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TARGET_POINTS, TARGET_MB, TARGET_S = 10_000, 10.0, 3.0


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def real_plan(folder: str | None):
    """MapData of a real sited plan: from an output folder, or the Chengdu main job solved now."""
    from netplan.render.data import MapData

    if folder:
        log(f"reading {folder}")
        return MapData.from_folder(folder), f"output folder {folder}"
    from netplan.pipeline import build_plan
    from netplan.scenario import load_scenario

    scenario = load_scenario(REPO / "scenarios" / "chengdu.yaml")
    log("solving scenarios/chengdu.yaml once (not timed) ...")
    start = time.perf_counter()
    plan = build_plan(scenario, progress=log)
    log(f"  done in {time.perf_counter() - start:.0f} s")
    return MapData.from_plan(plan), "scenarios/chengdu.yaml (solved in this run)"


def synthetic(data, n: int, seed: int):
    """A copy of ``data`` with N synthetic demand points, each assigned to its nearest open collection point."""
    import copy

    rng = np.random.default_rng(seed)
    crs = data.demand.estimate_utm_crs()
    base = shapely.get_coordinates(data.demand.to_crs(crs).geometry.representative_point().to_numpy())
    xy = base[rng.integers(0, len(base), n)] + rng.normal(0, 250, (n, 2))
    households = np.clip(rng.lognormal(np.log(60), 0.8, n), 1, 2000).round(1)
    demand = gpd.GeoDataFrame(
        {
            "demand_id": np.arange(n),
            "name": None,
            "source": "synthetic",
            "method": "synthetic",
            "households": households,
            "kg_day": households * 0.82,
            "snap_m": 0.0,
            "snap_ok": True,
        },
        geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]),
        crs=crs,
    ).to_crs("EPSG:4326")
    out = copy.copy(data)
    out.demand = demand
    fac = data.facilities[data.facilities["tier"] == 1]
    fxy = shapely.get_coordinates(fac.to_crs(crs).geometry.to_numpy())
    dist, idx = cKDTree(fxy).query(xy)
    starts = np.column_stack([demand.geometry.x, demand.geometry.y])
    ends = shapely.get_coordinates(fac.geometry.to_numpy())[idx]
    lines = shapely.linestrings(np.stack([starts, ends], axis=1))
    first = gpd.GeoDataFrame(
        {
            "level": "demand-t1",
            "from_tier": 0,
            "to_tier": 1,
            "from_id": np.arange(n),
            "to_id": fac["site_id"].to_numpy()[idx],
            "kg_day": demand["kg_day"].to_numpy(),
            "distance_m": dist,
        },
        geometry=lines,
        crs="EPSG:4326",
    )
    rest = data.assignments[data.assignments["level"] != "demand-t1"]
    out.assignments = gpd.GeoDataFrame(
        pd.concat([first, rest], ignore_index=True), geometry="geometry", crs="EPSG:4326"
    )
    return out


def load_times(browser, path: Path, runs: int) -> tuple[float, float, list[str]]:
    loads, ready, errors = [], [], []
    for _ in range(runs):
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        page = context.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.route(
            "**/*",
            lambda r: (
                r.continue_()
                if r.request.url.startswith(("file:", "data:"))
                else (errors.append(r.request.url), r.abort())
            ),
        )
        page.goto(path.as_uri(), wait_until="load")
        page.wait_for_selector("html[data-np-ready]", state="attached", timeout=120_000)
        timing = page.evaluate("[performance.getEntriesByType('navigation')[0].loadEventEnd, netplan.readyMs]")
        loads.append(timing[0] / 1000)
        ready.append(timing[1] / 1000)
        context.close()
    return statistics.median(loads), statistics.median(ready), errors


BASELINE_RENDER = """
import pickle, sys, time
from netplan.render import plan_map
with open(sys.argv[1], "rb") as f:
    data = pickle.load(f)
fac = data.facilities
if fac is not None and "next_site_id" in fac.columns:  # checkouts before 2026-12 read -1 for "sends nowhere"
    fac["next_site_id"] = fac["next_site_id"].astype("Int64").fillna(-1).astype("int64")
start = time.perf_counter()
plan_map(data, offline=True).save(sys.argv[2])
print(time.perf_counter() - start)
"""


def baseline_page(checkout: Path, bench, path: Path) -> float:
    """Draw ``bench`` with the netplan in ``checkout`` (a subprocess); returns its render seconds."""
    import pickle
    import subprocess

    data = path.with_suffix(".pickle")
    with open(data, "wb") as f:
        pickle.dump(bench, f)
    env = dict(os.environ, PYTHONPATH=str(checkout))
    proc = subprocess.run(
        [sys.executable, "-c", BASELINE_RENDER, str(data), str(path)],
        capture_output=True,
        text=True,
        env=env,
        cwd=checkout,
    )
    data.unlink()
    if proc.returncode != 0:
        raise SystemExit(f"the baseline in {checkout} failed:\n{proc.stderr[-3000:]}")
    return float(proc.stdout.split()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--points", default="1000,10000,50000")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--folder", help="a 'netplan run' output folder to use instead of solving Chengdu")
    parser.add_argument("--baseline", help="another netplan checkout whose pages are loaded in turn with this one's")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "maps.md"))
    args = parser.parse_args()
    baseline = Path(args.baseline).resolve() if args.baseline else None

    from playwright.sync_api import sync_playwright

    from netplan.render import plan_map

    data, source = real_plan(args.folder)
    load_before = os.getloadavg()[0]
    rows = []
    tmp = Path(tempfile.mkdtemp(prefix="map_bench_"))
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
        for n in [int(v) for v in args.points.split(",")]:
            bench = synthetic(data, n, args.seed)
            start = time.perf_counter()
            path = plan_map(bench, offline=True).save(tmp / f"map_{n}.html")
            render = time.perf_counter() - start
            size = path.stat().st_size / 1e6
            if baseline is None:
                load, ready, errors = load_times(browser, path, args.runs)
                log(
                    f"{n:>6} points: {size:.2f} MB, render {render:.2f} s, load {load:.2f} s, drawn {ready:.2f} s, "
                    f"errors {len(errors)}"
                )
                rows.append((n, size, render, load, ready, len(errors)))
                continue
            base_path = tmp / f"baseline_{n}.html"
            base_render = baseline_page(baseline, bench, base_path)
            times: dict[str, list[tuple[float, float]]] = {"this": [], "baseline": []}
            errors = []
            for r in range(args.runs):
                for tag in ("this", "baseline") if r % 2 == 0 else ("baseline", "this"):
                    load, ready, errs = load_times(browser, path if tag == "this" else base_path, 1)
                    times[tag].append((load, ready))
                    errors += errs
            med = {
                tag: (statistics.median(t[0] for t in v), statistics.median(t[1] for t in v))
                for tag, v in times.items()
            }
            base_size = base_path.stat().st_size / 1e6
            log(
                f"{n:>6} points: {size:.2f} MB vs {base_size:.2f} MB, drawn {med['this'][1]:.2f} s vs "
                f"{med['baseline'][1]:.2f} s"
            )
            rows.append((n, size, render, *med["this"], len(errors), base_size, base_render, *med["baseline"]))
        version = browser.version
        browser.close()

    now = _dt.datetime.now(_dt.UTC)
    lines = [
        "# Plan map with many demand points (`benchmarks/map_bench.py`)",
        "",
        f"- date: {now:%Y-%m-%d %H:%M} UTC",
        f"- machine: {platform.platform()}; {os.cpu_count()} cores; Chromium {version} (headless, /usr/bin/chromium)",
        "- command: `"
        + " ".join(["python benchmarks/map_bench.py", *sys.argv[1:]])
        + "` (from the repository root, project venv)",
        f"- plan: {source}; its demand layer replaced by N synthetic points (seed {args.seed}), each assigned to its "
        "nearest open collection point",
        "- page: `plan_map(..., offline=True)`: everything inlined, no basemap, streets and roads drawn from the "
        "city graph",
        f"- times: median of {args.runs} loads over file:// in fresh contexts, from navigation start",
        f"- machine load (1-min load average, other jobs included): {load_before:.1f} before the measurements, "
        f"{os.getloadavg()[0]:.1f} after",
        "",
    ]
    if baseline is None:
        lines += [
            "| demand points | HTML size | render (Python) | `load` event | layers drawn | JS errors |",
            "|---:|---:|---:|---:|---:|---:|",
        ]
        for n, size, render, load, ready, errs in rows:
            lines.append(f"| {n:,} | {size:.2f} MB | {render:.2f} s | {load:.2f} s | {ready:.2f} s | {errs} |")
    else:
        lines[-1:-1] = [f"- baseline: pages drawn by the checkout {baseline}; loads alternate between the two pages"]
        lines += [
            "| demand points | page | HTML size | render (Python) | `load` event | layers drawn | JS errors |",
            "|---:|---|---:|---:|---:|---:|---:|",
        ]
        for n, size, render, load, ready, errs, bsize, brender, bload, bready in rows:
            lines.append(
                f"| {n:,} | this checkout | {size:.2f} MB | {render:.2f} s | {load:.2f} s | {ready:.2f} s | {errs} |"
            )
            lines.append(f"| | baseline | {bsize:.2f} MB | {brender:.2f} s | {bload:.2f} s | {bready:.2f} s | |")
            lines.append(
                f"| | ratio | {size / bsize:.3f} | {render / brender:.2f} | {load / bload:.2f} | "
                f"{ready / bready:.2f} | |"
            )
    target = [r for r in rows if r[0] == TARGET_POINTS]
    if target:
        _, size, _, _, ready, _ = target[0][:6]
        ok = size < TARGET_MB and ready < TARGET_S
        lines += [
            "",
            f"Target ({TARGET_POINTS:,} points: under {TARGET_MB:g} MB, drawn in under {TARGET_S:g} s): "
            f"**{'met' if ok else 'missed'}** ({size:.2f} MB, {ready:.2f} s).",
        ]
    text = "\n".join(lines) + "\n"
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text, encoding="utf-8")
    log(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
