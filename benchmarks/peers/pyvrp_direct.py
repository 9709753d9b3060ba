"""PyVRP used directly, the way its documentation and its own benchmarks do.

- VRPLIB files (Homberger 1000, multi-trip): ``pyvrp.read(path,
  round_func="dimacs")`` — PyVRP's reader, which also takes the release dates
  and reload depots of the multi-trip set — then ``pyvrp.solve(data,
  stop=MaxRuntime(t), seed=seed)``.
- Solomon text files (``pyvrp.read`` reads VRPLIB only): the same
  ``ProblemData`` built from the parsed file — one depot with the depot's
  window, one client per customer (demand as delivery, service time, window),
  one vehicle type (fleet, capacity, depot window as shift) and the integer
  matrix netplan's problem uses (distance x scale rounded, as
  ``round_func="exact"`` does with scale 1000), travel time = distance.

A fixed fleet (mode a) sets the vehicle type's ``num_available``.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pyvrp
from pyvrp.stop import MaxRuntime

from benchmarks.instances import BenchmarkInstance, Rounding, scaled_matrix
from benchmarks.peers import PeerResult


def build(
    inst: BenchmarkInstance,
    vehicles: int | None = None,
    scale: float = 1000,
    rounding: Rounding = "round",
    release: bool = True,
) -> pyvrp.ProblemData:
    """``ProblemData`` of a parsed instance (see the module docstring)."""
    dist = scaled_matrix(inst, scale, rounding)
    nd = inst.num_depots

    def t(v: float) -> int:
        return int(round(v * scale))

    depots = [pyvrp.Depot(location=k, tw_early=t(inst.ready[k]), tw_late=t(inst.due[k])) for k in range(nd)]
    rel = inst.release if (release and inst.release is not None) else np.zeros(len(inst.coords))
    clients = [
        pyvrp.Client(
            location=i,
            delivery=[int(inst.demand[i])],
            service_duration=t(inst.service[i]),
            tw_early=t(inst.ready[i]),
            tw_late=t(inst.due[i]),
            release_time=t(rel[i]),
        )
        for i in range(nd, len(inst.coords))
    ]
    fleet = inst.vehicles if vehicles is None else vehicles
    reload = list(inst.reload_depots[0]) if inst.reload_depots else []
    vt = pyvrp.VehicleType(
        num_available=fleet,
        capacity=[int(inst.capacity)],
        tw_early=t(inst.ready[0]),
        tw_late=t(inst.due[0]),
        reload_depots=reload,
    )
    locations = [pyvrp.Location(x=int(round(x)), y=int(round(y))) for x, y in inst.coords]
    return pyvrp.ProblemData(
        locations=locations,
        clients=clients,
        depots=depots,
        vehicle_types=[vt],
        distance_matrices=[dist],
        duration_matrices=[dist.copy()],
    )


def read(path: str | Path, vehicles: int | None = None, release: bool = True) -> pyvrp.ProblemData:
    """``pyvrp.read(path, round_func="dimacs")``, with the fleet and release dates optionally changed."""
    data = pyvrp.read(path, round_func="dimacs")
    if vehicles is not None:
        data = data.replace(vehicle_types=[vt.replace(num_available=vehicles) for vt in data.vehicle_types()])
    if not release:
        data = data.replace(
            clients=[
                pyvrp.Client(
                    location=c.location,
                    delivery=list(c.delivery),
                    pickup=list(c.pickup),
                    service_duration=c.service_duration,
                    tw_early=c.tw_early,
                    tw_late=c.tw_late,
                    release_time=0,
                    prize=c.prize,
                    required=c.required,
                    group=c.group,
                    name=c.name,
                )
                for c in data.clients()
            ]
        )
    return data


def solve_data(data: pyvrp.ProblemData, time_limit_s: float, seed: int = 0, began: float | None = None) -> PeerResult:
    """Run ``pyvrp.solve`` and return the best solution's routes as node lists."""
    began = time.perf_counter() if began is None else began
    remaining = max(0.5, time_limit_s - (time.perf_counter() - began))
    result = pyvrp.solve(data, stop=MaxRuntime(remaining), seed=seed, display=False, collect_stats=False)
    runtime = time.perf_counter() - began
    nd = data.num_depots
    routes: list[list[int]] = []
    for route in result.best.routes():
        nodes: list[int] = []
        for act in route.schedule():
            kind = str(act.type).split(".")[-1].upper()
            nodes.append(int(act.idx) if kind == "DEPOT" else nd + int(act.idx))
        routes.append(nodes[1:-1])  # without the start and end depot; depots inside are reloads
    return PeerResult(
        routes=routes,
        feasible=bool(result.best.is_feasible()),
        runtime_s=runtime,
        info={
            "iterations": int(result.num_iterations),
            "cost": int(result.cost()) if result.best.is_feasible() else None,
        },
    )


def solve(
    inst: BenchmarkInstance | str | Path,
    time_limit_s: float,
    seed: int = 0,
    vehicles: int | None = None,
    scale: float = 1000,
    rounding: Rounding = "round",
    release: bool = True,
) -> PeerResult:
    """Solve a parsed Solomon instance (built as above) or a VRPLIB file (read by ``pyvrp.read``)."""
    began = time.perf_counter()
    if isinstance(inst, (str, Path)):
        data = read(inst, vehicles=vehicles, release=release)
    else:
        data = build(inst, vehicles=vehicles, scale=scale, rounding=rounding, release=release)
    return solve_data(data, time_limit_s, seed=seed, began=began)
