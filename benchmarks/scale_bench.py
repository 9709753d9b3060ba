"""Siting a whole city: the tiered network at N demand points on the real Chengdu road graphs (issue 13).

For each N: N demand points on the walk graph of the shipped Chengdu extract
(seeded; a node plus an offset of 0-80 m, several may share a node: the
extract has ~3,000 walk nodes), each with households drawn from Chengdu's
real compound parts (the demand stage's points) at Chengdu's kg per household;
tier-1 candidates 3N (one at every demand point's gate, a "compound edge" point
with the fusion discount, and 2N street points at random walk nodes), tier 2
~N/15 and tier 3 ~N/60 at drive nodes, no cap on the number open. Tier
settings are those of ``scenarios/chengdu.yaml``. Each N runs in a fresh
process (peak RSS is that run's): matrices (bounded Dijkstra, in row blocks),
model build, then ``TieredNetwork.solve`` with the chosen engine and mode.
Prints one markdown table and the fitted growth exponent of siting time in N.

With ``--spread`` the city grows with N instead: the extract's roads are tiled
(``large_graph_bench.py``'s road layer, loaded through ``city.roads`` as a
bureau's GIS layer is) into round(sqrt(N / P)) x round(sqrt(N / P)) tiles, P
being the extract's real demand points, so every tile holds about as many
points as Chengdu's own compounds, as a real city of N compounds would. The
default packs every N onto the one extract (N = 5,000 is ten times Chengdu's
density, and the arcs grow as N squared).

    python benchmarks/scale_bench.py [--sizes 500,2000,5000,10000] [--engine lagrangian] [--mode bottom_up]
        [--time-limit 1800] [--mip-sizes 500] [--spread]
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _arcs_blocked(
    net,
    rows: np.ndarray,
    row_off: np.ndarray,
    cols: np.ndarray,
    col_off: np.ndarray,
    radius: float,
    nearest: int | None = None,
    block: int = 256,
):
    """Arcs within ``radius`` between snapped points (node + offset), computed a block of rows at a time."""
    from netplan.locate.network_model import Arcs

    src, dst, dist = [], [], []
    for start in range(0, len(rows), block):
        d = net.point_matrix(
            rows[start : start + block], row_off[start : start + block], cols, col_off, "length", limit=radius
        )
        net._memo.clear()  # the memo would keep every block alive
        a = Arcs.from_matrix(d, radius, nearest)
        src.append(a.src + start)
        dst.append(a.dst)
        dist.append(a.distance)
    return Arcs(np.concatenate(src), np.concatenate(dst), np.concatenate(dist))


def _tiled_city(grid: int, sc):
    """The Chengdu extract's roads tiled ``grid`` x ``grid`` (``large_graph_bench.py``'s layer), loaded as bureaus'."""
    import tempfile

    from large_graph_bench import MAPPING, build_layer

    from netplan.city import city_from_raw
    from netplan.city.sources import read_source
    from netplan.scenario import CityConfig

    layer = Path(tempfile.gettempdir()) / "netplan_large_graph" / f"tiles_{grid}.gpkg"
    if not layer.is_file():
        build_layer(grid, layer)
    config = CityConfig(source=str(layer), roads=MAPPING, truck=sc.city.truck, walk_speed_kph=sc.city.walk_speed_kph)
    return city_from_raw(read_source(config, layer.parent), config)


def build_model(n: int, engine: str, seed: int, spread: bool = False) -> tuple[Any, dict]:
    """The benchmark city's tiered model at N demand points (not solved), and what building it took."""
    import geopandas as gpd

    from netplan.city import load_city
    from netplan.demand import estimate_demand
    from netplan.locate.network_model import TieredNetwork, TierSites
    from netplan.scenario import load_scenario

    t0 = time.perf_counter()
    sc = load_scenario(ROOT / "scenarios" / "chengdu.yaml")
    city = load_city(sc.city, sc.base_dir)
    real = estimate_demand(city, sc)[0]
    real = real[(real["households"] > 0) & (real["kg_day"] > 0)]
    grid = 1
    if spread:
        # as many copies of the extract's roads as keep the points about as dense as Chengdu's own compounds
        grid = max(1, round(float(np.sqrt(n / len(real)))))
        city = _tiled_city(grid, sc)
    kg_per_household = float(real["kg_day"].sum() / real["households"].sum())
    households = real["households"].to_numpy(dtype=float)
    rng = np.random.default_rng(seed)
    walk, drive = city.network("walk"), city.network("drive")
    walk_nodes = np.sort(walk.nodes)
    # The extract's walk graph has ~3,000 nodes: points sit at a node plus an offset along the way in (0-80 m),
    # as a compound's gate does; several may share a node.
    demand_nodes = rng.choice(walk_nodes, n, replace=n > len(walk_nodes))
    demand_off = rng.uniform(0.0, 80.0, n)
    demand_kg = rng.choice(households, n, replace=True) * kg_per_household
    street = rng.choice(walk_nodes, 2 * n, replace=True)
    t1_nodes = np.concatenate([demand_nodes, street])
    # one candidate at each compound's gate (the fusion site), two on the streets
    t1_off = np.r_[demand_off, rng.uniform(0.0, 40.0, 2 * n)]
    fusion = np.r_[np.ones(n, bool), np.zeros(2 * n, bool)]
    xy = walk.graph.nodes
    pts = gpd.GeoSeries(
        gpd.points_from_xy([xy[v]["x"] for v in t1_nodes], [xy[v]["y"] for v in t1_nodes]), crs="EPSG:4326"
    )
    t1_drive = drive.snap(pts).node
    drive_nodes = np.sort(drive.nodes)
    t2_nodes = rng.choice(drive_nodes, max(n // 15, 2), replace=False)
    t3_nodes = rng.choice(drive_nodes, max(n // 60, 2), replace=False)
    tiers_cfg = sc.tiers
    setup_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    z1, z2, z3 = np.zeros(len(t1_drive)), np.zeros(len(t2_nodes)), np.zeros(len(t3_nodes))
    arcs = [
        _arcs_blocked(walk, demand_nodes, demand_off, t1_nodes, t1_off, tiers_cfg[0].radius_m),
        _arcs_blocked(drive, t1_drive, z1, t2_nodes, z2, tiers_cfg[1].radius_m, sc.locate.nearest_next_tier),
        _arcs_blocked(drive, t2_nodes, z2, t3_nodes, z3, tiers_cfg[2].radius_m, sc.locate.nearest_next_tier),
    ]
    matrices_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    sizes = [len(t1_nodes), len(t2_nodes), len(t3_nodes)]
    tiers = []
    for k, (cfg, m) in enumerate(zip(tiers_cfg, sizes)):
        cost = np.full(m, float(cfg.open_cost))
        if k == 0:
            cost[fusion] *= 1 - cfg.fusion_discount
        tiers.append(TierSites(cfg.tier, np.full(m, float(cfg.capacity_kg_day)), cost, np.zeros(m, bool)))
    model = TieredNetwork(
        demand_kg,
        tiers,
        arcs,
        sc.locate.haul_cost_per_t_km[:2],
        sc.locate.access_cost_per_t_km,
        sc.locate.days_per_year,
        exclude_unreachable=True,
        node_limit=sc.locate.node_limit,
        engine=engine,
        iterations=sc.locate.iterations,
    )
    build_s = time.perf_counter() - t0
    info = {
        "grid": grid,
        "walk_nodes": len(walk),
        "candidates": sizes,
        "setup_s": round(setup_s, 1),
        "matrices_s": round(matrices_s, 1),
        "build_s": round(build_s, 1),
        "backend": sc.locate.backend,
    }
    return model, info


def _one(n: int, engine: str, mode: str, time_limit: float, seed: int, spread: bool = False, columns: int = 0) -> dict:
    model, info = build_model(n, engine, seed, spread)
    model.column_window = columns
    t0 = time.perf_counter()
    solutions = model.solve(mode, time_limit, seed, info.pop("backend"))
    solve_s = time.perf_counter() - t0
    sol = solutions.get("integrated", solutions.get("bottom_up"))
    steps = [s for s in sol.steps if "tier" in s]
    return {
        "n": n,
        **info,
        "engine": engine,
        "mode": mode,
        "excluded": int(len(model.excluded)),
        "arcs": [int(len(a.src)) for a in model.arcs],
        "solve_s": round(solve_s, 1),
        "tier_s": [s.get("seconds") for s in steps],
        "tier_objective": [s.get("objective") for s in steps],
        "tier_bound": [s.get("bound") for s in steps],
        "tier_blocks_at_cap": [s.get("blocks_at_cap", 0) for s in steps],
        "tier1_columns": {k: v for k, v in steps[0].items() if k.startswith("column")} if steps else {},
        "stations_first": {
            k: v for s in sol.steps if s.get("step") == "stations_first" for k, v in s.items() if k != "steps"
        },
        "bound_parts": next((s["bound_parts"] for s in sol.steps if "bound_parts" in s), {}),
        "upper_tiers_lp": next((s["upper_tiers_lp"] for s in sol.steps if "upper_tiers_lp" in s), {}),
        "objective": sol.objective,
        "bound": sol.bound,
        "gap": sol.gap,
        "status": sol.status,
        "open": [int(o.sum()) for o in sol.open],
        "time_limit_hit": sol.time_limit_hit,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="500,2000,5000,10000")
    parser.add_argument("--engine", default="lagrangian", choices=["lagrangian", "mip"])
    parser.add_argument("--mode", default="bottom_up", choices=["bottom_up", "integrated", "both"])
    parser.add_argument("--mip-sizes", default="500", help="sizes also run with the MIP engine, for the ratio")
    parser.add_argument("--time-limit", type=float, default=1800.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--spread",
        action="store_true",
        help="grow the city with N: the extract's roads tiled so that every tile is about as dense as Chengdu's "
        "real compounds (the default packs every N onto the one extract)",
    )
    parser.add_argument(
        "--columns", type=int, default=0, help="tier 1 ends with price and branch on windows of this many sources"
    )
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        n, engine = args.one.split(":")
        print(
            json.dumps(
                _one(int(n), engine, args.mode, args.time_limit, args.seed, spread=args.spread, columns=args.columns)
            )
        )
        return
    runs = [(int(n), args.engine) for n in args.sizes.split(",") if n]
    runs += [(int(n), "mip") for n in args.mip_sizes.split(",") if n and args.engine != "mip"]
    if any(n < 1 for n, _ in runs):
        parser.error(f"sizes must be positive demand counts (--mip-sizes '' runs none), got {[n for n, _ in runs]}")
    rows = []
    for n, engine in runs:
        start = time.perf_counter()
        used = resource.getrusage(resource.RUSAGE_CHILDREN)
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--one",
                f"{n}:{engine}",
                "--mode",
                args.mode,
                "--time-limit",
                str(args.time_limit),
                "--seed",
                str(args.seed),
                *(["--spread"] if args.spread else []),
                "--columns",
                str(args.columns),
            ],
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        wall = time.perf_counter() - start
        done = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = done.ru_utime + done.ru_stime - used.ru_utime - used.ru_stime
        if out.returncode != 0:
            print(f"N={n} {engine}: failed\n{out.stderr[-1500:]}", file=sys.stderr)
            continue
        row = json.loads(out.stdout.strip().splitlines()[-1])
        row["wall_s"], row["cpu_s"] = round(wall, 1), round(cpu, 1)
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(
        f"\nMeasured {stamp} on {platform.node()} ({platform.processor() or platform.machine()}), "
        f"mode {args.mode}, time limit {args.time_limit:g} s"
        + (", the city grown with N (tiles of the extract's roads, walk nodes in brackets)" if args.spread else "")
        + ".\n"
    )
    print(
        "| N | engine | candidates t1/t2/t3 | arcs | wall s | matrices s | siting s (t1/t2/t3) | peak RSS MB "
        "| objective (CNY/yr) | bound | gap | open t1/t2/t3 | time limit hit |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        tier_s = "/".join(f"{s:.1f}" for s in r["tier_s"] if s is not None)
        size = f"{r['n']:,} ({r['grid'] ** 2} tiles, {r['walk_nodes']:,})" if args.spread else f"{r['n']:,}"
        print(
            f"| {size} | {r['engine']} | {'/'.join(map(str, r['candidates']))} | {sum(r['arcs']):,} "
            f"| {r['wall_s']:.1f} | {r['matrices_s']:.1f} | {r['solve_s']:.1f} ({tier_s}) | {r['peak_rss_mb']:.0f} "
            f"| {r['objective']:,.0f} | {r['bound']:,.0f} | {100 * r['gap']:.2f}% | {'/'.join(map(str, r['open']))} "
            f"| {','.join(r['time_limit_hit']) or 'no'} |"
        )
    main_rows = [r for r in rows if r["engine"] == args.engine]
    if len(main_rows) >= 2:
        x = np.log([r["n"] for r in main_rows])
        y = np.log([max(r["solve_s"], 1e-3) for r in main_rows])
        print(
            f"\nFitted growth of siting time: N^{np.polyfit(x, y, 1)[0]:.2f} ({args.engine}, {len(main_rows)} sizes)."
        )
    for r in rows:
        if r["engine"] == "mip":
            same = next((q for q in main_rows if q["n"] == r["n"]), None)
            if same:
                print(
                    f"N={r['n']:,}: MIP engine {r['solve_s']:.1f} s, objective {r['objective']:,.0f}; "
                    f"{args.engine} {same['solve_s']:.1f} s, objective {same['objective']:,.0f} "
                    f"(time ratio {r['solve_s'] / max(same['solve_s'], 1e-3):.1f}x)."
                )


if __name__ == "__main__":
    main()
