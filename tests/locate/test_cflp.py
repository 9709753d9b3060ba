"""Capacitated facility location: optima by enumeration, independent checks, bad inputs, OR-Library optima."""

from __future__ import annotations

import csv
import itertools
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from conftest import published_path
from osm_builder import LAT0, LON0, M_PER_DEG_LAT, M_PER_DEG_LON
from osm_builder import grid_city as osm_grid_city
from scipy import optimize, sparse

from benchmarks.orlib import read_capacitated as read_orlib
from netplan.locate.cflp import CapacitatedLocation

TOL = 1e-6


# ---------------------------------------------------------------- instances and exact reference


def random_instance(seed: int, n: int = 10, m: int = 5, reach: float | None = None, slack: float = 1.6):
    """Points in a unit square; cost = demand x distance x 10; total capacity = slack x total demand."""
    rng = np.random.default_rng(seed)
    pts, sites = rng.random((n, 2)), rng.random((m, 2))
    dist = np.linalg.norm(pts[:, None, :] - sites[None, :, :], axis=2)
    demand = rng.integers(1, 20, n).astype(float)
    capacity = rng.uniform(0.5, 1.5, m)
    capacity *= slack * demand.sum() / capacity.sum()
    capacity = np.maximum(capacity, demand.max())  # single source stays possible
    open_cost = rng.uniform(20, 120, m)
    cost = demand[:, None] * dist * 10.0
    if reach is not None:
        cost[dist > reach] = np.inf
    return cost, demand, capacity, open_cost


def open_sets(m: int, fixed=(), min_open: int = 0, max_open: int | None = None):
    max_open = m if max_open is None else max_open
    for k in range(max(min_open, 1), max_open + 1):
        for combo in itertools.combinations(range(m), k):
            if set(fixed) <= set(combo):
                yield list(combo)


def best_assignment(cost, demand, capacity, sites, single_source: bool) -> float:
    """Exact assignment cost to a fixed open set (inf if none): LP (split) or MILP (single source)."""
    n = len(demand)
    sub = cost[:, sites]
    rows, cols = np.nonzero(np.isfinite(sub))
    if len(set(rows.tolist())) < n:
        return np.inf
    k = rows.size
    eq = sparse.csr_array((np.ones(k), (rows, np.arange(k))), shape=(n, k))
    cap = sparse.csr_array((demand[rows], (cols, np.arange(k))), shape=(len(sites), k))
    res = optimize.milp(
        sub[rows, cols],
        integrality=np.full(k, 1 if single_source else 0),
        bounds=optimize.Bounds(0, 1),
        constraints=[optimize.LinearConstraint(eq, 1, 1), optimize.LinearConstraint(cap, -np.inf, capacity[sites])],
        options={"mip_rel_gap": 0.0},
    )
    return float(res.fun) if res.status == 0 else np.inf


def enumerate_optimum(cost, demand, capacity, open_cost, single_source, fixed=(), min_open=0, max_open=None) -> float:
    best = np.inf
    for sites in open_sets(len(capacity), fixed, min_open, max_open):
        if capacity[sites].sum() < demand.sum() - 1e-9:
            continue
        best = min(best, open_cost[sites].sum() + best_assignment(cost, demand, capacity, sites, single_source))
    return best


def brute_force_single(cost, demand, capacity, open_cost) -> float:
    """Every assignment of every point to every site; the open set is the set of used sites."""
    n, m = cost.shape
    best = np.inf
    for a in itertools.product(range(m), repeat=n):
        a = np.array(a)
        if (
            np.bincount(a, weights=demand, minlength=m).max() > 0
            and (np.bincount(a, weights=demand, minlength=m) > capacity).any()
        ):
            continue
        val = cost[np.arange(n), a].sum() + open_cost[np.unique(a)].sum()
        best = min(best, val)
    return best


def check_result(res, cost, demand, capacity, open_cost, single_source, fixed=(), min_open=0, max_open=None):
    """Recompute everything from the result's open sites and assignment/flows."""
    n, m = cost.shape
    assert res.status in ("optimal", "feasible")
    assert res.sense == "min" and res.model == ("CFLP-single" if single_source else "CFLP-split")
    is_open = np.asarray(res.open, dtype=bool)
    assert is_open.shape == (m,)
    if single_source:
        assert res.flows is None
        a = np.asarray(res.assignment)
        assert a.shape == (n,) and (a >= 0).all() and (a < m).all()
        assert is_open[a].all(), "a point is assigned to a closed site"
        load = np.bincount(a, weights=demand, minlength=m)
        value = open_cost[is_open].sum() + cost[np.arange(n), a].sum()
    else:
        flows = np.asarray(res.flows)
        assert flows.shape == (n, m)
        assert (flows >= -1e-9).all()
        np.testing.assert_allclose(flows.sum(axis=1), 1.0, atol=TOL)
        assert not (flows[:, ~is_open] > 1e-9).any(), "flow to a closed site"
        assert not (flows[~np.isfinite(cost)] > 0).any(), "flow over a forbidden pair"
        np.testing.assert_array_equal(res.assignment, flows.argmax(axis=1))
        load = demand @ flows
        used = flows > 0
        value = open_cost[is_open].sum() + (cost[used] * flows[used]).sum()
    assert np.isfinite(value)
    assert (load <= capacity + TOL).all(), f"capacity exceeded: {load - capacity}"
    assert is_open[list(fixed)].all()
    assert min_open <= is_open.sum() <= (m if max_open is None else max_open)
    assert res.objective == pytest.approx(value, rel=1e-9, abs=1e-9)
    assert res.bound <= res.objective * (1 + 1e-9) + 1e-9
    return value


# ---------------------------------------------------------------- optimality against enumeration

CASES = [
    # seed, n, m, reach, fixed, min_open, max_open, capacity slack
    (0, 10, 5, None, (), 0, None, 1.3),
    (1, 12, 6, None, (), 0, None, 1.3),
    (2, 8, 4, None, (1,), 0, None, 1.3),
    (3, 10, 5, 0.7, (), 0, None, 1.5),
    (4, 11, 5, None, (), 3, None, 1.3),
    (5, 10, 6, None, (), 0, 3, 3.0),
    (6, 9, 5, 0.8, (0, 4), 2, 4, 1.3),
    (7, 12, 4, None, (), 0, None, 1.1),
]


def case_instance(case: tuple, single_source: bool) -> tuple:
    """A row of CASES as ``(cost, demand, capacity, open_cost, single_source, fixed, min_open, max_open)``.

    The order the enumeration, the model and the checker all take.
    """
    seed, n, m, reach, fixed, min_open, max_open, slack = case
    return (*random_instance(seed, n, m, reach, slack), single_source, fixed, min_open, max_open)


@pytest.mark.parametrize("single_source", [False, True], ids=["split", "single"])
@pytest.mark.parametrize("case", CASES, ids=[f"seed{c[0]}" for c in CASES])
@pytest.mark.parametrize("method", ["auto", "scip", "highs", "cp-sat"])
def test_matches_enumeration(case, single_source, method):
    instance = case_instance(case, single_source)
    expected = enumerate_optimum(*instance)
    model = CapacitatedLocation.from_cost_matrix(*instance)
    if method == "cp-sat" and not single_source:
        with pytest.raises(ValueError, match="CP-SAT has no continuous variables"):
            model.solve(time_limit=20, method=method)
        return
    res = model.solve(time_limit=20, seed=0, method=method)
    value = check_result(res, *instance)
    assert res.status == "optimal" and res.gap == 0.0
    assert value == pytest.approx(expected, rel=1e-6)
    assert res.bound == pytest.approx(expected, rel=1e-6)


def test_enumeration_reference_agrees_with_brute_force():
    cost, demand, capacity, open_cost = random_instance(11, n=6, m=3, slack=1.2)
    assert enumerate_optimum(cost, demand, capacity, open_cost, True) == pytest.approx(
        brute_force_single(cost, demand, capacity, open_cost), rel=1e-9
    )


@pytest.mark.parametrize("single_source", [False, True], ids=["split", "single"])
@pytest.mark.parametrize("seed", [0, 3, 6, 7])
def test_lagrangian_bound_is_valid(seed, single_source):
    instance = case_instance(next(c for c in CASES if c[0] == seed), single_source)
    expected = enumerate_optimum(*instance)
    model = CapacitatedLocation.from_cost_matrix(*instance)
    res = model.solve(time_limit=10, method="lagrangian")
    check_result(res, *instance)
    assert res.solver == "heuristic+lagrangian"
    assert res.bound <= expected * (1 + 1e-9)
    assert res.objective >= expected * (1 - 1e-9)
    assert res.bound > 0.5 * expected  # a bound, and not a trivial one
    if res.status != "optimal":
        assert res.gap == pytest.approx((res.objective - res.bound) / res.objective)


def test_split_never_costs_more_than_single_source():
    cost, demand, capacity, open_cost = random_instance(8, 12, 5, slack=1.15)
    split = CapacitatedLocation.from_cost_matrix(cost, demand, capacity, open_cost, single_source=False).solve(10)
    single = CapacitatedLocation.from_cost_matrix(cost, demand, capacity, open_cost, single_source=True).solve(10)
    assert split.objective <= single.objective + 1e-9


def test_same_seed_same_answer():
    cost, demand, capacity, open_cost = random_instance(9, 12, 6, slack=1.2)
    model = CapacitatedLocation.from_cost_matrix(cost, demand, capacity, open_cost)
    a, b = model.solve(10, seed=3), model.solve(10, seed=3)
    np.testing.assert_array_equal(a.open, b.open)
    np.testing.assert_array_equal(a.assignment, b.assignment)
    assert a.objective == b.objective


# ---------------------------------------------------------------- degenerate inputs


def test_zero_demand_opens_cheapest_reachable_site():
    cost = np.zeros((3, 3))
    model = CapacitatedLocation.from_cost_matrix(cost, np.zeros(3), np.ones(3), np.array([5.0, 2.0, 9.0]))
    res = model.solve(5)
    assert res.status == "optimal" and res.objective == pytest.approx(2.0)
    np.testing.assert_array_equal(res.open, [False, True, False])
    np.testing.assert_array_equal(res.assignment, [1, 1, 1])


def test_single_site_and_all_fixed():
    cost, demand, capacity, open_cost = random_instance(1, 8, 1, slack=1.0)
    res = CapacitatedLocation.from_cost_matrix(cost, demand, capacity, open_cost).solve(5)
    assert res.objective == pytest.approx(open_cost[0] + cost[:, 0].sum())
    cost, demand, capacity, open_cost = random_instance(2, 8, 4)
    for single in (False, True):
        res = CapacitatedLocation.from_cost_matrix(
            cost, demand, capacity, open_cost, single, fixed_open=range(4)
        ).solve(5)
        check_result(res, cost, demand, capacity, open_cost, single, fixed=range(4))
        assert res.open.all()


def test_capacity_exactly_equal_to_demand():
    cost, demand, capacity, open_cost = random_instance(4, 8, 4)
    capacity = capacity / capacity.sum() * demand.sum()
    res = CapacitatedLocation.from_cost_matrix(cost, demand, capacity, open_cost, single_source=False).solve(5)
    check_result(res, cost, demand, capacity, open_cost, False)
    assert res.open.all()


def test_bin_packing_infeasible_is_reported_not_raised():
    # Aggregate capacity suffices (18 >= 18) but three 6s do not fit in two bins of 9.
    cost = np.ones((3, 2))
    model = CapacitatedLocation.from_cost_matrix(cost, np.full(3, 6.0), np.full(2, 9.0), np.ones(2), single_source=True)
    assert model.solve(5).status == "infeasible"
    split = CapacitatedLocation.from_cost_matrix(
        cost, np.full(3, 6.0), np.full(2, 9.0), np.ones(2), single_source=False
    )
    assert split.solve(5).status == "optimal"


# ---------------------------------------------------------------- infeasible and malformed inputs


def test_capacity_short_names_the_shortfall():
    cost, demand, capacity, open_cost = random_instance(0)
    capacity = capacity / capacity.sum() * demand.sum() * 0.9
    with pytest.raises(ValueError, match=r"total capacity .* below total demand .* short by"):
        CapacitatedLocation.from_cost_matrix(cost, demand, capacity, open_cost, single_source=False)


def test_capacity_short_under_max_open():
    cost, demand, capacity, open_cost = random_instance(0, 10, 5, slack=1.6)
    with pytest.raises(ValueError, match=r"max_open=1 .*short by"):
        CapacitatedLocation.from_cost_matrix(cost, demand, capacity, open_cost, single_source=False, max_open=1)


def test_capacity_of_unreachable_sites_does_not_count():
    cost = np.array([[1.0, np.inf], [1.0, np.inf]])
    with pytest.raises(ValueError, match="short by 5"):
        CapacitatedLocation.from_cost_matrix(
            cost, np.array([5.0, 5.0]), np.array([5.0, 100.0]), np.ones(2), single_source=False
        )


def test_unreachable_demand_lists_indices():
    cost, demand, capacity, open_cost = random_instance(0)
    cost[[2, 7]] = np.inf
    with pytest.raises(ValueError, match=r"2 demand point\(s\) have no site with a finite assignment cost.*\[2, 7\]"):
        CapacitatedLocation.from_cost_matrix(cost, demand, capacity, open_cost)


def test_demand_above_every_capacity_single_source():
    cost, demand, capacity, open_cost = random_instance(0)
    demand[4] = capacity.max() + 1
    with pytest.raises(ValueError, match=r"single source: 1 demand point\(s\) exceed every site's capacity.*#4"):
        CapacitatedLocation.from_cost_matrix(cost, demand, capacity, open_cost, single_source=True)
    # Split assignment can divide it.
    res = CapacitatedLocation.from_cost_matrix(cost, demand, capacity, open_cost, single_source=False).solve(5)
    check_result(res, cost, demand, capacity, open_cost, False)


def test_demand_above_capacity_of_its_reachable_sites():
    cost = np.array([[1.0, np.inf], [1.0, 1.0]])
    with pytest.raises(ValueError, match="every site allowed to serve it"):
        CapacitatedLocation.from_cost_matrix(cost, np.array([8.0, 1.0]), np.array([5.0, 10.0]), np.ones(2))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"demand": np.r_[1.0, np.nan, 1.0]}, "demand must be finite"),
        ({"capacity": np.array([1.0, -2.0])}, "capacity must be finite"),
        ({"open_cost": np.ones(3)}, "open_cost has 3 entries"),
        ({"assign_cost": np.full((3, 2), np.nan)}, "NaN"),
        ({"assign_cost": -np.ones((3, 2))}, "non-negative"),
        ({"fixed_open": [5]}, "fixed_open"),
        ({"min_open": 2, "max_open": 1}, "below min_open"),
        ({"fixed_open": [0, 1], "max_open": 1}, "fixed open"),
    ],
)
def test_malformed_inputs(kwargs, message):
    args = {"assign_cost": np.ones((3, 2)), "demand": np.ones(3), "capacity": np.full(2, 5.0), "open_cost": np.ones(2)}
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        CapacitatedLocation.from_cost_matrix(**args)


def test_unknown_method():
    cost, demand, capacity, open_cost = random_instance(0)
    with pytest.raises(ValueError, match="unknown method"):
        CapacitatedLocation.from_cost_matrix(cost, demand, capacity, open_cost).solve(method="gurobi")


# ---------------------------------------------------------------- from GeoDataFrames


@pytest.fixture(scope="module")
def grid_city(tmp_path_factory):
    return osm_grid_city(tmp_path_factory.mktemp("cflp"), size_m=600.0)


def _points(xy_m):
    return gpd.GeoDataFrame(
        geometry=[shapely.Point(LON0 + x / M_PER_DEG_LON, LAT0 + y / M_PER_DEG_LAT) for x, y in xy_m], crs="EPSG:4326"
    )


def test_from_geodataframes_uses_network_distance(grid_city):
    demand_xy = [(0, 0), (150, 0), (600, 600), (450, 600), (300, 300)]
    sites_xy = [(0, 150), (600, 450), (300, 150)]
    demand = _points(demand_xy).assign(kg_day=[10.0, 20.0, 5.0, 5.0, 8.0])
    sites = _points(sites_xy).assign(cap_t2=[40.0, 40.0, 40.0], cost_t2=[100.0, 100.0, 500.0])
    model = CapacitatedLocation.from_geodataframes(
        grid_city, demand, sites, cost_per_unit_distance=0.01, max_distance=700.0, single_source=True
    )
    manhattan = np.abs(np.array(demand_xy)[:, None, :] - np.array(sites_xy)[None, :, :]).sum(axis=2).astype(float)
    expected = np.where(manhattan <= 700.0, demand["kg_day"].to_numpy()[:, None] * manhattan * 0.01, np.inf)
    assert np.array_equal(np.isinf(model.assign_cost), np.isinf(expected))
    finite = np.isfinite(expected)
    np.testing.assert_allclose(model.assign_cost[finite], expected[finite], rtol=0.01, atol=0.5)
    res = model.solve(10)
    check_result(res, model.assign_cost, model.demand, model.capacity, model.open_cost, True)
    assert res.status == "optimal"
    np.testing.assert_array_equal(res.open, [True, True, False])


def test_from_geodataframes_checks_columns(grid_city):
    demand = _points([(0, 0)]).assign(kg_day=[1.0])
    sites = _points([(0, 150)]).assign(cap_t2=[np.nan], cost_t2=[1.0])
    with pytest.raises(ValueError, match="cap_t2"):
        CapacitatedLocation.from_geodataframes(grid_city, demand, sites)
    with pytest.raises(ValueError, match="no column"):
        CapacitatedLocation.from_geodataframes(grid_city, demand.drop(columns="kg_day"), sites)


# ---------------------------------------------------------------- OR-Library (Beasley) optima


def published(instance: str) -> dict:
    with open(published_path("cflp", "optimal.csv"), newline="") as fh:
        return next(row for row in csv.DictReader(fh) if row["instance"] == instance)


@pytest.fixture
def cflp_dir() -> Path:
    return published_path("cflp", "optimal.csv").parent


@pytest.mark.shared
@pytest.mark.parametrize("instance", ["cap61", "cap64"])
def test_orlib_published_optima(cflp_dir, instance):
    cost, demand, capacity, open_cost = read_orlib(cflp_dir / f"{instance}.txt")
    row = published(instance)
    for single_source, ref in ((False, row["optimal"]), (True, row["optimal_single_source"])):
        res = CapacitatedLocation.from_cost_matrix(
            cost, demand, capacity, open_cost, single_source=single_source
        ).solve(20)
        check_result(res, cost, demand, capacity, open_cost, single_source)
        assert res.status == "optimal"
        assert res.objective == pytest.approx(float(ref), rel=1e-6 if not single_source else 1e-7, abs=0.01)


@pytest.mark.shared
def test_orlib_cap41_single_source_is_infeasible(cflp_dir):
    cost, demand, capacity, open_cost = read_orlib(cflp_dir / "cap41.txt")
    assert published("cap41")["optimal_single_source"] == "infeasible"
    with pytest.raises(ValueError, match="exceed every site's capacity"):
        CapacitatedLocation.from_cost_matrix(cost, demand, capacity, open_cost, single_source=True)
    res = CapacitatedLocation.from_cost_matrix(cost, demand, capacity, open_cost, single_source=False).solve(20)
    check_result(res, cost, demand, capacity, open_cost, False)
    assert res.objective == pytest.approx(float(published("cap41")["optimal"]), rel=1e-6)


@pytest.mark.shared
def test_orlib_lagrangian_bound_below_published_optimum(cflp_dir):
    cost, demand, capacity, open_cost = read_orlib(cflp_dir / "cap64.txt")
    row = published("cap64")
    for single_source, ref in ((False, float(row["optimal"])), (True, float(row["optimal_single_source"]))):
        model = CapacitatedLocation.from_cost_matrix(cost, demand, capacity, open_cost, single_source=single_source)
        res = model.solve(5, method="lagrangian")
        check_result(res, cost, demand, capacity, open_cost, single_source)
        assert res.bound <= ref * (1 + 1e-9) and res.objective >= ref * (1 - 1e-7)
        assert res.gap < 0.05
