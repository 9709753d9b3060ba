"""Price and branch on windows of a level's plan (locate/columns.py)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from netplan.locate.columns import column_search, knapsack
from netplan.locate.lagrangian import LevelProblem, _plan_cost, solve_level


@pytest.mark.parametrize("seed", range(8))
def test_knapsack_matches_enumeration(seed: int) -> None:
    rng = np.random.default_rng(seed)
    k = int(rng.integers(1, 9))
    profit = rng.normal(5.0, 6.0, k)
    weight = rng.integers(1, 40, k)
    capacity = int(rng.integers(0, 80))
    best, best_set = 0.0, ()
    for r in range(k + 1):
        for sub in itertools.combinations(range(k), r):
            if weight[list(sub)].sum() <= capacity and profit[list(sub)].sum() > best + 1e-12:
                best, best_set = float(profit[list(sub)].sum()), sub
    value, chosen = knapsack(profit, weight, capacity)
    assert value == pytest.approx(best)
    assert weight[chosen].sum() <= capacity
    assert profit[chosen].sum() == pytest.approx(value)
    assert tuple(chosen) == tuple(sorted(chosen))
    assert not best_set or value > 0


def _random_level(seed: int, n: int = 40, m: int = 30) -> LevelProblem:
    """Sources and sites on a square; a source reaches the sites within a radius (always its nearest)."""
    rng = np.random.default_rng(seed)
    xy_s, xy_j = rng.uniform(0, 1000, (n, 2)), rng.uniform(0, 1000, (m, 2))
    d = np.linalg.norm(xy_s[:, None] - xy_j[None], axis=2)
    reach = (d <= 350) | (d == d.min(axis=1, keepdims=True))
    src, dst = np.nonzero(reach)
    w = rng.uniform(50, 330, n)
    return LevelProblem(
        weights=w,
        active=np.ones(n, bool),
        src=src,
        dst=dst,
        cost=w[src] * d[src, dst] * 0.05,
        capacity=np.full(m, 1000.0),
        open_cost=rng.choice([21_000.0, 30_000.0], m),
        fixed_open=np.zeros(m, bool),
    )


def _check(level: LevelProblem, open_: np.ndarray, assign: np.ndarray) -> float:
    """Independent feasibility: every source on an open site it reaches, no site over capacity; the plan's cost."""
    pairs = set(zip(level.src.tolist(), level.dst.tolist(), strict=True))
    act = np.flatnonzero(level.active)
    assert all((int(i), int(assign[i])) in pairs for i in act)
    assert open_[assign[act]].all()
    load = np.bincount(assign[act], weights=level.weights[act], minlength=len(level.capacity))
    assert (load <= level.capacity + 1e-6).all()
    return _plan_cost(open_, assign, level.src, level.dst, level.cost, level.open_cost, act)


@pytest.mark.parametrize("seed", range(5))
def test_windows_never_cost_more_stay_feasible_and_repeat(seed: int) -> None:
    level = _random_level(seed)
    plan = solve_level(level, iterations=50, window=0, seed=0)
    before = _check(level, plan.open, plan.assign)
    first = column_search(plan.open, plan.assign, level, window=15)
    second = column_search(plan.open, plan.assign, level, window=15)
    after = _check(level, first[0], first[1])
    assert after <= before + 1e-6
    assert after == pytest.approx(before - first[2].saving)
    assert first[2].saving > 0  # a plan without the exact window search leaves room on every one of these seeds
    assert first[2].windows >= 40 // 15
    assert np.array_equal(first[0], second[0]) and np.array_equal(first[1], second[1])
    assert column_search(plan.open, plan.assign, level, window=15, max_windows=1)[2].windows == 1


def test_one_window_repacks_four_half_full_sites_into_two() -> None:
    # four 500-kg compounds that all reach four 1,000-kg sites: a plan with a site each can close two
    level = LevelProblem(
        weights=np.full(4, 500.0),
        active=np.ones(4, bool),
        src=np.repeat(np.arange(4), 4),
        dst=np.tile(np.arange(4), 4),
        cost=np.ones(16),
        capacity=np.full(4, 1000.0),
        open_cost=np.full(4, 100.0),
        fixed_open=np.zeros(4, bool),
    )
    open_, assign, report = column_search(np.ones(4, bool), np.arange(4), level, window=4)
    assert report.improved == 1 and report.saving == pytest.approx(200.0)
    assert int(open_.sum()) == 2
    assert _check(level, open_, assign) == pytest.approx(204.0)


def test_a_site_serving_sources_outside_the_window_stays_open_with_its_room() -> None:
    # sources 0-2 share sites 0 and 1; source 3 (outside the 3-source window) keeps site 1 open with 600 kg of room
    level = LevelProblem(
        weights=np.array([300.0, 300.0, 300.0, 400.0]),
        active=np.ones(4, bool),
        src=np.array([0, 0, 1, 1, 2, 2, 3]),
        dst=np.array([0, 1, 0, 1, 0, 1, 1]),
        cost=np.array([1.0, 5.0, 1.0, 5.0, 1.0, 5.0, 1.0]),
        capacity=np.full(2, 1000.0),
        open_cost=np.full(2, 100.0),
        fixed_open=np.zeros(2, bool),
    )
    # the plan: 0 and 1 on site 0, 2 and 3 on site 1; the optimum moves 2 to site 0 (room 400) — a walking saving
    open_, assign, report = column_search(np.ones(2, bool), np.array([0, 0, 1, 1]), level, window=3)
    assert assign.tolist() == [0, 0, 0, 1]
    assert open_.tolist() == [True, True]
    assert report.saving == pytest.approx(4.0)
    assert _check(level, open_, assign) == pytest.approx(200.0 + 4.0)


def test_solve_level_with_windows_is_never_costlier_and_says_what_they_did() -> None:
    level = _random_level(11, n=60, m=40)
    plain = solve_level(level, iterations=60, seed=0)
    priced = solve_level(level, iterations=60, seed=0, columns=20)
    assert _check(level, priced.open, priced.assign) <= plain.objective + 1e-6
    assert priced.bound == pytest.approx(plain.bound)
    assert priced.details["column_windows"] >= 3
    assert priced.details["column_saving"] >= 0
