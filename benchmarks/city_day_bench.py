"""A city-scale collection day on the Chengdu road network (issue 14): time, memory, vehicles and km, all verified.

3,000 collection visits at drive-graph nodes of the shipped Chengdu extract (drawn with ``--seed`` from the
largest strongly connected part, so every visit can be reached and left), 100 collection trucks (3 t, 06:00-18:00)
based at 3 depots (transfer stations: the drive nodes nearest three fixed points spread over the city), 100-900 kg
per visit, 5 min + 6 min/t service, 15-min unloads at any of the three depots (multi-trip), every visit required.
Travel times and distances are the real fastest road paths of the 4.5 t truck profile (``route/roads.py``). The day
is solved with PyVRP through ``netplan.route.solve`` within an iteration budget (so the routes do not depend on the
machine's load; the time limit is only a safety cap), then up to ``--fleet-rounds`` warm-started re-solves with
the fleet cut (``netplan.route.fleet``; by default 4,000 + 3 x 2,000 iterations, the 10,000 of the search alone
before the fleet step), and replayed on the road graph by the schedule simulator, edge
by edge. The run reports each stage's wall and CPU time (CPU: this process's user + system seconds, which a shared,
loaded machine inflates far less than wall time) and the process's peak memory (``ru_maxrss``).

Usage::

    python benchmarks/city_day_bench.py [--visits 3000] [--vehicles 100] [--iterations 4000] [--seed 1]
        [--fleet-rounds 3] [--fleet-iterations 2000]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import networkx as nx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: Three depots spread over central Chengdu (WGS-84): north, east and south-west of the first ring road.
DEPOTS_LONLAT = [(104.078, 30.712), (104.118, 30.668), (104.055, 30.662)]


def peak_mb() -> int:
    """Peak resident memory of this process so far, in MB."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def build_day(city, *, visits: int, vehicles: int, seed: int):
    """The day's :class:`RoutingProblem` and the travel profiles behind it (see the module docstring)."""
    import geopandas as gpd
    import shapely

    from netplan.route.bans import RoadBans
    from netplan.route.problem import Depot, Interval, Location, RoutingProblem, Stop, VehicleType
    from netplan.route.roads import TravelProfiles

    network = city.network("drive")
    graph = network.graph
    core = sorted(max(nx.strongly_connected_components(graph), key=len))
    rng = np.random.default_rng(seed)
    depots = gpd.GeoSeries([shapely.Point(*p) for p in DEPOTS_LONLAT], crs="EPSG:4326")
    depot_nodes = [int(n) for n in network.snap(depots).node]
    if any(n not in set(core) for n in depot_nodes):
        raise SystemExit(f"a depot node is outside the largest strongly connected part: {depot_nodes}")
    stop_nodes = [int(n) for n in rng.choice(core, size=visits, replace=len(core) < visits)]
    nodes = depot_nodes + stop_nodes
    locations = [Location(f"n{n}", float(graph.nodes[n]["x"]), float(graph.nodes[n]["y"]), n) for n in nodes]
    travel = TravelProfiles(network, nodes, RoadBans([], graph), {"truck": []})
    profile = travel.profile("truck")
    kg = rng.integers(100, 901, visits)
    stops = [Stop(f"v{i}", 3 + i, (int(q),), int(300 + 360 * q / 1000)) for i, q in enumerate(kg)]
    per = [vehicles // 3 + (1 if d < vehicles % 3 else 0) for d in range(3)]
    types = [
        VehicleType(
            f"truck@{d}",
            per[d],
            (3000,),
            start_depot=d,
            end_depot=d,
            reload_depots=(0, 1, 2),
            shift=Interval(6 * 3600, 18 * 3600),
            fixed_cost=3_000_000,
            distance_cost=35,
            duration_cost=125,
            profile="truck",
        )
        for d in range(3)
    ]
    depot_list = [Depot(f"depot {d}", d, turnaround_s=900) for d in range(3)]
    problem = RoutingProblem(
        locations, {"truck": profile}, stops, depot_list, types, name=f"Chengdu day {visits}"
    ).validate()
    return problem, travel, len(core), len(graph)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--visits", type=int, default=3000)
    ap.add_argument("--vehicles", type=int, default=100)
    ap.add_argument("--iterations", type=int, default=4000, help="PyVRP iteration budget of the first search")
    ap.add_argument("--time-limit", type=float, default=600.0, help="safety cap on the search, s")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--fleet-rounds", type=int, default=3, help="fleet-minimising re-solves (0: none)")
    ap.add_argument("--fleet-iterations", type=int, default=2000, help="PyVRP iterations per fleet re-solve")
    args = ap.parse_args()

    from netplan.city import load_city
    from netplan.route.engines import solve
    from netplan.route.simulate import RoadReplay, simulate
    from netplan.scenario import load_scenario

    stages: dict[str, tuple[float, float]] = {}
    clock = [time.perf_counter(), time.process_time()]

    def lap(name: str) -> None:
        now = [time.perf_counter(), time.process_time()]
        stages[name] = (now[0] - clock[0], now[1] - clock[1])
        clock[:] = now

    scenario = load_scenario(ROOT / "scenarios" / "chengdu.yaml")
    city = load_city(scenario.city, scenario.base_dir)
    lap("load city")
    problem, travel, core, graph_nodes = build_day(city, visits=args.visits, vehicles=args.vehicles, seed=args.seed)
    lap("road matrices + problem")
    sol = solve(
        problem,
        "pyvrp",
        time_limit_s=args.time_limit,
        seed=args.seed,
        max_iterations=args.iterations,
        fleet_rounds=args.fleet_rounds,
        fleet_iterations=args.fleet_iterations,
    )
    lap("solve (PyVRP, incl. data build and fleet rounds)")
    replay = RoadReplay(
        travel.road_bans,
        lambda u, v: travel.edge_time[(u, v)],
        lambda u, v: travel.edge_length[(u, v)],
        travel.path,
    )
    schedule = simulate(problem, sol, roads=replay)
    lap("simulator (road replay)")
    routed = [sum(v[i] for k, v in stages.items() if k != "load city") for i in (0, 1)]
    total = [sum(v[i] for v in stages.values()) for i in (0, 1)]
    r = schedule.routes
    print(
        f"Chengdu drive graph: {graph_nodes} nodes ({core} in its largest strongly connected part); "
        f"{args.visits} visits, {args.vehicles} vehicles, 3 depots, seed {args.seed}, "
        f"{args.iterations} PyVRP iterations (stopped by {sol.info.get('stopped_by')})"
    )
    print(f"fleet: {sol.info.get('fleet_vehicles')} vehicles (before, after the fleet rounds)")
    for k, step in enumerate(sol.info.get("fleet", [])):
        print(f"fleet round {k + 1}: {step}")
    print("| stage | wall s | CPU s |\n| --- | ---: | ---: |")
    for name, (wall, cpu) in stages.items():
        print(f"| {name} | {wall:.1f} | {cpu:.1f} |")
    print(f"| total (city loaded) | {routed[0]:.1f} | {routed[1]:.1f} |")
    print(f"| total (with loading the city) | {total[0]:.1f} | {total[1]:.1f} |")
    print()
    print("| visits | served | vehicles used | trips | km | vehicle-hours | peak MB | verified |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    print(
        f"| {len(problem.stops)} | {len(problem.stops) - len(sol.dropped)} | {len(r)} | {int(r['trips'].sum())} | "
        f"{r['distance'].sum() / 1000:,.1f} | {r['duration_h'].sum():,.1f} | {peak_mb()} | "
        f"{'yes' if schedule.ok and sol.feasible else 'NO: ' + '; '.join(schedule.violations[:3])} |"
    )


if __name__ == "__main__":
    main()
