"""A plain OR-Tools VRPTW model, exactly as the OR-Tools documentation shows it.

Follows https://developers.google.com/optimization/routing/vrptw (time
windows) and .../routing/cvrp (capacities), with the search parameters of
.../routing/routing_options ("Changing the search strategy"):

- ``RoutingIndexManager(len(time_matrix), num_vehicles, depot)``;
- arc cost: the distance callback (``SetArcCostEvaluatorOfAllVehicles``);
- ``AddDimension(time_callback, slack, horizon, False, "Time")`` with the
  time windows set on the customers' cumul vars and the depot window on every
  vehicle's start; ``AddVariableMinimizedByFinalizer`` on start and end
  cumuls. The only adaptation of the documented example: the time transit of
  an arc ``i -> j`` is travel time plus the service time at ``i`` (the doc's
  example has no service times), and the slack and the dimension's capacity
  are the horizon (the doc's toy values are 30);
- ``AddDimensionWithVehicleCapacity(demand_callback, 0, capacities, True,
  "Capacity")``;
- ``first_solution_strategy = PATH_CHEAPEST_ARC`` (the doc's), local search
  metaheuristic ``GUIDED_LOCAL_SEARCH``, ``time_limit``.

No multi-trip (reloads), no release dates. The integer matrices are the ones
netplan's problem uses (same scale and rounding), so the solutions are
directly comparable.
"""

from __future__ import annotations

import time

import numpy as np
from ortools.constraint_solver import pywrapcp, routing_enums_pb2

from benchmarks.instances import BenchmarkInstance, Rounding, scaled_matrix
from benchmarks.peers import PeerResult


def solve(
    inst: BenchmarkInstance,
    time_limit_s: float,
    vehicles: int | None = None,
    scale: float = 1000,
    rounding: Rounding = "round",
    first_solution: str = "PATH_CHEAPEST_ARC",
    metaheuristic: str = "GUIDED_LOCAL_SEARCH",
) -> PeerResult:
    """Solve the instance with the documented OR-Tools VRPTW model.

    Parameters
    ----------
    inst
        A single-depot VRPTW instance.
    time_limit_s
        Wall-clock limit (model building included: the limit given to
        OR-Tools is what remains after building).
    vehicles
        Fleet size (default the file's).
    scale, rounding
        Integer matrices as :func:`benchmarks.instances.scaled_matrix`.
    first_solution, metaheuristic
        Names in ``routing_enums_pb2`` (the doc: PATH_CHEAPEST_ARC, GLS).

    Returns
    -------
    PeerResult
        Routes (empty when no solution was found) and the routing status.
    """
    began = time.perf_counter()
    dist = scaled_matrix(inst, scale, rounding)
    service = np.round(inst.service * scale).astype(np.int64)
    time_matrix = (dist + service[:, None]).tolist()  # travel + service at the origin
    dist_list = dist.tolist()
    windows = [(int(round(a * scale)), int(round(b * scale))) for a, b in zip(inst.ready, inst.due)]
    demands = [int(q) for q in inst.demand]
    num_vehicles = inst.vehicles if vehicles is None else vehicles
    horizon = windows[0][1]
    depot = 0

    manager = pywrapcp.RoutingIndexManager(len(time_matrix), num_vehicles, depot)
    routing = pywrapcp.RoutingModel(manager)

    def distance_callback(from_index, to_index):
        return dist_list[manager.IndexToNode(from_index)][manager.IndexToNode(to_index)]

    def time_callback(from_index, to_index):
        return time_matrix[manager.IndexToNode(from_index)][manager.IndexToNode(to_index)]

    def demand_callback(from_index):
        return demands[manager.IndexToNode(from_index)]

    distance_index = routing.RegisterTransitCallback(distance_callback)
    routing.SetArcCostEvaluatorOfAllVehicles(distance_index)

    transit_callback_index = routing.RegisterTransitCallback(time_callback)
    routing.AddDimension(transit_callback_index, horizon, horizon, False, "Time")
    time_dimension = routing.GetDimensionOrDie("Time")
    for location_idx, time_window in enumerate(windows):
        if location_idx == depot:
            continue
        index = manager.NodeToIndex(location_idx)
        time_dimension.CumulVar(index).SetRange(time_window[0], time_window[1])
    for vehicle_id in range(num_vehicles):
        index = routing.Start(vehicle_id)
        time_dimension.CumulVar(index).SetRange(windows[depot][0], windows[depot][1])
    for i in range(num_vehicles):
        routing.AddVariableMinimizedByFinalizer(time_dimension.CumulVar(routing.Start(i)))
        routing.AddVariableMinimizedByFinalizer(time_dimension.CumulVar(routing.End(i)))

    demand_callback_index = routing.RegisterUnaryTransitCallback(demand_callback)
    routing.AddDimensionWithVehicleCapacity(
        demand_callback_index, 0, [int(inst.capacity)] * num_vehicles, True, "Capacity"
    )

    search_parameters = pywrapcp.DefaultRoutingSearchParameters()
    search_parameters.first_solution_strategy = getattr(routing_enums_pb2.FirstSolutionStrategy, first_solution)
    search_parameters.local_search_metaheuristic = getattr(routing_enums_pb2.LocalSearchMetaheuristic, metaheuristic)
    remaining = max(1.0, time_limit_s - (time.perf_counter() - began))
    search_parameters.time_limit.FromMilliseconds(int(remaining * 1000))

    solution = routing.SolveWithParameters(search_parameters)
    runtime = time.perf_counter() - began
    status = routing.status()
    routes: list[list[int]] = []
    if solution:
        for vehicle_id in range(num_vehicles):
            index = routing.Start(vehicle_id)
            nodes = []
            index = solution.Value(routing.NextVar(index))
            while not routing.IsEnd(index):
                nodes.append(manager.IndexToNode(index))
                index = solution.Value(routing.NextVar(index))
            if nodes:
                routes.append(nodes)
    return PeerResult(
        routes=routes,
        feasible=bool(solution),
        runtime_s=runtime,
        info={
            "status": int(status),
            "objective": solution.ObjectiveValue() if solution else None,
            "first_solution": first_solution,
            "metaheuristic": metaheuristic,
        },
    )
