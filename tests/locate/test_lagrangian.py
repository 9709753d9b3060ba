"""The Lagrangian siting engine: bounds never above the optimum, feasible plans, the same plan every time."""

from __future__ import annotations

from itertools import combinations, product

import numpy as np
import pytest

from netplan.locate.lagrangian import (
    LevelProblem,
    LevelResult,
    _binary_knapsacks,
    _knapsacks,
    block_time_limits,
    close_sites,
    level_bound,
    solve_level,
    solve_level_split,
    split_then_assign,
    tiled_windows,
    window_search,
)
from netplan.locate.network_model import Arcs, TieredNetwork, TierSites

from .test_network_model import _enumerate, _enumerated, _model, _tiny


def _level(seed: int, n: int = 8, m: int = 5, clusters: int = 1):
    """A random single-source capacitated level; with clusters > 1, far-apart groups (independent components)."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0, 20000, (clusters, 2))
    pts = centres[rng.integers(0, clusters, n)] + rng.uniform(0, 3000, (n, 2))
    sites = centres[np.arange(m) % clusters] + rng.uniform(0, 3000, (m, 2))
    d = np.linalg.norm(pts[:, None] - sites[None], axis=2)
    arcs = Arcs.from_matrix(d, 2200)
    w = rng.uniform(50, 300, n)
    return dict(
        weights=w,
        active=np.ones(n, bool),
        src=arcs.src,
        dst=arcs.dst,
        cost=arcs.distance * w[arcs.src] * 0.5,
        capacity=np.full(m, 700.0) * rng.uniform(0.8, 1.2, m),
        open_cost=1000 * rng.uniform(0.7, 1.3, m),
        fixed_open=np.zeros(m, bool),
    )


def _optimum(kw) -> float:
    """Every single-source assignment, opening exactly the sites used."""
    w, src, dst, cost = kw["weights"], kw["src"], kw["dst"], kw["cost"]
    options = [np.flatnonzero(src == i) for i in range(len(w))]
    if any(len(o) == 0 for o in options):
        return float("inf")
    best = float("inf")
    for choice in product(*options):
        arcs = np.array(choice)
        load = np.bincount(dst[arcs], weights=w[src[arcs]], minlength=len(kw["capacity"]))
        if (load > kw["capacity"] + 1e-9).any():
            continue
        best = min(best, float(kw["open_cost"][np.unique(dst[arcs])].sum() + cost[arcs].sum()))
    return best


def _check_plan(kw, res) -> float:
    w, src, dst, cost = kw["weights"], kw["src"], kw["dst"], kw["cost"]
    total = float(kw["open_cost"][res.open].sum())
    for i in range(len(w)):
        j = res.assign[i]
        assert res.open[j]
        arc = np.flatnonzero((src == i) & (dst == j))
        assert len(arc) == 1
        total += float(cost[arc[0]])
    load = np.bincount(res.assign, weights=w, minlength=len(kw["capacity"]))
    assert (load <= kw["capacity"] + 1e-6).all()
    return total


@pytest.mark.parametrize("seed", range(12))
def test_bound_below_and_plan_above_the_enumerated_optimum(seed):
    kw = _level(seed)
    opt = _optimum(kw)
    if not np.isfinite(opt):
        pytest.skip("no feasible plan")
    for res in (
        solve_level(LevelProblem(**kw), iterations=200),
        solve_level(LevelProblem(**kw), iterations=200, binary=True),
        solve_level(LevelProblem(**kw), iterations=200, lp_start=True),
        solve_level_split(LevelProblem(**kw), exact_sources=0),
        solve_level_split(LevelProblem(**kw), exact_sources=0, lp_start=True),
        solve_level_split(LevelProblem(**kw)),
    ):
        assert res.bound <= opt + 1e-6
        assert np.isclose(_check_plan(kw, res), res.objective)
        assert res.objective >= opt - 1e-6
    # small enough for the exact path: optimal
    exact = solve_level_split(LevelProblem(**kw), exact_sources=50)
    assert exact.objective == pytest.approx(opt) and exact.bound == pytest.approx(opt)


@pytest.mark.parametrize("seed", range(6))
def test_components_add_up(seed):
    kw = _level(seed, n=10, m=6, clusters=3)
    whole = solve_level_split(LevelProblem(**kw), exact_sources=0)
    opt = _optimum(kw)
    if not np.isfinite(opt):
        # enumeration finds no feasible plan: the split solve must not claim one either
        assert not np.isfinite(whole.objective)
        return
    assert whole.details["components"] >= 2
    assert whole.bound <= opt + 1e-6 <= whole.objective + 2e-6
    assert np.isclose(_check_plan(kw, whole), whole.objective)


def test_knapsack_bounds_are_valid_and_binary_is_stronger():
    rng = np.random.default_rng(7)
    for _ in range(100):
        m, n = 3, int(rng.integers(1, 9))
        dst = rng.integers(0, m, n)
        w, rc, cap = rng.uniform(0, 400, n), rng.uniform(-100, 30, n), rng.uniform(300, 900, m)
        binary, x = _binary_knapsacks(rc, w, dst, cap, m)
        continuous, _ = _knapsacks(rc, w, np.where(w > 0, w, 1.0), dst, cap, m)
        assert np.allclose(np.bincount(dst, weights=rc * x, minlength=m), binary)
        for j in range(m):
            items = np.flatnonzero(dst == j)
            best = min(
                (
                    rc[list(c)].sum()
                    for k in range(len(items) + 1)
                    for c in combinations(items, k)
                    if w[list(c)].sum() <= cap[j]
                ),
                default=0.0,
            )
            assert binary[j] <= best + 1e-6
            assert continuous[j] <= best + 1e-6
            # the programme solves its rounded knapsack exactly: the same rounding, enumerated
            scale = 400 / cap[j]
            units = np.floor(w * scale * (1 - 1e-12)).astype(int)
            room = int(np.floor(cap[j] * scale * (1 + 1e-12) + 1e-9))
            gains = [i for i in items if rc[i] < 0]
            rounded = min(
                rc[list(c)].sum()
                for k in range(len(gains) + 1)
                for c in combinations(gains, k)
                if units[list(c)].sum() <= room
            )
            assert binary[j] == pytest.approx(rounded, abs=1e-9)


def _strong_lp(kw) -> float:
    """The level's strong LP relaxation (x_ij <= y_j), built densely here, independently of the engine."""
    from scipy.optimize import LinearConstraint, milp

    w, src, dst, cost, cap = kw["weights"], kw["src"], kw["dst"], kw["cost"], kw["capacity"]
    n, m, a = len(w), len(cap), len(src)
    assign_rows = np.zeros((n, a + m))
    assign_rows[src, np.arange(a)] = 1.0
    cap_rows = np.zeros((m, a + m))
    cap_rows[dst, np.arange(a)] = w[src]
    cap_rows[np.arange(m), a + np.arange(m)] = -cap
    link_rows = np.zeros((a, a + m))
    link_rows[np.arange(a), np.arange(a)] = 1.0
    link_rows[np.arange(a), a + dst] = -1.0
    res = milp(
        np.r_[cost, kw["open_cost"]],
        constraints=[
            LinearConstraint(assign_rows, 1.0, 1.0),
            LinearConstraint(cap_rows, -np.inf, 0.0),
            LinearConstraint(link_rows, -np.inf, 0.0),
        ],
        bounds=(0.0, 1.0),
    )
    assert res.status == 0
    return float(res.fun)


@pytest.mark.parametrize("seed", range(4))
def test_lp_start_bound_reaches_the_lp_and_stays_below_the_optimum(seed):
    """Started at the LP duals, the bound is at least the strong LP and the usual start's bound, never above the MIP."""
    from netplan.locate.lagrangian import solve_level_mip

    kw = _level(seed, n=40, m=30, clusters=2)
    lp = _strong_lp(kw)
    exact = solve_level_mip(LevelProblem(**kw), node_limit=100_000, time_limit=300.0)
    assert exact.details["status"] == "optimal"
    plain = solve_level(LevelProblem(**kw), iterations=100, window=0)
    started = solve_level(LevelProblem(**kw), iterations=100, window=0, lp_start=True)
    assert started.bound >= lp - 1e-6 * abs(lp)
    assert started.bound >= plain.bound - 1e-6 * abs(plain.bound)
    assert started.bound <= exact.objective + 1e-6 * abs(exact.objective)
    assert np.isclose(_check_plan(kw, started), started.objective)
    # an LP over each source's 3 cheapest arcs only: its multipliers are rougher, the bound still valid
    rough = solve_level(LevelProblem(**kw), iterations=100, window=0, lp_start=True, lp_arcs=3, lp_full_arcs=0)
    assert rough.bound <= exact.objective + 1e-6 * abs(exact.objective)
    assert np.isclose(_check_plan(kw, rough), rough.objective)
    again = solve_level(LevelProblem(**kw), iterations=100, window=0, lp_start=True, lp_arcs=3, lp_full_arcs=0)
    assert np.array_equal(again.assign, rough.assign) and again.bound == rough.bound


def test_nearest_arcs_keeps_each_sources_cheapest():
    from netplan.locate.lagrangian import _nearest_arcs

    src = np.array([0, 0, 0, 1, 2, 2, 0])
    price = np.array([5.0, 1.0, 3.0, 9.0, 2.0, 2.0, 1.0])
    assert _nearest_arcs(src, price, 3, 2).tolist() == [1, 3, 4, 5, 6]
    assert _nearest_arcs(src, price, 3, 1).tolist() == [1, 3, 4]


def test_window_search_never_worsens_and_keeps_plans_feasible():
    kw = _level(3, n=40, m=25, clusters=2)
    start = solve_level(LevelProblem(**kw), iterations=50, window=0)
    open_, assign, _, hit = window_search(start.open, start.assign, LevelProblem(**kw), window=6)
    res = type(start)(open_, assign, 0.0, start.bound, 0, False)
    assert _check_plan(kw, res) <= start.objective + 1e-6
    assert not hit  # the work limits, not the clock, ended it
    # a deadline already past stops the search at once and says so
    open_, assign, improved, hit = window_search(start.open, start.assign, LevelProblem(**kw), window=6, deadline=0.0)
    assert hit and improved == 0 and np.array_equal(assign, start.assign)


def test_window_search_over_each_sources_cheapest_arcs_never_worsens():
    """Windows that offer each source only its 2 cheapest arcs (and its current one) keep the plan feasible."""
    kw = _level(5, n=40, m=25, clusters=2)  # a start the windows improve
    start = solve_level(LevelProblem(**kw), iterations=50, window=0)
    open_, assign, improved, hit = window_search(
        start.open, start.assign, LevelProblem(**kw), window=6, arcs_per_source=2
    )
    assert improved > 0 and not hit
    res = type(start)(open_, assign, 0.0, start.bound, 0, False)
    assert _check_plan(kw, res) <= start.objective + 1e-6
    moved = np.flatnonzero(assign != start.assign)
    assert (improved > 0) == (len(moved) > 0 or not np.array_equal(open_, start.open))
    for i in moved:  # a source that moved went to one of its 2 cheapest sites
        arcs = np.flatnonzero(kw["src"] == i)
        cheapest = kw["dst"][arcs[np.lexsort((arcs, kw["cost"][arcs]))][:2]]
        assert assign[i] in cheapest


def test_same_input_same_plan():
    kw = _level(5, n=60, m=40, clusters=2)
    a, b = (
        solve_level_split(LevelProblem(**kw), exact_sources=0),
        solve_level_split(LevelProblem(**kw), exact_sources=0),
    )
    assert np.array_equal(a.open, b.open) and np.array_equal(a.assign, b.assign)
    assert a.objective == b.objective and a.bound == b.bound


# the two slowest 4-tier instances (~30 s together) run with `pytest -m slow`; two 4-tier ones stay in the suite
_NETWORK_CASES = [
    pytest.param(seed, tiers, id=f"{tiers}-{seed}", marks=[pytest.mark.slow] if tiers == 4 and seed >= 2 else [])
    for tiers in (3, 4)
    for seed in range(4)
]


@pytest.mark.parametrize(("seed", "tiers"), _NETWORK_CASES)
def test_network_engine_bound_below_the_enumerated_optimum(seed, tiers):
    demand, sites, arcs = _tiny(seed, tiers)
    model = TieredNetwork(
        demand, sites, arcs, [3.0, 2.0, 1.5][: tiers - 1], access_cost_per_t_km=1.0, engine="lagrangian"
    )
    optimum = _enumerate(model)
    out = model.solve("both", time_limit=60, seed=seed)
    for sol in out.values():
        assert sol.bound <= optimum + 1e-6 * optimum
        assert sol.objective >= optimum - 1e-6 * optimum
        value, _, loads = model.evaluate(sol.open, sol.demand_to_tier1, sol.links)
        assert value == pytest.approx(sol.objective)
        for t, tier in enumerate(model.tiers):
            assert (loads[t] <= tier.capacity + 1e-6).all()
        assert sol.time_limit_hit == []


def test_top_set_enumeration_gives_up_after_its_work_limit():
    rng = np.random.default_rng(0)
    n, sizes = 30, [30, 12, 40]
    demand = np.full(n, 100.0)
    arcs = [Arcs.from_matrix(rng.uniform(0, 100, (a, b)), 1000.0) for a, b in zip([n] + sizes[:-1], sizes)]
    tiers = [
        TierSites(t + 1, np.full(m, c), np.full(m, 1000.0 * (t + 1)), np.zeros(m, bool))
        for t, (m, c) in enumerate(zip(sizes, [500.0, 1000.0, 150.0]))
    ]
    model = TieredNetwork(demand, tiers, arcs, [1.0, 1.0], engine="lagrangian")
    model.top_set_work = 1000  # 20 of 40 needed: C(40, 20) sets
    assert model._top_sets(float("inf")) is None
    bound, _ = model.lower_bound(0.0, 30.0, 0, "HIGHS")
    assert np.isfinite(bound) and model.top_sets_priced == -1


def test_a_binding_time_limit_is_reported(recwarn):
    kw = _level(1, n=60, m=40, clusters=1)
    res = solve_level(LevelProblem(**kw), iterations=10_000, time_limit=0.0)
    assert res.time_limit_hit


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("tiers", [3, 4])
def test_path_relaxation_lagrangian_bound_below_its_mip(seed, tiers):
    from scipy import sparse

    from netplan.locate.network_model import _PathRelaxation

    demand, sites, arcs = _tiny(seed, tiers)
    model = TieredNetwork(demand, sites, arcs, [3.0, 2.0, 1.5][: tiers - 1], engine="lagrangian")
    a0 = model.arcs[0]
    reach = (
        sparse.csr_array(
            (np.ones(len(a0.src)), (a0.src, a0.dst)), shape=(len(model.demand), model.tiers[0].size)
        ).toarray()
        > 0
    )
    relax = _PathRelaxation(model, reach)
    for k in range(model.tiers[-1].size):
        top = np.zeros(model.tiers[-1].size, bool)
        top[k] = True
        exact = relax._solve_mip(top, 30.0, 0, "HIGHS")
        assert relax.solve_lagrangian(top) <= exact + 1e-6 * max(abs(exact), 1.0)


# the enumeration of every network is what costs here: 4-tier seeds 1-4 take 3-22 s each
@pytest.mark.parametrize(("tiers", "seed"), [(3, 0), (3, 1), (3, 2), (3, 5), (4, 0), (4, 5)])
def test_path_relaxation_lagrangian_bound_never_above_any_network_with_that_top_set(tiers, seed):
    """The relaxation keeps each station's capacity: still below every network's tier-2 opening plus haulage."""
    from scipy import sparse

    from netplan.locate.network_model import _PathRelaxation

    model = _model(seed, tiers)
    _, _, per_top = _enumerated(seed, tiers)
    a0 = model.arcs[0]
    shape = (len(model.demand), model.tiers[0].size)
    reach = sparse.csr_array((np.ones(len(a0.src)), (a0.src, a0.dst)), shape=shape).toarray() > 0
    relax = _PathRelaxation(model, reach)
    checked = 0
    for key, rest in per_top.items():
        top = np.frombuffer(key, dtype=bool)
        if np.isfinite(rest):
            assert relax.solve_lagrangian(top) <= rest + 1e-6 * max(abs(rest), 1.0)
            checked += 1
    assert checked > 0


@pytest.mark.parametrize("seed", [0, 1, 4])
def test_level_bound_is_the_strong_lp_and_never_above_the_optimum(seed):
    from scipy import optimize, sparse

    kw = _level(seed, n=8, m=5)
    optimum = _optimum(kw)
    bound, hit = level_bound(LevelProblem(**kw))
    assert not hit
    assert bound <= optimum + 1e-6 * optimum
    # the strong LP: assignment rows, x <= y, each site's capacity, y in [0, 1]
    src, dst, w = kw["src"], kw["dst"], kw["weights"]
    a, m, n = len(src), len(kw["capacity"]), len(w)
    arange = np.arange(a)
    eq = sparse.csr_array((np.ones(a), (src, arange)), shape=(n, a + m))
    capacity = sparse.coo_array(
        (np.r_[w[src], -kw["capacity"]], (np.r_[dst, np.arange(m)], np.r_[arange, a + np.arange(m)])), shape=(m, a + m)
    )
    link = sparse.coo_array((np.r_[np.ones(a), -np.ones(a)], (np.r_[arange, arange], np.r_[arange, a + dst])))
    lp = optimize.linprog(
        np.r_[kw["cost"], kw["open_cost"]],
        A_ub=sparse.vstack([capacity, link.reshape((a, a + m))]).tocsr(),
        b_ub=np.zeros(m + a),
        A_eq=eq,
        b_eq=np.ones(n),
        bounds=(0, 1),
        method="highs",
    )
    if lp.status == 2:
        assert bound == np.inf
        return
    assert bound == pytest.approx(lp.fun, rel=1e-6)


def _packing() -> dict:
    """Six sources of 40-140 kg, three 340 kg sites open to all at 1,000 each; two sites suffice."""
    w = np.array([100.0, 140.0, 100.0, 140.0, 140.0, 40.0])
    n, m = len(w), 3
    src, dst = np.repeat(np.arange(n), m), np.tile(np.arange(m), n)
    return dict(
        weights=w,
        active=np.ones(n, bool),
        src=src,
        dst=dst,
        cost=np.ones(n * m) + 0.01 * dst,
        capacity=np.full(m, 340.0),
        open_cost=np.full(m, 1000.0),
        fixed_open=np.zeros(m, bool),
    )


def test_close_sites_packs_what_one_move_at_a_time_cannot():
    """Three sites hold 100 + 140, 100 + 140 and 140 + 40 kg; two of 340 kg hold all six; no one shift empties one."""
    kw, m = _packing(), 3
    start = LevelResult(np.ones(m, bool), np.array([0, 0, 1, 1, 2, 2]), 3006.06, 2000.0, 0, False)
    assert _check_plan(kw, start) == pytest.approx(start.objective)
    res, closed = close_sites(LevelProblem(**kw), start)
    assert closed == 1 and int(res.open.sum()) == 2
    assert _check_plan(kw, res) == pytest.approx(res.objective) == pytest.approx(_optimum(kw))
    assert res.bound == start.bound


@pytest.mark.parametrize("seed", range(6))
def test_close_sites_never_costs_more_and_keeps_plans_feasible(seed):
    kw = _level(seed, n=8, m=5)
    opt = _optimum(kw)
    if not np.isfinite(opt):
        pytest.skip("no feasible plan")
    res = solve_level(LevelProblem(**kw), iterations=50)
    # a wasteful start: every site open
    start = LevelResult(
        np.ones(5, bool), res.assign, res.objective + float(kw["open_cost"][~res.open].sum()), res.bound, 0, False
    )
    out, _ = close_sites(LevelProblem(**kw), start)
    assert _check_plan(kw, out) == pytest.approx(out.objective)
    assert opt - 1e-6 <= out.objective <= res.objective + 1e-6


@pytest.mark.parametrize("seed", range(10))
def test_split_then_assign_plans_are_feasible_and_bracket_the_optimum(seed):
    kw = _level(seed, n=8, m=5)
    opt = _optimum(kw)
    res = split_then_assign(LevelProblem(**kw), node_limit=100)
    if not np.isfinite(res.objective):
        # it may miss a plan (the split open set can be too tight to single-source), never invent one
        assert res.bound <= opt * (1 + 1e-9)
        return
    assert _check_plan(kw, res) == pytest.approx(res.objective)
    assert res.bound <= opt * (1 + 1e-9) <= res.objective * (1 + 1e-9)


def test_split_then_assign_packs_stations_into_the_fewest_centres():
    """Six stations of 100-140 kg into 340 kg centres: two suffice, and the split-flow MIP opens exactly two."""
    kw = _packing()
    res = split_then_assign(LevelProblem(**kw))
    assert int(res.open.sum()) == 2
    assert _check_plan(kw, res) == pytest.approx(res.objective) == pytest.approx(_optimum(kw))
    # a fixed site stays open and is paid for; a count bound is kept
    kw["fixed_open"] = np.array([False, False, True])
    fixed = split_then_assign(LevelProblem(**kw, max_count=2))
    assert fixed.open[2] and int(fixed.open.sum()) == 2
    # site 0 and the fixed site 2, three stations each (0.02 a station at site 2): 2,000 + 6 + 0.06
    assert _check_plan(kw, fixed) == pytest.approx(fixed.objective) == pytest.approx(2006.06)


def test_a_binding_stage_time_limit_warns_and_shows_in_the_kpis():
    from netplan.diagnostics import collect

    demand, sites, arcs = _tiny(0, 3)
    model = TieredNetwork(demand, sites, arcs, [3.0, 2.0], engine="lagrangian")
    with collect() as warnings:
        out = model.solve("bottom_up", time_limit=1e-9, seed=0)
    sol = out["bottom_up"]
    assert sol.time_limit_hit and sol.summary()["time_limit_hit"]
    assert [w.code for w in warnings] == ["locate.time_limit_hit"]


@pytest.mark.parametrize("sizes", [[600] * 16, [20, 5, 9000, 40], [1]])
def test_a_component_meets_its_cap_only_when_the_level_is_out_of_time(sizes: list[int]) -> None:
    # components sited one after another, each taking exactly what its by-size share would give: the generous cap
    # never binds first, the components' caps never exceed what the level has left, the last gets all of it
    left, remaining = 1000.0, sum(sizes)
    for i, size in enumerate(sizes):
        by_size, cap = block_time_limits(left, size, remaining)
        assert by_size == pytest.approx(left * size / remaining)
        assert by_size <= cap <= left
        assert cap >= left / 2
        if i == len(sizes) - 1:
            assert cap == pytest.approx(left)
        left -= by_size
        remaining -= size
    assert left == pytest.approx(0.0, abs=1e-9)
    assert block_time_limits(float("inf"), 3, 10) == (float("inf"), float("inf"))


def test_components_sited_side_by_side_give_the_plan_of_one_process():
    """Two worker processes, largest component first: the same plan, bound and counts as one process."""
    kw = _level(7, n=240, m=120, clusters=8)
    settings = dict(exact_sources=30, lp_start=True, binary_arcs=20_000)
    one = solve_level_split(LevelProblem(**kw), **settings)
    two = solve_level_split(LevelProblem(**kw), workers=2, **settings)
    assert one.details["components"] >= 4 and one.details["exact"] >= 1 and one.details["lagrangian"] >= 1
    assert np.isfinite(one.objective)
    assert np.array_equal(one.open, two.open) and np.array_equal(one.assign, two.assign)
    assert one.objective == two.objective and one.bound == two.bound
    assert one.details == two.details
    assert np.isclose(_check_plan(kw, two), two.objective)


def _same(a, b) -> bool:
    return (
        np.array_equal(a.open, b.open)
        and np.array_equal(a.assign, b.assign)
        and a.objective == b.objective
        and a.bound == b.bound
    )


def test_components_met_again_take_their_earlier_result():
    """The memo of sited components: replayed only for the same data and settings, never for a result a cap cut."""
    kw = _level(7, n=240, m=120, clusters=8)
    settings = dict(exact_sources=30, lp_start=True, binary_arcs=20_000)
    fresh = solve_level_split(LevelProblem(**kw), **settings)
    components = fresh.details["components"]
    memo: dict = {}
    first = solve_level_split(LevelProblem(**kw), memo=memo, **settings)
    assert first.details["reused"] == 0 and len(memo) == components >= 4
    assert _same(first, fresh)
    again = solve_level_split(LevelProblem(**kw), memo=memo, **settings)
    assert again.details["reused"] == components and _same(again, fresh)

    # fewer links in one cluster (as stations first gives tier 1): only the components they touch are sited again,
    # and the plan is the one siting everything again gives
    from scipy import sparse
    from scipy.sparse.csgraph import connected_components

    n, m = len(kw["weights"]), len(kw["capacity"])
    graph = sparse.coo_array((np.ones(len(kw["src"])), (kw["src"], n + kw["dst"])), shape=(n + m, n + m))
    labels = connected_components(graph, directed=False)[1]
    touched = labels[kw["src"]] == labels[0]
    keep = ~touched | (np.arange(len(kw["src"])) % 3 > 0)
    fewer = dict(kw, src=kw["src"][keep], dst=kw["dst"][keep], cost=kw["cost"][keep])
    plain = solve_level_split(LevelProblem(**fewer), **settings)
    replayed = solve_level_split(LevelProblem(**fewer), memo=memo, **settings)
    assert 1 <= replayed.details["reused"] < replayed.details["components"]
    assert _same(replayed, plain)
    assert np.isclose(_check_plan(fewer, replayed), replayed.objective)

    # another seed is another search: nothing is replayed
    other = solve_level_split(LevelProblem(**kw), memo=dict(memo), seed=1, **settings)
    assert other.details["reused"] == 0

    # a result cut short by the clock is not kept, so a later run within its work limits is not given it
    cut: dict = {}
    capped = solve_level_split(LevelProblem(**kw), memo=cut, time_limit=1e-6, **settings)
    assert capped.time_limit_hit and len(cut) < components
    assert _same(solve_level_split(LevelProblem(**kw), memo=cut, **settings), fresh)


def _breadth_first_members(seed_i, window, seen, src, dst):
    """The windows' breadth-first search written out plainly: expand every source met, in order."""
    sites_of = {i: sorted(set(dst[src == i].tolist())) for i in set(src.tolist())}
    sources_of = {j: sorted(set(src[dst == j].tolist())) for j in set(dst.tolist())}
    members, queue, in_win = [], [seed_i], {seed_i}
    while queue and len(members) < window:
        i = queue.pop(0)
        if not seen[i]:
            members.append(i)
        for j in sites_of.get(i, []):
            for k in sources_of[j]:
                if k not in in_win:
                    in_win.add(k)
                    queue.append(k)
    return members


@pytest.mark.parametrize("seed", range(6))
def test_windows_are_the_breadth_first_ones_and_tile_the_sources(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, m = int(rng.integers(20, 120)), int(rng.integers(3, 40))
    arcs = rng.random((n, m)) < rng.uniform(0.02, 0.5)
    src, dst = np.nonzero(arcs)
    cost = rng.uniform(1, 10, len(src))
    active = rng.random(n) < 0.8
    active[src[0]] = True
    window = int(rng.integers(1, 20))
    seen = np.zeros(n, dtype=bool)
    covered = []
    for members, window_arcs in tiled_windows(src, dst, cost, active, np.full(n, -1), window, 0, m):
        seed_i = next(i for i in np.flatnonzero(active) if not seen[i])  # windows start in index order
        expected = _breadth_first_members(seed_i, window, seen, src, dst)
        assert members.tolist() == sorted(expected)
        assert sorted(window_arcs.tolist()) == np.flatnonzero(np.isin(src, members)).tolist()
        seen[members] = True
        covered.extend(members.tolist())
    # every active source in exactly one window (inactive ones only when met on the way)
    assert len(covered) == len(set(covered))
    assert set(np.flatnonzero(active).tolist()) <= set(covered)
