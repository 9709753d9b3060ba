"""A routing solution: what each vehicle does, in order, and when.

Engines fill a :class:`RouteSolution`; the schedule simulator replays it
without trusting the engine's times, and outputs are drawn from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from netplan.route.problem import RoutingProblem


@dataclass(frozen=True)
class Visit:
    """One visit of a route: a stop served, or a depot (start, unload, end).

    Attributes
    ----------
    kind
        ``"stop"`` or ``"depot"``.
    index
        Index into the problem's stops or depots.
    start_s
        When service (or the depot turnaround) starts, as the engine
        scheduled it; the simulator recomputes it.
    """

    kind: Literal["stop", "depot"]
    index: int
    start_s: int | None = None

    def location(self, problem: RoutingProblem) -> int:
        """The index into ``problem.locations`` of the stop or depot visited."""
        return problem.stops[self.index].location if self.kind == "stop" else problem.depots[self.index].location


@dataclass(frozen=True)
class Route:
    """One vehicle's day: its visits from start depot to end depot.

    Reload visits (depots in the middle) split the route into trips.
    """

    vehicle_type: int
    vehicle: int
    visits: tuple[Visit, ...]

    def stops(self) -> list[int]:
        """Stop indices served, in order."""
        return [v.index for v in self.visits if v.kind == "stop"]

    def distance(self, problem: RoutingProblem) -> int:
        """Distance along the route, from the matrices of its vehicle type's profile."""
        prof = problem.profiles[problem.vehicle_types[self.vehicle_type].profile]
        locs = [v.location(problem) for v in self.visits]
        return int(sum(prof.distance[a, b] for a, b in zip(locs, locs[1:])))

    def trips(self) -> list[list[int]]:
        """Stops per trip (a trip ends at each depot visit after the start)."""
        out: list[list[int]] = [[]]
        for visit in self.visits[1:-1]:
            if visit.kind == "depot":
                out.append([])
            else:
                out[-1].append(visit.index)
        return [t for t in out if t]


@dataclass
class RouteSolution:
    """Routes for every used vehicle, the stops left out, and how the engine did.

    Attributes
    ----------
    routes
        Routes of the vehicles used (vehicles left at the depot have none).
    dropped
        Indices of stops not served.
    cost
        The engine's objective in the problem's cost unit (incl. penalties).
    engine
        Engine name, e.g. ``"pyvrp"`` or ``"ortools"``.
    runtime_s
        Solve time.
    feasible
        Whether the engine reports the solution feasible.
    info
        Engine-specific details (iterations, strategies, seed).
    """

    routes: list[Route]
    dropped: list[int]
    cost: float
    engine: str
    runtime_s: float
    feasible: bool
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def num_vehicles(self) -> int:
        """Vehicles used."""
        return sum(1 for r in self.routes if r.stops())

    def distance(self, problem: RoutingProblem) -> int:
        """Total distance along the routes, from the problem's matrices."""
        return sum(route.distance(problem) for route in self.routes)
