"""Stations first: the cheapest cover of transfer stations, then the collection points that reach it."""

from __future__ import annotations

import numpy as np
import pytest

from netplan.locate.network_model import Arcs, TieredNetwork, TierSites

from .test_network_model import _enumerate, _model


def _two_valleys(engine: str = "lagrangian") -> TieredNetwork:
    """Two compounds, each with a near collection point linked only to its own station and a farther one linked to
    a station both share: bottom-up takes the near points and so needs two stations, the optimum one."""
    demand = np.array([100.0, 100.0])
    # collection points: 0 near compound 0, 1 far from it; 2 near compound 1, 3 far from it
    walk = Arcs(np.array([0, 0, 1, 1]), np.array([0, 1, 2, 3]), np.array([10.0, 200.0, 10.0, 200.0]))
    # stations: 0 reached from point 0 only, 1 from points 1 and 3, 2 from point 2 only
    haul = Arcs(np.array([0, 1, 2, 3]), np.array([0, 1, 2, 1]), np.full(4, 100.0))
    top = Arcs(np.array([0, 1, 2]), np.zeros(3, dtype=int), np.full(3, 100.0))
    tiers = [
        TierSites(1, np.full(4, 1000.0), np.full(4, 1000.0), np.zeros(4, bool)),
        TierSites(2, np.full(3, 10_000.0), np.full(3, 50_000.0), np.zeros(3, bool)),
        TierSites(3, np.array([1e6]), np.array([10_000.0]), np.zeros(1, bool)),
    ]
    return TieredNetwork(demand, tiers, [walk, haul, top], [3.0, 2.0], access_cost_per_t_km=1.0, engine=engine)


def test_stations_first_finds_the_one_station_plan_bottom_up_misses() -> None:
    model = _two_valleys()
    sol = model.solve("bottom_up", time_limit=60, seed=0)["bottom_up"]
    record = next(s for s in sol.steps if s.get("step") == "stations_first")
    assert record["used"] is True
    assert (record["plan_stations"], record["cover_stations"]) == (2, 1)
    assert record["bottom_up_objective"] - sol.objective > 40_000  # one station's 50,000 less the longer walks
    assert sol.open[1].tolist() == [False, True, False]
    assert sol.demand_to_tier1.tolist() == [1, 3]
    assert sol.objective == pytest.approx(_enumerate(model))
    # the bound still rests on the unrestricted tier-1 step: valid, and now tight
    assert sol.bound <= sol.objective * (1 + 1e-9)
    assert sol.steps[0]["tier"] == 1 and sol.steps[0]["objective"] < sol.objective


def test_stations_first_is_skipped_when_the_cover_saves_no_opening() -> None:
    model = _two_valleys()
    model.tiers[1].open_cost[:] = [50_000.0, 200_000.0, 50_000.0]  # the shared station now costs two
    sol = model.solve("bottom_up", time_limit=60, seed=0)["bottom_up"]
    record = next(s for s in sol.steps if s.get("step") == "stations_first")
    assert record["used"] is False
    assert sol.open[1].tolist() == [True, False, True]
    assert sol.objective == pytest.approx(_enumerate(model))


@pytest.mark.parametrize("seed", range(6))
def test_plans_stay_feasible_and_the_bound_valid(seed: int) -> None:
    model = _model(seed, 3)
    model.engine = "lagrangian"
    optimum = _enumerate(model)
    sol = model.solve("bottom_up", time_limit=60, seed=0)["bottom_up"]
    assert sol.bound <= optimum * (1 + 1e-9) <= sol.objective * (1 + 1e-9) + 1e-6
    value, _, loads = model.evaluate(sol.open, sol.demand_to_tier1, sol.links)
    assert value == pytest.approx(sol.objective)
    for t, tier in enumerate(model.tiers):
        assert (loads[t] <= tier.capacity + 1e-6).all()
    # every demand point at a collection point in its walking reach
    a0 = model.arcs[0]
    used = set(zip(a0.src.tolist(), a0.dst.tolist(), strict=True))
    assert all((i, int(c)) in used for i, c in enumerate(sol.demand_to_tier1) if model.demand[i] > 0)
    assert any(s.get("step") == "stations_first" for s in sol.steps)
