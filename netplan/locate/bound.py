"""A lower bound on the upper tiers of a tiered network: a multi-level capacitated facility-location MIP (HiGHS).

:meth:`~netplan.locate.network_model.TieredNetwork.lower_bound` splits every
network's cost into disjoint parts: tier-1 opening plus the residents' access
(bounded by the tier-1 step), and everything above: the opening of tiers 2 to
the top plus the haulage of every level. This module bounds the second part in
one model, :func:`upper_tiers_bound`:

* each demand point is a source of its kilograms; sending them to transfer
  station ``k`` costs ``p[i, k]`` per kg, the cheapest link into ``k`` from any
  collection point in the point's walking reach (the collection point itself
  is left free: tier 1 is priced in the other part);
* the stations and every tier above are open/closed binaries with their own
  capacities, count bounds and fixed sites, and the kilograms flow up through
  the allowed links at the haul cost per tonne-km (split flows allowed);
* a source sends to an open station only (``x <= y``, the strong form) and a
  link carries flow only into an open site (``f <= min(capacities) * y``).

Validity: take any feasible network. Give each source the share of its kilograms
its collection point sends to each station, each link the kilograms it carries,
and each site its open state. Every constraint above holds (the network's loads
fit its capacities, its open sites satisfy the counts and the fixed sites, its
links are allowed, and a station or a site above receives only if it is open);
the haul of the first level is at least ``p`` per kg, the other levels are priced
exactly. So the model's optimum is at most the network's cost of opening
tiers 2+ and all haulage, and so is the optimum of any relaxation of it: the
LP of a subset of its rows, which is what HiGHS solves. Adding
the tier-1 part's own bound keeps the sum valid because the two parts share no
cost. Sources with the same prices merge into one of their summed weight: with
split flows that is exact.

It is polynomial (one pass over the arcs, then a bounded number of LPs), and
work limits (LP rounds, rows added) end it, the time limit being a safety cap,
so the bound is the same in every process.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy import optimize, sparse

if TYPE_CHECKING:
    from netplan.locate.network_model import TieredNetwork, TierSites


@dataclass
class UpperBound:
    """The bound of the upper tiers and how it was found.

    Attributes
    ----------
    value
        Lower bound on tiers-2+ opening plus all haulage (NaN when none was found).
    status
        ``"optimal"`` (the LP with every strong row it needs), ``"lp"`` (an LP
        still missing some strong rows at the work limit: valid, weaker) or
        ``"none"`` (no LP solved).
    sources
        Sources after merging those with equal prices.
    pairs
        Source-station pairs (the model's largest variable block).
    seconds
        Building and solving.
    time_limit_hit
        True when the safety cap, not the node limit, ended the search.
    """

    value: float
    status: str
    sources: int
    pairs: int
    seconds: float
    time_limit_hit: bool = False


def station_prices(model: TieredNetwork) -> tuple[np.ndarray, np.ndarray]:
    """Per active demand point, the cheapest per-kg haul into each transfer station through any collection point.

    Parameters
    ----------
    model
        The network model.

    Returns
    -------
    tuple
        ``(prices, active)``: a points x stations array (``inf`` = no path) and the indices of the active points.
    """
    tiers, a0, a1 = model.tiers, model.arcs[0], model.arcs[1]
    into = np.full((tiers[0].size, tiers[1].size), np.inf)
    np.minimum.at(into, (a1.src, a1.dst), a1.distance * (model.haul[0] * model.days / 1e6))
    active = np.flatnonzero(model.demand > 0)
    by_src = a0.by_source(len(model.demand))
    prices = np.full((len(active), tiers[1].size), np.inf)
    for row, i in enumerate(active.tolist()):
        reach = np.unique(a0.dst[by_src[i]])
        if len(reach):
            prices[row] = into[reach].min(axis=0)
    return prices, active


def upper_tiers_bound(
    model: TieredNetwork,
    *,
    time_limit: float,
    max_pairs: int = 50_000,
    max_rounds: int = 12,
    max_links: int = 5_000,
) -> UpperBound:
    """Lower bound on the opening of tiers 2+ plus all haulage of any feasible network (see the module docstring).

    The LP relaxation of the model, with a count cut per tier (at least as
    many sites as the largest capacities need to hold all demand, a rounding
    of the capacity cover every network satisfies). The strong rows
    ``x[r, k] <= y[k]`` (one per source-station pair, the bulk of the model
    and what makes HiGHS slow) enter only where the last LP broke them: each
    LP solved has a subset of the model's rows, so its optimum is a valid
    bound, and adding rows only raises it.

    Parameters
    ----------
    model
        The network model.
    time_limit
        Seconds, a safety cap only: no new round starts after it (reported in ``time_limit_hit``).
    max_pairs
        Above this many source-station pairs only the first LP is solved (no strong rows; valid, weaker).
    max_rounds, max_links
        Work limits: LP solves, and strong rows added in all.

    Returns
    -------
    UpperBound
        The bound and how it was found.
    """
    start = time.perf_counter()
    prices, active = station_prices(model)
    prices, group = np.unique(prices, axis=0, return_inverse=True)
    weight = np.bincount(np.asarray(group).ravel(), weights=model.demand[active], minlength=len(prices))
    rows, cols = np.nonzero(np.isfinite(prices))
    out = UpperBound(float("nan"), "none", len(prices), len(rows), 0.0)
    if len(prices) and not np.isin(np.arange(len(prices)), rows).all():
        out.value, out.status = float("inf"), "optimal"  # a demand point reaches no station: no network exists
    else:
        # a large city: the first LP only (no strong rows), which HiGHS solves in seconds where more rounds take minutes
        rounds = max_rounds if len(rows) <= max_pairs else 1
        _solve_rounds(out, _build(model, prices, weight, rows, cols), cols, start, time_limit, rounds, max_links)
    out.seconds = time.perf_counter() - start
    return out


def _solve_rounds(
    out: UpperBound, lp: _Model, cols: np.ndarray, start: float, time_limit: float, rounds: int, max_links: int
) -> None:
    """Solve the LP, add the broken strong rows, repeat; ``out`` gets the last optimal value."""
    nx = len(cols)
    xcol = lp.x_at + np.arange(nx)
    added = np.zeros(nx, dtype=bool)
    for _ in range(rounds):
        if time.perf_counter() - start > time_limit:
            out.time_limit_hit = True
            return
        idx = np.flatnonzero(added)
        k = len(idx)
        strong = sparse.csr_array(
            (np.r_[np.ones(k), -np.ones(k)], (np.r_[np.arange(k), np.arange(k)], np.r_[xcol[idx], cols[idx]])),
            shape=(k, lp.matrix.shape[1]),
        )
        res = optimize.milp(
            lp.cost,
            integrality=np.zeros(len(lp.cost)),
            bounds=optimize.Bounds(lp.lower, lp.upper),
            constraints=[
                optimize.LinearConstraint(
                    sparse.vstack([lp.matrix, strong]).tocsr(),
                    np.r_[lp.row_lo, np.full(k, -np.inf)],
                    np.r_[lp.row_hi, np.zeros(k)],
                )
            ],
            options={"disp": False},
        )
        if res.status == 2:  # infeasible: no network exists either
            out.value, out.status = float("inf"), "optimal"
            return
        if res.status != 0:
            return  # only an optimal LP value is a bound; keep the last one
        out.value = max(float(res.fun), out.value) if np.isfinite(out.value) else float(res.fun)
        broken = (res.x[xcol] > res.x[cols] + 1e-7) & ~added
        out.status = "lp" if broken.any() else "optimal"
        if not broken.any() or added.sum() >= max_links:
            return
        # the most broken first, so the work limit keeps those that matter
        order = np.flatnonzero(broken)
        order = order[np.argsort(-(res.x[xcol] - res.x[cols])[order], kind="stable")]
        added[order[: max(max_links - int(added.sum()), 0)]] = True


TOP_HAUL_GAP = 1e-3
"""Relative gap at which :func:`top_haul_bound`'s MIP stops (its dual bound is used, so stopping early only weakens the
bound, by at most this share of that part: on the dense 5,000-point city 14 s instead of 76 s)."""


def top_haul_bound(model: TieredNetwork, *, node_limit: int | None, time_limit: float) -> UpperBound:
    """Lower bound on the top tier's opening plus the haulage of every level, for any feasible network.

    Every kilogram of demand point ``i`` leaves from a collection point in its
    walking reach, enters some transfer station and climbs through allowed links
    to an open site ``j`` of the top tier, so it costs at least ``P[i, j]``, the
    cheapest such path per kilogram (stations and middle tiers all taken as
    open, their capacities dropped). Write ``P[i, j] = a[i] + R[i, j]`` with
    ``a[i]`` the point's cheapest path to any top site: ``a`` is paid whatever
    the network, and ``R`` is what reaching ``j`` rather than the cheapest costs.
    Points are grouped by their cheapest station and each group priced at the
    least ``R`` of its members, which can only lower the bound. What is left is
    a capacitated facility-location problem over the top tier (its sites open or
    closed with their costs, capacities, count bounds and fixed sites; split
    flows, ``x <= z``) that every network's top tier satisfies; HiGHS solves it
    to ``node_limit`` nodes and its dual bound (the optimum when it finishes)
    is the bound.

    Where the top tier has too many open sets to price one by one, this sees
    what pricing them with every top site open cannot: a city that needs five
    sorting centres hauls to five, not to the nearest of eighty. Its cost part
    (top opening plus all haulage) shares nothing with tier 1's or with the
    covers of the tiers in between, so the sums stay valid.

    Parameters
    ----------
    model
        The network model.
    node_limit
        Branch-and-bound nodes (the work limit; None: none).
    time_limit
        Seconds, a safety cap (reported in ``time_limit_hit``).

    Returns
    -------
    UpperBound
        ``value`` bounds the top tier's opening plus all haulage (NaN when HiGHS found no bound).
    """
    start = time.perf_counter()
    prices, active = station_prices(model)
    weight = model.demand[active]
    chain = _chain_to_top(model)
    top = model.tiers[-1]
    path = np.full((len(prices), top.size), np.inf)
    for k in np.flatnonzero(np.isfinite(chain).any(axis=1)).tolist():
        np.minimum(path, prices[:, k : k + 1] + chain[k][None, :], out=path)
    reachable = np.isfinite(path).any(axis=1)
    out = UpperBound(float("nan"), "none", 0, 0, 0.0)
    if len(path) and not reachable.all():
        out.value, out.status = float("inf"), "optimal"  # a demand point reaches no top site: no network exists
        return out
    cheapest = path.min(axis=1) if len(path) else np.zeros(0)
    paid = float(weight @ cheapest)
    extra = path - cheapest[:, None]
    # group by cheapest station (ties to the lowest index): the group pays its members' least extra
    _, group = np.unique(np.argmin(prices, axis=1), return_inverse=True)
    group = np.asarray(group).ravel()
    groups = int(group.max()) + 1 if len(group) else 0
    least = np.full((groups, top.size), np.inf)
    np.minimum.at(least, group, extra)
    gw = np.bincount(group, weights=weight, minlength=groups)
    rows, cols = np.nonzero(np.isfinite(least))
    out.sources, out.pairs = groups, len(rows)
    if groups == 0:
        out.value, out.status = float(top.open_cost[top.fixed_open].sum()), "optimal"
        return out
    na, m = len(rows), top.size
    total = float(gw.sum())
    cost = np.r_[gw[rows] * least[rows, cols], top.open_cost]
    zcol = na + np.arange(m)
    con = _Rows()
    con.add(rows, np.arange(na), np.ones(na), np.ones(groups), np.ones(groups))  # each group sends all it has
    con.add(  # an open site holds what it receives
        np.r_[cols, np.arange(m)],
        np.r_[np.arange(na), zcol],
        np.r_[gw[rows], -top.capacity],
        np.full(m, -np.inf),
        np.zeros(m),
    )
    _link_rows(con, np.arange(na), np.arange(na), na + cols)  # only an open site receives
    hi = top.max_count if top.max_count is not None else m
    con.add(
        np.zeros(m, dtype=int), zcol, np.ones(m), np.array([max(top.min_count, _fewest(top, total))]), np.array([hi])
    )
    con.add(np.zeros(m, dtype=int), zcol, top.capacity, np.array([total * (1 - 1e-9)]), np.array([np.inf]))
    res = optimize.milp(
        cost,
        integrality=np.r_[np.zeros(na), np.ones(m)],
        bounds=optimize.Bounds(np.r_[np.zeros(na), top.fixed_open.astype(float)], np.ones(na + m)),
        constraints=[optimize.LinearConstraint(con.matrix(na + m), np.concatenate(con.lo), np.concatenate(con.hi))],
        options={"disp": False, "time_limit": max(time_limit, 1.0), "mip_rel_gap": TOP_HAUL_GAP}
        | ({"node_limit": node_limit} if node_limit else {}),
    )
    out.seconds = time.perf_counter() - start
    if res.status == 2:
        out.value, out.status = float("inf"), "optimal"
        return out
    # the dual bound, never the incumbent: HiGHS stops at a relative gap, so the incumbent may lie above the optimum
    dual = getattr(res, "mip_dual_bound", None)
    if dual is not None and np.isfinite(dual):
        out.value, out.status = paid + float(dual), "optimal" if res.status == 0 else "lp"
    # HiGHS reports "time limit" for its own cap only; a node limit ends with status 1 too
    out.time_limit_hit = res.status == 1 and out.seconds >= max(time_limit, 1.0) * 0.99
    return out


def _chain_to_top(model: TieredNetwork) -> np.ndarray:
    """Per transfer station and top-tier site, the cheapest per-kg haul between them through allowed links."""
    tiers = model.tiers
    if len(tiers) == 2:
        same = np.full((tiers[1].size, tiers[1].size), np.inf)
        np.fill_diagonal(same, 0.0)
        return same
    chain: np.ndarray | None = None
    for t in range(2, len(tiers)):
        arcs = model.arcs[t]
        step = np.full((tiers[t - 1].size, tiers[t].size), np.inf)
        np.minimum.at(step, (arcs.src, arcs.dst), arcs.distance * (model.haul[t - 1] * model.days / 1e6))
        if chain is None:  # stations to the tier above them: the links themselves
            chain = step
            continue
        nxt = np.full((chain.shape[0], tiers[t].size), np.inf)
        for mid in np.flatnonzero(np.isfinite(step).any(axis=1)).tolist():
            np.minimum(nxt, chain[:, mid : mid + 1] + step[mid][None, :], out=nxt)
        chain = nxt
    assert chain is not None
    return chain


@dataclass
class _Model:
    cost: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    matrix: sparse.csr_array
    row_lo: np.ndarray
    row_hi: np.ndarray
    x_at: int


class _Rows:
    """Sparse constraint rows collected as triplets."""

    def __init__(self) -> None:
        self.r: list[np.ndarray] = []
        self.c: list[np.ndarray] = []
        self.v: list[np.ndarray] = []
        self.lo: list[np.ndarray] = []
        self.hi: list[np.ndarray] = []
        self.n = 0

    def add(self, r: np.ndarray, c: np.ndarray, v: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> None:
        """Add ``len(lo)`` rows; ``r`` numbers them from 0."""
        self.r.append(np.asarray(r) + self.n)
        self.c.append(np.asarray(c))
        self.v.append(np.asarray(v, dtype=float))
        self.lo.append(np.asarray(lo, dtype=float))
        self.hi.append(np.asarray(hi, dtype=float))
        self.n += len(lo)

    def matrix(self, columns: int) -> sparse.csr_array:
        return sparse.csr_array(
            (np.concatenate(self.v), (np.concatenate(self.r), np.concatenate(self.c))), shape=(self.n, columns)
        )


def _build(model: TieredNetwork, prices: np.ndarray, weight: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> _Model:
    """The multi-level LP as arrays: columns y (tiers 2+), x (source-station pairs), f (links above tier 2)."""
    tiers = model.tiers[1:]
    levels = len(tiers)
    y_at = np.cumsum([0] + [t.size for t in tiers])
    x_at = int(y_at[-1])
    links = model.arcs[2:]
    f_at = np.cumsum([x_at + len(rows)] + [len(a.src) for a in links])
    ncol = int(f_at[-1])
    total = float(weight.sum())
    cost = np.zeros(ncol)
    lower, upper = np.zeros(ncol), np.full(ncol, np.inf)
    for t, tier in enumerate(tiers):
        sl = slice(int(y_at[t]), int(y_at[t + 1]))
        cost[sl] = tier.open_cost
        upper[sl] = 1.0
        lower[sl] = tier.fixed_open.astype(float)
    nx = len(rows)
    xcol = x_at + np.arange(nx)
    cost[xcol] = weight[rows] * prices[rows, cols]
    upper[xcol] = 1.0
    for t, arcs in enumerate(links):
        fcol = f_at[t] + np.arange(len(arcs.src))
        cost[fcol] = arcs.distance * (model.haul[t + 1] * model.days / 1e6)
    out = _Rows()
    # every source sends all its kilograms
    out.add(rows, xcol, np.ones(nx), np.ones(len(weight)), np.ones(len(weight)))
    # (the strong rows x <= y of the stations come in _solve_rounds, where they are broken)
    # per site of each tier: inflow within its capacity when open; inflow = outflow below the top
    inflow: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = [(cols, xcol, weight[rows])]
    for t, arcs in enumerate(links):
        fcol = f_at[t] + np.arange(len(arcs.src))
        inflow.append((arcs.dst, fcol, np.ones(len(fcol))))
        # a link carries flow only into an open site
        cap = np.minimum(np.minimum(tiers[t].capacity[arcs.src], tiers[t + 1].capacity[arcs.dst]), total)
        _link_rows(out, np.arange(len(fcol)), fcol, y_at[t + 1] + arcs.dst, scale=cap)
    for t, tier in enumerate(tiers):
        site, col, coef = inflow[t]
        m = tier.size
        ycol = y_at[t] + np.arange(m)
        out.add(
            np.r_[site, np.arange(m)], np.r_[col, ycol], np.r_[coef, -tier.capacity], np.full(m, -np.inf), np.zeros(m)
        )
        if t + 1 < levels:
            src, fcol = links[t].src, f_at[t] + np.arange(len(links[t].src))
            out.add(np.r_[site, src], np.r_[col, fcol], np.r_[coef, -np.ones(len(fcol))], np.zeros(m), np.zeros(m))
        hi = tier.max_count if tier.max_count is not None else m
        out.add(
            np.zeros(m, dtype=int),
            ycol,
            np.ones(m),
            np.array([max(tier.min_count, _fewest(tier, total))]),
            np.array([hi]),
        )
    return _Model(cost, lower, upper, out.matrix(ncol), np.concatenate(out.lo), np.concatenate(out.hi), x_at)


def _fewest(tier: TierSites, total: float) -> int:
    """Fewest sites of ``tier`` whose capacities can hold ``total`` (the largest first): a valid count cut."""
    if total <= 0:
        return 0
    cum = np.cumsum(np.sort(tier.capacity)[::-1])
    return min(int(np.searchsorted(cum, total * (1 - 1e-9))) + 1, len(cum))


def _link_rows(out: _Rows, idx: np.ndarray, var: np.ndarray, ycol: np.ndarray, scale: np.ndarray | float = 1.0) -> None:
    """Rows ``var <= scale * y`` for each pair."""
    k = len(idx)
    scale = np.broadcast_to(np.asarray(scale, dtype=float), (k,))
    out.add(np.r_[idx, idx], np.r_[var, ycol], np.r_[np.ones(k), -scale], np.full(k, -np.inf), np.zeros(k))
