"""PMedian: exact optimum against brute-force enumeration, degenerate and infeasible inputs, OR-Library pmed1."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from conftest import published_path

from benchmarks.orlib import read_pmedian as load_pmed
from netplan.locate.base import LocationResult
from netplan.locate.pmedian import PMedian


def brute_force(cost: np.ndarray, weights: np.ndarray, p: int, fixed: tuple[int, ...] = ()) -> float:
    """The optimum by enumerating every choice of p sites that contains the fixed ones."""
    m = cost.shape[1]
    others = [j for j in range(m) if j not in fixed]
    best = np.inf
    for extra in itertools.combinations(others, p - len(fixed)):
        cols = list(fixed) + list(extra)
        nearest = cost[:, cols].min(axis=1)
        used = weights > 0
        best = min(best, float((weights[used] * nearest[used]).sum()))
    return best


def check_solution(
    result: LocationResult, cost: np.ndarray, weights: np.ndarray, p: int, fixed: tuple[int, ...] = ()
) -> float:
    """Solver-independent checks; returns the objective recomputed from the open sites."""
    assert result.model == "p-median"
    assert result.sense == "min"
    assert result.open.dtype == bool and result.open.shape == (cost.shape[1],)
    assert result.n_open == p
    assert result.open[list(fixed)].all()
    open_idx = result.open_indices
    nearest = cost[:, open_idx].min(axis=1)
    # Each demand point goes to an open site at its nearest open distance.
    assert result.open[result.assignment].all()
    np.testing.assert_allclose(cost[np.arange(len(cost)), result.assignment], nearest)
    used = weights > 0
    recomputed = float((weights[used] * nearest[used]).sum())
    assert result.objective == pytest.approx(recomputed, rel=1e-12, abs=1e-9)
    return recomputed


def random_instance(seed: int, n: int, m: int, integer: bool) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    # Points in a square so that costs look like distances (ties and structure as in practice).
    demand = rng.random((n, 2)) * 100
    sites = rng.random((m, 2)) * 100
    cost = np.hypot(*(demand[:, None, :] - sites[None, :, :]).transpose(2, 0, 1))
    if integer:
        return np.round(cost), rng.integers(1, 6, n).astype(float)
    return cost, rng.random(n) * 3 + 0.1


CASES = [
    (seed, n, m, integer, p)
    for seed, (n, m) in enumerate([(12, 8), (16, 9), (20, 10)])
    for integer in (True, False)
    for p in (1, 2, 3, 5)
]


@pytest.mark.parametrize("seed,n,m,integer,p", CASES)
def test_matches_brute_force(seed: int, n: int, m: int, integer: bool, p: int) -> None:
    cost, weights = random_instance(seed, n, m, integer)
    result = PMedian.from_cost_matrix(cost, weights, p).solve(time_limit=30, seed=0)
    assert result.status == "optimal"
    value = check_solution(result, cost, weights, p)
    assert value == pytest.approx(brute_force(cost, weights, p), rel=1e-9)
    assert result.gap == 0.0
    assert result.bound == pytest.approx(value)


@pytest.mark.parametrize("seed,fixed,p", [(3, (0,), 3), (4, (2, 7), 4), (5, (1, 4, 6), 3), (6, (5,), 1)])
def test_fixed_open_matches_brute_force(seed: int, fixed: tuple[int, ...], p: int) -> None:
    cost, weights = random_instance(seed, 18, 9, integer=seed % 2 == 0)
    result = PMedian.from_cost_matrix(cost, weights, p, fixed_open=fixed).solve(time_limit=30)
    assert result.status == "optimal"
    value = check_solution(result, cost, weights, p, fixed)
    assert value == pytest.approx(brute_force(cost, weights, p, fixed), rel=1e-9)


@pytest.mark.parametrize("method", ["auto", "highs", "scip", "bb"])
def test_every_method_reaches_the_optimum(method: str) -> None:
    cost, weights = random_instance(11, 20, 10, integer=True)
    result = PMedian.from_cost_matrix(cost, weights, 3).solve(time_limit=30, method=method)
    assert result.status == "optimal"
    assert check_solution(result, cost, weights, 3) == pytest.approx(brute_force(cost, weights, 3))


def test_deterministic_for_a_seed() -> None:
    cost, weights = random_instance(7, 20, 10, integer=False)
    a = PMedian.from_cost_matrix(cost, weights, 4).solve(seed=3)
    b = PMedian.from_cost_matrix(cost, weights, 4).solve(seed=3)
    assert (a.open == b.open).all() and a.objective == b.objective and a.solver == b.solver


def test_p_equals_m_opens_everything() -> None:
    cost, weights = random_instance(1, 12, 8, integer=True)
    result = PMedian.from_cost_matrix(cost, weights, 8).solve()
    assert result.status == "optimal" and result.open.all()
    check_solution(result, cost, weights, 8)


def test_p_one_is_the_best_single_site() -> None:
    cost, weights = random_instance(2, 15, 9, integer=False)
    result = PMedian.from_cost_matrix(cost, weights, 1).solve()
    assert result.open_indices.tolist() == [int(np.argmin(weights @ cost))]
    check_solution(result, cost, weights, 1)


def test_all_costs_equal() -> None:
    cost = np.full((14, 8), 7.0)
    weights = np.arange(1, 15, dtype=float)
    result = PMedian.from_cost_matrix(cost, weights, 3).solve()
    assert result.status == "optimal"
    assert check_solution(result, cost, weights, 3) == pytest.approx(7.0 * weights.sum())


def test_zero_weights() -> None:
    cost, _ = random_instance(3, 12, 8, integer=True)
    weights = np.zeros(12)
    result = PMedian.from_cost_matrix(cost, weights, 2, fixed_open=[5]).solve()
    assert result.status == "optimal" and result.objective == 0.0
    check_solution(result, cost, weights, 2, (5,))


def test_some_zero_weights_match_brute_force() -> None:
    cost, weights = random_instance(8, 16, 9, integer=True)
    weights[::3] = 0.0
    result = PMedian.from_cost_matrix(cost, weights, 3).solve()
    assert check_solution(result, cost, weights, 3) == pytest.approx(brute_force(cost, weights, 3))


def test_partly_unreachable_pairs_are_avoided() -> None:
    cost, weights = random_instance(9, 16, 9, integer=True)
    cost[:8, :4] = np.inf  # the first half of the demand cannot reach the first four sites
    result = PMedian.from_cost_matrix(cost, weights, 2).solve()
    assert np.isfinite(result.objective)
    assert check_solution(result, cost, weights, 2) == pytest.approx(brute_force(cost, weights, 2))


def test_no_choice_reaches_everyone_raises() -> None:
    cost = np.array([[1.0, np.inf], [np.inf, 1.0], [2.0, np.inf]])
    with pytest.raises(ValueError, match="no choice of 1 sites reaches every demand point"):
        PMedian.from_cost_matrix(cost, np.ones(3), 1).solve()


def test_p_greater_than_m_raises() -> None:
    with pytest.raises(ValueError, match=r"p = 9 exceeds the number of candidate sites \(8\)"):
        PMedian.from_cost_matrix(np.ones((5, 8)), np.ones(5), 9)


def test_p_less_than_fixed_raises() -> None:
    with pytest.raises(ValueError, match="less than the 3 sites in fixed_open"):
        PMedian.from_cost_matrix(np.ones((5, 8)), np.ones(5), 2, fixed_open=[0, 1, 2])


def test_unreachable_row_is_named() -> None:
    cost = np.ones((6, 4))
    cost[4] = np.inf
    with pytest.raises(ValueError, match=r"1 demand point\(s\) have no finite cost to any site: row 4"):
        PMedian.from_cost_matrix(cost, np.ones(6), 2)


def test_worst_unreachable_rows_come_first() -> None:
    cost = np.ones((6, 4))
    cost[[1, 3]] = np.inf
    weights = np.array([1, 2, 1, 9, 1, 1], dtype=float)
    with pytest.raises(ValueError, match=r"row 3 \(weight 9\), row 1 \(weight 2\)"):
        PMedian.from_cost_matrix(cost, weights, 2)


def test_bad_inputs_raise() -> None:
    with pytest.raises(ValueError, match="weights must have one value per demand row"):
        PMedian.from_cost_matrix(np.ones((5, 4)), np.ones(4), 2)
    with pytest.raises(ValueError, match="fixed_open indices"):
        PMedian.from_cost_matrix(np.ones((5, 4)), np.ones(5), 2, fixed_open=[4])
    with pytest.raises(ValueError, match="method must be one of"):
        PMedian.from_cost_matrix(np.ones((5, 4)), np.ones(5), 2).solve(method="cplex")


@pytest.mark.shared
def test_orlib_pmed1_reaches_published_optimum() -> None:
    path = published_path("pmedian", "pmed1.txt")
    cost, p = load_pmed(path)
    result = PMedian.from_cost_matrix(cost, np.ones(len(cost)), p).solve(time_limit=10)
    assert result.status == "optimal"
    assert check_solution(result, cost, np.ones(len(cost)), p) == 5819
    assert result.solve_time < 10


def test_on_the_city(chengdu_run) -> None:  # type: ignore[no-untyped-def]
    plan, _ = chengdu_run
    demand = plan.demand.iloc[:: max(1, len(plan.demand) // 50)].head(50)
    sites = plan.sites[plan.sites["tier1"].astype(bool)].iloc[:30]
    if len(sites) < 6:
        pytest.skip(f"the Chengdu run has only {len(sites)} tier-1 sites; the test needs 6")
    model = PMedian.from_geodataframes(plan.city, demand, sites, p=5)
    assert model.cost.shape == (len(demand), len(sites))
    result = model.solve(time_limit=30)
    assert result.status == "optimal"
    weights = demand["households"].to_numpy(dtype=float)
    value = check_solution(result, model.cost, weights, 5)
    assert np.isfinite(value)
    nearest = model.cost[:, result.open].min(axis=1)
    assert result.objective == pytest.approx(float(np.sum(weights * nearest)))
