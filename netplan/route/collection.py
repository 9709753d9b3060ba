"""The collection day of a sited network: build, solve, check and lay out its routes.

For every transfer station (tier 2) one routing problem: the station is the
depot, its collection points (tier 1) are the stops with their daily load,
and the collection vehicles based there (the fleet is shared out over the
stations by load) unload at the station and go on (multi-trip). Hauls take
each station's load to its sorting centre (tier 3) with the ``haul``
vehicles, in one more problem. Each problem is solved with the scenario's
engine and replayed on the road graph by the schedule simulator before
anything is output; a violation stops the run.

Vehicle yards (``route.yards``, issue 14): a vehicle type with a home
``yard`` starts and ends its day there, whichever station it is shared out
to; one with several ``yards`` may start and end at any of them (OR-Tools
picks per vehicle). Each such yard becomes one more depot of the station's
problem, where the vehicle does not unload; with ``unload_before_end`` it
empties at the station before it drives home. A ``route.fleet_caps`` limit is
shared over the stations like the vehicles themselves (in proportion to
load, every loaded station first one); within a station the engine picks
which capped types to use.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import pandas as pd
import shapely

from netplan.city import City
from netplan.diagnostics import warn
from netplan.processes import default_workers, largest_first
from netplan.route.bans import Ban, RoadBans, zone_geometry
from netplan.route.drops import Drop, explain_drops
from netplan.route.engines import solve_with
from netplan.route.problem import (
    COST_UNITS_PER_CNY,
    Break,
    Depot,
    FleetCap,
    Interval,
    Location,
    RoutingInputError,
    RoutingProblem,
    Stop,
    VehicleType,
    clock,
)
from netplan.route.roads import TravelProfiles, forbidden_starts
from netplan.route.simulate import RoadReplay, Schedule, simulate
from netplan.route.solution import RouteSolution
from netplan.scenario import RouteConfig, Scenario, Vehicle, Yard, parse_interval

FREE = "free"


def _interval(text: str) -> Interval:
    start, end = parse_interval(text)
    return Interval(start * 60, end * 60)


def scenario_bans(scenario: Scenario) -> list[Ban]:
    """The scenario's restrictions as :class:`Ban` objects (WGS-84 zones)."""
    out = []
    for r in scenario.restrictions:
        zone = zone_geometry(r.zone.model_dump(), scenario.base_dir) if r.zone is not None else None
        out.append(
            Ban(
                name=r.name,
                intervals=tuple(_interval(h) for h in r.hours),
                min_weight_t=r.min_weight_t,
                zone=zone,
                ways=frozenset(int(w) for w in (r.osm_ways or [])),
            )
        )
    return out


def vehicle_classes(fleet: list[Vehicle], bans: list[Ban]) -> tuple[dict[str, str], dict[str, list[Ban]]]:
    """Which travel profile each vehicle type drives with.

    A type is bound by a ban when it is heavy enough, holds no permit and
    its shift overlaps the banned hours; types bound by the same bans share
    a profile.

    Returns
    -------
    tuple
        Vehicle name -> profile name, and profile name -> bans.
    """
    names: dict[str, str] = {}
    classes: dict[str, list[Ban]] = {FREE: []}
    for v in fleet:
        shift = _interval(v.shift)
        binding = [b for b in bans if b.applies_to(v.weight_t, v.permit) and b.overlaps(shift)]
        key = FREE if not binding else "restricted:" + "+".join(sorted(b.name for b in binding))
        classes.setdefault(key, binding)
        names[v.name] = key
    return names, classes


def share_fleet(
    vehicles: list[Vehicle], loads: list[float], allowed: list[list[bool]] | None = None
) -> list[list[int]]:
    """Share the vehicles over depots in proportion to their loads.

    Every depot with load first gets one vehicle (the busiest depots the
    largest vehicles). The rest are placed one by one, the largest first,
    each at the depot with the most load per kg of capacity already placed
    there plus its own (the D'Hondt rule, with capacity as the divisor), so
    capacity follows load; ties go to the first depot. A vehicle type is
    only based where ``allowed[type][depot]`` (e.g. not at a station inside
    a zone banned to it).

    Returns
    -------
    list of list of int
        ``[type][depot]`` counts.
    """
    out = [[0] * len(loads) for _ in vehicles]
    placed = [0.0] * len(loads)
    pool = [
        t
        for t in sorted(range(len(vehicles)), key=lambda t: (-vehicles[t].capacity_kg, t))
        for _ in range(vehicles[t].count)
    ]
    # First one vehicle per loaded depot (the busiest get the largest), then D'Hondt for the rest.
    ok = allowed or [[True] * len(loads) for _ in vehicles]
    busiest = sorted((d for d in range(len(loads)) if loads[d] > 0), key=lambda d: (-loads[d], d))
    rest = []
    for t in pool:
        d = next((d for d in busiest if ok[t][d] and not any(out[u][d] for u in range(len(vehicles)))), None)
        if d is None:
            rest.append(t)
        else:
            out[t][d] += 1
            placed[d] += vehicles[t].capacity_kg
    for t in rest:
        cap = vehicles[t].capacity_kg
        usable = [d for d in range(len(loads)) if ok[t][d] and loads[d] > 0]
        if not usable:
            continue
        best = max(usable, key=lambda d: (loads[d] / (placed[d] + cap), -d))
        out[t][best] += 1
        placed[best] += cap
    return out


def share_cap(max_vehicles: int, loads: list[float], placed: list[int]) -> list[int]:
    """Share a fleet cap over depots: how many of the capped vehicles placed at each depot may be used.

    Every depot with load and capped vehicles first gets one (the busiest
    first, while the cap lasts), the rest go by the D'Hondt rule on load,
    never more than the capped vehicles placed there; ties go to the first
    depot.

    Parameters
    ----------
    max_vehicles
        The cap over the whole day.
    loads
        Load per depot.
    placed
        Capped vehicles shared out to each depot (:func:`share_fleet`).

    Returns
    -------
    list of int
        The cap per depot.
    """
    out = [0] * len(loads)
    left = max_vehicles
    for d in sorted((d for d in range(len(loads)) if loads[d] > 0 and placed[d] > 0), key=lambda d: (-loads[d], d)):
        if left == 0:
            break
        out[d], left = 1, left - 1
    while left > 0:
        open_ = [d for d in range(len(loads)) if loads[d] > 0 and out[d] < placed[d]]
        if not open_:
            break
        best = max(open_, key=lambda d: (loads[d] / (out[d] + 1), -d))
        out[best] += 1
        left -= 1
    return out


@dataclass(frozen=True)
class YardSite:
    """A vehicle yard of the scenario placed on the drive graph."""

    key: str
    yard: Yard
    node: int


def place_yards(scenario: Scenario, network: Any) -> dict[str, YardSite]:
    """The scenario's ``route.yards`` snapped to the drive graph; one too far from every road is an error."""
    yards = scenario.route.yards
    if not yards:
        return {}
    points = gpd.GeoSeries([shapely.Point(y.lon, y.lat) for y in yards], crs="EPSG:4326")
    limit = scenario.city.snap_limit_m
    snapped = network.snap(points, limit_m=limit)
    out = {}
    for i, y in enumerate(yards):
        if not bool(snapped.ok[i]):
            raise RoutingInputError(
                f"yard {y.name!r} at ({y.lon}, {y.lat}) is {float(snapped.snap_m[i]):.0f} m from the nearest drivable "
                f"road (city.snap_limit_m = {limit:g}); check lon/lat (WGS-84 degrees)",
                where=f"route.yards[{i}]",
            )
        out[y.name] = YardSite(f"route.yards[{i}]", y, int(snapped.node[i]))
    return out


def station_caps(
    scenario: Scenario, collectors: list[Vehicle], loads: list[float], shares: list[list[int]]
) -> list[list[tuple[str, list[str], int]]]:
    """Per station, each ``route.fleet_caps`` entry as ``(name, vehicle type names, cap there)``."""
    out: list[list[tuple[str, list[str], int]]] = [[] for _ in loads]
    for cap in scenario.route.fleet_caps:
        names = cap.types or [v.name for v in collectors]
        placed = [sum(shares[t][d] for t, v in enumerate(collectors) if v.name in names) for d in range(len(loads))]
        for d, k in enumerate(share_cap(cap.max_vehicles, loads, placed)):
            out[d].append((cap.name, names, k))
    return out


def _road_replay(road_bans: RoadBans, travel: TravelProfiles) -> RoadReplay:
    """The simulator's view of the roads ``travel`` was built on (a function, so each job binds its own)."""
    return RoadReplay(
        road_bans, lambda u, v: travel.edge_time[(u, v)], lambda u, v: travel.edge_length[(u, v)], travel.path
    )


def _depot_barred(road_bans: RoadBans, network, node: int, bans: list[Ban]) -> bool:
    """Whether vehicles bound by ``bans`` cannot use a depot at ``node``.

    That is: the node lies inside a zone, or every way in or out is banned.
    """
    if not bans:
        return False
    if any(road_bans.covers_node(b, node) for b in bans):
        return True
    banned = road_bans.edges(bans)
    graph = network.graph
    outs = {(node, v) for v in graph.successors(node)}
    ins = {(u, node) for u in graph.predecessors(node)}
    return bool(outs) and outs <= banned or bool(ins) and ins <= banned


@dataclass
class RoutedDay:
    """Routes of the collection day, checked.

    Attributes
    ----------
    routes
        One row per vehicle trip, a LineString along the roads.
    schedule
        One row per visit (simulated times).
    summary
        Per problem (station or ``hauls``): vehicles, km, hours, dropped.
    problems
        The solved problems with their solutions and schedules (for
        benchmarks and tests).
    """

    routes: gpd.GeoDataFrame
    schedule: pd.DataFrame
    summary: pd.DataFrame
    problems: list[dict[str, Any]] = field(default_factory=list)


def route_day(
    city: City, facilities: gpd.GeoDataFrame, scenario: Scenario, progress: Callable[[str], None] = lambda _: None
) -> RoutedDay:
    """Route the collection day of a sited network (see the module docstring).

    Parameters
    ----------
    city
        The loaded city (drive graph).
    facilities
        Sited facilities (``tier``, ``site_id``, ``name``, ``load_kg_day``,
        ``next_site_id``, ``drive_node``).
    scenario
        Fleet, restrictions and the ``route`` settings.
    progress
        Called with one line per solved problem.

    Returns
    -------
    RoutedDay
        Routes, schedule and summary, all checked by the simulator.
    """
    cfg = scenario.route
    network = city.network("drive")
    bans = scenario_bans(scenario)
    road_bans = RoadBans(bans, network.graph)
    profile_of, classes = vehicle_classes(scenario.fleet, bans)
    collectors = [v for v in scenario.fleet if v.role == "collection"]
    haulers = [v for v in scenario.fleet if v.role == "haul"]
    if not collectors:
        raise RoutingInputError("the fleet has no collection vehicle (role: collection)", where="fleet")
    facilities = facilities.copy()
    labels = (
        {1: "回收点", 2: "中转站", 3: "分拣中心", 4: "市级中心"}
        if scenario.lang == "zh"
        else {1: "point", 2: "station", 3: "centre", 4: "city centre"}
    )
    unnamed = facilities["name"].isna() | (facilities["name"].astype(str).str.strip().isin(["", "nan", "None"]))
    facilities.loc[unnamed, "name"] = [
        f"{labels.get(int(t), 'site')} {int(i)}"
        for t, i in zip(facilities.loc[unnamed, "tier"], facilities.loc[unnamed, "site_id"])
    ]
    t1 = facilities[facilities["tier"] == 1]
    t2 = facilities[facilities["tier"] == 2].reset_index(drop=True)
    loads = [float(t1.loc[t1["next_site_id"] == sid, "load_kg_day"].sum()) for sid in t2["site_id"]]
    # A vehicle bound by a ban is not based at a station inside its zone (or reachable only over banned roads).
    allowed = [
        [not _depot_barred(road_bans, network, int(node), classes[profile_of[v.name]]) for node in t2["drive_node"]]
        for v in collectors
    ]
    shares = share_fleet(collectors, loads, allowed)
    yards = place_yards(scenario, network)
    caps = station_caps(scenario, collectors, loads, shares)
    jobs = []
    for d, station in t2.iterrows():
        points = t1[t1["next_site_id"] == station["site_id"]]
        counts = [shares[t][d] for t in range(len(collectors))]
        if len(points) == 0:
            continue
        if not any(counts):
            barred = sorted(
                {b.name for t, v in enumerate(collectors) if not allowed[t][d] for b in classes[profile_of[v.name]]}
            )
            why = (
                (
                    f"it lies in or behind a banned zone ({', '.join(barred)}) that binds "
                    f"{', '.join(v.name for t, v in enumerate(collectors) if not allowed[t][d])} — give some a "
                    "permit, add lighter vehicles, or site the station elsewhere"
                )
                if barred
                else (f"the fleet has {sum(v.count for v in collectors)} vehicles for {len(t2)} stations")
            )
            raise RoutingInputError(
                f"no collection vehicle can be based at transfer station {station['name']!r}: {why}", where="fleet"
            )
        _check_caps_leave_a_vehicle(station["name"], collectors, counts, caps[d])
        jobs.append(
            (
                f"{station['name']}",
                station,
                points,
                list(zip(collectors, counts)),
                cfg.drop_penalty_cny,
                caps[d],
                list(cfg.stop_hours),
            )
        )
    if cfg.hauls and haulers and (facilities["tier"] == 3).any():
        t3 = facilities[facilities["tier"] == 3]
        for _, centre in t3.iterrows():
            feeders = t2[t2["next_site_id"] == centre["site_id"]].copy()
            if len(feeders):
                feeders["load_kg_day"] = [loads[i] for i in feeders.index]
                # A station's load must reach its centre: optional only when the scenario prices leaving it. It is
                # picked up at the station, so within the station's hours, not the collection points' stop_hours.
                jobs.append(
                    (
                        f"{centre['name']} (hauls)",
                        centre,
                        feeders,
                        [(v, v.count) for v in haulers],
                        cfg.haul_drop_penalty_cny,
                        [],
                        [cfg.station_hours] if cfg.station_hours else [],
                    )
                )
    results, schedules, summaries = [], [], []
    geoms: list[dict[str, Any]] = []
    built = [
        (name, depot_row)
        + build_problem(
            name,
            depot_row,
            points,
            fleet,
            profile_of,
            classes,
            network,
            road_bans,
            scenario,
            penalty_cny=penalty_cny,
            yards=yards,
            caps=job_caps,
            stop_hours=hours,
        )
        for name, depot_row, points, fleet, penalty_cny, job_caps, hours in jobs
    ]
    solutions = _solve_all([(name, problem) for name, _, problem, _ in built], scenario)
    for (name, depot_row, problem, travel), solution in zip(built, solutions):
        limit = cfg.time_limit_s
        replay = _road_replay(road_bans, travel)
        schedule = simulate(problem, solution, roads=replay)
        if not solution.feasible:
            raise RoutingInputError(
                f"{name}: {cfg.engine} found no feasible routes for {len(problem.stops)} stops within "
                f"{cfg.max_iterations or 'unlimited'} iterations / {limit:g} s ({'; '.join(schedule.violations[:3])}); "
                "add vehicles, lengthen shifts, or let loads be left for another day ("
                f"{'route.haul_drop_penalty_cny' if name.endswith('(hauls)') else 'route.drop_penalty_cny'})",
                where="route",
            )
        schedule.raise_if_violations()
        drops = explain_drops(problem, solution, solution.info.get("drop_insertion_cost"), "CNY", COST_UNITS_PER_CNY)
        _report_drops(name, problem, drops)
        report_drop_audit(name, problem, solution)
        progress(
            f"      {name}: {len(problem.stops)} stops, {solution.num_vehicles} vehicles, "
            f"{schedule.routes['distance'].sum() / 1000 if len(schedule.routes) else 0:.1f} km, "
            f"{len(solution.dropped)} dropped ({solution.runtime_s:.1f} s)"
        )
        results.append({"name": name, "problem": problem, "solution": solution, "schedule": schedule, "travel": travel})
        schedules.append(_schedule_table(name, problem, schedule))
        homes = _vehicle_yards(schedule, yards)
        summaries.append(
            {
                **_summary(name, problem, solution, schedule, drops),
                "depot_site_id": int(depot_row["site_id"]),
                "yards": _yard_counts(homes) if yards else "",
            }
        )
        # routes join the facilities layer by site id (the depot's display name is for people)
        geoms.extend(
            {
                **line,
                "depot_site_id": int(depot_row["site_id"]),
                "start_yard": homes.get(line["vehicle"].removeprefix(f"{name}/"), ("", ""))[0],
                "end_yard": homes.get(line["vehicle"].removeprefix(f"{name}/"), ("", ""))[1],
            }
            for line in trip_lines(name, schedule, network)
        )
    routes = (
        gpd.GeoDataFrame(geoms, geometry="geometry", crs="EPSG:4326")
        if geoms
        else gpd.GeoDataFrame({"vehicle": [], "geometry": []}, geometry="geometry", crs="EPSG:4326")
    )
    return RoutedDay(
        routes,
        pd.concat(schedules, ignore_index=True) if schedules else pd.DataFrame(),
        pd.DataFrame(summaries),
        results,
    )


def _check_caps_leave_a_vehicle(
    station: str, collectors: list[Vehicle], counts: list[int], caps: list[tuple[str, list[str], int]]
) -> None:
    """A station whose every vehicle is capped to zero could serve nothing: say which cap to raise."""
    usable = {v.name for v, k in zip(collectors, counts) if k > 0}
    for _name, types, k in caps:
        if k == 0:
            usable -= set(types)
    if not usable:
        zero = [name for name, _, k in caps if k == 0]
        raise RoutingInputError(
            f"transfer station {station!r}: the fleet cap {zero[0]!r} leaves it no vehicle (the cap is shared over "
            "the stations, one vehicle for each loaded station first); raise max_vehicles to at least the number of "
            "transfer stations",
            where="route.fleet_caps",
        )


def _vehicle_yards(schedule: Schedule, yards: dict[str, YardSite]) -> dict[str, tuple[str, str]]:
    """Per vehicle of a solved problem, the yard it starts and ends at ("" for its station or centre).

    Depot 0 of a collection-day problem is its station (or centre), every other depot a yard.
    """
    v = schedule.visits
    if v.empty or not yards:
        return {}
    out = {}
    for vehicle, group in v.groupby("vehicle", sort=False):
        depots = group[group["kind"] == "depot"]
        ends = depots.iloc[[0, -1]]
        first, last = (str(n) if int(i) > 0 else "" for i, n in zip(ends["index"], ends["name"]))
        out[str(vehicle)] = (first, last)
    return out


def _yard_counts(homes: dict[str, tuple[str, str]]) -> str:
    """``"north: 2; south: 1"``: vehicles per start yard (``-`` for vehicles based at the station)."""
    counts: dict[str, int] = {}
    for start, _ in homes.values():
        counts[start or "-"] = counts.get(start or "-", 0) + 1
    return "; ".join(f"{k}: {n}" for k, n in sorted(counts.items()))


#: Fewest stops in a day's problems for solving them side by side (below it the processes cost more than they win).
PARALLEL_STOPS = 100


def _solve_all(named: list[tuple[str, RoutingProblem]], scenario: Scenario) -> list[RouteSolution]:
    """Solve the day's problems, side by side on the cores when it pays; the budget warnings in the given order.

    Each problem's routes are decided by its own seed and iteration budget, so solving them in one process or in
    several gives the same routes. Side by side needs PyVRP with one start per problem (several starts already use
    the cores), at least two problems and ``PARALLEL_STOPS`` stops, and runs in ``route.workers`` processes (default
    one per core; :func:`side_by_side`), forked from a server that has imported the engines once
    (:func:`~netplan.processes.worker_context`). On Ctrl-C the workers end with the run.
    """
    cfg = scenario.route
    options = _search_options(cfg, scenario.seed)
    workers = side_by_side(named, cfg)
    if workers < 2:
        solutions = [solve_with(problem, options) for _, problem in named]
    else:
        calls = [(problem, options) for _, problem in named]
        solutions = largest_first(solve_with, calls, [len(problem.stops) for _, problem in named], workers)
    for (name, _), solution in zip(named, solutions):
        _warn_budget(name, solution, scenario)
    return solutions


def side_by_side(named: list[tuple[str, RoutingProblem]], cfg: RouteConfig) -> int:
    """How many processes solve the day's problems (1: one after another in this one).

    Parameters
    ----------
    named
        The day's problems with their names.
    cfg
        The scenario's route settings (``workers``, ``engine``, ``starts``).

    Returns
    -------
    int
        ``route.workers`` (default: :func:`~netplan.processes.default_workers`, one per core) capped at the
        number of problems, or 1 when the day is too small, the engine is not PyVRP or several starts already use
        the cores.
    """
    stops = sum(len(problem.stops) for _, problem in named)
    if cfg.engine != "pyvrp" or cfg.starts > 1 or stops < PARALLEL_STOPS:
        return 1
    return max(1, min(len(named), cfg.workers or default_workers()))


def _search_options(cfg: RouteConfig, seed: int) -> dict[str, Any]:
    """``engines.solve``'s arguments for the scenario's route settings."""
    # The iteration budget makes runs reproducible: PyVRP counts iterations, OR-Tools solutions found.
    budget = {"max_iterations": cfg.max_iterations} if cfg.engine == "pyvrp" else {"solution_limit": cfg.max_iterations}
    return {
        "engine": cfg.engine,
        "time_limit_s": cfg.time_limit_s,
        "seed": seed,
        "starts": cfg.starts,
        "workers": cfg.workers,
        # the fleet rounds warm-start PyVRP; OR-Tools weighs its fixed costs in its own search
        "fleet_rounds": cfg.fleet_rounds if cfg.engine == "pyvrp" else 0,
        "fleet_iterations": cfg.fleet_iterations,
        **budget,
    }


def _warn_budget(name: str, solution: RouteSolution, scenario: Scenario) -> None:
    """Say when the wall-clock cap, or no iteration budget at all, decided a problem's routes."""
    cfg = scenario.route
    if cfg.max_iterations is None:
        warn(
            "route",
            "route.wall_clock_budget",
            f"{name}: route.max_iterations is not set, so the {cfg.time_limit_s:g} s time limit ends the search and "
            "the routes depend on the machine's speed and load; set route.max_iterations for the same routes on "
            "every run",
            ids=[name],
        )
    else:
        warn_if_cut_short(name, solution, time_limit_s=cfg.time_limit_s, iterations=cfg.max_iterations)


def warn_if_cut_short(
    name: str, solution: RouteSolution, *, time_limit_s: float, iterations: int | None, section: str = "route"
) -> None:
    """Warn when the wall-clock safety cap, not the iteration budget, ended a search: such routes depend on the
    machine's speed and load. ``section`` names the scenario keys (``route``, ``bookings``, ``rural.straw``)."""
    if solution.info.get("stopped_by") != "time":
        return
    warn(
        section.split(".")[0],
        f"{section.split('.')[0]}.time_limit",
        f"{name}: the {time_limit_s:g} s safety cap ({section}.time_limit_s) ended the {solution.engine} search "
        f"before its budget of {iterations} iterations, so these routes depend on the machine's speed and load; "
        f"raise {section}.time_limit_s (or lower {section}.max_iterations) for the same routes on every run",
        ids=[name],
    )


def build_problem(
    name: str,
    depot_row: pd.Series,
    points: pd.DataFrame,
    fleet: list[tuple[Vehicle, int]],
    profile_of: dict[str, str],
    classes: dict[str, list[Ban]],
    network,
    road_bans: RoadBans,
    scenario: Scenario,
    *,
    penalty_cny: float | None = None,
    yards: dict[str, YardSite] | None = None,
    caps: list[tuple[str, list[str], int]] | None = None,
    stop_hours: list[str] | None = None,
) -> tuple[RoutingProblem, TravelProfiles]:
    """One depot's routing problem and the travel profiles behind it.

    Points whose load exceeds the largest vehicle are split into equal
    parts at the same place; service time is a fixed part plus a part per
    tonne. With ``penalty_cny`` every part may be left unserved at that
    cost; without it every part is required. The depot is depot 0, where
    every vehicle unloads; the ``yards`` the fleet's types name follow it
    (vehicles start and end there, see the module docstring), and ``caps``
    (name, vehicle type names, most vehicles) become fleet caps. ``stop_hours``
    are the stops' service windows (default: ``route.stop_hours``, the
    collection points' hours; a centre's hauls pass the stations' hours).

    Returns
    -------
    tuple
        The validated problem and its :class:`TravelProfiles`.
    """
    cfg = scenario.route
    fleet = [(v, k) for v, k in fleet if k > 0]
    biggest = max(v.capacity_kg for v, _ in fleet)
    nodes = [int(depot_row["drive_node"])]  # per location, typed: Location.node may be None elsewhere
    locations = [Location(str(depot_row["name"]), float(depot_row.geometry.x), float(depot_row.geometry.y), nodes[0])]
    # the yards this fleet names, in the scenario's order, as locations 1.. and depots 1..
    named = {y for v, _ in fleet for y in v.yard_names()}
    used_yards = [site for site in (yards or {}).values() if site.yard.name in named]
    for site in used_yards:
        nodes.append(site.node)
        locations.append(Location(site.yard.name, site.yard.lon, site.yard.lat, site.node))
    pieces: list[tuple[str, int, int]] = []  # name, location, kg
    for _, pt in points.iterrows():
        nodes.append(int(pt["drive_node"]))
        locations.append(Location(str(pt["name"]), float(pt.geometry.x), float(pt.geometry.y), nodes[-1]))
        kg = int(math.ceil(float(pt["load_kg_day"])))
        parts = max(1, math.ceil(kg / biggest))
        for k in range(parts):
            share = kg // parts + (1 if k < kg % parts else 0)
            label = str(pt["name"]) if parts == 1 else f"{pt['name']} ({k + 1}/{parts})"
            pieces.append((label, len(locations) - 1, share))
    used = sorted({profile_of[v.name] for v, _ in fleet})
    travel = TravelProfiles(network, nodes, road_bans, {p: classes[p] for p in used})
    stretches = {p: travel.stretches(p) for p in used}
    turnaround = int(round(cfg.turnaround_min * 60))
    hours = _interval(cfg.station_hours) if cfg.station_hours else Interval(0, 24 * 3600)
    depots = [Depot(str(depot_row["name"]), 0, hours, turnaround)]
    # a yard is only parked at: no unloading, so no turnaround
    depots += [
        Depot(site.yard.name, 1 + i, _interval(site.yard.hours) if site.yard.hours else Interval(0, 24 * 3600), 0)
        for i, site in enumerate(used_yards)
    ]
    for p in used:
        if _depot_barred(road_bans, network, nodes[0], classes[p]):
            raise RoutingInputError(
                f"{name}: the depot lies in or behind a banned zone ({', '.join(b.name for b in classes[p])}); "
                "vehicles without a permit cannot start or unload there — give them a permit or site the station "
                "elsewhere",
                where="restrictions",
            )
    _check_yards_open(used_yards, fleet, profile_of, classes, road_bans, network)
    windows = tuple(_interval(h) for h in (cfg.stop_hours if stop_hours is None else stop_hours))
    penalty = None if penalty_cny is None else int(round(penalty_cny * COST_UNITS_PER_CNY))
    stops = []
    for label, loc, kg in pieces:
        service = int(round(cfg.service_min * 60 + cfg.service_min_per_t * 60 * kg / 1000.0))
        forbidden = {}
        for p in used:
            if classes[p]:
                arrive, leave = stretches[p]
                bad = forbidden_starts(classes[p], road_bans, nodes[loc], service, arrive[loc], leave[loc])
                if bad:
                    forbidden[p] = bad
        stops.append(
            Stop(label, loc, (kg,), service, windows, forbidden, required=penalty is None, penalty=penalty or 0)
        )
    vehicle_types = []
    yard_index = {site.yard.name: 1 + i for i, site in enumerate(used_yards)}
    for v, k in fleet:
        shift = _interval(v.shift)
        homes = tuple(yard_index[y] for y in v.yard_names())
        breaks = tuple(Break(_interval(b), int(round(v.break_min * 60))) for b in v.breaks)
        vehicle_types.append(
            VehicleType(
                name=v.name,
                count=k,
                capacity=(int(v.capacity_kg),),
                start_depot=homes[0] if homes else 0,
                end_depot=homes[0] if homes else 0,
                start_depots=homes if len(homes) > 1 else (),
                end_depots=homes if len(homes) > 1 else (),
                unload_before_end=v.unload_before_end,
                reload_depots=(0,),
                shift=shift,
                max_duration_s=None if v.max_hours is None else int(v.max_hours * 3600),
                fixed_cost=int(round(v.fixed_cost * COST_UNITS_PER_CNY)),
                distance_cost=max(1, int(round(v.per_km_cost * COST_UNITS_PER_CNY / 1000))),
                duration_cost=int(round(v.per_hour_cost * COST_UNITS_PER_CNY / 3600)),
                profile=profile_of[v.name],
                permit=v.permit,
                weight_t=v.weight_t,
                breaks=breaks,
            )
        )
    profiles = {p: travel.profile(p) for p in used}
    fleet_caps = tuple(
        FleetCap(tuple(t for t, vt in enumerate(vehicle_types) if vt.name in types), k, cap)
        for cap, types, k in caps or []
        if any(vt.name in types for vt in vehicle_types)
    )
    problem = RoutingProblem(
        locations, profiles, stops, depots, vehicle_types, ("kg",), Interval(0, 24 * 3600), name, fleet_caps
    )
    return problem.validate(), travel


def _check_yards_open(
    used_yards: list[YardSite],
    fleet: list[tuple[Vehicle, int]],
    profile_of: dict[str, str],
    classes: dict[str, list[Ban]],
    road_bans: RoadBans,
    network: Any,
) -> None:
    """A yard inside (or behind) a zone banned to a vehicle type that starts there is an error naming the yard."""
    for site in used_yards:
        for v, _ in fleet:
            bans = classes[profile_of[v.name]]
            if site.yard.name in v.yard_names() and _depot_barred(road_bans, network, site.node, bans):
                raise RoutingInputError(
                    f"yard {site.yard.name!r} lies in or behind a banned zone ({', '.join(b.name for b in bans)}) "
                    f"that binds {v.name!r}, which starts there: give it a permit or move the yard",
                    where=site.key,
                )


def _schedule_table(name: str, problem: RoutingProblem, schedule: Schedule) -> pd.DataFrame:
    """The per-stop schedule as planners read it: clock times, waits, load, coordinates."""
    v = schedule.visits
    if v.empty:
        return v
    locs = [problem.locations[i] for i in v["location"]]
    return pd.DataFrame(
        {
            "depot": name,
            "vehicle": v["vehicle"],
            "vehicle_type": v["vehicle_type"],
            "trip": v["trip"],
            "seq": v["seq"],
            "kind": v["kind"],
            "name": v["name"],
            "arrive": v["arrive_s"].map(clock),
            "start": v["start_s"].map(clock),
            "end": v["end_s"].map(clock),
            "wait_min": (v["wait_s"] / 60).round(1),
            "load_kg": v["load_kg"],
            "lon": [loc.x for loc in locs],
            "lat": [loc.y for loc in locs],
            "start_s": v["start_s"],
            "end_s": v["end_s"],
        }
    )


def _report_drops(name: str, problem: RoutingProblem, drops: list[Drop]) -> None:
    """One run warning per problem that leaves stops unserved, with the reason of each."""
    if not drops:
        return
    hauls = name.endswith("(hauls)")
    what = "station loads" if hauls else "collection stops"
    kg = sum(problem.stops[d.stop].demand[0] for d in drops)
    parts = []
    for reason, text in _REASONS.items():
        these = [d for d in drops if d.reason == reason]
        if these:
            parts.append(f"{len(these)} because {text} (e.g. {these[0].detail})")
    warn(
        "route",
        "route.dropped_stops",
        f"{name}: {len(drops)} {what} ({kg:,} kg) left unserved: "
        + "; ".join(parts)
        + ". Add vehicles or lengthen shifts to serve them (each is listed in routing.csv with its reason).",
        ids=[problem.stops[d.stop].name for d in drops],
    )


def report_drop_audit(name: str, problem: RoutingProblem, solution: RouteSolution, *, stage: str = "route") -> None:
    """A run warning when the simulator's own check finds a stop left that a vehicle could have served, or could not
    check every stop left within its work limit (:func:`netplan.route.audit.audit_drops`).

    ``stage`` names the warnings' stage and code prefix (``route``, ``bookings``).
    """
    audit = solution.info.get("drop_audit")
    if not audit:
        return
    if audit["servable"]:
        first = audit["servable"][0]
        vt = problem.vehicle_types[first["vehicle_type"]]
        on = f"vehicle {vt.name}#{first['vehicle'] + 1}" if first["vehicle"] is not None else f"an unused {vt.name}"
        warn(
            stage,
            f"{stage}.servable_drops",
            f"{name}: {len(audit['servable'])} stop(s) left unserved that the schedule simulator accepts on a vehicle "
            f"for less than their drop penalty (e.g. {problem.stops[first['stop']].name!r} on {on}, "
            f"+{first['extra_cost'] / COST_UNITS_PER_CNY:,.2f} CNY): the search and the drop filler missed them; "
            f"raise {stage}.max_iterations, or report this plan",
            ids=[problem.stops[found["stop"]].name for found in audit["servable"]],
        )
    if audit["unchecked"]:
        warn(
            stage,
            f"{stage}.drop_audit_limit",
            f"{name}: the schedule simulator's check of the stops left reached its work limit after "
            f"{audit['checked']} of {audit['checked'] + audit['unchecked']} stops; the other "
            f"{audit['unchecked']} were not checked for a vehicle that could have served them",
            ids=[name],
        )


#: Drop reasons as the warning and routing.csv name them.
_REASONS = {
    "shift": "no vehicle has time in its shift or room in a trip",
    "window": "no vehicle can reach it in its window and return within its shift",
    "capacity": "heavier than every vehicle's capacity",
    "cost": "costs more to serve than its drop penalty",
}


def _summary(
    name: str, problem: RoutingProblem, solution: RouteSolution, schedule: Schedule, drops: list[Drop]
) -> dict[str, Any]:
    r = schedule.routes
    return {
        "depot": name,
        "stops": len(problem.stops),
        "served": len(problem.stops) - len(solution.dropped),
        "dropped": len(solution.dropped),
        "vehicles": int(len(r)),
        "trips": int(r["trips"].sum()) if len(r) else 0,
        "km": float(r["distance"].sum() / 1000) if len(r) else 0.0,
        "vehicle_hours": float(r["duration_h"].sum()) if len(r) else 0.0,
        "kg": float(
            sum(problem.stops[i].demand[0] for i in range(len(problem.stops)) if i not in set(solution.dropped))
        ),
        # No solve time here: the table must be the same on every run (the progress line shows the time).
        "engine": solution.engine,
        "iterations": solution.info.get("iterations"),
        "stopped_by": solution.info.get("stopped_by"),
        # vehicles the first search used, before the fleet rounds (route.fleet_rounds) cut them
        "vehicles_before_fleet_rounds": solution.info.get("fleet_vehicles", [None])[0],
        "feasible": solution.feasible,
        "dropped_stops": "; ".join(problem.stops[d.stop].name for d in drops) or None,
        "drop_reasons": "; ".join(f"{problem.stops[d.stop].name}: {d.reason}" for d in drops) or None,
    }


def trip_lines(name: str, schedule: Schedule, network: Any) -> list[dict[str, Any]]:
    """One row per vehicle trip: the roads it drove as a LineString (edge geometries), times, km and load.

    Shared by the collection day, the harvest day (``route/straw.py``) and the booking day (``route/bookings.py``).
    """
    legs, visits = schedule.legs, schedule.visits
    if legs.empty:
        return []
    graph = network.graph
    rows = []
    for vehicle, group in visits.groupby("vehicle", sort=False):
        vleg = legs[legs["vehicle"] == vehicle]
        for trip, tv in group.groupby("trip", sort=True):
            seqs = set(tv["seq"]) - {0}
            tlegs = vleg[vleg["seq"].isin(seqs)]
            coords: list[tuple[float, float]] = []
            for path in tlegs["path"]:
                for u, v in zip(path, path[1:]):
                    # The edge the travel profiles drove (the fastest, then the shortest), whatever the key order.
                    data = min(
                        graph.get_edge_data(u, v).values(),
                        key=lambda d: (float(d.get("travel_time", 0.0)), float(d.get("length", 0.0))),
                    )
                    geom = data.get("geometry")
                    pts = (
                        list(geom.coords)
                        if geom is not None
                        else [(graph.nodes[u]["x"], graph.nodes[u]["y"]), (graph.nodes[v]["x"], graph.nodes[v]["y"])]
                    )
                    coords.extend(pts if not coords else pts[1:])
            if len(coords) < 2:
                continue
            served = tv[tv["kind"] == "stop"]
            rows.append(
                {
                    "vehicle": f"{name}/{vehicle}",
                    "vehicle_type": tv["vehicle_type"].iloc[0],
                    "depot": name,
                    "trip": int(trip),
                    "stops": int(len(served)),
                    "load_kg": float(served["load_kg"].max() if len(served) else 0.0),
                    "km": float(tlegs["distance"].sum() / 1000),
                    "start": clock(tlegs["depart_s"].min()),
                    "end": clock(tlegs["arrive_s"].max()),
                    "duration_h": float((tlegs["arrive_s"].max() - tlegs["depart_s"].min()) / 3600),
                    "geometry": shapely.LineString(coords),
                }
            )
    return rows
