"""A 200,000-node drive graph through the real loaders: load time and peak memory of every step siting needs (issue 13).

The test city is the shipped Chengdu extract, tiled: its ways (simplified,
with their class, one-way, truck and walk access, weight and height limits)
are copied into a grid of tiles, each shifted by the extract's size in UTM
metres, and neighbouring tiles are joined by a few two-way primary roads
between their facing border nodes. The grid is as large as needed for the
drive graph to reach ``--drive-nodes`` (default 200,000). It is written as a
GeoPackage road layer, the ``city.roads`` path city bureaus use, and cached
under the temp folder (``netplan_large_graph/``), so only the first run builds
it. Nothing of it is committed.

The measured run is a fresh process: read the layer (``read_source``), build
the truck and walk graphs (``city_from_raw``), snap N demand points and 3N
collection-point candidates to the walk graph (and the candidates to the drive
graph), then the siting arcs as ``benchmarks/scale_bench.py`` sizes them:
tier 1 walk arcs within the tier-1 radius, tier 2 (~N/15 sites) and tier 3
(~N/60) drive arcs within their radius and to the nearest k, all with
:meth:`netplan.city.network.Network.point_arcs` (bounded Dijkstra, no dense
matrix). Last, routing's travel profiles (stops x stops, with paths) for one
transfer station's collection day. Prints a markdown table with the date.

    python benchmarks/large_graph_bench.py [--drive-nodes 200000] [--n 5000] [--stops 150] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
METRIC = "EPSG:32648"  # UTM 48N, Chengdu's zone
MAPPING = {
    "class_field": "grade",
    "oneway": {"field": "oneway"},
    "truck_field": "truck",
    "walk_field": "walk",
    "weight_limit_field": "maxweight",
    "height_limit_field": "maxheight",
    "name_field": "name",
}
JOINS_PER_BORDER = 6


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _tile_rows():
    """One tile: the Chengdu extract's simplified ways as road-layer rows in UTM metres, and its border nodes."""
    import warnings

    import geopandas as gpd
    import osmnx as ox

    from netplan.city.graph import DRIVE_HIGHWAYS, _access, _values, main_highway, normalise_edge_attributes
    from netplan.city.sources import read_xml

    raw = read_xml(ROOT / "data" / "chengdu_central.osm.bz2")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        G = normalise_edge_attributes(ox.simplify_graph(raw.directed))
    rows = []
    for u, v, d in G.edges(data=True):
        one_way = True in [bool(x) for x in _values(d.get("oneway"))]
        if not one_way and u > v and G.has_edge(v, u):
            continue  # a two-way road is one row, drawn from its lower node
        geom = d.get("geometry")
        if geom is None:
            from shapely.geometry import LineString

            geom = LineString([(G.nodes[u]["x"], G.nodes[u]["y"]), (G.nodes[v]["x"], G.nodes[v]["y"])])
        rows.append(
            {
                "grade": main_highway(d.get("highway")) or "road",
                "oneway": "yes" if one_way else "",
                "truck": "no" if _access(d, ("hgv", "goods", "motor_vehicle", "vehicle", "access")) is False else "",
                "walk": "no" if _access(d, ("foot", "access")) is False else "",
                "maxweight": ";".join(map(str, _values(d.get("maxweight")))),
                "maxheight": ";".join(map(str, _values(d.get("maxheight")))),
                "name": ";".join(map(str, _values(d.get("name")))),
                "geometry": geom,
            }
        )
    tile = gpd.GeoDataFrame(rows, crs="EPSG:4326").to_crs(METRIC)
    drive_nodes = {
        n for u, v, d in G.edges(data=True) if main_highway(d.get("highway")) in DRIVE_HIGHWAYS for n in (u, v)
    }
    pts = gpd.GeoSeries(
        gpd.points_from_xy(
            [G.nodes[n]["x"] for n in sorted(drive_nodes)], [G.nodes[n]["y"] for n in sorted(drive_nodes)]
        ),
        crs="EPSG:4326",
    ).to_crs(METRIC)
    return tile, np.column_stack([pts.x.to_numpy(), pts.y.to_numpy()])


def _border(xy: np.ndarray, side: str, count: int) -> np.ndarray:
    """``count`` drive nodes spread along one border of the tile (the outermost in each of ``count`` bands)."""
    axis, sign = {"east": (0, 1), "west": (0, -1), "north": (1, 1), "south": (1, -1)}[side]
    other = 1 - axis
    lo, hi = xy[:, other].min(), xy[:, other].max()
    picks = []
    for k in range(count):
        a, b = lo + (hi - lo) * (k + 0.25) / count, lo + (hi - lo) * (k + 0.75) / count
        band = xy[(xy[:, other] >= a) & (xy[:, other] < b)]
        if len(band):
            picks.append(band[np.argmax(sign * band[:, axis])])
    return np.array(picks)


def build_layer(grid: int, path: Path) -> dict:
    """Write the ``grid`` x ``grid`` tiled road layer to ``path``; return its description."""
    import geopandas as gpd
    import pandas as pd
    import shapely
    from shapely.geometry import LineString

    tile, xy = _tile_rows()
    x0, y0, x1, y1 = tile.total_bounds
    dx, dy = (x1 - x0) + 200.0, (y1 - y0) + 200.0
    parts = []
    for i in range(grid):
        for j in range(grid):
            shifted = tile.copy()
            shifted["geometry"] = shapely.transform(tile.geometry.to_numpy(), lambda c, i=i, j=j: c + [i * dx, j * dy])
            parts.append(shifted)
    joins = []
    east, west = _border(xy, "east", JOINS_PER_BORDER), _border(xy, "west", JOINS_PER_BORDER)
    north, south = _border(xy, "north", JOINS_PER_BORDER), _border(xy, "south", JOINS_PER_BORDER)
    for i in range(grid):
        for j in range(grid):
            here = np.array([i * dx, j * dy])
            if i + 1 < grid:
                for a in east:
                    b = west[np.argmin(np.abs(west[:, 1] - a[1]))]
                    joins.append(LineString([a + here, b + here + [dx, 0.0]]))
            if j + 1 < grid:
                for a in north:
                    b = south[np.argmin(np.abs(south[:, 0] - a[0]))]
                    joins.append(LineString([a + here, b + here + [0.0, dy]]))
    link = gpd.GeoDataFrame(
        {"grade": "primary", "oneway": "", "truck": "", "walk": "", "maxweight": "", "maxheight": "", "name": "join"},
        index=range(len(joins)),
        geometry=joins,
        crs=METRIC,
    )
    layer = gpd.GeoDataFrame(pd.concat(parts + [link], ignore_index=True), crs=METRIC)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.gpkg")
    layer.to_file(tmp, engine="pyogrio")
    tmp.replace(path)
    return {"grid": grid, "rows": len(layer), "tile_rows": len(tile), "joins": len(joins)}


def _drive_nodes_per_tile(cache: Path) -> int:
    """Drive nodes one tile gives through the real loader (decides the grid)."""
    from netplan.city import city_from_raw
    from netplan.city.sources import read_source
    from netplan.scenario import CityConfig, load_scenario

    one = cache / "tiles_1.gpkg"
    if not one.is_file():
        build_layer(1, one)
    sc = load_scenario(ROOT / "scenarios" / "chengdu.yaml")
    config = CityConfig(source=str(one), roads=MAPPING, truck=sc.city.truck, cache_dir=str(cache / "cities"))
    city = city_from_raw(read_source(config, cache), config)
    return city.drive.graph.number_of_nodes()


def _step(table: list[dict], name: str, start: float, **extra) -> float:
    table.append(
        {"step": name, "seconds": round(time.perf_counter() - start, 2), "peak_rss_mb": round(_peak_mb())} | extra
    )
    print(json.dumps(table[-1]), file=sys.stderr, flush=True)
    return time.perf_counter()


def measure(layer: Path, n: int, stops: int, seed: int) -> dict:
    """Run every step on the tiled city in this process; the rows of the table."""
    import geopandas as gpd

    from netplan.city import city_from_raw
    from netplan.city.sources import read_source
    from netplan.scenario import CityConfig, load_scenario

    sc = load_scenario(ROOT / "scenarios" / "chengdu.yaml")
    config = CityConfig(source=str(layer), roads=MAPPING, truck=sc.city.truck, walk_speed_kph=sc.city.walk_speed_kph)
    table: list[dict] = []
    t = time.perf_counter()
    raw = read_source(config, layer.parent)
    t = _step(table, "read road layer", t, nodes=raw.directed.number_of_nodes(), edges=raw.directed.number_of_edges())
    city = city_from_raw(raw, config)
    del raw
    drive, walk = city.drive, city.walk
    t = _step(table, "truck + walk graphs", t, nodes=len(drive), edges=drive.graph.number_of_edges())
    drive.csr("length")
    walk.csr("length")
    t = _step(table, "CSR matrices (drive, walk)", t, nodes=len(walk), edges=walk.graph.number_of_edges())

    rng = np.random.default_rng(seed)
    wn = np.sort(walk.nodes)

    def near_walk_nodes(count: int, jitter_m: float) -> gpd.GeoSeries:
        picks = rng.choice(wn, count, replace=count > len(wn))
        xy = np.array([(walk.graph.nodes[v]["x"], walk.graph.nodes[v]["y"]) for v in picks])
        pts = gpd.GeoSeries(gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs="EPSG:4326").to_crs(city.crs)
        ang, r = rng.uniform(0, 2 * math.pi, count), rng.uniform(0, jitter_m, count)
        return gpd.GeoSeries(gpd.points_from_xy(pts.x + r * np.cos(ang), pts.y + r * np.sin(ang)), crs=city.crs)

    demand_pts = near_walk_nodes(n, 60.0)
    t1_pts = near_walk_nodes(3 * n, 40.0)
    demand = walk.snap(demand_pts)
    t1_walk = walk.snap(t1_pts)
    t1_drive = drive.snap(t1_pts)
    t = _step(
        table,
        f"snap {n:,} demand + {3 * n:,} candidates (walk, drive)",
        t,
        nodes=len(walk),
        edges=walk.graph.number_of_edges(),
    )

    tiers = sc.tiers
    k = sc.locate.nearest_next_tier
    dn = np.sort(drive.nodes)
    t2 = rng.choice(dn, max(n // 15, 2), replace=False)
    t3 = rng.choice(dn, max(n // 60, 2), replace=False)
    z2, z3 = np.zeros(len(t2)), np.zeros(len(t3))
    a1 = walk.point_arcs(demand.node, demand.offset_m, t1_walk.node, t1_walk.offset_m, radius=tiers[0].radius_m)
    t = _step(
        table,
        f"tier-1 walk arcs {n:,} x {3 * n:,} within {tiers[0].radius_m:g} m",
        t,
        nodes=len(walk),
        edges=walk.graph.number_of_edges(),
        arcs=len(a1),
    )
    a2 = drive.point_arcs(t1_drive.node, t1_drive.offset_m, t2, z2, radius=tiers[1].radius_m, nearest=k)
    t = _step(
        table,
        f"tier-2 drive arcs {3 * n:,} x {len(t2)} within {tiers[1].radius_m:g} m, nearest {k}",
        t,
        nodes=len(drive),
        edges=drive.graph.number_of_edges(),
        arcs=len(a2),
    )
    a3 = drive.point_arcs(t2, z2, t3, z3, radius=tiers[2].radius_m, nearest=k)
    t = _step(
        table,
        f"tier-3 drive arcs {len(t2)} x {len(t3)} within {tiers[2].radius_m:g} m, nearest {k}",
        t,
        nodes=len(drive),
        edges=drive.graph.number_of_edges(),
        arcs=len(a3),
    )

    from netplan.route.roads import TravelProfiles

    # One transfer station's collection day: its stops are the collection points around it, within its radius.
    centre = t2[0]
    near = drive.point_arcs([centre], [0.0], t1_drive.node, t1_drive.offset_m, radius=tiers[1].radius_m)
    day = [int(centre)] + [int(v) for v in np.asarray(t1_drive.node)[near.dst[:stops]]]
    profiles = TravelProfiles(drive, day, None, {"unrestricted": []})  # type: ignore[arg-type]
    tree = profiles._trees["unrestricted"]
    _step(
        table,
        f"routing profile: {len(day)} places x {len(day)} with paths",
        t,
        nodes=len(drive),
        edges=drive.graph.number_of_edges(),
        arrays_mb=round((tree.time.nbytes + tree.length.nbytes + tree.pred.nbytes) / 2**20, 1),
    )
    dense_gb = n * 3 * n * 8 / 1e9
    return {"rows": table, "dense_tier1_gb": dense_gb, "arcs": [len(a1), len(a2), len(a3)]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drive-nodes", type=int, default=200_000)
    parser.add_argument("--n", type=int, default=5_000)
    parser.add_argument("--stops", type=int, default=150)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "netplan_large_graph"))
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    cache = Path(args.cache)
    if args.one:
        print(json.dumps(measure(Path(args.one), args.n, args.stops, args.seed)))
        return
    per_tile = _drive_nodes_per_tile(cache)
    grid = math.ceil(math.sqrt(args.drive_nodes / per_tile))
    layer = cache / f"tiles_{grid}.gpkg"
    if not layer.is_file():
        start = time.perf_counter()
        info = build_layer(grid, layer)
        print(f"built {layer} ({info}) in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    start = time.perf_counter()
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--one",
            str(layer),
            "--n",
            str(args.n),
            "--stops",
            str(args.stops),
            "--seed",
            str(args.seed),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    wall = time.perf_counter() - start
    if out.returncode != 0:
        sys.exit(f"the measured run failed:\n{out.stderr[-3000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(
        f"\nMeasured {stamp} on {platform.node()} ({platform.machine()}, {_cpus()} cores, shared with other jobs): "
        f"Chengdu tiled {grid} x {grid} ({per_tile:,} drive nodes a tile), N = {args.n:,}; one fresh process, "
        f"{wall:.0f} s wall in all. Peak RSS is the process's peak so far.\n"
    )
    print("| step | nodes | edges | seconds | peak RSS MB | arcs / arrays |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in result["rows"]:
        extra = f"{r['arcs']:,} arcs" if "arcs" in r else (f"{r['arrays_mb']} MB" if "arrays_mb" in r else "")
        sizes = f"{r.get('nodes', 0):,} | {r.get('edges', 0):,}"
        print(f"| {r['step']} | {sizes} | {r['seconds']:.1f} | {r['peak_rss_mb']:,} | {extra} |")
    dense = f"{args.n:,} x {3 * args.n:,} float64"
    print(f"\nA dense tier-1 matrix ({dense}) would take {result['dense_tier1_gb']:.1f} GB alone.")


def _cpus() -> int:
    import os

    return os.cpu_count() or 0


if __name__ == "__main__":
    main()
