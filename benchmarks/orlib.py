"""Readers for OR-Library location instances (Beasley), used by the benchmarks and tests.

* ``pmedN.txt`` (p-median): first line ``n m p``, then ``m`` lines ``i j c``,
  1-based undirected edges; costs between vertices are all-pairs shortest
  paths; every vertex is a client of weight 1 and a candidate site.
* ``capXX.txt`` (capacitated warehouse location): ``m n``; ``m`` lines
  ``capacity fixed_cost``; then per customer its demand and the ``m`` costs of
  allocating all of it to each warehouse. In capa/capb/capc the capacity field
  is the literal word ``capacity``, to be substituted by the caller.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph


def read_pmedian(path: str | Path) -> tuple[np.ndarray, int]:
    """Read a pmed file into its all-pairs shortest-path cost matrix.

    Parameters
    ----------
    path
        ``pmedN.txt``.

    Returns
    -------
    tuple
        ``n x n`` cost matrix (float) and ``p``.
    """
    path = Path(path)
    tokens = path.read_text().split()
    n, m_edges, p = int(tokens[0]), int(tokens[1]), int(tokens[2])
    values = np.asarray(tokens[3 : 3 + 3 * m_edges], dtype=np.int64).reshape(-1, 3)
    # Beasley's convention: a repeated edge takes its LAST cost, not the minimum;
    # the published optima depend on it. A dict keyed by the unordered pair keeps the last.
    edges: dict[tuple[int, int], int] = {}
    for i, j, c in values:
        a, b = int(i) - 1, int(j) - 1
        edges[(min(a, b), max(a, b))] = int(c)
    rows = np.array([k[0] for k in edges] + [k[1] for k in edges])
    cols = np.array([k[1] for k in edges] + [k[0] for k in edges])
    vals = np.array(list(edges.values()) * 2, dtype=float)
    graph = sparse.csr_array((vals, (rows, cols)), shape=(n, n))
    return csgraph.shortest_path(graph, method="D", directed=False), p


def read_capacitated(
    path: str | Path, capacity: float | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Read a cap file (as a stream of whitespace-separated tokens).

    Parameters
    ----------
    path
        ``capXX.txt``, ``capa.txt``, ...
    capacity
        Capacity to use where the file says ``capacity`` (capa/capb/capc).

    Returns
    -------
    tuple
        Assignment cost ``n x m`` (cost of serving all of customer i from j),
        demand ``(n,)``, capacity ``(m,)``, fixed opening cost ``(m,)``.

    Raises
    ------
    ValueError
        When a capacity is needed but not given, or tokens are left over.
    """
    path = Path(path)
    tokens = path.read_text().split()
    m, n = int(tokens[0]), int(tokens[1])
    pos = 2
    cap, fixed = np.empty(m), np.empty(m)
    for j in range(m):
        if tokens[pos] == "capacity":
            if capacity is None:
                raise ValueError(f"{path.name} needs a capacity value (e.g. {path.stem}-8000)")
            cap[j] = capacity
        else:
            cap[j] = float(tokens[pos])
        fixed[j] = float(tokens[pos + 1])
        pos += 2
    demand, cost = np.empty(n), np.empty((n, m))
    for i in range(n):
        demand[i] = float(tokens[pos])
        cost[i] = np.array(tokens[pos + 1 : pos + 1 + m], dtype=float)
        pos += 1 + m
    if pos != len(tokens):
        raise ValueError(f"{path.name}: {len(tokens) - pos} tokens left over")
    return cost, demand, cap, fixed
