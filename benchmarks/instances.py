"""Readers turning published VRPTW benchmark files into :class:`~netplan.route.problem.RoutingProblem`s.

Two file layouts are read:

- the **Solomon text layout** (Solomon 1987, Gehring & Homberger 1999): a
  header with the fleet (``NUMBER CAPACITY``), then one row per node, the
  depot first (``CUST NO. XCOORD. YCOORD. DEMAND READY TIME DUE DATE SERVICE
  TIME``) — :func:`read_solomon`;
- **VRPLIB**, read with the ``vrplib`` package (``NODE_COORD_SECTION`` or
  an explicit ``EDGE_WEIGHT_SECTION``, ``DEMAND_SECTION``,
  ``TIME_WINDOW_SECTION``, ``SERVICE_TIME_SECTION`` or a ``SERVICE_TIME``
  header value, ``RELEASE_TIME_SECTION``, ``VEHICLES_RELOAD_DEPOT_SECTION``,
  ``VEHICLES_DEPOT_SECTION``, ``VEHICLES_MAX_DURATION``, ``DEPOT_SECTION``)
  as used by PyVRP/Instances for the Homberger 1000, multi-trip and
  multi-depot sets — :func:`read_vrplib`. Each vehicle starts and ends at
  its ``VEHICLES_DEPOT_SECTION`` depot (one vehicle type per depot).

Both go through :class:`BenchmarkInstance` (the file's numbers in its own
units, double precision) and :func:`to_problem`, which builds the integer
problem: distance = Euclidean distance x ``scale``, rounded (``"round"``,
nearest integer, as PyVRP's ``round_func="exact"`` with scale 1000) or
truncated (``"trunc"``, the DIMACS convention with scale 10, as PyVRP's
``round_func="dimacs"``); travel time = distance; time windows, service
times and the horizon (the depot's window) are multiplied by ``scale``.

Reference values: :func:`read_bks_csv` (``bks.csv`` of the Solomon and
Homberger-200 folders), :func:`read_vrplib_solution` (VRPLIB ``.sol``:
``Route #k: ...`` lines and the cost) and :func:`read_solomon_solution`
(SINTEF ``.sol`` files of the Homberger-200 BKS). :func:`solution_from_routes`
turns published routes into a :class:`~netplan.route.solution.RouteSolution`
so that :func:`netplan.route.simulate.simulate` can check them, and
:func:`route_length` recomputes a route set's length in double precision
from the coordinates, independently of any rounding.

Release dates (multi-trip set): a stop's release time is the earliest time
at which the vehicle may *leave the depot* on the trip that serves it;
:func:`to_problem` puts it in :attr:`~netplan.route.problem.Stop.release_s`
(the simulator and the PyVRP engine honour it), and
:func:`release_violations` checks a route set against them independently.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import vrplib

from netplan.route.problem import (
    Depot,
    Interval,
    Location,
    Profile,
    RoutingInputError,
    RoutingProblem,
    Stop,
    VehicleType,
)
from netplan.route.solution import Route, RouteSolution, Visit

Rounding = Literal["round", "trunc"]


@dataclass
class BenchmarkInstance:
    """A VRPTW benchmark instance in its file's own units (double precision).

    Node 0..``num_depots - 1`` are depots, the rest customers, in file order.

    Attributes
    ----------
    name
        Instance name.
    coords
        ``(n, 2)`` coordinates.
    demand, ready, due, service, release
        Per node (depots: 0 demand, 0 service, their opening window).
    vehicles
        Fleet size given by the file.
    capacity
        Vehicle capacity.
    num_depots
        Number of depots (the first nodes).
    reload_depots
        Per vehicle, the depots (0-based) where it may reload; empty tuples
        mean single-trip routes.
    vehicle_depots
        Per vehicle, the depot (0-based) where it starts and ends; empty
        means depot 0 for every vehicle.
    max_duration
        Longest route duration, if limited.
    explicit
        The file's distance matrix (``EDGE_WEIGHT_TYPE: EXPLICIT``); None
        for Euclidean distances from ``coords``.
    """

    name: str
    coords: np.ndarray
    demand: np.ndarray
    ready: np.ndarray
    due: np.ndarray
    service: np.ndarray
    vehicles: int
    capacity: int
    num_depots: int = 1
    release: np.ndarray | None = None
    reload_depots: list[tuple[int, ...]] = field(default_factory=list)
    vehicle_depots: list[int] = field(default_factory=list)
    max_duration: float | None = None
    explicit: np.ndarray | None = None

    def distances(self) -> np.ndarray:
        """Double-precision distances: the explicit matrix, or Euclidean from the coordinates."""
        return self.explicit if self.explicit is not None else self.euclidean()

    def depot_of(self, vehicle: int) -> int:
        """Start and end depot of vehicle ``vehicle`` (0-based)."""
        return self.vehicle_depots[vehicle] if vehicle < len(self.vehicle_depots) else 0

    @property
    def num_customers(self) -> int:
        """Customers (nodes that are not depots)."""
        return len(self.coords) - self.num_depots

    def euclidean(self) -> np.ndarray:
        """Double-precision Euclidean distance matrix."""
        diff = self.coords[:, None, :] - self.coords[None, :, :]
        return np.sqrt((diff**2).sum(axis=2))

    @property
    def has_release(self) -> bool:
        """Whether some customer has a positive release time."""
        return self.release is not None and bool(np.any(self.release > 0))


# --- parsers ---------------------------------------------------------------------------------------------------


def parse_solomon(path: str | Path) -> BenchmarkInstance:
    """Read a file in the Solomon text layout (also used by Gehring & Homberger).

    Parameters
    ----------
    path
        The instance file (CRLF or LF line endings).

    Returns
    -------
    BenchmarkInstance
        The instance; the depot is node 0.
    """
    path = Path(path)
    lines = path.read_text().splitlines()
    tokens = [line.split() for line in lines]
    name = next((t[0] for t in tokens if t), path.stem)
    vehicles = capacity = None
    rows: list[list[float]] = []
    for i, tok in enumerate(tokens):
        if [t.upper() for t in tok[:2]] == ["NUMBER", "CAPACITY"]:
            nxt = next(t for t in tokens[i + 1 :] if t)
            vehicles, capacity = int(nxt[0]), int(float(nxt[1]))
        elif len(tok) == 7 and all(_is_number(t) for t in tok):
            rows.append([float(t) for t in tok])
    if vehicles is None or not rows:
        raise RoutingInputError(f"{path}: not in the Solomon layout (no NUMBER CAPACITY header or no node rows)")
    data = np.array(rows)
    if not np.array_equal(data[:, 0], np.arange(len(data))):
        raise RoutingInputError(f"{path}: node rows must be numbered 0, 1, 2, ... in order")
    return BenchmarkInstance(
        name=name,
        coords=data[:, 1:3],
        demand=data[:, 3],
        ready=data[:, 4],
        due=data[:, 5],
        service=data[:, 6],
        vehicles=vehicles,
        capacity=capacity,
        num_depots=1,
    )


def parse_vrplib(path: str | Path) -> BenchmarkInstance:
    """Read a VRPLIB (CVRPLIB / PyVRP Instances) VRPTW file with the ``vrplib`` package.

    Uses the header values ``NAME``, ``VEHICLES``, ``CAPACITY``,
    ``SERVICE_TIME`` (uniform service time of the customers),
    ``VEHICLES_MAX_DURATION`` and ``EDGE_WEIGHT_TYPE`` (``EUC_2D``: distances
    from the coordinates; ``EXPLICIT``: the file's ``EDGE_WEIGHT_SECTION``
    in any format ``vrplib`` reads) and the sections ``NODE_COORD_SECTION``
    (optional with explicit weights), ``DEMAND_SECTION``,
    ``TIME_WINDOW_SECTION``, ``SERVICE_TIME_SECTION``,
    ``RELEASE_TIME_SECTION``, ``VEHICLES_RELOAD_DEPOT_SECTION``,
    ``VEHICLES_DEPOT_SECTION`` (each vehicle's start and end depot) and
    ``DEPOT_SECTION``. Depots must be the first nodes.

    Parameters
    ----------
    path
        The ``.vrp`` file.

    Returns
    -------
    BenchmarkInstance
        The instance.
    """
    path = Path(path)
    try:
        data = vrplib.read_instance(str(path), compute_edge_weights=False)
    except (ValueError, IndexError, KeyError) as exc:
        raise RoutingInputError(f"{path}: not a readable VRPLIB instance ({exc})") from exc
    weight_type = str(data.get("edge_weight_type", "EUC_2D")).upper()
    if weight_type not in ("EUC_2D", "EXPLICIT"):
        raise RoutingInputError(f"{path}: EDGE_WEIGHT_TYPE {weight_type} not supported (EUC_2D or EXPLICIT)")
    explicit = np.asarray(data["edge_weight"], dtype=float) if weight_type == "EXPLICIT" else None
    if explicit is None and "node_coord" not in data:
        raise RoutingInputError(f"{path}: no NODE_COORD_SECTION")
    for need in ("demand", "time_window"):
        if need not in data:
            raise RoutingInputError(f"{path}: no {need.upper()}_SECTION")
    n = int(data.get("dimension", len(data["demand"])))
    coords = np.asarray(data["node_coord"], dtype=float) if "node_coord" in data else np.zeros((n, 2))
    depot_ids = [int(d) for d in np.atleast_1d(data.get("depot", [0]))]  # vrplib makes them 0-based
    num_depots = len(depot_ids)
    if sorted(depot_ids) != list(range(num_depots)):
        raise RoutingInputError(f"{path}: depots must be the first nodes, got {[d + 1 for d in depot_ids]}")
    service_value = data.get("service_time", 0)
    if np.ndim(service_value):
        service = np.asarray(service_value, dtype=float)
    else:
        service = np.full(n, float(service_value))
        service[:num_depots] = 0.0
    tw = np.asarray(data["time_window"], dtype=float)
    release = np.asarray(data["release_time"], dtype=float) if "release_time" in data else None
    vehicles = int(data.get("vehicles", n - num_depots))
    reload: list[tuple[int, ...]] = []
    if "vehicles_reload_depot" in data:
        # One row per vehicle (1-based depot numbers): a scalar per row, or a list when several.
        rows = list(data["vehicles_reload_depot"])
        reload = [tuple(int(v) - 1 for v in np.atleast_1d(rows[k])) if k < len(rows) else () for k in range(vehicles)]
    homes: list[int] = []
    if "vehicles_depot" in data:
        homes = [int(v) - 1 for v in np.atleast_1d(data["vehicles_depot"])]
        if len(homes) != vehicles or any(not 0 <= h < num_depots for h in homes):
            raise RoutingInputError(
                f"{path}: VEHICLES_DEPOT_SECTION must give one depot (1..{num_depots}) for each "
                f"of the {vehicles} vehicles"
            )
    duration = data.get("vehicles_max_duration")
    if duration is not None and np.ndim(duration):
        if len(set(np.atleast_1d(duration).tolist())) > 1:
            raise RoutingInputError(f"{path}: VEHICLES_MAX_DURATION differing per vehicle is not supported")
        duration = np.atleast_1d(duration)[0]
    return BenchmarkInstance(
        name=str(data.get("name", path.stem)),
        coords=coords,
        demand=np.asarray(data["demand"], dtype=float),
        ready=tw[:, 0],
        due=tw[:, 1],
        service=service,
        vehicles=vehicles,
        capacity=int(float(data["capacity"])),
        num_depots=num_depots,
        release=release,
        reload_depots=reload,
        vehicle_depots=homes,
        max_duration=None if duration is None else float(duration),
        explicit=explicit,
    )


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# --- to a RoutingProblem -----------------------------------------------------------------------------------------


def scaled_matrix(inst: BenchmarkInstance, scale: float, rounding: Rounding) -> np.ndarray:
    """Integer distance matrix: the instance's distance (Euclidean or explicit) x ``scale``, rounded or truncated."""
    d = inst.distances() * scale
    if rounding == "round":
        return np.round(d).astype(np.int64)
    if rounding == "trunc":
        return d.astype(np.int64)  # exactly PyVRP's "dimacs" rounding: (10 * vals).astype(int64)
    raise ValueError(f"rounding must be 'round' or 'trunc', got {rounding!r}")


def to_problem(
    inst: BenchmarkInstance,
    scale: float = 1000,
    rounding: Rounding = "round",
    vehicles: int | None = None,
    reload: bool | None = None,
) -> RoutingProblem:
    """Build the integer :class:`RoutingProblem` of a benchmark instance.

    Parameters
    ----------
    inst
        The parsed instance.
    scale
        Multiplier applied to distances, times and the horizon before
        rounding (1000 keeps three decimals; 10 with ``"trunc"`` is the
        DIMACS convention).
    rounding
        ``"round"`` (nearest) or ``"trunc"`` for the distance matrix (times
        in the files are integers, so scaling them is exact).
    vehicles
        Fleet size; default the file's.
    reload
        Allow reloading at the vehicles' reload depots (multi-trip); default:
        whenever the file names reload depots.

    Returns
    -------
    RoutingProblem
        Location ``i`` is node ``i`` of the file; stop ``j`` is customer node
        ``num_depots + j``; depot ``k`` is node ``k``. Release dates become
        :attr:`Stop.release_s`.
    """
    nd = inst.num_depots
    dist = scaled_matrix(inst, scale, rounding)
    locations = [Location(name=str(i), x=float(x), y=float(y)) for i, (x, y) in enumerate(inst.coords)]

    def t(v: float) -> int:
        return int(round(v * scale))

    depots = [
        Depot(name=f"depot{k}" if nd > 1 else "depot", location=k, opens=Interval(t(inst.ready[k]), t(inst.due[k])))
        for k in range(nd)
    ]
    stops = []
    for i in range(nd, len(inst.coords)):
        stops.append(
            Stop(
                name=str(i),
                location=i,
                demand=(int(inst.demand[i]),),
                service_s=t(inst.service[i]),
                windows=(Interval(t(inst.ready[i]), t(inst.due[i])),),
                release_s=t(inst.release[i]) if inst.release is not None else 0,
            )
        )
    fleet = inst.vehicles if vehicles is None else vehicles
    use_reload = bool(inst.reload_depots) if reload is None else reload
    if use_reload and inst.reload_depots:
        reloads = inst.reload_depots[:fleet] + [inst.reload_depots[-1]] * max(0, fleet - len(inst.reload_depots))
    else:
        reloads = [(0,) if use_reload else ()] * fleet
    # One vehicle type per (home depot, reload depots), in the order of the file's vehicles: vehicle k of a file that
    # lists its vehicles grouped (as the published sets do) is problem.vehicles()[k].
    keys = [(inst.depot_of(k), reloads[k]) for k in range(fleet)]
    groups = sorted(set(keys), key=keys.index)
    vehicle_types = []
    for home, key in groups:
        count = sum(1 for k in keys if k == (home, key))
        label = "vehicle"
        if len({r for _, r in groups}) > 1:
            label += f"_r{'-'.join(map(str, key)) or 'none'}"
        if nd > 1:
            label += f"@{home}"
        vehicle_types.append(
            VehicleType(
                name=label,
                count=count,
                capacity=(int(inst.capacity),),
                start_depot=home,
                end_depot=home,
                reload_depots=tuple(key),
                shift=Interval(t(inst.ready[home]), t(inst.due[home])),
                profile="default",
                max_duration_s=None if inst.max_duration is None else t(inst.max_duration),
            )
        )
    horizon = Interval(min(t(inst.ready[k]) for k in range(nd)), max(t(inst.due[k]) for k in range(nd)))
    return RoutingProblem(
        locations=locations,
        profiles={"default": Profile("default", dist, dist.copy())},
        stops=stops,
        depots=depots,
        vehicle_types=vehicle_types,
        dimensions=("demand",),
        horizon=horizon,
        name=inst.name,
    )


def read_solomon(
    path: str | Path, scale: float = 1000, rounding: Rounding = "round", vehicles: int | None = None
) -> RoutingProblem:
    """A Solomon-layout file as a :class:`RoutingProblem` (see :func:`to_problem`).

    ``vehicles`` overrides the header's fleet (e.g. the best-known vehicle
    count for a fixed-fleet run).
    """
    return to_problem(parse_solomon(path), scale=scale, rounding=rounding, vehicles=vehicles)


def read_vrplib(
    path: str | Path,
    scale: float = 10,
    rounding: Rounding = "trunc",
    vehicles: int | None = None,
    reload: bool | None = None,
) -> RoutingProblem:
    """A VRPLIB file as a :class:`RoutingProblem` (see :func:`to_problem`).

    Defaults to the DIMACS convention of the sets read this way (distances
    truncated to one decimal: scale 10, ``"trunc"``), in which their
    reference costs are given.
    """
    return to_problem(parse_vrplib(path), scale=scale, rounding=rounding, vehicles=vehicles, reload=reload)


def read_instance(path: str | Path, **kwargs) -> RoutingProblem:
    """Dispatch on the file: ``.vrp`` to :func:`read_vrplib`, anything else to :func:`read_solomon`."""
    return read_vrplib(path, **kwargs) if Path(path).suffix == ".vrp" else read_solomon(path, **kwargs)


def parse_instance(path: str | Path) -> BenchmarkInstance:
    """Dispatch on the file: ``.vrp`` to :func:`parse_vrplib`, anything else to :func:`parse_solomon`."""
    return parse_vrplib(path) if Path(path).suffix == ".vrp" else parse_solomon(path)


# --- reference values ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bks:
    """Best-known values of one instance (``bks.csv``).

    ``vehicles``/``distance``: hierarchical objective (fewest vehicles, then
    distance); ``distance_only_vehicles``/``distance_only``: distance alone
    (``None`` when the file has none).
    """

    vehicles: int
    distance: float
    distance_only_vehicles: int | None = None
    distance_only: float | None = None


def read_bks_csv(path: str | Path) -> dict[str, Bks]:
    """``bks.csv`` (``instance,vehicles,distance,distance_only_vehicles,distance_only``) by instance name."""
    out: dict[str, Bks] = {}
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            dv, do = row.get("distance_only_vehicles") or "", row.get("distance_only") or ""
            out[row["instance"].strip()] = Bks(
                int(row["vehicles"]),
                float(row["distance"]),
                int(dv) if dv.strip() else None,
                float(do) if do.strip() else None,
            )
    return out


@dataclass
class ReferenceSolution:
    """A published solution: routes as node lists (without the start and end depot) and its cost.

    In multi-trip files a depot number inside a route is a reload visit.
    """

    routes: list[list[int]]
    cost: float | None
    optimal: bool | None = None


_ROUTE = re.compile(r"^\s*Route\s*#?\s*\d+\s*:\s*(.*)$", re.IGNORECASE)


def read_vrplib_solution(path: str | Path) -> ReferenceSolution:
    """A VRPLIB ``.sol`` file: ``Route #k: i j ...`` lines (node numbers, depot 0), ``Cost[:] c``, ``Optimal: b``."""
    routes: list[list[int]] = []
    cost = optimal = None
    for line in Path(path).read_text().splitlines():
        m = _ROUTE.match(line)
        if m:
            routes.append([int(v) for v in m.group(1).split()])
            continue
        low = line.strip().lower()
        if low.startswith("cost"):
            cost = float(line.strip()[4:].lstrip(": \t"))
        elif low.startswith("optimal"):
            optimal = low.split(":")[-1].strip() == "true"
    return ReferenceSolution(routes=routes, cost=cost, optimal=optimal)


def read_solomon_solution(path: str | Path) -> ReferenceSolution:
    """A SINTEF-style ``.sol`` file (``Route  k : i j ...``, customer numbers, depot 0); the cost is not in the file."""
    routes = [
        [int(v) for v in m.group(1).split()]
        for line in Path(path).read_text().splitlines()
        if (m := _ROUTE.match(line))
    ]
    return ReferenceSolution(routes=routes, cost=None)


# --- evaluating route sets -------------------------------------------------------------------------------------


def solution_from_routes(
    problem: RoutingProblem, routes: Iterable[Sequence[int]], engine: str = "reference", num_depots: int = 1
) -> RouteSolution:
    """A :class:`RouteSolution` from node lists (start/end depot omitted; a depot inside = reload).

    Parameters
    ----------
    problem
        A problem from :func:`to_problem` (stop ``j`` is node ``num_depots + j``).
    routes
        One node list per vehicle.
    engine
        Name recorded in the solution.
    num_depots
        Nodes below this number are depots.

    Returns
    -------
    RouteSolution
        Routes on the vehicles in order (first type first), without times.
    """
    vehicles = problem.vehicles()
    out: list[Route] = []
    served: set[int] = set()
    # Route k is vehicle k: empty routes keep their place (multi-depot reference files list every vehicle).
    for k, nodes in ((k, r) for k, r in enumerate(routes) if len(r)):
        t, v = vehicles[k] if k < len(vehicles) else (0, problem.vehicle_types[0].count + k)
        start = problem.vehicle_types[t].start_depot
        visits = [Visit("depot", start)]
        for node in nodes:
            if node < num_depots:
                visits.append(Visit("depot", int(node)))
            else:
                visits.append(Visit("stop", int(node) - num_depots))
                served.add(int(node) - num_depots)
        visits.append(Visit("depot", problem.vehicle_types[t].end_depot))
        out.append(Route(vehicle_type=t, vehicle=v, visits=tuple(visits)))
    dropped = [s for s in range(len(problem.stops)) if s not in served]
    return RouteSolution(routes=out, dropped=dropped, cost=0.0, engine=engine, runtime_s=0.0, feasible=True)


def routes_of(solution: RouteSolution, num_depots: int = 1) -> list[list[int]]:
    """Node lists of a solution's used routes (start/end depot omitted, reloads kept), for :func:`route_length`."""
    out = []
    for route in solution.routes:
        if not route.stops():
            continue
        out.append([v.index if v.kind == "depot" else v.index + num_depots for v in route.visits[1:-1]])
    return out


def route_length(inst: BenchmarkInstance, routes: Iterable[Sequence[int]], depot: int = 0) -> float:
    """Total length in double precision (each route starts and ends at ``depot``, or, for a file with
    ``VEHICLES_DEPOT_SECTION``, route k at vehicle k's depot)."""
    d = inst.distances()
    total = 0.0
    for k, nodes in enumerate(routes):
        home = inst.depot_of(k) if inst.vehicle_depots else depot
        path = [home, *nodes, home]
        total += sum(float(d[a, b]) for a, b in zip(path, path[1:]))
    return total


def check_routes(  # noqa: C901 - one independent check per rule, kept in one readable pass
    inst: BenchmarkInstance,
    routes: Iterable[Sequence[int]],
    vehicles: int | None = None,
    release: bool = True,
    coverage: bool = True,
    dimacs: bool = False,
    tol: float = 1e-6,
) -> list[str]:
    """Check a route set in double precision (no rounding anywhere): the textbook VRPTW(R) rules.

    Every customer once, at most ``vehicles`` routes (default the file's),
    load per trip within capacity, service starting within each window
    (waiting allowed), back at the depot by its due time, reloads only at
    reload depots and, with ``release``, each trip leaving the depot no
    earlier than the latest release time of its customers. Without
    ``coverage``, customers left out are not reported (to check single
    routes). With ``dimacs``, travel times and distances are truncated to
    one decimal (the convention of the VRPLIB sets' reference costs)
    instead of exact.

    Returns
    -------
    list of str
        Violations (empty when feasible).
    """
    if inst.num_depots > 1:
        raise ValueError(f"{inst.name}: check_routes checks single-depot route sets; use the simulator")
    routes = [list(r) for r in routes if len(r)]
    nd = inst.num_depots
    d = inst.distances()
    if dimacs:
        d = np.floor(d * 10) / 10
    bad: list[str] = []
    fleet = inst.vehicles if vehicles is None else vehicles
    if len(routes) > fleet:
        bad.append(f"{len(routes)} routes for {fleet} vehicles")
    seen: dict[int, int] = {}
    rel = inst.release if (release and inst.release is not None) else np.zeros(len(inst.coords))
    for k, nodes in enumerate(routes):
        allowed_reload = set(inst.reload_depots[k]) if k < len(inst.reload_depots) else set()
        trips: list[list[int]] = [[]]
        for node in nodes:
            if node < nd:
                if node not in allowed_reload:
                    bad.append(f"route {k + 1}: reload at depot {node}, not allowed")
                trips.append([])
            else:
                trips[-1].append(node)
                seen[node] = seen.get(node, 0) + 1
        t = float(inst.ready[0])
        for j, trip in enumerate(trips):
            if not trip:
                continue
            if sum(inst.demand[i] for i in trip) > inst.capacity + tol:
                bad.append(f"route {k + 1} trip {j + 1}: load {sum(inst.demand[i] for i in trip):g} > {inst.capacity}")
            t = max(t, max(rel[i] for i in trip))
            prev = 0
            for i in trip:
                t = max(t + d[prev, i], inst.ready[i])
                if t > inst.due[i] + tol:
                    bad.append(f"route {k + 1}: customer {i} served at {t:.4f} > due {inst.due[i]:g}")
                t += inst.service[i]
                prev = i
            t += d[prev, 0]
        if t > inst.due[0] + tol:
            bad.append(f"route {k + 1}: back at {t:.4f} > depot due {inst.due[0]:g}")
    for i in range(nd, len(inst.coords)):
        if seen.get(i, 0) > 1 or (coverage and seen.get(i, 0) != 1):
            bad.append(f"customer {i} served {seen.get(i, 0)} times")
    return bad


def release_violations(inst: BenchmarkInstance, routes: Iterable[Sequence[int]], *, dimacs: bool = False) -> int:
    """How many routes are feasible without release dates but not with them (0 when the file has none).

    ``dimacs`` as in :func:`check_routes`: the instance's own convention (the multi-trip set's truncated distances),
    so that a route the convention's check accepts is not counted because exact distances are a little longer.
    """
    if not inst.has_release:
        return 0
    count = 0
    for nodes in routes:
        if not check_routes(inst, [nodes], vehicles=1, release=False, coverage=False, dimacs=dimacs) and check_routes(
            inst, [nodes], vehicles=1, release=True, coverage=False, dimacs=dimacs
        ):
            count += 1
    return count
