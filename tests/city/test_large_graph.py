"""Bounded travel arcs on a tiled street graph: exact against networkx, and never all-pairs in memory."""

from __future__ import annotations

import tracemalloc

import networkx as nx
import numpy as np
import pytest

from netplan.city.network import Network, PointArcs, search_block


def _tile(rng: np.random.Generator, side: int, offset: int) -> nx.MultiDiGraph:
    """A side x side street grid with uneven block lengths and some one-way streets."""
    G = nx.MultiDiGraph()
    for i in range(side):
        for j in range(side):
            G.add_node(offset + i * side + j, x=104.0 + j * 1e-3, y=30.0 + i * 1e-3)
    for i in range(side):
        for j in range(side):
            here = offset + i * side + j
            for di, dj in ((0, 1), (1, 0)):
                if i + di < side and j + dj < side:
                    there = offset + (i + di) * side + j + dj
                    length = float(rng.uniform(60.0, 160.0))
                    G.add_edge(here, there, length=length, travel_time=length / 8.0)
                    if rng.random() > 0.15:  # most streets are two-way
                        G.add_edge(there, here, length=length, travel_time=length / 8.0)
    return G


def tiled_city(*, tiles: int = 2, side: int = 30, seed: int = 0) -> nx.MultiDiGraph:
    """``tiles`` x ``tiles`` copies of a street grid, each joined to its neighbours by a few two-way roads."""
    rng = np.random.default_rng(seed)
    G = nx.MultiDiGraph(crs="epsg:4326")
    n = side * side
    for t in range(tiles * tiles):
        G.update(_tile(rng, side, t * n))
    for ti in range(tiles):
        for tj in range(tiles):
            t = ti * tiles + tj
            for row in range(0, side, 7):
                if tj + 1 < tiles:  # east edge of this tile to the west edge of the next
                    a, b = t * n + row * side + side - 1, (t + 1) * n + row * side
                    G.add_edge(a, b, length=90.0, travel_time=10.0)
                    G.add_edge(b, a, length=90.0, travel_time=10.0)
                if ti + 1 < tiles:  # north edge to the south edge of the tile above
                    a, b = t * n + (side - 1) * side + row, (t + tiles) * n + row
                    G.add_edge(a, b, length=90.0, travel_time=10.0)
                    G.add_edge(b, a, length=90.0, travel_time=10.0)
    return G


@pytest.fixture(scope="module")
def tiled() -> Network:
    return Network(tiled_city(), "EPSG:32648", "drive")


def _oracle(G: nx.MultiDiGraph, o_nodes, o_off, d_nodes, d_off, radius: float) -> dict[tuple[int, int], float]:
    """Every pair within the radius by networkx's bounded Dijkstra, one origin at a time."""
    out = {}
    for i, (u, ou) in enumerate(zip(o_nodes, o_off)):
        reach = nx.single_source_dijkstra_path_length(G, int(u), cutoff=radius, weight="length")
        for j, (v, dv) in enumerate(zip(d_nodes, d_off)):
            if int(v) in reach and reach[int(v)] + ou + dv <= radius:
                out[(i, j)] = reach[int(v)] + ou + dv
    return out


def _points(net: Network, rng: np.random.Generator, n: int, max_off: float) -> tuple[np.ndarray, np.ndarray]:
    # Repeated nodes on purpose: several compounds share a street corner.
    return rng.choice(net.nodes, n, replace=True), rng.uniform(0.0, max_off, n)


@pytest.mark.parametrize("forward", [True, False])
def test_arcs_equal_a_networkx_bounded_dijkstra(tiled, forward):
    rng = np.random.default_rng(5)
    many, few = (300, 40)
    o, o_off = _points(tiled, rng, few if forward else many, 60.0)
    d, d_off = _points(tiled, rng, many if forward else few, 40.0)
    arcs = tiled.point_arcs(o, o_off, d, d_off, radius=700.0)
    expected = _oracle(tiled.graph, o, o_off, d, d_off, 700.0)
    got = {(int(a), int(b)): float(c) for a, b, c in zip(arcs.src, arcs.dst, arcs.cost)}
    assert len(got) == len(arcs)  # no pair twice
    assert got.keys() == expected.keys()
    np.testing.assert_allclose([got[k] for k in expected], list(expected.values()), rtol=1e-9, atol=1e-6)
    assert 0 < len(arcs) < len(o) * len(d) / 4  # a real radius: most pairs are out of reach
    order = np.lexsort((arcs.dst, arcs.src))
    assert (order == np.arange(len(arcs))).all()


def test_arcs_match_the_dense_matrix_exactly_with_nearest(tiled):
    """The same pairs, costs (bit for bit) and nearest-k cut as thresholding the dense point matrix."""
    rng = np.random.default_rng(9)
    o, o_off = _points(tiled, rng, 200, 50.0)
    d, d_off = _points(tiled, rng, 30, 0.0)
    for nearest in (None, 2):
        arcs = tiled.point_arcs(o, o_off, d, d_off, radius=1500.0, nearest=nearest)
        dense = tiled.point_matrix(o, o_off, d, d_off, "length", limit=1500.0)
        # siting's upper tiers search the whole graph today: the bounded search keeps the same pairs and costs
        unbounded = tiled.point_matrix(o, o_off, d, d_off, "length")
        np.testing.assert_array_equal(np.where(unbounded <= 1500.0, unbounded, np.inf), dense)
        ok = dense <= 1500.0
        if nearest is not None:
            order = np.argsort(np.where(ok, dense, np.inf), axis=1, kind="stable")[:, :nearest]
            keep = np.zeros_like(ok)
            np.put_along_axis(keep, order, True, axis=1)
            ok &= keep
        src, dst = np.nonzero(ok)
        np.testing.assert_array_equal(arcs.src, src)
        np.testing.assert_array_equal(arcs.dst, dst)
        np.testing.assert_array_equal(arcs.cost, dense[src, dst])
    assert np.bincount(arcs.src).max() <= 2


def test_memory_scales_with_rows_and_neighbours_not_nodes_squared():
    """On a 14,400-node tiled graph, 2,000 x 12,000 points: peak memory is a block plus the arcs found."""
    net = Network(tiled_city(tiles=4, side=30, seed=1), "EPSG:32648", "walk")
    n = len(net)
    assert n == 14_400
    net.csr("length")  # built once per network; not part of a query
    rng = np.random.default_rng(2)
    o, o_off = _points(net, rng, 2_000, 40.0)
    d, d_off = _points(net, rng, 12_000, 40.0)
    tracemalloc.start()
    try:
        arcs = net.point_arcs(o, o_off, d, d_off, radius=400.0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert isinstance(arcs, PointArcs) and len(arcs) > 0
    dense_pairs = len(o) * len(d) * 8  # what a points x points matrix would take: 192 MB
    all_pairs = n * n * 8  # nodes x nodes: 1.7 GB
    block = search_block(n) * n * 8
    # a Dijkstra block (and its columns), plus the arcs with their intermediates
    budget = 3 * block + 64 * len(arcs) + 2**20
    assert peak <= budget, (peak, budget)
    assert peak < dense_pairs / 2 < all_pairs


def test_search_block_bounds_one_dijkstra_call():
    assert search_block(3_000) == 256  # the shipped extract: the old fixed block
    assert search_block(200_000) == 40
    assert search_block(10**9) == 1
    assert search_block(200_000) * 200_000 * 8 <= 64 * 10**6


def test_arcs_need_a_finite_radius(tiled):
    with pytest.raises(ValueError, match="finite radius"):
        tiled.point_arcs(tiled.nodes[:3], np.zeros(3), tiled.nodes[:3], np.zeros(3), radius=np.inf)
    empty = tiled.point_arcs([], [], tiled.nodes[:3], np.zeros(3), radius=100.0)
    assert len(empty) == 0


def test_pair_costs_equal_the_matrix_per_pair_and_respect_the_bound(tiled):
    rng = np.random.default_rng(4)
    a = rng.choice(tiled.nodes[:200], 500, replace=True)  # few distinct origins, as assignments have
    b = rng.choice(tiled.nodes, 500, replace=True)
    costs = tiled.pair_costs(a, b)
    for k in range(0, 500, 37):
        assert costs[k] == tiled.matrix([a[k]], [b[k]])[0, 0]
    bounded = tiled.pair_costs(a, b, limit=800.0)
    near = costs <= 800.0
    np.testing.assert_array_equal(bounded[near], costs[near])
    assert np.isinf(bounded[~near]).all() and near.any() and (~near).any()
    with pytest.raises(ValueError, match="one of each per pair"):
        tiled.pair_costs(a, b[:3])
