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


def measure(layer: Path, n: int, stops: int, seed: int, grid: int) -> dict:
    """Run every step on the tiled city in this process; the rows of the table."""

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
    tiers, k = sc.tiers, sc.locate.nearest_next_tier
    siting = {"radius": [t.radius_m for t in tiers], "nearest": k}
    spread = _place(city, rng, n, np.sort(walk.nodes), np.sort(drive.nodes))
    t = _step(
        table,
        f"snap {n:,} demand + {3 * n:,} candidates, whole city",
        t,
        nodes=len(walk),
        edges=walk.graph.number_of_edges(),
    )
    t, arcs_spread = _siting(table, t, city, spread, siting, "whole city")
    # As dense as benchmarks/scale_bench.py: every point in one tile, i.e. the Chengdu extract at N = 5,000.
    inside_w, inside_d = _central_tile(walk, grid), _central_tile(drive, grid)
    dense = _place(city, rng, n, inside_w, inside_d)
    t = _step(
        table,
        f"snap {n:,} demand + {3 * n:,} candidates, one tile",
        t,
        nodes=len(walk),
        edges=walk.graph.number_of_edges(),
    )
    t, arcs_dense = _siting(table, t, city, dense, siting, "one tile")
    t = _dense_path(table, t, city, dense, siting, arcs_dense)
    t = _routing(table, t, city, dense, siting, stops)
    t = _cache_round_trip(table, t, city)
    return {"rows": table, "dense_tier1_gb": n * 3 * n * 8 / 1e9, "arcs": [arcs_spread, arcs_dense]}


def _central_tile(net, grid: int) -> np.ndarray:
    """The nodes of the tile in the middle of the grid."""
    import geopandas as gpd

    g = net.graph
    xy = gpd.GeoSeries(
        gpd.points_from_xy([g.nodes[v]["x"] for v in net.nodes], [g.nodes[v]["y"] for v in net.nodes]), crs="EPSG:4326"
    ).to_crs(METRIC)
    x, y = xy.x.to_numpy(), xy.y.to_numpy()
    c = grid // 2
    dx, dy = (x.max() - x.min() + 200.0) / grid, (y.max() - y.min() + 200.0) / grid
    ok = (x >= x.min() + c * dx) & (x < x.min() + (c + 1) * dx) & (y >= y.min() + c * dy) & (y < y.min() + (c + 1) * dy)
    return np.sort(net.nodes[ok])


def _place(city, rng: np.random.Generator, n: int, walk_nodes: np.ndarray, drive_nodes: np.ndarray) -> dict:
    """N demand points and 3N tier-1 candidates near walk nodes (snapped), N/15 and N/60 upper-tier sites."""
    import geopandas as gpd

    walk, drive = city.walk, city.drive

    def near(count: int, jitter_m: float) -> gpd.GeoSeries:
        picks = rng.choice(walk_nodes, count, replace=count > len(walk_nodes))
        xy = np.array([(walk.graph.nodes[v]["x"], walk.graph.nodes[v]["y"]) for v in picks])
        pts = gpd.GeoSeries(gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs="EPSG:4326").to_crs(city.crs)
        ang, r = rng.uniform(0, 2 * math.pi, count), rng.uniform(0, jitter_m, count)
        return gpd.GeoSeries(gpd.points_from_xy(pts.x + r * np.cos(ang), pts.y + r * np.sin(ang)), crs=city.crs)

    t1 = near(3 * n, 40.0)
    return {
        "demand": walk.snap(near(n, 60.0)),
        "t1_walk": walk.snap(t1),
        "t1_drive": drive.snap(t1),
        "t2": rng.choice(drive_nodes, max(n // 15, 2), replace=False),
        "t3": rng.choice(drive_nodes, max(n // 60, 2), replace=False),
    }


def _siting(table: list[dict], t: float, city, p: dict, siting: dict, where: str) -> tuple[float, list[int]]:
    """The three tiers' arcs with Network.point_arcs."""
    walk, drive = city.walk, city.drive
    r, k = siting["radius"], siting["nearest"]
    d, w1, d1, t2, t3 = p["demand"], p["t1_walk"], p["t1_drive"], p["t2"], p["t3"]
    z2, z3 = np.zeros(len(t2)), np.zeros(len(t3))
    a1 = walk.point_arcs(d.node, d.offset_m, w1.node, w1.offset_m, radius=r[0])
    p["arcs1"] = a1
    t = _step(
        table,
        f"{where}: tier-1 walk arcs {len(d.node):,} x {len(w1.node):,} within {r[0]:g} m",
        t,
        nodes=len(walk),
        edges=walk.graph.number_of_edges(),
        arcs=len(a1),
    )
    a2 = drive.point_arcs(d1.node, d1.offset_m, t2, z2, radius=r[1], nearest=k)
    p["arcs2"] = a2
    t = _step(
        table,
        f"{where}: tier-2 drive arcs {len(d1.node):,} x {len(t2)} within {r[1]:g} m",
        t,
        nodes=len(drive),
        edges=drive.graph.number_of_edges(),
        arcs=len(a2),
    )
    a3 = drive.point_arcs(t2, z2, t3, z3, radius=r[2], nearest=k)
    t = _step(
        table,
        f"{where}: tier-3 drive arcs {len(t2)} x {len(t3)} within {r[2]:g} m",
        t,
        nodes=len(drive),
        edges=drive.graph.number_of_edges(),
        arcs=len(a3),
    )
    return t, [len(a1), len(a2), len(a3)]


def _dense_path(table: list[dict], t: float, city, p: dict, siting: dict, counts: list[int]) -> float:
    """What locate/tiers.py does today: dense point matrices (tier 2 searching the whole graph), then a threshold."""
    walk, drive = city.walk, city.drive
    r = siting["radius"]
    d, w1, d1, t2 = p["demand"], p["t1_walk"], p["t1_drive"], p["t2"]
    m = walk.point_matrix(d.node, d.offset_m, w1.node, w1.offset_m, "length", r[0])
    src, dst = np.nonzero(m <= r[0])
    same = np.array_equal(src, p["arcs1"].src) and np.array_equal(dst, p["arcs1"].dst)
    same = same and np.array_equal(m[src, dst], p["arcs1"].cost)
    del m
    walk._memo.clear()
    t = _step(
        table,
        f"today's path, one tile: tier-1 dense point_matrix + threshold (same arcs: {same})",
        t,
        nodes=len(walk),
        edges=walk.graph.number_of_edges(),
        arcs=len(src),
    )
    m = drive.point_matrix(d1.node, d1.offset_m, t2, np.zeros(len(t2)), "length")
    src, dst = np.nonzero(m <= r[1])
    same = np.array_equal(src, p["arcs2"].src) and np.array_equal(dst, p["arcs2"].dst)
    same = same and np.array_equal(m[src, dst], p["arcs2"].cost)
    del m
    drive._memo.clear()
    return _step(
        table,
        f"today's path, one tile: tier-2 dense, whole-graph Dijkstra (same arcs: {same})",
        t,
        nodes=len(drive),
        edges=drive.graph.number_of_edges(),
        arcs=len(src),
    )


def _routing(table: list[dict], t: float, city, p: dict, siting: dict, stops: int) -> float:
    """Routing's travel profile for one transfer station's collection day: its stops within the tier-2 radius."""
    from netplan.route.roads import TravelProfiles

    drive = city.drive
    centre = p["t2"][0]
    d1 = p["t1_drive"]
    near = drive.point_arcs([centre], [0.0], d1.node, d1.offset_m, radius=siting["radius"][1])
    day = [int(centre)] + [int(v) for v in np.asarray(d1.node)[near.dst[:stops]]]
    profiles = TravelProfiles(drive, day, None, {"unrestricted": []})  # type: ignore[arg-type]
    tree = profiles._trees["unrestricted"]
    arrays = round((tree.time.nbytes + tree.length.nbytes + tree.pred.nbytes) / 2**20, 1)
    return _step(
        table,
        f"routing profile: {len(day)} places x {len(day)} with paths",
        t,
        nodes=len(drive),
        edges=drive.graph.number_of_edges(),
        arrays_mb=arrays,
    )


def _cache_round_trip(table: list[dict], t: float, city) -> float:
    """Write the city as the city cache does, and read it back."""
    import pickle

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "city.pickle"
        with path.open("wb") as fh:
            pickle.dump(city, fh, protocol=pickle.HIGHEST_PROTOCOL)
        size = path.stat().st_size
        t = _step(
            table,
            f"city cache: write ({size / 2**20:,.0f} MB)",
            t,
            nodes=len(city.drive),
            edges=city.drive.graph.number_of_edges(),
        )
        with path.open("rb") as fh:
            again = pickle.load(fh)
        assert len(again.drive) == len(city.drive)
        del again
    return _step(table, "city cache: read back", t, nodes=len(city.drive), edges=city.drive.graph.number_of_edges())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drive-nodes", type=int, default=200_000)
    parser.add_argument("--n", type=int, default=5_000)
    parser.add_argument("--stops", type=int, default=150)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "netplan_large_graph"))
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--grid", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    cache = Path(args.cache)
    if args.one:
        print(json.dumps(measure(Path(args.one), args.n, args.stops, args.seed, args.grid)))
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
            "--grid",
            str(grid),
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
