"""OR-Library readers on hand-written files."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.orlib import read_capacitated, read_pmedian


def test_pmedian_repeated_edge_takes_the_last_cost(tmp_path):
    path = tmp_path / "pmedX.txt"
    path.write_text("3 3 1\n1 2 5\n2 3 4\n1 2 9\n")  # edge 1-2 appears twice: 9 replaces 5
    cost, p = read_pmedian(path)
    assert p == 1
    np.testing.assert_allclose(cost, [[0, 9, 13], [9, 0, 4], [13, 4, 0]])


def test_capacitated_placeholder_and_leftovers(tmp_path):
    path = tmp_path / "capx.txt"
    path.write_text("2 1\n capacity 10.\n capacity 20.\n 3 30 60\n")
    with pytest.raises(ValueError, match="needs a capacity value"):
        read_capacitated(path)
    cost, demand, cap, fixed = read_capacitated(path, capacity=100.0)
    np.testing.assert_allclose(cost, [[30, 60]])
    np.testing.assert_allclose(demand, [3])
    np.testing.assert_allclose(cap, [100, 100])
    np.testing.assert_allclose(fixed, [10, 20])
    path.write_text("2 1\n 5 10.\n 5 20.\n 3 30 60 7\n")
    with pytest.raises(ValueError, match="1 tokens left over"):
        read_capacitated(path)
