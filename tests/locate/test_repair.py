"""Closing the transfer stations a bottom-up plan opened for a few outlying collection points."""

from __future__ import annotations

import numpy as np
import pytest

from netplan.locate.network_model import Arcs, TieredNetwork, TierSites
from netplan.locate.repair import close_stations
from tests.locate.test_network_model import _enumerated, _model


def _line_city() -> TieredNetwork:
    """Three demand points at x = 0-200 m and one at 1,000 m; collection points at 0, 800 and 1,000 m.

    The point at 1,000 m is the cheaper collection point for the outlier, but it reaches only the station at
    1,100 m; the one at 800 m costs a little more and reaches the station at 0 m. Level by level, tier 1 takes
    the cheap one and tier 2 must then open both stations.
    """
    demand_x = np.array([0.0, 100.0, 200.0, 1000.0])
    point_x = np.array([0.0, 800.0, 1000.0])
    station_x = np.array([0.0, 1100.0])
    centre_x = np.array([500.0])

    def arcs(a: np.ndarray, b: np.ndarray, radius: float) -> Arcs:
        return Arcs.from_matrix(np.abs(a[:, None] - b[None, :]), radius)

    tiers = [
        TierSites(1, np.full(3, 1000.0), np.array([10.0, 20.0, 10.0]), np.zeros(3, bool)),
        TierSites(2, np.full(2, 1000.0), np.full(2, 1000.0), np.zeros(2, bool)),
        TierSites(3, np.full(1, 5000.0), np.full(1, 5000.0), np.zeros(1, bool)),
    ]
    links = [arcs(demand_x, point_x, 300.0), arcs(point_x, station_x, 900.0), arcs(station_x, centre_x, 900.0)]
    return TieredNetwork(np.full(4, 100.0), tiers, links, [3.0, 2.0], access_cost_per_t_km=1.0)


def _feasible(model: TieredNetwork, open_, assignment, links) -> None:
    """Every pair is an arc, every open site is used within its capacity, every closed one carries nothing."""
    pairs = [{(int(a), int(b)) for a, b in zip(arc.src, arc.dst, strict=True)} for arc in model.arcs]
    assert all((i, int(j)) in pairs[0] for i, j in enumerate(assignment))
    assert all(open_[0][assignment])
    _, _, loads = model.evaluate(open_, assignment, links)
    for t, tier in enumerate(model.tiers):
        assert (loads[t] <= tier.capacity + 1e-6).all()
        assert not (loads[t][~open_[t]] > 0).any()
    for t, nxt in enumerate(links):
        src = np.flatnonzero(open_[t])
        assert (nxt[src] >= 0).all() and all((int(j), int(nxt[j])) in pairs[t + 1] for j in src)
        assert open_[t + 1][nxt[src]].all()


def test_the_outliers_station_is_closed_and_the_plan_is_the_optimum():
    model = _line_city()
    # what bottom-up does level by level: the cheap point at 1,000 m, then both stations
    open_ = [np.array([True, False, True]), np.array([True, True]), np.array([True])]
    assignment = np.array([0, 0, 0, 2])
    links = [np.array([0, -1, 1]), np.array([0, 0])]
    before, _, _ = model.evaluate(open_, assignment, links)
    new_open, new_assign, new_links, repair = close_stations(model, open_, assignment, links)
    after, _, _ = model.evaluate(new_open, new_assign, new_links)
    _feasible(model, new_open, new_assign, new_links)
    assert new_open[1].tolist() == [True, False] and new_open[0].tolist() == [True, True, False]
    assert new_assign.tolist() == [0, 0, 0, 1]
    assert (repair.stations_closed, repair.points_closed, repair.points_opened) == (1, 1, 1)
    assert repair.saved == pytest.approx(before - after, rel=1e-12)
    # the inputs are left as they were
    assert open_[1].tolist() == [True, True] and assignment.tolist() == [0, 0, 0, 2]


def test_the_bottom_up_solve_closes_it_and_reports_the_step():
    model = _line_city()
    sol = model.solve("bottom_up", 60, 0, "HIGHS")["bottom_up"]
    _feasible(model, sol.open, sol.demand_to_tier1, sol.links)
    assert sol.open[1].tolist() == [True, False]
    step = next(s for s in sol.steps if s.get("step") == "close_stations")
    assert step["stations_closed"] == 1 and step["saved"] > 900
    assert sol.objective == pytest.approx(model.evaluate(sol.open, sol.demand_to_tier1, sol.links)[0])
    assert sol.bound <= sol.objective * (1 + 1e-9)


def test_a_fixed_station_or_the_minimum_count_stays_open():
    model = _line_city()
    open_ = [np.array([True, False, True]), np.array([True, True]), np.array([True])]
    assignment, links = np.array([0, 0, 0, 2]), [np.array([0, -1, 1]), np.array([0, 0])]
    model.tiers[1].fixed_open[1] = True
    assert close_stations(model, open_, assignment, links)[3].stations_closed == 0
    model.tiers[1].fixed_open[1] = False
    model.tiers[1].min_count = 2
    assert close_stations(model, open_, assignment, links)[3].stations_closed == 0


# seed 31 with 3 tiers: the one of 80 tiny random networks where bottom-up strands a station
# seed 3 with 4 tiers (15 s of enumeration) runs as a slow variant only (pytest -m slow)
@pytest.mark.parametrize(
    ("seed", "tiers"),
    [pytest.param(s, t, marks=[pytest.mark.slow] if (s, t) == (3, 4) else []) for s in range(8) for t in (3, 4)]
    + [(31, 3)],
)
def test_repair_never_costs_more_stays_feasible_and_above_the_optimum(seed, tiers):
    model = _model(seed, tiers)
    optimum, _, _ = _enumerated(seed, tiers)
    if not np.isfinite(optimum):
        pytest.skip("no feasible single-sourced network")
    sol = model.solve("bottom_up", 60, seed, "HIGHS")["bottom_up"]
    if sol.status not in ("optimal", "feasible"):
        pytest.skip("bottom-up finds no plan on this instance")
    _feasible(model, sol.open, sol.demand_to_tier1, sol.links)
    assert sol.objective >= optimum * (1 - 1e-9)
    step = next(s for s in sol.steps if s.get("step") == "close_stations")
    assert (step["stations_closed"] > 0) == (seed == 31) and step["saved"] >= 0
    again = close_stations(model, sol.open, sol.demand_to_tier1, sol.links)
    # a repaired plan is a fixed point: a second pass finds nothing more, and gives the same arrays
    assert again[3].stations_closed == 0
    assert all((a == b).all() for a, b in zip(again[0], sol.open, strict=True))
