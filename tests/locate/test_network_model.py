"""The tiered network model: optimum by enumeration on tiny instances, bounds, errors."""

from __future__ import annotations

from itertools import product

import numpy as np
import pytest

from netplan.locate.network_model import Arcs, TieredNetwork, TierSites


def _tiny(seed: int, tiers: int = 3):
    rng = np.random.default_rng(seed)
    n, sizes = 6, [4, 3, 2, 2][:tiers]
    pts = [rng.uniform(0, 3000, (n, 2))] + [rng.uniform(0, 3000, (m, 2)) for m in sizes]
    demand = rng.uniform(50, 300, n)
    arcs = []
    radii = [1800.0, 2500.0, 4000.0, 5000.0]
    for level in range(tiers):
        d = np.linalg.norm(pts[level][:, None, :] - pts[level + 1][None, :, :], axis=2)
        arcs.append(Arcs.from_matrix(d, radii[level]))
    caps = [700.0, 1200.0, 5000.0, 9000.0]
    costs = [1000.0, 5000.0, 20000.0, 40000.0]
    tier_sites = [
        TierSites(t + 1, np.full(m, caps[t]) * rng.uniform(0.8, 1.2, m), np.full(m, costs[t]) * rng.uniform(0.7, 1.3, m), np.zeros(m, bool))
        for t, m in enumerate(sizes)
    ]
    return demand, tier_sites, arcs


def _enumerate(model: TieredNetwork) -> float:
    """Try every single-sourced assignment chain; open = sites used (cheapest feasible network)."""
    n = len(model.demand)
    a0 = model.arcs[0]
    opts0 = [a0.dst[a0.src == i].tolist() for i in range(n)]
    best = np.inf
    for choice in product(*opts0):
        assign = np.array(choice)
        loads1 = np.zeros(model.tiers[0].size)
        np.add.at(loads1, assign, model.demand)
        if (loads1 > model.tiers[0].capacity + 1e-9).any():
            continue
        open1 = loads1 > 0
        best = min(best, _upper(model, 1, open1, loads1, [open1], assign, []))
    return best


def _upper(model, level, open_prev, loads_prev, opens, assign, links):
    if level == len(model.tiers):
        value, _, _ = model.evaluate(opens, assign, links)
        return value
    arcs = model.arcs[level]
    srcs = np.flatnonzero(open_prev)
    options = [arcs.dst[arcs.src == j].tolist() for j in srcs]
    best = np.inf
    for choice in product(*options):
        nxt = np.full(model.tiers[level - 1].size, -1)
        nxt[srcs] = choice
        loads = np.zeros(model.tiers[level].size)
        np.add.at(loads, nxt[srcs], loads_prev[srcs])
        if (loads > model.tiers[level].capacity + 1e-9).any():
            continue
        open_t = np.zeros(model.tiers[level].size, bool)
        open_t[nxt[srcs]] = True
        best = min(best, _upper(model, level + 1, open_t, loads, opens + [open_t], assign, links + [nxt]))
    return best


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("tiers", [3, 4])
def test_integrated_finds_the_enumerated_optimum(seed, tiers):
    demand, sites, arcs = _tiny(seed, tiers)
    try:
        model = TieredNetwork(demand, sites, arcs, [3.0, 2.0, 1.5][: tiers - 1], access_cost_per_t_km=1.0)
    except ValueError:
        pytest.skip("random instance infeasible by construction")
    optimum = _enumerate(model)
    if not np.isfinite(optimum):
        pytest.skip("no feasible single-sourced network")
    result = model.solve("both", time_limit=20, seed=seed)
    integrated, bottom = result["integrated"], result["bottom_up"]
    assert integrated.objective == pytest.approx(optimum, rel=1e-6)
    assert bottom.objective >= integrated.objective - 1e-6
    assert integrated.bound <= optimum * (1 + 1e-9)  # the network-wide bound is valid
    # the reported objective is what the decisions cost
    value, _, loads = model.evaluate(integrated.open, integrated.demand_to_tier1, integrated.links)
    assert value == pytest.approx(integrated.objective)
    for t, tier in enumerate(model.tiers):
        assert (loads[t] <= tier.capacity + 1e-6).all()
        assert (loads[t][~integrated.open[t]] == 0).all()


def test_fixed_and_counts_are_respected():
    demand, sites, arcs = _tiny(2)
    sites[0].fixed_open[:] = [True, False, False, False]
    sites[1].min_count = 2
    model = TieredNetwork(demand, sites, arcs, [3.0, 2.0])
    sol = model.solve("integrated", time_limit=10)["integrated"]
    assert sol.open[0][0] and sol.open[1].sum() >= 2


def test_errors_name_the_cause():
    demand, sites, arcs = _tiny(0)
    with pytest.raises(ValueError, match=r"tier 2: total capacity .* is below total demand"):
        small = [sites[0], TierSites(2, np.full(3, 10.0), np.ones(3), np.zeros(3, bool)), sites[2]]
        TieredNetwork(demand, small, arcs, [3.0, 2.0])
    cut = Arcs(arcs[0].src[arcs[0].src != 1], arcs[0].dst[arcs[0].src != 1], arcs[0].distance[arcs[0].src != 1])
    with pytest.raises(ValueError, match=r"1 demand point\(s\) have no tier-1 candidate .*#1"):
        TieredNetwork(demand, sites, [cut, arcs[1], arcs[2]], [3.0, 2.0])
    one = Arcs(np.arange(6), np.zeros(6, int), np.full(6, 10.0))
    with pytest.raises(ValueError, match="cannot hold all demand"):
        TieredNetwork(demand, sites, [one, arcs[1], arcs[2]], [3.0, 2.0])
