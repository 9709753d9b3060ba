"""Collection routing: a solver-neutral problem, engines, and an independent schedule check.

- :mod:`~netplan.route.problem` and :mod:`~netplan.route.solution`: the data model;
- :mod:`~netplan.route.engines`: OR-Tools and PyVRP behind one ``solve`` call;
- :mod:`~netplan.route.simulate`: replays routes with real times and checks every rule;
- :mod:`~netplan.route.roads` and :mod:`~netplan.route.bans`: travel profiles and bans on a city's roads;
- :mod:`~netplan.route.collection`: the collection-day problem of a sited network.
"""

from netplan.route.problem import (
    Break,
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

__all__ = [
    "Break",
    "Depot",
    "Interval",
    "Location",
    "Profile",
    "Route",
    "RouteSolution",
    "RoutingInputError",
    "RoutingProblem",
    "Stop",
    "VehicleType",
    "Visit",
]
