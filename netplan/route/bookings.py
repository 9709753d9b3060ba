"""The day's door-to-door booking routes: build, solve, check, report, and offer slots to the next caller.

Bookings (see :mod:`netplan.bookings`) become stops of a :class:`~netplan.route.problem.RoutingProblem` with two
capacity dimensions, kg and dm³ (litres, so that m³ stay integral), and the resident's slot as the only window in
which the crew may start at the door. Each booking van type serves some streams; streams and van types that share
vans form one *group*, routed as one problem, and every stream of a group must unload at the same destinations
(a bulky-waste station, a licensed e-waste dismantler, a transfer station). A van leaves its base, unloads at a
destination whenever it is full (multi-trip) and ends at a destination (its base when that is one). A trade-in
booking is a simultaneous pickup and delivery: the new appliance is loaded at the store, which must be the base of
the vans serving the stream, and such vans make one trip (PyVRP would load deliveries at every reload).

Crew cost enters as the van's cost per second (crew size x hourly wage); bookings are optional stops whose refusal
costs ``refuse_penalty_cny``, so an overbooked day still yields a plan, with each refused booking saying why.
Every plan is replayed by the schedule simulator on the road graph (kg and m³ checked per trip) before it is used.

:func:`offer_slots` answers the operator's question for a new caller: in which slots can this booking still be
served without moving any planned booking out of its slot? Each candidate insertion (every position of every
route, and an idle van) is screened by a forward pass over the route, and the first that passes is confirmed by
the simulator.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from netplan.city import City
from netplan.coords import to_wgs84
from netplan.diagnostics import warn
from netplan.errors import ScenarioError
from netplan.route import Depot, Interval, Location, RoutingProblem, Stop, VehicleType
from netplan.route.bans import RoadBans
from netplan.route.collection import report_drop_audit, trip_lines, warn_if_cut_short
from netplan.route.engines import solve
from netplan.route.problem import COST_UNITS_PER_CNY, RoutingInputError, clock
from netplan.route.roads import TravelProfiles
from netplan.route.simulate import RoadReplay, Schedule, simulate
from netplan.route.solution import Route, RouteSolution, Visit
from netplan.scenario import BookingsConfig, parse_interval

PROFILE = "van"
DIMENSIONS = ("kg", "dm3")


def slot_interval(text: str) -> Interval:
    """``HH:MM-HH:MM`` as an :class:`Interval` in seconds."""
    start, end = parse_interval(text)
    return Interval(start * 60, end * 60)


def booking_groups(config: BookingsConfig) -> list[tuple[list[str], list[int]]]:
    """Streams and van types routed together: the connected parts of "van type serves stream".

    Returns
    -------
    list of tuple
        ``(stream names, vehicle indices)`` per group, in the order of the first vehicle.

    Raises
    ------
    ScenarioError
        When a group's streams unload at different destinations, or a trade-in stream's vans are not based at its
        store.
    """
    parent = list(range(len(config.vehicles)))

    def find(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    first: dict[str, int] = {}
    for v, vehicle in enumerate(config.vehicles):
        for s in vehicle.streams:
            if s in first:
                parent[find(v)] = find(first[s])
            else:
                first[s] = v
    groups: dict[int, tuple[list[str], list[int]]] = {}
    for v, vehicle in enumerate(config.vehicles):
        streams, vans = groups.setdefault(find(v), ([], []))
        vans.append(v)
        streams.extend(s for s in vehicle.streams if s not in streams)
    out = list(groups.values())
    for streams, vans in out:
        dests = {tuple(sorted(config.streams[s].destinations)) for s in streams}
        if len(dests) > 1:
            raise ScenarioError(
                f"streams {streams} share vans but unload at different destinations {sorted(dests)}; "
                "give them separate vans",
                where="bookings.vehicles",
            )
        for s in streams:
            store = config.streams[s].store if config.streams[s].trade_in else None
            for v in vans:
                if store and s in config.vehicles[v].streams and config.vehicles[v].base != store:
                    raise ScenarioError(
                        f"van {config.vehicles[v].name!r} serves trade-in stream {s!r} but is based at "
                        f"{config.vehicles[v].base!r}, not at its store {store!r} where the new "
                        "appliances are loaded",
                        where="bookings.vehicles",
                    )
    for s in config.streams:
        if s not in first:
            raise ScenarioError(f"no van serves stream {s!r}", where="bookings.vehicles")
    return out


@dataclass
class BookingGroup:
    """One solved group: its problem, travel, solution, checked schedule and the booking behind each stop."""

    name: str
    problem: RoutingProblem
    travel: TravelProfiles
    solution: RouteSolution
    schedule: Schedule
    booking_index: list[int]
    crew: list[int]


@dataclass
class BookingPlan:
    """The day's booking service, checked.

    Attributes
    ----------
    bookings
        One row per booking: served (yes/no) and why not, vehicle, arrival, service start, in slot.
    routes
        One LineString per van trip along the roads.
    schedule
        One row per visit, simulated.
    kpis
        Served in slot, late, refused; vans, crews, km, crew-hours, per-booking km and minutes, m³ utilisation (the
        mean over trips of the fullest moment's m³ over the van's m³), per stream and per group.
    groups
        The solved groups (for slot offering and tests).
    """

    bookings: gpd.GeoDataFrame
    routes: gpd.GeoDataFrame
    schedule: pd.DataFrame
    kpis: dict[str, Any]
    groups: list[BookingGroup] = field(default_factory=list)
    bulky_stations: Any = None  # netplan.bulky_stations.BulkyStations when bookings.stations is set


def depot_points(config: BookingsConfig) -> gpd.GeoSeries:
    """The booking depots as WGS-84 points."""
    lon, lat = zip(*(to_wgs84(d.lon, d.lat, d.crs) for d in config.depots))
    return gpd.GeoSeries(gpd.points_from_xy(lon, lat), crs="EPSG:4326")


def build_group_problem(
    name: str,
    config: BookingsConfig,
    vans: list[int],
    depot_nodes: list[int],
    bookings: gpd.GeoDataFrame,
    booking_nodes: list[int],
    network,
    *,
    extra_nodes: Sequence[int] = (),
) -> tuple[RoutingProblem, TravelProfiles]:
    """The routing problem of one group of streams and vans (see the module docstring).

    Parameters
    ----------
    name
        Problem name.
    config
        The ``bookings`` section.
    vans
        Indices into ``config.vehicles``.
    depot_nodes
        Drive-graph node per booking depot.
    bookings
        The group's bookings (:data:`netplan.bookings.BOOKING_COLUMNS`).
    booking_nodes
        Drive-graph node per booking.
    network
        The drive network.
    extra_nodes
        More locations to include (a new caller's door, for slot offering); they get no stop.

    Returns
    -------
    tuple
        The validated problem (depots first, then one location per booking, then ``extra_nodes``) and its travel.
    """
    names = [d.name for d in config.depots]
    points = depot_points(config)
    locations = [
        Location(d.name, float(p.x), float(p.y), int(n)) for d, p, n in zip(config.depots, points, depot_nodes)
    ]
    for (_, b), node in zip(bookings.iterrows(), booking_nodes):
        locations.append(Location(str(b["booking_id"]), float(b.geometry.x), float(b.geometry.y), int(node)))
    locations += [Location(f"new {k}", 0.0, 0.0, int(node)) for k, node in enumerate(extra_nodes)]
    travel = TravelProfiles(
        network,
        [int(loc.node) for loc in locations if loc.node is not None],
        RoadBans([], network.graph),
        {PROFILE: []},
    )
    depots = []
    for d in config.depots:
        hours = slot_interval(d.hours)
        depots.append(Depot(d.name, names.index(d.name), opens=hours, turnaround_s=round(d.unload_min * 60)))
    penalty = round(config.refuse_penalty_cny * COST_UNITS_PER_CNY)
    stops = [booking_stop(b, location=len(depots) + k, penalty=penalty) for k, (_, b) in enumerate(bookings.iterrows())]
    streams = {s for v in vans for s in config.vehicles[v].streams}
    destinations = sorted({names.index(d) for s in streams for d in config.streams[s].destinations})
    trade_in = any(config.streams[s].trade_in for s in streams)
    types = []
    for v in vans:
        van = config.vehicles[v]
        base = names.index(van.base)
        end = base if base in destinations else destinations[0]
        types.append(
            VehicleType(
                name=van.name,
                count=van.count,
                capacity=(int(van.capacity_kg), round(van.capacity_m3 * 1000)),
                start_depot=base,
                end_depot=end,
                reload_depots=() if trade_in else tuple(destinations),
                shift=slot_interval(van.shift),
                fixed_cost=round(van.fixed_cost * COST_UNITS_PER_CNY),
                distance_cost=round(van.per_km_cost * COST_UNITS_PER_CNY / 1000),
                duration_cost=round(van.crew * van.crew_cost_per_hour * COST_UNITS_PER_CNY / 3600),
                profile=PROFILE,
            )
        )
    problem = RoutingProblem(
        locations=locations,
        profiles={PROFILE: travel.profile(PROFILE)},
        stops=stops,
        depots=depots,
        vehicle_types=types,
        dimensions=DIMENSIONS,
        name=name,
    )
    return problem.validate(), travel


def booking_stop(booking: pd.Series, *, location: int, penalty: int) -> Stop:
    """One booking as an optional stop whose only window is its slot."""
    delivery = (math.ceil(booking["delivery_kg"]), math.ceil(booking["delivery_m3"] * 1000))
    return Stop(
        name=str(booking["booking_id"]),
        location=location,
        demand=(math.ceil(booking["kg"]), math.ceil(booking["m3"] * 1000)),
        service_s=round(booking["service_min"] * 60),
        windows=(slot_interval(str(booking["slot"])),),
        required=False,
        penalty=penalty,
        delivery=delivery if any(delivery) else (),
    )


def _replay(travel: TravelProfiles) -> RoadReplay:
    return RoadReplay(
        RoadBans([], travel.network.graph),
        lambda u, v: travel.edge_time[(u, v)],
        lambda u, v: travel.edge_length[(u, v)],
        travel.path,
    )


def group_problems(city: City, bookings: gpd.GeoDataFrame, config: BookingsConfig):
    """Yield ``(name, van indices, booking positions, problem, travel)`` for every group with bookings.

    Bookings are snapped to the drive graph; those farther than 500 m from it go to the run's warnings.
    """
    network = city.network("drive")
    depot_nodes = [int(n) for n in network.snap(depot_points(config)).node]
    nodes: list[int] = []
    if len(bookings):
        snapped = network.snap(bookings.geometry)
        nodes = [int(n) for n in snapped.node]
        far = ~np.asarray(snapped.ok, dtype=bool)
        if far.any():
            warn(
                "bookings",
                "far_from_road",
                f"{int(far.sum())} booking(s) lie more than 500 m from a drivable road; "
                "they are served from the nearest one",
                ids=bookings["booking_id"].to_numpy()[far].tolist(),
            )
    for streams, vans in booking_groups(config):
        name = "+".join(streams)
        mine = np.flatnonzero(bookings["stream"].isin(streams).to_numpy())
        if len(mine) == 0:
            continue
        problem, travel = build_group_problem(
            name, config, vans, depot_nodes, bookings.iloc[mine], [nodes[i] for i in mine], network
        )
        yield name, vans, mine, problem, travel


def plan_bookings(
    city: City,
    bookings: gpd.GeoDataFrame,
    config: BookingsConfig,
    *,
    seed: int,
    progress: Callable[[str], None] = lambda _: None,
) -> BookingPlan:
    """Route a day of bookings and check it (see the module docstring).

    Parameters
    ----------
    city
        The loaded city (drive graph).
    bookings
        The day's bookings (:func:`netplan.bookings.read_bookings` or :func:`~netplan.bookings.generate_bookings`).
    config
        The scenario's ``bookings`` section.
    seed
        Solver seed (with ``max_iterations``, the same plan in any process).
    progress
        Called with one line per solved group.

    Returns
    -------
    BookingPlan
        Bookings with their outcome, routes, schedule and KPIs.
    """
    # what does not apply (the van of a refused booking, why a served one was refused) is a null, never ""
    outcome = pd.DataFrame(
        {
            "served": "no",
            "why_not": "no van serves its stream",
            "vehicle": None,
            "arrival": None,
            "start": None,
            "in_slot": False,
        },
        index=bookings.index,
    )
    groups: list[BookingGroup] = []
    schedules = []
    geoms: list[dict[str, Any]] = []
    network = city.network("drive")
    for name, vans, mine, problem, travel in group_problems(city, bookings, config):
        solution = solve_day(
            problem,
            engine=config.engine,
            time_limit_s=config.time_limit_s,
            seed=seed,
            max_iterations=config.max_iterations,
        )
        warn_if_cut_short(
            name, solution, time_limit_s=config.time_limit_s, iterations=config.max_iterations, section="bookings"
        )
        schedule = simulate(problem, solution, roads=_replay(travel))
        schedule.raise_if_violations()
        crew = [config.vehicles[v].crew for v in vans]
        groups.append(BookingGroup(name, problem, travel, solution, schedule, [int(i) for i in mine], crew))
        progress(
            f"      {name}: {len(problem.stops)} bookings, {solution.num_vehicles} vans, "
            f"{len(solution.dropped)} refused ({solution.runtime_s:.1f} s, {solution.info.get('iterations')} it)"
        )
        visits = schedule.visits
        if not visits.empty:
            for _, row in visits[visits["kind"] == "stop"].iterrows():
                k = bookings.index[mine[int(row["index"])]]
                slot = problem.stops[int(row["index"])].windows[0]
                outcome.loc[k, ["served", "why_not", "vehicle", "arrival", "start", "in_slot"]] = [
                    "yes",
                    None,
                    f"{name}/{row['vehicle']}",
                    clock(row["arrive_s"]),
                    clock(row["start_s"]),
                    bool(slot.start <= row["start_s"] <= slot.end),
                ]
        for s in solution.dropped:
            outcome.loc[bookings.index[mine[s]], "why_not"] = _why_refused(problem, problem.stops[s])
        report_drop_audit(name, problem, solution, stage="bookings")
        if solution.dropped:
            warn(
                "bookings",
                "refused",
                f"{name}: {len(solution.dropped)} of {len(problem.stops)} bookings refused "
                "(bookings.csv says why); add vans or longer shifts",
                ids=[problem.stops[s].name for s in solution.dropped],
            )
        schedules.append(visits.assign(group=name))
        # the collection day's trip lines (along the edges' own geometry), named as a booking group's
        geoms.extend(
            {
                **{k: v for k, v in line.items() if k not in ("depot", "stops", "load_kg")},
                "group": name,
                "bookings": line["stops"],
            }
            for line in trip_lines(name, schedule, network)
        )
    table = gpd.GeoDataFrame(
        pd.concat([bookings.drop(columns="geometry"), outcome], axis=1), geometry=bookings.geometry, crs="EPSG:4326"
    )
    routes = (
        gpd.GeoDataFrame(geoms, geometry="geometry", crs="EPSG:4326")
        if geoms
        else gpd.GeoDataFrame({"vehicle": [], "geometry": []}, geometry="geometry", crs="EPSG:4326")
    )
    schedule = pd.concat(schedules, ignore_index=True) if schedules else pd.DataFrame()
    return BookingPlan(table, routes, schedule, booking_kpis(table, groups), groups)


def solve_day(
    problem: RoutingProblem,
    *,
    engine: str = "pyvrp",
    time_limit_s: float = 60.0,
    seed: int = 0,
    max_iterations: int | None = None,
) -> RouteSolution:
    """Solve a day of optional bookings, retrying refusals as required bookings.

    PyVRP inserts a left-out optional client only into an existing trip, never together with a new unload, so a
    van that could serve a refused booking after one more trip to the station may be left short. When the first
    search refuses bookings, a second one makes every booking that some van could serve on its own required; its
    routes are kept when the simulator accepts them and they cost less than the first routes with their refusals.
    Both searches are bounded by ``max_iterations``, so the result is reproducible.

    Returns
    -------
    RouteSolution
        The cheaper of the two, for ``problem``.
    """
    first = solve(problem, engine, time_limit_s=time_limit_s, seed=seed, max_iterations=max_iterations)
    if not first.dropped:
        return first
    servable = []
    for stop in problem.stops:
        try:
            problem._check_servable(replace(stop, required=True))
            servable.append(replace(stop, required=True))
        except RoutingInputError:
            servable.append(stop)
    strict = replace(problem, stops=servable)
    second = solve(strict, engine, time_limit_s=time_limit_s, seed=seed, max_iterations=max_iterations)
    penalty = sum(problem.stops[i].penalty for i in second.dropped)
    if second.feasible and second.cost + penalty < first.cost and simulate(problem, second).ok:
        second.info["retried_refusals"] = len(first.dropped)
        second.cost += penalty
        return second
    return first


def _why_refused(problem: RoutingProblem, stop: Stop) -> str:
    try:
        problem._check_servable(replace(stop, required=True))
    except RoutingInputError:
        return "no van can reach it within its slot and get back within its shift, or it exceeds every van"
    return "no van has time or room left in its slot"


def booking_kpis(table: pd.DataFrame, groups: list[BookingGroup]) -> dict[str, Any]:
    """The day's service level and cost drivers (see :class:`BookingPlan`)."""
    n = len(table)
    served = int((table["served"] == "yes").sum())
    in_slot = int(((table["served"] == "yes") & table["in_slot"].astype(bool)).sum())
    vans = crew_members = 0
    km = van_hours = crew_hours = 0.0
    util: list[float] = []
    per_group: dict[str, dict[str, Any]] = {}
    for g in groups:
        r = g.schedule.routes
        if r.empty:
            continue
        vans += len(r)
        crews = [g.crew[t] for t in r["type_index"]]
        crew_members += int(sum(crews))
        km += float(r["distance"].sum()) / 1000
        van_hours += float(r["duration_h"].sum())
        crew_hours += float((r["duration_h"] * crews).sum())
        v = g.schedule.visits
        stops = v[v["kind"] == "stop"]
        mine = []
        for _key, trip in stops.groupby(["vehicle", "trip"], sort=True):
            t = int(trip["vehicle_type"].map({vt.name: k for k, vt in enumerate(g.problem.vehicle_types)}).iloc[0])
            mine.append(float(trip["load_dm3"].max()) / g.problem.vehicle_types[t].capacity[1])
        util += mine
        per_group[g.name] = {
            "vans": len(r),
            "trips": len(mine),
            "km": round(float(r["distance"].sum()) / 1000, 2),
            "crew_hours": round(float((r["duration_h"] * crews).sum()), 2),
            "m3_utilisation": round(float(np.mean(mine)), 3) if mine else None,
        }
    per_stream = {
        s: {
            "bookings": int((table["stream"] == s).sum()),
            "served": int(((table["stream"] == s) & (table["served"] == "yes")).sum()),
        }
        for s in sorted(table["stream"].unique())
    }
    return {
        "bookings": n,
        "served": served,
        "served_in_slot": in_slot,
        "late": served - in_slot,
        "refused": n - served,
        "share_in_slot": round(in_slot / n, 4) if n else None,
        "vans": vans,
        "crews": vans,
        "crew_members": crew_members,
        "km": round(km, 2),
        "van_hours": round(van_hours, 2),
        "crew_hours": round(crew_hours, 2),
        "km_per_booking": round(km / served, 3) if served else None,
        "van_minutes_per_booking": round(60 * van_hours / served, 1) if served else None,
        "m3_utilisation": round(float(np.mean(util)), 3) if util else None,
        "streams": per_stream,
        "groups": per_group,
    }


# --- slot offering -------------------------------------------------------------------------------------------------


def _deliveries(p: RoutingProblem, visits: list[Visit], k: int) -> np.ndarray:
    """What the van carries out of the depot at ``visits[k]``: the deliveries of the trip that starts there."""
    load = np.zeros(len(p.dimensions))
    for v in visits[k + 1 :]:
        if v.kind == "depot":
            break
        if p.stops[v.index].delivery:
            load += p.stops[v.index].delivery
    return load


def _serve_stop(
    stop: Stop, vt: VehicleType, horizon: Interval, t: float, load: np.ndarray, cap: np.ndarray
) -> tuple[float, np.ndarray] | None:
    """Arrive at ``stop`` at ``t`` (wait for its window to open) and swap its loads: the time it is left and the
    van's load then, or None when its windows have all closed or the van would overflow."""
    pieces = stop.allowed(vt.profile, horizon)
    opening = next((w for w in pieces if t <= w.end), None)
    if opening is None:
        return None
    t = max(t, float(opening.start)) + stop.service_s
    if stop.delivery:
        load = load - np.asarray(stop.delivery, dtype=float)
    load = load + np.asarray(stop.demand, dtype=float)
    if (load > cap).any():
        return None
    return t, load


def _route_fits(problem: RoutingProblem, vehicle_type: int, visits: list[Visit]) -> bool:
    """Forward pass over one route on the problem's matrices: windows, depot hours, shift end and load per trip.

    Mirrors the simulator's driving policy (leave as soon as done, wait at the door for the slot to open) so that
    it can screen insertions cheaply; the simulator has the last word.
    """
    p = problem
    vt = p.vehicle_types[vehicle_type]
    dur = p.profiles[vt.profile].duration
    start = p.depots[visits[0].index]
    t = float(max(vt.shift.start, start.opens.start)) + start.turnaround_s
    if t > start.opens.end:
        return False

    def loc(v: Visit) -> int:
        return p.stops[v.index].location if v.kind == "stop" else p.depots[v.index].location

    cap = np.asarray(vt.capacity, dtype=float)
    load = _deliveries(p, visits, 0)
    if (load > cap).any():
        return False
    for k in range(1, len(visits)):
        t += float(dur[loc(visits[k - 1]), loc(visits[k])])
        v = visits[k]
        if v.kind == "stop":
            served = _serve_stop(p.stops[v.index], vt, p.horizon, t, load, cap)
            if served is None:
                return False
            t, load = served
        else:
            depot = p.depots[v.index]
            t = max(t, float(depot.opens.start)) + depot.turnaround_s
            if t > depot.opens.end:
                return False
            if k < len(visits) - 1:
                if v.index not in vt.reload_depots:
                    return False
                load = _deliveries(p, visits, k)
                if (load > cap).any():
                    return False
    return t <= vt.shift.end


def _candidates(problem: RoutingProblem, solution: RouteSolution, new: int):
    """Every insertion of stop ``new``: into each position of each route, and as an idle van's only booking."""
    used = {(r.vehicle_type, r.vehicle) for r in solution.routes}
    for r, route in enumerate(solution.routes):
        visits = [Visit(v.kind, v.index) for v in route.visits]
        for pos in range(1, len(visits)):
            yield r, route.vehicle_type, route.vehicle, visits[:pos] + [Visit("stop", new)] + visits[pos:]
    for t, vt in enumerate(problem.vehicle_types):
        idle = next((k for k in range(vt.count) if (t, k) not in used), None)
        if idle is not None:
            yield None, t, idle, [Visit("depot", vt.start_depot), Visit("stop", new), Visit("depot", vt.end_depot)]


def _confirm(problem: RoutingProblem, candidate, roads: RoadReplay | None) -> bool:
    """Simulate the one route the insertion changes; the others are untouched and vans share nothing else."""
    _, t, k, visits = candidate
    route = Route(t, k, tuple(visits))
    served = set(route.stops())
    trial = RouteSolution(
        routes=[route],
        dropped=[i for i in range(len(problem.stops)) if i not in served],
        cost=0.0,
        engine="insertion",
        runtime_s=0.0,
        feasible=True,
    )
    return simulate(problem, trial, roads=roads).ok


def offer_slots(
    problem: RoutingProblem,
    solution: RouteSolution,
    *,
    location: int,
    demand: tuple[int, ...],
    service_s: int,
    slots: list[Interval],
    delivery: tuple[int, ...] = (),
    roads: RoadReplay | None = None,
    brute_force: bool = False,
) -> list[Interval]:
    """The slots in which a new booking can still be served without moving any planned booking out of its slot.

    A slot is open when the booking can be inserted somewhere in the day's routes (any position of any route, or
    an idle van) so that the route it joins still passes the schedule simulator (the other routes are unchanged:
    vans share no resource but the roads). Candidates are screened by a forward
    pass (:func:`_route_fits`) and the first that passes is confirmed by the simulator; with ``brute_force`` every
    candidate goes to the simulator unscreened (for tests).

    Parameters
    ----------
    problem, solution
        The day's problem and its (checked) routes.
    location
        Index of the new booking's door in ``problem.locations``.
    demand, service_s, delivery
        The new booking's load (kg, dm³), door time and delivery (trade-in).
    slots
        The slots that could be offered.
    roads
        Replay on the road graph for the confirmation (matrices when None).
    brute_force
        Check every insertion with the simulator only.

    Returns
    -------
    list of Interval
        The open slots, in the order given.
    """
    open_slots = []
    for slot in slots:
        stop = Stop(
            name="new booking",
            location=location,
            demand=tuple(demand),
            service_s=int(service_s),
            windows=(slot,),
            required=False,
            delivery=tuple(delivery),
        )
        trial = replace(problem, stops=list(problem.stops) + [stop])
        new = len(problem.stops)
        base = RouteSolution(
            routes=solution.routes,
            dropped=list(solution.dropped) + [new],
            cost=0.0,
            engine=solution.engine,
            runtime_s=0.0,
            feasible=True,
        )
        for candidate in _candidates(trial, base, new):
            if not brute_force and not _route_fits(trial, candidate[1], candidate[3]):
                continue
            if _confirm(trial, candidate, roads):
                open_slots.append(slot)
                break
    return open_slots


def offer_for_plan(
    plan: BookingPlan,
    config: BookingsConfig,
    city: City,
    *,
    lon: float,
    lat: float,
    stream: str,
    crs: str = "wgs84",
    kg: float | None = None,
    m3: float | None = None,
    service_min: float | None = None,
) -> list[str]:
    """:func:`offer_slots` for a caller at ``lon``/``lat`` booking ``stream`` on a planned day.

    The caller's door is added to its group's travel profiles (one more location), the day's routes are kept, and
    the open slots among ``config.slots`` are returned as ``HH:MM-HH:MM`` strings.
    """
    if stream not in config.streams:
        raise ScenarioError(f"unknown stream {stream!r} (booking streams: {sorted(config.streams)})", where="stream")
    spec = config.streams[stream]
    network = city.network("drive")
    x, y = to_wgs84(lon, lat, crs)
    door = int(network.snap(gpd.GeoSeries([shapely.Point(x, y)], crs="EPSG:4326")).node[0])
    streams, vans = next(g for g in booking_groups(config) if stream in g[0])
    group = next((g for g in plan.groups if g.name == "+".join(streams)), None)
    booking = pd.Series(
        {
            "booking_id": "new",
            "kg": kg or spec.kg,
            "m3": m3 or spec.m3,
            "slot": config.slots[0],
            "service_min": service_min or spec.service_min,
            "delivery_kg": spec.delivery_kg if spec.trade_in else 0.0,
            "delivery_m3": spec.delivery_m3 if spec.trade_in else 0.0,
        }
    )
    depot_nodes = [int(n) for n in network.snap(depot_points(config)).node]
    if group is None:  # nobody booked this stream yet: an empty day of its vans
        sub = plan.bookings.iloc[:0]
        problem, travel = build_group_problem(
            "+".join(streams), config, vans, depot_nodes, sub, [], network, extra_nodes=[door]
        )
        solution = RouteSolution([], [], 0.0, "none", 0.0, True)
    else:
        nodes = [int(loc.node) for loc in group.problem.locations[len(config.depots) :] if loc.node is not None]
        sub = plan.bookings.iloc[group.booking_index]
        problem, travel = build_group_problem(
            group.name, config, vans, depot_nodes, sub, nodes, network, extra_nodes=[door]
        )
        solution = group.solution
    stop = booking_stop(booking, location=len(problem.locations) - 1, penalty=0)
    slots = offer_slots(
        problem,
        solution,
        location=stop.location,
        demand=stop.demand,
        service_s=stop.service_s,
        delivery=stop.delivery,
        slots=[slot_interval(s) for s in config.slots],
        roads=_replay(travel),
    )
    return [str(s) for s in slots]


def open_slot_table(plan: BookingPlan, config: BookingsConfig, *, sample: int = 10) -> pd.DataFrame:
    """The slots still open to a next caller, per stream, at sample doors: next door to some of the day's bookings.

    For each stream, up to ``sample`` of its bookings (evenly spread over the bookings sorted by id) stand for a
    neighbour calling with a booking of the stream's default size; every slot is offered or not by
    :func:`offer_slots` (confirmed on the road graph by the simulator).

    Returns
    -------
    pandas.DataFrame
        One row per stream, sample door and slot: ``stream``, ``next_to`` (booking id), ``lon``, ``lat``, ``slot``,
        ``open``.
    """
    rows = []
    slots = [slot_interval(s) for s in config.slots]
    for group in plan.groups:
        ids = plan.bookings.iloc[group.booking_index]
        for stream in sorted(ids["stream"].unique()):
            spec = config.streams[stream]
            mine = sorted((str(b), k) for k, b in enumerate(ids["booking_id"]) if ids["stream"].iloc[k] == stream)
            picks = [mine[i] for i in sorted({int(j) for j in np.linspace(0, len(mine) - 1, min(sample, len(mine)))})]
            template = booking_stop(
                pd.Series(
                    {
                        "booking_id": "new",
                        "kg": spec.kg,
                        "m3": spec.m3,
                        "slot": config.slots[0],
                        "service_min": spec.service_min,
                        "delivery_kg": spec.delivery_kg if spec.trade_in else 0.0,
                        "delivery_m3": spec.delivery_m3 if spec.trade_in else 0.0,
                    }
                ),
                location=0,
                penalty=0,
            )
            for name, k in picks:
                stop = group.problem.stops[k]
                offered = offer_slots(
                    group.problem,
                    group.solution,
                    location=stop.location,
                    demand=template.demand,
                    service_s=template.service_s,
                    delivery=template.delivery,
                    slots=slots,
                    roads=_replay(group.travel),
                )
                loc = group.problem.locations[stop.location]
                rows += [
                    {
                        "stream": stream,
                        "next_to": name,
                        "lon": loc.x,
                        "lat": loc.y,
                        "slot": str(s),
                        "open": s in offered,
                    }
                    for s in slots
                ]
    return pd.DataFrame(rows, columns=["stream", "next_to", "lon", "lat", "slot", "open"])


# --- service level and fleet size ------------------------------------------------------------------------------------


def share_fleet_counts(counts: list[int], n: int) -> list[int]:
    """``n`` vans shared over van types in proportion to their configured ``counts`` (largest remainder, ties to the
    first type), never more of a type than configured."""
    total = sum(counts)
    n = max(0, min(n, total))
    exact = [c * n / total for c in counts]
    out = [math.floor(e) for e in exact]
    order = sorted(range(len(counts)), key=lambda t: (-(exact[t] - out[t]), t))
    for t in order[: n - sum(out)]:
        out[t] += 1
    return out


def fewest_vans(
    problem: RoutingProblem,
    *,
    target: float = 0.95,
    seed: int = 0,
    max_iterations: int | None = None,
    time_limit_s: float = 60.0,
) -> tuple[int | None, float, RoutingProblem, RouteSolution | None]:
    """The fewest vans (shared over the problem's van types as configured) that serve ``target`` of its bookings.

    Bisection on the number of vans, each count solved with :func:`solve_day`; it assumes that more vans never serve
    fewer bookings, which holds for the optimum and, with a fixed seed and iteration budget, usually for the search.

    Returns
    -------
    tuple
        The fewest vans (None when even the whole fleet falls short), the share served with them (or with the whole
        fleet), the problem restricted to those vans and its solution.
    """
    counts = [vt.count for vt in problem.vehicle_types]
    memo: dict[int, tuple[float, RoutingProblem, RouteSolution]] = {}

    def served(n: int) -> tuple[float, RoutingProblem, RouteSolution]:
        if n not in memo:
            shared = share_fleet_counts(counts, n)
            fleet = [replace(vt, count=c) for vt, c in zip(problem.vehicle_types, shared) if c > 0]
            trial = replace(problem, vehicle_types=fleet)
            solution = solve_day(trial, seed=seed, max_iterations=max_iterations, time_limit_s=time_limit_s)
            memo[n] = (1 - len(solution.dropped) / len(problem.stops), trial, solution)
        return memo[n]

    if not problem.stops:
        return 0, 1.0, problem, None
    hi = sum(counts)
    if served(hi)[0] < target:
        return None, *served(hi)
    lo = 1
    while lo < hi:
        mid = (lo + hi) // 2
        if served(mid)[0] >= target:
            hi = mid
        else:
            lo = mid + 1
    return hi, *served(hi)
