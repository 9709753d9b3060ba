"""The tiered network model: optimum by enumeration on tiny instances, bounds, errors."""

from __future__ import annotations

from functools import cache
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
        TierSites(
            t + 1,
            np.full(m, caps[t]) * rng.uniform(0.8, 1.2, m),
            np.full(m, costs[t]) * rng.uniform(0.7, 1.3, m),
            np.zeros(m, bool),
        )
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


def _cases(seeds: int) -> list:
    """(tiers, seed) for 3 and 4 tiers; seed 3 with 4 tiers (15 s of enumeration) as a slow variant only."""
    return [
        pytest.param(t, s, marks=[pytest.mark.slow] if (t, s) == (4, 3) else []) for t in (3, 4) for s in range(seeds)
    ]


@pytest.mark.parametrize(("tiers", "seed"), _cases(5))
def test_integrated_finds_the_enumerated_optimum(seed, tiers):
    demand, sites, arcs = _tiny(seed, tiers)
    try:
        model = TieredNetwork(demand, sites, arcs, [3.0, 2.0, 1.5][: tiers - 1], access_cost_per_t_km=1.0)
    except ValueError:
        pytest.skip("random instance infeasible by construction")
    optimum = _enumerated(seed, tiers)[0]
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


@pytest.mark.parametrize(("tiers", "seed"), _cases(6))
def test_path_relaxation_bounds_every_network_with_that_top_set(seed, tiers):
    """For each top-tier open set S: tier-2 opening + all haul of every network ending in S >= the relaxation."""
    model = _model(seed, tiers)
    relax = _relaxation(model)
    _, _, best = _enumerated(seed, tiers)
    if not best:
        pytest.skip("no feasible single-sourced network")
    for key, value in best.items():
        top_open = np.frombuffer(key, dtype=bool)
        bound = relax.solve(top_open, 10, 0, "SCIP")
        assert 0 < bound <= value * (1 + 1e-9)


@pytest.mark.parametrize(("tiers", "seed"), _cases(6))
def test_lower_bound_never_exceeds_the_enumerated_optimum(seed, tiers):
    model = _model(seed, tiers)
    # tier 1 on its own: the cheapest open + access cost of any feasible network
    optimum, tier1, _ = _enumerated(seed, tiers)
    if not np.isfinite(optimum):
        pytest.skip("no feasible single-sourced network")
    for upper in (np.inf, optimum, optimum * 1.5):
        bound, parts = model.lower_bound(tier1, 20, seed, "SCIP", upper=upper)
        assert tier1 < bound <= optimum * (1 + 1e-9)
    model.top_set_limit = 0  # too many top-tier sets: the relaxed fallback must stay valid too
    fallback, parts = model._split_bound(tier1, 20, seed, "SCIP")
    assert tier1 < fallback <= bound * (1 + 1e-9)
    assert fallback == pytest.approx(sum(parts.values()))
    # there the upper tiers' LP joins in; the better of both is still valid (and may beat the priced sets)
    both, parts = model.lower_bound(tier1, 20, seed, "SCIP")
    assert fallback * (1 - 1e-12) <= both <= optimum * (1 + 1e-9)
    assert both == pytest.approx(sum(parts.values()))


@pytest.mark.parametrize("seed", [0, 5])
def test_fast_enumeration_agrees_with_evaluate(seed):
    assert _enumerated(seed, 3)[0] == pytest.approx(_enumerate(_model(seed, 3)), rel=1e-9)


def test_top_sets_respect_fixed_counts_capacity_and_slack():
    demand, sites, arcs = _tiny(1, 3)
    top = TierSites(
        3, [5000.0, 5000.0, 5000.0, 300.0], [10.0, 20.0, 40.0, 1.0], [False, True, False, False], max_count=2
    )
    arcs[2] = Arcs.from_matrix(np.full((3, 4), 100.0), 4000.0)
    model = TieredNetwork(demand, sites[:2] + [top], arcs, [3.0, 2.0])
    sets = [np.flatnonzero(s).tolist() for s in model._top_sets(np.inf)]
    # site 1 is fixed; at most 2 open; {1} and {1, x} all hold the demand; cheapest first
    assert sets == [[1], [1, 3], [0, 1], [1, 2]]
    assert [np.flatnonzero(s).tolist() for s in model._top_sets(25.0)] == [[1], [1, 3]]
    assert model._top_sets(np.inf, limit=2) is None


def _networks(model: TieredNetwork):
    """Every feasible single-sourced network (open = sites used), as (open, assignment, links)."""
    n = len(model.demand)
    a0 = model.arcs[0]
    for choice in product(*[a0.dst[a0.src == i].tolist() for i in range(n)]):
        assign = np.array(choice)
        loads = np.zeros(model.tiers[0].size)
        np.add.at(loads, assign, model.demand)
        if (loads > model.tiers[0].capacity + 1e-9).any():
            continue
        yield from _chains(model, 1, loads > 0, loads, [loads > 0], assign, [])


def _chains(model, level, open_prev, loads_prev, opens, assign, links):
    if level == len(model.tiers):
        yield opens, assign, links
        return
    arcs = model.arcs[level]
    srcs = np.flatnonzero(open_prev)
    for choice in product(*[arcs.dst[arcs.src == j].tolist() for j in srcs]):
        nxt = np.full(model.tiers[level - 1].size, -1)
        nxt[srcs] = choice
        loads = np.zeros(model.tiers[level].size)
        np.add.at(loads, nxt[srcs], loads_prev[srcs])
        if (loads > model.tiers[level].capacity + 1e-9).any():
            continue
        used = np.zeros(model.tiers[level].size, bool)
        used[nxt[srcs]] = True
        yield from _chains(model, level + 1, used, loads, opens + [used], assign, links + [nxt])


def _model(seed: int, tiers: int) -> TieredNetwork:
    demand, sites, arcs = _tiny(seed, tiers)
    try:
        return TieredNetwork(demand, sites, arcs, [3.0, 2.0, 1.5][: tiers - 1], access_cost_per_t_km=1.0)
    except ValueError:
        pytest.skip("random instance infeasible by construction")


def _relaxation(model: TieredNetwork):
    """The path relaxation of ``model``, every demand point reaching the collection points it has arcs to."""
    from netplan.locate.network_model import _PathRelaxation

    a0 = model.arcs[0]
    reach = np.zeros((len(model.demand), model.tiers[0].size), bool)
    reach[a0.src, a0.dst] = True
    return _PathRelaxation(model, reach)


def _dense(model: TieredNetwork) -> list[np.ndarray]:
    out = []
    for level, arcs in enumerate(model.arcs):
        rows = len(model.demand) if level == 0 else model.tiers[level - 1].size
        d = np.full((rows, model.tiers[level].size), np.nan)
        d[arcs.src, arcs.dst] = arcs.distance
        out.append(d)
    return out


def _network_costs(model: TieredNetwork):
    """Every feasible network by enumeration, priced: (open masks, tier-1 cost, stations' opening + all haulage,
    opening of the tiers above the stations)."""
    dist = _dense(model)
    days = model.days / 1e6
    n = len(model.demand)
    for opens, assign, links in _networks(model):
        t1 = (
            model.tiers[0].open_cost[opens[0]].sum()
            + (model.demand * dist[0][np.arange(n), assign]).sum() * model.access * days
        )
        rest = model.tiers[1].open_cost[opens[1]].sum()
        load = np.zeros(model.tiers[0].size)
        np.add.at(load, assign, model.demand)
        for t, nxt in enumerate(links):
            src = np.flatnonzero(nxt >= 0)
            rest += (load[src] * dist[t + 1][src, nxt[src]]).sum() * model.haul[t] * days
            new = np.zeros(model.tiers[t + 1].size)
            np.add.at(new, nxt[src], load[src])
            load = new
        upper_open = sum(model.tiers[t].open_cost[opens[t]].sum() for t in range(2, len(model.tiers)))
        yield opens, t1, rest, upper_open


@cache
def _enumerated(seed: int, tiers: int) -> tuple[float, float, dict[bytes, float]]:
    """Optimum, least tier-1 cost (open + access), and per top-tier open set the least tier-2 opening + haul."""
    model = _model(seed, tiers)
    optimum, tier1, per_top = np.inf, np.inf, {}
    for opens, t1, rest, upper_open in _network_costs(model):
        optimum = min(optimum, t1 + rest + upper_open)
        tier1 = min(tier1, t1)
        key = opens[-1].tobytes()
        per_top[key] = min(per_top.get(key, np.inf), rest)
    return float(optimum), float(tier1), per_top


@pytest.mark.parametrize("tiers", [3, 4])
def test_drop_tier1_keeps_networks_feasible_and_never_costlier(tiers):
    """Local search from many feasible networks: never worse, still feasible, and it does find savings."""
    gains = []
    for seed in range(4):
        try:
            model = _model(seed, tiers)
        except BaseException:  # pytest.skip inside _model
            continue
        for k, (opens, assign, links) in enumerate(_networks(model)):
            if k % 97:
                continue
            before, _, _ = model.evaluate(opens, assign, links)
            new_open, new_assign, new_links = model.drop_tier1(opens, assign, links)
            after, _, loads = model.evaluate(new_open, new_assign, new_links)
            assert after <= before + 1e-6
            gains.append(before - after)
            for t, tier in enumerate(model.tiers):
                assert (loads[t] <= tier.capacity + 1e-6).all()
            used = np.zeros(model.tiers[0].size, bool)
            used[new_assign] = True
            assert (new_open[0] == used).all()  # open exactly where someone walks to
            assert ((new_links[0] >= 0) == new_open[0]).all()
            a0 = model.arcs[0]
            allowed = set(zip(a0.src.tolist(), a0.dst.tolist()))
            assert all((i, int(j)) in allowed for i, j in enumerate(new_assign))
    assert gains and max(gains) > 0


def test_drop_tier1_swaps_in_a_cheaper_point():
    """Two residents at one dear point; a cheap closed point in reach of both takes them."""
    demand = np.array([100.0, 120.0])
    t1 = TierSites(1, [500.0, 500.0], [1000.0, 100.0], [False, False])
    t2 = TierSites(2, [5000.0], [10.0], [False])
    t3 = TierSites(3, [5000.0], [10.0], [False])
    arcs = [
        Arcs.from_matrix(np.array([[10.0, 20.0], [10.0, 20.0]]), 100.0),
        Arcs.from_matrix(np.array([[50.0], [60.0]]), 100.0),
        Arcs.from_matrix(np.array([[5.0]]), 100.0),
    ]
    model = TieredNetwork(demand, [t1, t2, t3], arcs, [3.0, 2.0])
    opens = [np.array([True, False]), np.array([True]), np.array([True])]
    new_open, assign, links = model.drop_tier1(opens, np.array([0, 0]), [np.array([0, -1]), np.array([0])])
    assert new_open[0].tolist() == [False, True] and assign.tolist() == [1, 1] and links[0].tolist() == [-1, 0]
    assert (
        model.evaluate(new_open, assign, links)[0]
        < model.evaluate(opens, np.array([0, 0]), [np.array([0, -1]), np.array([0])])[0]
    )


def test_path_relaxation_searches_again_when_the_bound_only_run_finds_nothing(monkeypatch):
    """Without an incumbent pywraplp reports no bound; the relaxation must not fall back to a useless 0."""
    import netplan.locate.network_model as nm

    model = _model(0, 3)
    top = np.ones(model.tiers[-1].size, bool)
    expected = _relaxation(model).solve(top, 10, 0, "SCIP")
    real = nm.run_mip

    def starved(solver, backend, time_limit, seed, scip_params="", **kw):
        if scip_params:
            return "no_solution", float("nan"), 0.0, 0.0
        return real(solver, backend, time_limit, seed, **kw)

    monkeypatch.setattr(nm, "run_mip", starved)
    assert _relaxation(model).solve(top, 10, 0, "SCIP") == pytest.approx(expected)


@pytest.mark.parametrize("backend", ["SCIP", "HIGHS"])
@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("tiers", [3, 4])
def test_path_relaxation_lp_never_exceeds_its_mip(seed, tiers, backend):
    """The LP that rules top-tier sets out must stay at or below the MIP value it stands in for, set by set."""
    model = _model(seed, tiers)
    relax = _relaxation(model)
    sets = model._top_sets(np.inf)
    assert sets
    for top_open in sets:
        lp = relax.solve_lp(top_open, backend)
        mip = relax.solve(top_open, 10, 0, backend)
        assert lp <= mip * (1 + 1e-9) + 1e-6
        # the integrality flags come back: the next MIP is still a MIP (never below its own LP)
        assert relax.solve(top_open, 10, 0, backend) == pytest.approx(mip, rel=1e-9)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("tiers", [3, 4])
def test_screened_pricing_gives_the_bound_of_pricing_every_set(seed, tiers):
    """Skipping sets by their LP floor leaves the minimum over the sets, and so the bound, unchanged.

    (That bound is checked against enumerated optima in test_lower_bound_never_exceeds_the_enumerated_optimum.)
    """
    bounds, solved = {}, {}
    for screen in (False, True):
        model = _model(seed, tiers)
        model.screen_top_sets = screen
        bounds[screen] = model._split_bound(0.0, 20, seed, "HIGHS")
        solved[screen] = model.top_sets_solved
        assert 1 <= model.top_sets_solved <= model.top_sets_priced
    assert solved[False] == model.top_sets_priced == 3
    assert solved[True] < solved[False]  # on each of these the LP rules out one set or two
    assert bounds[True][0] == pytest.approx(bounds[False][0], rel=1e-9)
    assert bounds[True][1] == pytest.approx(bounds[False][1], rel=1e-9)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("tiers", [3, 4])
def test_path_relaxation_under_a_cutoff_keeps_the_least_value(seed, tiers):
    """A cutoff may stop a set's MIP early, but never lets it report more than its value, nor hide a lower one."""
    model = _model(seed, tiers)
    relax = _relaxation(model)
    for top_open in model._top_sets(np.inf):
        value = relax.solve(top_open, 10, 0, "HIGHS")
        for cutoff in (0.9 * value, value, 1.1 * value):
            cut = relax.solve(top_open, 10, 0, "HIGHS", cutoff=cutoff)
            assert cut <= value * (1 + 1e-9)
            assert min(cut, cutoff) == pytest.approx(min(value, cutoff), rel=1e-9)
