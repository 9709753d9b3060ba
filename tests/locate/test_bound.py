"""The upper tiers' bounds (LP; top tier + haul): never above the enumerated optimum, never below the split bound."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest

from netplan.locate.bound import station_prices, top_haul_bound, upper_tiers_bound
from netplan.locate.network_model import TieredNetwork
from tests.locate.test_network_model import _dense, _network_costs, _tiny


def _model(seed: int, tiers: int, tight: bool) -> TieredNetwork:
    """The tiny random instances of test_network_model; ``tight``: tiers 2+ barely hold the demand."""
    demand, sites, arcs = _tiny(seed, tiers)
    if tight:
        for tier in sites[1:]:
            # room for about 1.1x the demand on the fewest sites that can hold it, so the split matters
            need = int(np.ceil(demand.sum() / tier.capacity.mean()))
            tier.capacity = tier.capacity / tier.capacity.mean() * demand.sum() * 1.1 / need
    try:
        return TieredNetwork(demand, sites, arcs, [3.0, 2.0, 1.5][: tiers - 1], access_cost_per_t_km=1.0)
    except ValueError:
        pytest.skip("random instance infeasible by construction")


@cache
def _enumerated(seed: int, tiers: int, tight: bool) -> tuple[float, float, float, float]:
    """By enumeration: the optimum, the least tier-1 cost, the least opening of tiers 2+ plus all haulage, and the
    least opening of the top tier plus all haulage."""
    model = _model(seed, tiers, tight)
    optimum = tier1 = upper = top_haul = np.inf
    for opens, t1, rest, upper_open in _network_costs(model):
        optimum, tier1, upper = min(optimum, t1 + rest + upper_open), min(tier1, t1), min(upper, rest + upper_open)
        haul = rest - model.tiers[1].open_cost[opens[1]].sum()
        top_haul = min(top_haul, haul + model.tiers[-1].open_cost[opens[-1]].sum())
    return float(optimum), float(tier1), float(upper), float(top_haul)


def _exact(seed: int, tiers: int, tight: bool) -> tuple[float, float, float]:
    """The optimum, the least tier-1 cost, and the least opening of tiers 2+ plus all haulage."""
    return _enumerated(seed, tiers, tight)[:3]


def _feasible_case(seed: int, tiers: int, tight: bool) -> tuple[TieredNetwork, tuple[float, float, float]]:
    """The instance and its enumerated costs; skips an instance with no feasible single-sourced network."""
    model = _model(seed, tiers, tight)
    exact = _exact(seed, tiers, tight)
    if not np.isfinite(exact[0]):
        pytest.skip("no feasible single-sourced network")
    return model, exact


CASES = [(seed, tiers, tight) for seed in range(6) for tiers in (3, 4) for tight in (False, True)]
# seed 3 with 4 tiers costs the enumeration 15 s, a third of this file: a slow variant only (pytest -m slow)
SLOW = {(3, 4)}
PARAMS = [pytest.param(*case, marks=[pytest.mark.slow] if case[:2] in SLOW else []) for case in CASES]


@pytest.mark.parametrize(("seed", "tiers", "tight"), PARAMS)
def test_upper_tiers_bound_never_exceeds_the_least_upper_cost(seed, tiers, tight):
    model, (_, _, upper) = _feasible_case(seed, tiers, tight)
    res = upper_tiers_bound(model, time_limit=60)
    assert res.status in ("optimal", "lp")
    # positive (every network opens a station) and valid
    assert 0 < res.value <= upper * (1 + 1e-9)
    # a work limit of one round: the weakest LP is valid too, and never above the full one
    weak = upper_tiers_bound(model, time_limit=60, max_rounds=1)
    assert 0 < weak.value <= res.value * (1 + 1e-9)
    # a "large" model gets that first LP only
    large = upper_tiers_bound(model, time_limit=60, max_pairs=0)
    assert large.value == weak.value and large.pairs == res.pairs


@pytest.mark.parametrize(("seed", "tiers", "tight"), PARAMS)
def test_lower_bound_takes_the_better_of_both_and_stays_valid(seed, tiers, tight):
    model, (optimum, tier1, _) = _feasible_case(seed, tiers, tight)
    split, _ = model._split_bound(tier1, 20, seed, "SCIP")
    model.upper_tiers_always = True
    bound, parts = model.lower_bound(tier1, 20, seed, "SCIP")
    assert split * (1 - 1e-12) <= bound <= optimum * (1 + 1e-9)
    cover_haul = tier1 + sum(model.cover_parts.values()) + model.top_haul.value
    assert cover_haul <= optimum * (1 + 1e-9)
    assert bound == pytest.approx(max(split, cover_haul, tier1 + model.upper_tiers.value))
    assert bound == pytest.approx(sum(parts.values()))
    model.top_set_limit = 0  # too many top-tier sets for the split bound: the LP runs by default and still bounds
    model.upper_tiers_always = False
    fallback, _ = model.lower_bound(tier1, 20, seed, "SCIP")
    assert model.upper_tiers is not None
    assert tier1 < fallback <= optimum * (1 + 1e-9)
    # every top-tier set priced: by default the split bound and the cover-haul bound, not the LP
    model.top_set_limit = 64
    both = model.lower_bound(tier1, 20, seed, "SCIP")[0]
    assert both == pytest.approx(max(split, cover_haul)) and model.upper_tiers is None


def _relaxed_top_cases():
    """Each feasible instance with its top tier too many sets to price: (model, optimum, tier-1 bound, split bound)."""
    for seed, tiers, tight in CASES:
        if (seed, tiers) in SLOW:
            continue
        try:
            model = _model(seed, tiers, tight)
        except BaseException:  # pytest.skip inside _model
            continue
        optimum, tier1, _ = _exact(seed, tiers, tight)
        if not np.isfinite(optimum):
            continue
        model.top_set_limit = 0
        split, _ = model._split_bound(tier1, 20, 0, "SCIP")
        yield model, optimum, tier1, split


def test_the_lp_lifts_the_split_bound_where_the_top_tier_is_relaxed():
    """With every top-tier site relaxed to open, the split bound hauls to the nearest; the LP opens them."""
    lifted = []
    for model, optimum, tier1, split in _relaxed_top_cases():
        bound, _ = model.lower_bound(tier1, 20, 0, "SCIP")
        assert bound <= optimum * (1 + 1e-9)
        lifted.append(bound > split * (1 + 1e-6))
    assert lifted and any(lifted)


def test_same_bound_in_every_run_and_prices_are_the_cheapest_path():
    model = _model(1, 4, True)
    first = upper_tiers_bound(model, time_limit=60)
    again = upper_tiers_bound(model, time_limit=60)
    assert first.value == again.value and first.status == again.status
    prices, active = station_prices(model)
    dist = _dense(model)
    per_kg = model.haul[0] * model.days / 1e6
    for row, i in enumerate(active):
        reach = np.flatnonzero(np.isfinite(dist[0][i]))
        want = np.nanmin(np.where(np.isfinite(dist[1][reach]), dist[1][reach], np.inf), axis=0) * per_kg
        assert np.allclose(prices[row], want)


@pytest.mark.parametrize(("seed", "tiers", "tight"), PARAMS)
def test_top_haul_bound_never_exceeds_any_networks_top_opening_plus_haul(seed, tiers, tight):
    model, _ = _feasible_case(seed, tiers, tight)
    least = _enumerated(seed, tiers, tight)[3]
    res = top_haul_bound(model, node_limit=200, time_limit=60)
    assert res.status == "optimal" and not res.time_limit_hit
    assert 0 < res.value <= least * (1 + 1e-9)
    assert top_haul_bound(model, node_limit=200, time_limit=60).value == res.value


def test_the_cover_haul_bound_lifts_the_split_bound_where_the_top_tier_is_relaxed():
    """With every top site open the split bound hauls to the nearest; the cover-haul bound to as few as hold it."""
    lifted = []
    for model, optimum, tier1, split in _relaxed_top_cases():
        bound, _ = model._cover_haul_bound(tier1, split, {}, 20, np.inf)
        assert split * (1 - 1e-12) <= bound <= optimum * (1 + 1e-9)
        lifted.append(bound > split * (1 + 1e-6))
    assert lifted and any(lifted)
