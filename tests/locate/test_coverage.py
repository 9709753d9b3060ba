"""LSCP and MCLP against brute-force enumeration."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pytest

from netplan.locate.coverage import LSCP, MCLP


def _instance(seed: int, n: int = 14, m: int = 8):
    rng = np.random.default_rng(seed)
    demand = rng.uniform(0, 1000, (n, 2))
    sites = rng.uniform(0, 1000, (m, 2))
    dist = np.linalg.norm(demand[:, None, :] - sites[None, :, :], axis=2)
    weights = rng.integers(1, 50, n).astype(float)
    return dist, weights


def _brute_lscp(dist, radius, fixed=()):
    m = dist.shape[1]
    for k in range(m + 1):
        for combo in combinations(range(m), k):
            if not set(fixed) <= set(combo):
                continue
            if (dist[:, list(combo)] <= radius).any(axis=1).all():
                return k
    return None


def _brute_mclp(dist, weights, radius, p, fixed=()):
    best = -1.0
    for combo in combinations(range(dist.shape[1]), p):
        if not set(fixed) <= set(combo):
            continue
        covered = (dist[:, list(combo)] <= radius).any(axis=1)
        best = max(best, weights[covered].sum())
    return best


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("backend", ["CP_SAT", "SCIP"])
def test_lscp_matches_enumeration(seed, backend):
    dist, _ = _instance(seed)
    radius = float(np.sort(dist.min(axis=1))[-1]) + 50  # every row coverable
    fixed = (seed % 3,) if seed % 2 else ()
    result = LSCP.from_cost_matrix(dist, radius, fixed_open=fixed).solve(backend=backend, seed=seed)
    assert result.status == "optimal"
    assert result.n_open == _brute_lscp(dist, radius, fixed)
    # independent check: every row covered by an open site, fixed ones open
    assert (dist[:, result.open] <= radius).any(axis=1).all()
    assert all(result.open[j] for j in fixed)
    assert result.objective == result.n_open and result.gap == 0


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("p", [1, 2, 3])
def test_mclp_matches_enumeration(seed, p):
    dist, weights = _instance(seed)
    radius = 300.0
    fixed = (1,) if seed % 2 else ()
    result = MCLP.from_cost_matrix(dist, radius, p=p, weights=weights, fixed_open=fixed).solve(seed=seed)
    assert result.status == "optimal" and result.n_open == p and result.sense == "max"
    assert result.objective == pytest.approx(_brute_mclp(dist, weights, radius, p, fixed))
    covered = (dist[:, result.open] <= radius).any(axis=1)
    assert result.objective == pytest.approx(weights[covered].sum())
    assert ((result.assignment >= 0) == covered).all()


def test_lscp_names_uncoverable_rows():
    dist, weights = _instance(1)
    dist[3, :] = np.inf
    dist[7, :] = 5000
    with pytest.raises(ValueError, match=r"2 demand point\(s\) have no candidate site within 400 m: row [37]"):
        LSCP(dist, 400.0, weights=weights).solve()


def test_degenerate_inputs():
    dist = np.zeros((3, 2))
    assert LSCP(dist, 0.0).solve().n_open == 1  # zero radius, zero distance still covers
    res = MCLP(dist, 10.0, p=2, weights=np.zeros(3)).solve()
    assert res.objective == 0 and res.n_open == 2
    with pytest.raises(ValueError, match="p must be between 1 and"):
        MCLP(dist, 10.0, p=3)
    with pytest.raises(ValueError, match="less than the 2 sites that must stay open"):
        MCLP(dist, 10.0, p=1, fixed_open=[0, 1])
    with pytest.raises(ValueError, match="weights must have one value per demand row"):
        LSCP(dist, 1.0, weights=np.ones(4))


def test_coverage_on_the_city(chengdu_run):
    plan, _ = chengdu_run
    from netplan.evaluate import walk_distances

    demand = plan.demand[plan.demand["snap_ok"]].iloc[:80]
    sites = plan.sites[plan.sites["tier1"] & plan.sites["snap_ok"]].iloc[:150]
    model = MCLP.from_geodataframes(plan.city, demand, sites, radius=500.0, p=10)
    result = model.solve(time_limit=30)
    # recompute coverage on the walk graph independently of the model's matrix
    dist = walk_distances(plan.city.walk, demand, sites)
    covered = (dist[:, result.open] <= 500.0).any(axis=1)
    assert result.objective == pytest.approx(demand["households"].to_numpy()[covered].sum())
