"""The routing problem, described without reference to any solver.

A :class:`RoutingProblem` holds what a collection day needs: the stops to
serve (collection points with their load, service time and time windows),
the depots (transfer stations or sorting centres where vehicles start, end
and unload), the vehicle types (capacity, shift, costs, which depots they
may unload at, which travel profile they drive with) and one travel profile
per class of vehicle (a distance and a duration matrix over the problem's
locations).

Restricted-traffic rules enter in two ways, both decided before solving:

- a vehicle class that must avoid banned roads and zones drives with its own
  profile, whose matrices avoid them (see :mod:`netplan.route.roads`);
- a stop inside a banned zone carries, per profile, the service-start times
  that are forbidden to that profile (:attr:`Stop.forbidden`). Engines turn
  the allowed remainder of the stop's windows into exact visit windows.

Times are integer seconds after midnight, distances integer metres (or the
instance's own unit for benchmark files), costs integers in the problem's
cost unit. Engines (:mod:`netplan.route.engines`) take a problem and return a
:class:`~netplan.route.solution.RouteSolution`; the schedule simulator
(:mod:`netplan.route.simulate`) checks it without any solver.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from netplan.errors import NetplanError

DAY_S = 24 * 3600
#: Cost unit of city problems: integer costs are in 1/10,000 CNY so that
#: per-metre costs of a few CNY per km stay integral.
COST_UNITS_PER_CNY = 10_000


class RoutingInputError(NetplanError):
    """The routing problem cannot be solved as given (bad or contradictory input)."""


@dataclass(frozen=True, order=True)
class Interval:
    """A half-open time interval ``[start, end)`` in seconds after midnight."""

    start: int
    end: int

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise RoutingInputError(f"time interval {fmt_time(self.start)}-{fmt_time(self.end)} ends before it starts")

    def overlaps(self, other: Interval) -> bool:
        """Whether the two intervals share any time."""
        return self.start < other.end and other.start < self.end

    def __str__(self) -> str:
        return f"{fmt_time(self.start)}-{fmt_time(self.end)}"


def fmt_time(seconds: float) -> str:
    """Seconds after midnight as ``HH:MM`` (``HH:MM:SS`` when not whole minutes)."""
    s = int(round(seconds))
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    return f"{h:02d}:{m:02d}" if sec == 0 else f"{h:02d}:{m:02d}:{sec:02d}"


def clock(seconds: float) -> str:
    """Seconds after midnight as ``HH:MM`` on the clock (the minute it is in), as tables and maps show times."""
    h, m = divmod(int(seconds // 60), 60)
    return f"{h:02d}:{m:02d}"


def subtract(windows: Iterable[Interval], banned: Iterable[Interval]) -> list[Interval]:
    """The parts of ``windows`` outside every ``banned`` interval.

    Service-start windows are closed in practice (a stop may be served at
    its window's last second); to keep the arithmetic simple every interval
    is treated as half-open, which only ever removes a single second.

    Parameters
    ----------
    windows
        Allowed intervals.
    banned
        Intervals to remove.

    Returns
    -------
    list of Interval
        Sorted, non-overlapping remaining pieces.
    """
    pieces = sorted(windows)
    for ban in sorted(banned):
        out: list[Interval] = []
        for piece in pieces:
            if not piece.overlaps(ban):
                out.append(piece)
                continue
            if piece.start < ban.start:
                out.append(Interval(piece.start, ban.start))
            if ban.end < piece.end:
                out.append(Interval(ban.end, piece.end))
        pieces = out
    return pieces


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Union of intervals as sorted, disjoint pieces (touching pieces joined)."""
    out: list[Interval] = []
    for iv in sorted(intervals):
        if out and iv.start <= out[-1].end:
            if iv.end > out[-1].end:
                out[-1] = Interval(out[-1].start, iv.end)
        else:
            out.append(iv)
    return out


@dataclass(frozen=True)
class Location:
    """A place vehicles drive between: its name, planar or WGS-84 coordinates and road-graph node (if any)."""

    name: str
    x: float
    y: float
    node: int | None = None


@dataclass(frozen=True)
class Profile:
    """Travel between locations for one class of vehicle.

    Attributes
    ----------
    name
        Profile name (vehicle types refer to it).
    distance
        ``n x n`` integer distances between the problem's locations.
    duration
        ``n x n`` integer travel times in seconds.
    """

    name: str
    distance: np.ndarray
    duration: np.ndarray


@dataclass(frozen=True)
class Stop:
    """A stop to serve: a collection point (or a part of one).

    Attributes
    ----------
    name
        Identifier shown in outputs.
    location
        Index into :attr:`RoutingProblem.locations`.
    demand
        Load picked up, one integer per capacity dimension.
    service_s
        Service (loading) time.
    windows
        Intervals in which service may start; empty means any time.
    forbidden
        Per profile name, intervals in which a vehicle of that profile may
        not *start* service here (banned-zone hours, widened so that the
        vehicle's driving in the zone and its service stay outside the ban).
    required
        Whether the stop must be served.
    penalty
        Cost of leaving an optional stop unserved.
    release_s
        The load is ready at the depot's end of the trip only from then on:
        a trip serving this stop may not leave its depot earlier (the
        multi-trip benchmarks' release dates).
    delivery
        Load dropped here, one integer per capacity dimension, carried from
        the depot the trip starts at (simultaneous pickup and delivery, e.g.
        a trade-in's new appliance); empty means nothing.
    """

    name: str
    location: int
    demand: tuple[int, ...]
    service_s: int = 0
    windows: tuple[Interval, ...] = ()
    forbidden: dict[str, tuple[Interval, ...]] = field(default_factory=dict)
    required: bool = True
    penalty: int = 0
    release_s: int = 0
    delivery: tuple[int, ...] = ()

    def allowed(self, profile: str, horizon: Interval) -> list[Interval]:
        """Service-start intervals open to vehicles of ``profile``.

        Parameters
        ----------
        profile
            A profile name.
        horizon
            The planning horizon (used when the stop has no windows).

        Returns
        -------
        list of Interval
            Sorted, disjoint pieces; empty if the profile can never serve it.
        """
        base = list(self.windows) if self.windows else [horizon]
        return subtract(base, self.forbidden.get(profile, ()))


@dataclass(frozen=True)
class Depot:
    """A depot: where vehicles start, end and unload (a transfer station or a sorting centre).

    Attributes
    ----------
    name
        Identifier shown in outputs.
    location
        Index into :attr:`RoutingProblem.locations`.
    opens
        Opening hours (vehicles may only be there within them).
    turnaround_s
        Time spent at the depot before each departure (unloading the
        previous trip, or preparing the first) and after the last arrival.
    """

    name: str
    location: int
    opens: Interval = Interval(0, DAY_S)
    turnaround_s: int = 0


@dataclass(frozen=True)
class Break:
    """A driver break: ``duration_s`` long, starting within ``window``."""

    window: Interval
    duration_s: int


@dataclass(frozen=True)
class VehicleType:
    """A vehicle type and how many of it are available.

    Attributes
    ----------
    name
        Identifier shown in outputs.
    count
        Vehicles of this type.
    capacity
        One integer per capacity dimension (must be positive).
    start_depot, end_depot
        Depot indices.
    start_depots, end_depots
        Depots each vehicle of the type may start (end) at, when it may
        choose among several; empty means just ``start_depot``
        (``end_depot``). Each vehicle picks one start and one end. Engines
        that cannot share a type's count across depots refuse several.
    reload_depots
        Depots where the vehicle may unload mid-shift and go on (multi-trip);
        empty means one trip.
    shift
        Shift start and end (leave the start depot at or after the start,
        finish the last turnaround by the end).
    max_duration_s
        Longest working time, if shorter than the shift.
    fixed_cost, distance_cost, duration_cost
        Integer costs per vehicle used, per distance unit and per second.
    profile
        Name of the travel profile it drives with.
    permit, weight_t
        Whether it holds a restricted-traffic permit, and its gross weight
        (the profile and the stops' ``forbidden`` entries already encode
        what follows from them; the simulator re-derives it).
    breaks
        Driver breaks (engines that cannot model breaks refuse the problem).
    max_reloads
        Most mid-shift unloads, if limited (a required last unload, see
        ``unload_before_end``, is not counted).
    unload_before_end
        The vehicle must arrive at its end depot empty: its last load is
        unloaded at one of its ``reload_depots`` (a disposal site or transfer
        station) before it drives home. With ``max_reloads=0`` this is a
        single trip ``start -> stops -> unload -> end``.
    """

    name: str
    count: int
    capacity: tuple[int, ...]
    start_depot: int = 0
    end_depot: int = 0
    reload_depots: tuple[int, ...] = ()
    shift: Interval = Interval(0, DAY_S)
    max_duration_s: int | None = None
    fixed_cost: int = 0
    distance_cost: int = 1
    duration_cost: int = 0
    profile: str = "default"
    permit: bool = False
    weight_t: float = 0.0
    breaks: tuple[Break, ...] = ()
    max_reloads: int | None = None
    unload_before_end: bool = False
    start_depots: tuple[int, ...] = ()
    end_depots: tuple[int, ...] = ()

    def starts(self) -> tuple[int, ...]:
        """The depots a vehicle of this type may start at, sorted."""
        return tuple(sorted(set(self.start_depots))) if self.start_depots else (self.start_depot,)

    def ends(self) -> tuple[int, ...]:
        """The depots a vehicle of this type may end at, sorted."""
        return tuple(sorted(set(self.end_depots))) if self.end_depots else (self.end_depot,)


@dataclass(frozen=True)
class FleetCap:
    """At most ``max_vehicles`` vehicles used over the vehicle types ``types`` (a limit shared across types).

    Attributes
    ----------
    types
        Indices into :attr:`RoutingProblem.vehicle_types`.
    max_vehicles
        Most vehicles of these types that may be used (leave a depot).
    name
        Identifier shown in messages (e.g. ``"drivers"``).
    """

    types: tuple[int, ...]
    max_vehicles: int
    name: str = "fleet cap"


def home_types(vt: VehicleType, *, homes: Sequence[int], end_at_home: bool = True) -> list[VehicleType]:
    """Per-vehicle home depots, as one vehicle type per home.

    Parameters
    ----------
    vt
        The vehicle type; its ``count`` is replaced by the vehicles per home.
    homes
        Home depot of each vehicle (one entry per vehicle, in any order).
    end_at_home
        Whether each vehicle also ends at its home (else at ``vt.end_depot``).

    Returns
    -------
    list of VehicleType
        One type per distinct home, in depot order, named ``"<name>@<depot index>"``.
    """
    if not homes:
        raise RoutingInputError(f"vehicle type {vt.name!r}: no home depot given")
    counts: dict[int, int] = {}
    for h in homes:
        counts[int(h)] = counts.get(int(h), 0) + 1
    return [
        replace(
            vt,
            name=f"{vt.name}@{h}",
            count=k,
            start_depot=h,
            start_depots=(),
            end_depot=h if end_at_home else vt.end_depot,
            end_depots=() if end_at_home else vt.end_depots,
        )
        for h, k in sorted(counts.items())
    ]


@dataclass
class RoutingProblem:
    """A complete routing instance; see the module docstring.

    Attributes
    ----------
    locations
        Every place, indexed by the stops' and depots' ``location``.
    profiles
        Travel profiles by name.
    stops, depots, vehicle_types
        The instance.
    dimensions
        Names of the capacity dimensions (e.g. ``("kg",)``).
    horizon
        The planning day.
    name
        Instance name.
    fleet_caps
        Limits on the vehicles used shared across vehicle types.
    """

    locations: list[Location]
    profiles: dict[str, Profile]
    stops: list[Stop]
    depots: list[Depot]
    vehicle_types: list[VehicleType]
    dimensions: tuple[str, ...] = ("kg",)
    horizon: Interval = Interval(0, DAY_S)
    name: str = "routing"
    fleet_caps: tuple[FleetCap, ...] = ()

    @property
    def num_vehicles(self) -> int:
        """Vehicles over all types."""
        return sum(v.count for v in self.vehicle_types)

    def vehicles(self) -> list[tuple[int, int]]:
        """Every vehicle as ``(type index, number within type)``."""
        return [(t, k) for t, vt in enumerate(self.vehicle_types) for k in range(vt.count)]

    def validate(self) -> RoutingProblem:
        """Check the instance and raise :class:`RoutingInputError` naming the first problem found.

        Checks matrix shapes and indices, positive capacities, windows
        (inverted or overlapping), that every required stop fits some
        vehicle's capacity, and that some vehicle can reach it, serve it in
        an allowed window and return within its shift.

        Returns
        -------
        RoutingProblem
            ``self``, for chaining.
        """
        n = len(self.locations)
        if not self.depots:
            raise RoutingInputError("no depot: vehicles need somewhere to start and unload", where=self.name)
        if not self.vehicle_types:
            raise RoutingInputError("no vehicle type in the fleet", where=self.name)
        for name, prof in self.profiles.items():
            for what, mat in (("distance", prof.distance), ("duration", prof.duration)):
                if mat.shape != (n, n):
                    raise RoutingInputError(f"profile {name!r}: {what} matrix is {mat.shape}, expected {(n, n)}")
                if np.any(mat < 0):
                    raise RoutingInputError(f"profile {name!r}: negative {what}")
        dims = len(self.dimensions)
        for d in self.depots:
            _check_index(d.location, n, f"depot {d.name!r}: location")
        for vt in self.vehicle_types:
            self._check_vehicle_type(vt, dims)
        self._check_fleet_caps()
        for stop in self.stops:
            self._check_stop(stop, n, dims)
        return self

    def _check_vehicle_type(self, vt: VehicleType, dims: int) -> None:
        where = f"vehicle type {vt.name!r}"
        if vt.count < 1:
            raise RoutingInputError(f"{where}: count must be at least 1, got {vt.count}")
        if len(vt.capacity) != dims:
            raise RoutingInputError(f"{where}: {len(vt.capacity)} capacities for {dims} dimensions {self.dimensions}")
        for dim, cap in zip(self.dimensions, vt.capacity):
            if cap <= 0:
                raise RoutingInputError(f"{where}: capacity in {dim} must be positive, got {cap}")
        if vt.profile not in self.profiles:
            raise RoutingInputError(f"{where}: unknown profile {vt.profile!r} (have {sorted(self.profiles)})")
        for depot in (vt.start_depot, vt.end_depot, *vt.start_depots, *vt.end_depots, *vt.reload_depots):
            _check_index(depot, len(self.depots), f"{where}: depot")
        if vt.unload_before_end and not vt.reload_depots:
            raise RoutingInputError(f"{where}: unload_before_end needs at least one reload depot to unload at")
        if vt.max_duration_s is not None and vt.max_duration_s <= 0:
            raise RoutingInputError(f"{where}: max_duration_s must be positive")
        _check_windows([b.window for b in vt.breaks], f"{where}: breaks")

    def _check_fleet_caps(self) -> None:
        for cap in self.fleet_caps:
            for t in cap.types:
                _check_index(t, len(self.vehicle_types), f"fleet cap {cap.name!r}: vehicle type")
            if not cap.types or cap.max_vehicles < 0:
                raise RoutingInputError(
                    f"fleet cap {cap.name!r}: needs vehicle types and max_vehicles >= 0, got "
                    f"{cap.types} and {cap.max_vehicles}"
                )

    def _check_stop(self, stop: Stop, n: int, dims: int) -> None:
        where = f"stop {stop.name!r}"
        _check_index(stop.location, n, f"{where}: location")
        if len(stop.demand) != dims:
            raise RoutingInputError(f"{where}: {len(stop.demand)} demand values for {dims} dimensions")
        if any(q < 0 for q in stop.demand):
            raise RoutingInputError(f"{where}: negative demand {stop.demand}")
        if stop.delivery and (len(stop.delivery) != dims or any(q < 0 for q in stop.delivery)):
            raise RoutingInputError(f"{where}: delivery {stop.delivery} must be {dims} non-negative values")
        _check_windows(stop.windows, f"{where}: time windows")
        if stop.required:
            self._check_servable(stop)

    def _check_servable(self, stop: Stop) -> None:
        fits = [
            vt
            for vt in self.vehicle_types
            if all(q <= c for q, c in zip(stop.demand, vt.capacity))
            and all(q <= c for q, c in zip(stop.delivery, vt.capacity))
        ]
        if not fits:
            biggest = max(vt.capacity for vt in self.vehicle_types)
            raise RoutingInputError(
                f"stop {stop.name!r}: load {stop.demand} {self.dimensions} exceeds every vehicle's capacity "
                f"(largest {biggest}); split the stop or add a larger vehicle"
            )
        why = self.unservable(stop)
        if why is not None:
            windows = ", ".join(str(w) for w in stop.windows) or "any time"
            raise RoutingInputError(
                f"stop {stop.name!r}: no vehicle can reach it, serve it within its windows ({windows}) outside its "
                f"bans and return within its shift: {why}"
            )

    def unservable(self, stop: Stop) -> str | None:
        """Why no vehicle that can carry ``stop`` could serve it even with nothing else to do, or None if one can.

        A vehicle could when it can leave its start depot, reach the stop,
        start service in a time open to its profile and get back to its end
        depot (turnaround included) within its shift and the depots' hours.

        Parameters
        ----------
        stop
            A stop of this problem.

        Returns
        -------
        str or None
            Per vehicle type that can carry it, its earliest arrival and
            latest return; None when some vehicle can serve it.
        """
        fits = [vt for vt in self.vehicle_types if all(q <= c for q, c in zip(stop.demand, vt.capacity))]
        reasons = []
        for vt, s, e in [(v, a, b) for v in fits for a in v.starts() for b in v.ends()]:
            prof = self.profiles[vt.profile]
            start, end = self.depots[s], self.depots[e]
            leave = max(vt.shift.start, start.opens.start) + start.turnaround_s
            arrive = leave + int(prof.duration[start.location, stop.location])
            back_by = min(vt.shift.end, end.opens.end) - end.turnaround_s
            home = int(prof.duration[stop.location, end.location])
            if vt.unload_before_end:
                home = min(
                    int(prof.duration[stop.location, self.depots[u].location])
                    + self.depots[u].turnaround_s
                    + int(prof.duration[self.depots[u].location, end.location])
                    for u in vt.reload_depots
                )
            ok = False
            for piece in stop.allowed(vt.profile, self.horizon):
                begin = max(arrive, piece.start)
                if begin < piece.end and begin + stop.service_s + home <= back_by:
                    ok = True
                    break
            if ok:
                return None
            via = f" from {start.name} to {end.name}" if len(vt.starts()) * len(vt.ends()) > 1 else ""
            reasons.append(f"{vt.name}{via} (earliest arrival {fmt_time(arrive)}, back by {fmt_time(back_by)})")
        return "; ".join(reasons) if reasons else "no vehicle can carry its load"


def _check_index(i: int, n: int, what: str) -> None:
    if not 0 <= i < n:
        raise RoutingInputError(f"{what} index {i} out of range 0..{n - 1}")


def _check_windows(windows: Sequence[Interval], where: str) -> None:
    spans = sorted(windows)
    for a, b in zip(spans, spans[1:]):
        if b.start < a.end:
            raise RoutingInputError(f"{where}: intervals {a} and {b} overlap")
