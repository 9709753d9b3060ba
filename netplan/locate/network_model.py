"""The tiered recycling network: 3 tiers (collection point -> transfer station ->
sorting centre) or 4 (... -> city centre), sited and linked in one model.

Decisions: which candidate sites open in each tier; which open collection
point each demand point walks to (within the tier-1 radius); and which open
site of tier t+1 each open site of tier t sends its load to (within tier
t+1's maximum road distance). Every assignment is single-sourced, as a real
network needs: one demand point uses one collection point, one collection
point empties into one transfer station, and so on.

Costs, all per year: opening (operating) cost per open site; haulage per
tonne-kilometre between tiers on the road network; and the residents' access
cost per tonne-kilometre walked (small; it makes each household use a near
point among those in reach). Constraints: capacity per site, minimum and
maximum count per tier, sites that must stay open (existing facilities kept),
and the radius / maximum distance per tier.

Two modes:

* ``bottom_up``: tier 1 first (a single-source capacitated covering
  location problem), then tier 2 with the open collection points as its
  demand, and so on. Each step is solved exactly; the whole is not.
* ``integrated``: all tiers in one MIP (with flow variables between tiers),
  warm-started from the bottom-up plan, so it is never worse, followed by a
  close/swap local search on the collection points (:meth:`TieredNetwork.drop_tier1`)
  that prices each move on the whole network.

Both report the network-wide lower bound of :meth:`TieredNetwork.lower_bound`:
the tier-1 step's proven bound, covering bounds for the middle tiers, and, for
each open set of the top tier that could be optimal, a facility-location
relaxation of tier-2 opening plus the haul of every level.

:meth:`TieredNetwork.solve` with ``mode="both"`` runs both and reports what
integration buys.

Solved with OR-Tools pywraplp (SCIP by default; HiGHS selectable), with a
time limit and a seed, single-threaded so that runs are reproducible.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
from ortools.linear_solver import pywraplp

from netplan import interrupts
from netplan.locate.base import SCIP_BOUND_ONLY, SOLVER_NAMES, make_mip, relative_gap, run_mip
from netplan.locate.repair import close_stations
from netplan.processes import default_workers


@dataclass
class TierSites:
    """Candidate sites of one tier, as plain arrays.

    Attributes
    ----------
    tier
        Tier number (1-based).
    capacity
        kg/day each site can take.
    open_cost
        Cost per year of having the site open.
    fixed_open
        Sites that must be open (existing, kept).
    min_count, max_count
        Bounds on how many open (None = no maximum).
    site_ids
        Identifiers to carry through (e.g. ``site_id`` of the sites layer).
    """

    tier: int
    capacity: np.ndarray
    open_cost: np.ndarray
    fixed_open: np.ndarray
    min_count: int = 0
    max_count: int | None = None
    site_ids: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.capacity = np.asarray(self.capacity, dtype=float)
        self.open_cost = np.asarray(self.open_cost, dtype=float)
        self.fixed_open = np.asarray(self.fixed_open, dtype=bool)
        m = len(self.capacity)
        if self.open_cost.shape != (m,) or self.fixed_open.shape != (m,):
            raise ValueError(f"tier {self.tier}: capacity, open_cost and fixed_open must have the same length")
        if self.site_ids is None:
            self.site_ids = np.arange(m)
        if (self.capacity <= 0).any():
            raise ValueError(f"tier {self.tier}: every capacity must be > 0")

    @property
    def size(self) -> int:
        """Number of candidate sites."""
        return len(self.capacity)


@dataclass
class Arcs:
    """Allowed links from the sources of one level to the sites of the next (sparse).

    Attributes
    ----------
    src, dst
        Index pairs (source row, destination site).
    distance
        Distance of each link (metres).
    """

    src: np.ndarray
    dst: np.ndarray
    distance: np.ndarray

    @classmethod
    def from_matrix(cls, distance: np.ndarray, max_distance: float, nearest: int | None = None) -> Arcs:
        """Keep links within ``max_distance``, and at most the ``nearest`` per source.

        Parameters
        ----------
        distance
            Source x destination distances (``inf`` = no link).
        max_distance
            Longest allowed link.
        nearest
            Keep only this many nearest destinations per source (None = all).

        Returns
        -------
        Arcs
            The allowed links.
        """
        distance = np.asarray(distance, dtype=float)
        ok = distance <= max_distance
        if nearest is not None and nearest < distance.shape[1]:
            order = np.argsort(np.where(ok, distance, np.inf), axis=1, kind="stable")[:, :nearest]
            keep = np.zeros_like(ok)
            np.put_along_axis(keep, order, True, axis=1)
            ok &= keep
        src, dst = np.nonzero(ok)
        return cls(src, dst, distance[src, dst])

    def by_source(self, n: int) -> list[np.ndarray]:
        """Arc indices grouped by source row."""
        order = np.argsort(self.src, kind="stable")
        bounds = np.searchsorted(self.src[order], np.arange(n + 1))
        return [order[bounds[i] : bounds[i + 1]] for i in range(n)]

    def by_destination(self, m: int) -> list[np.ndarray]:
        """Arc indices grouped by destination site."""
        order = np.argsort(self.dst, kind="stable")
        bounds = np.searchsorted(self.dst[order], np.arange(m + 1))
        return [order[bounds[j] : bounds[j + 1]] for j in range(m)]


# a plan as NetworkSolution holds it: open masks, assignment, links, loads, objective, cost parts
_Plan = tuple[list[np.ndarray], np.ndarray, list[np.ndarray], list[np.ndarray], float, dict[str, float]]


@dataclass
class NetworkSolution:
    """A sited and linked network.

    Attributes
    ----------
    mode
        ``"integrated"`` or ``"bottom_up"``.
    status
        ``"optimal"``, ``"feasible"``, ``"infeasible"`` or ``"no_solution"``.
    open
        Per tier, a boolean mask over that tier's candidates.
    demand_to_tier1
        For each demand point, the collection point (tier-1 index) it uses.
    links
        ``links[t]`` maps each tier-(t+1) site (0-based tier t) to its
        tier-(t+2) site index, or -1 where closed.
    loads
        kg/day through each site of each tier.
    objective
        Total cost per year (recomputed from the decisions).
    cost_parts
        ``open_t<k>``, ``haul_t<k>`` and ``access`` costs per year.
    bound
        Best lower bound on the objective (integrated: for the whole
        network; bottom-up: NaN, since the sequence has none).
    gap
        Relative gap to ``bound``.
    solve_time
        Seconds.
    solver
        Engine.
    steps
        Per-step status details.
    time_limit_hit
        Steps the stage's time limit stopped before their work limit (empty
        when none did: the plan then does not depend on the clock).
    """

    mode: str
    status: str
    open: list[np.ndarray]
    demand_to_tier1: np.ndarray
    links: list[np.ndarray]
    loads: list[np.ndarray]
    objective: float
    cost_parts: dict[str, float]
    bound: float
    gap: float
    solve_time: float
    solver: str
    steps: list[dict[str, Any]] = field(default_factory=list)
    time_limit_hit: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """Scalars for tables and KPIs."""
        out: dict[str, Any] = {
            "mode": self.mode,
            "status": self.status,
            "objective": self.objective,
            "bound": self.bound,
            "gap": self.gap,
            "solve_time_s": round(self.solve_time, 3),
            "solver": self.solver,
            "time_limit_hit": ",".join(self.time_limit_hit),
        }
        for t, mask in enumerate(self.open, start=1):
            out[f"open_t{t}"] = int(mask.sum())
        out.update({f"cost_{k}": v for k, v in self.cost_parts.items()})

        return out

    def plan(self) -> _Plan:
        """The decisions and their pricing: open masks, assignment, links, loads, objective, cost parts."""
        return self.open, self.demand_to_tier1, self.links, self.loads, self.objective, self.cost_parts


class TieredNetwork:
    """The 3- or 4-tier network location model.

    Parameters
    ----------
    demand_kg
        kg/day at each demand point.
    tiers
        Candidate sites per tier (3 or 4 of them).
    arcs
        ``arcs[0]``: demand -> tier-1 links (walking distance within the
        tier-1 radius); ``arcs[t]``: tier t -> tier t+1 links (road distance
        within tier t+1's maximum).
    haul_cost_per_t_km
        Per tier link t -> t+1 (length = number of tiers - 1), cost per tonne-km.
    access_cost_per_t_km
        Residents' walking, cost per tonne-km.
    days_per_year
        To turn daily flows into yearly costs.
    exclude_unreachable
        Leave out (and list in ``excluded``) demand points that no usable
        collection point can serve, instead of raising.
    node_limit
        Branch-and-bound node limit per MIP (SCIP): makes runs that stop
        before optimality reproducible regardless of machine load.
    engine
        ``"mip"``: every step is a MIP (SCIP or HiGHS). ``"lagrangian"``: every
        level by :func:`~netplan.locate.lagrangian.solve_level` (Lagrangian
        bound, Lagrangian heuristic, local search), the network bound's MIPs
        with HiGHS; near-linear in the city and deterministic by construction.
    iterations
        Subgradient iterations per level for the ``lagrangian`` engine.
    """

    def __init__(
        self,
        demand_kg: np.ndarray,
        tiers: list[TierSites],
        arcs: list[Arcs],
        haul_cost_per_t_km: list[float],
        access_cost_per_t_km: float = 1.0,
        days_per_year: float = 365.0,
        exclude_unreachable: bool = False,
        node_limit: int | None = None,
        engine: Literal["mip", "lagrangian"] = "mip",
        iterations: int = 300,
    ):
        self.demand = np.asarray(demand_kg, dtype=float).copy()
        self.exclude_unreachable = exclude_unreachable
        self.node_limit = node_limit
        if engine not in ("mip", "lagrangian"):
            raise ValueError(f"engine must be 'mip' or 'lagrangian', got {engine!r}")
        self.engine = engine
        self.iterations = int(iterations)
        self.time_limit_hit: list[str] = []
        self.top_sets_priced = 0
        self.upper_tiers: Any = None  # how upper_tiers_bound went in the last lower_bound
        self.top_haul: Any = None  # how top_haul_bound went in the last lower_bound
        self.cover_parts: dict[str, float] = {}  # covering bounds of tiers 2 to top-1 from the last _split_bound
        # Work limits of the lagrangian engine's HiGHS MIPs (exact components; the bound's relaxations). The
        # SCIP engine's node_limit (often 1: the root) would leave HiGHS without a solution on most of them.
        self.exact_nodes = 1000
        # Above tier 1 an exact block is a bin packing of open sites into few large ones: at N = 5,000 (31 stations,
        # 83 sorting-centre candidates) HiGHS found no plan in 1,000 nodes (over 100 s) and the Lagrangian heuristic
        # then sited the tier in under a second. A plan it finds, it finds early.
        self.upper_exact_nodes = 100
        # Large blocks of the lowest this many levels start their multipliers at their LP's duals (HiGHS). Tier 1: the
        # bound starts at the LP, where 300 subgradient steps ended 4 % below it on a 2,000-point block; above: the
        # Lagrangian heuristic's plans follow the LP's open sites (N = 2,000, tier 2: 10.14 M against 10.93 M).
        # Measured in README "Siting a whole city"; 0 = no LP start.
        self.lp_start_levels = len(tiers)
        # Lagrangian blocks of at most this many arcs price each site's 0-1 knapsack exactly (dynamic programming):
        # on the spread 5,000-point city tier 1's gap 3.82 -> 2.88 %; a dense city's blocks stay continuous
        self.binary_arcs = 20_000
        # Tier-1 Lagrangian blocks of at least column_sources sources end with price and branch on windows of
        # column_window sources (locate/columns.py; 0 = none), column_nodes HiGHS nodes per window
        self.column_window = 0
        self.column_sources = 1000
        self.column_nodes = 10
        # Processes that site a level's independent components side by side (lagrangian engine; None: one per core,
        # netplan.processes.default_workers). The plan does not depend on it.
        self.workers: int | None = None
        # Components of a level already sited in this solve (lagrangian engine), by their data: stations first
        # sites tier 1 again on fewer links, and the components those links leave alone come back as they were.
        self._components: dict[bytes, Any] = {}
        self.bound_nodes = node_limit if engine == "mip" else max(node_limit or 0, 200)
        self.excluded: np.ndarray = np.array([], dtype=int)
        if len(tiers) not in (3, 4):
            raise ValueError(f"a network has 3 or 4 tiers, got {len(tiers)}")
        if len(arcs) != len(tiers) or len(haul_cost_per_t_km) != len(tiers) - 1:
            raise ValueError("need one arc set per tier and one haul cost per link between tiers")
        self.tiers = tiers
        self.arcs = arcs
        self.haul = [float(c) for c in haul_cost_per_t_km]
        self.access = float(access_cost_per_t_km)
        self.days = float(days_per_year)
        self.pruned = self._prune()
        self._check_feasible()

    def _prune(self) -> list[int]:
        """Drop links into candidates that can never open: those with no link to any usable next-tier site.

        Works from the top tier down; a valid reduction (no feasible network
        uses such a site), and it stops the bottom-up mode from opening a
        collection point no transfer station can serve.
        """
        usable = [np.ones(t.size, dtype=bool) for t in self.tiers]
        for t in range(len(self.tiers) - 2, -1, -1):
            arcs = self.arcs[t + 1]
            ok = usable[t + 1][arcs.dst]
            has = np.zeros(self.tiers[t].size, dtype=bool)
            has[arcs.src[ok]] = True
            usable[t] &= has
            if not ok.all():
                self.arcs[t + 1] = Arcs(arcs.src[ok], arcs.dst[ok], arcs.distance[ok])
        for t in range(len(self.tiers)):
            arcs = self.arcs[t]
            keep = usable[t][arcs.dst]
            if t > 0:
                keep &= usable[t - 1][arcs.src]
            if not keep.all():
                self.arcs[t] = Arcs(arcs.src[keep], arcs.dst[keep], arcs.distance[keep])
        return [int((~u).sum()) for u in usable]

    # ----------------------------------------------------------------- validation
    def _check_feasible(self) -> None:
        """Name the obvious causes of infeasibility before any solver runs."""
        n = len(self.demand)
        active = self.demand > 0
        reach = np.zeros(n, dtype=bool)
        reach[self.arcs[0].src] = True
        lost = np.flatnonzero(active & ~reach)
        if len(lost) and self.exclude_unreachable:
            self.excluded = lost
            self.demand[lost] = 0.0
        elif len(lost):
            worst = lost[np.argsort(-self.demand[lost], kind="stable")][:5]
            listed = ", ".join(f"#{i} ({self.demand[i]:.0f} kg/day)" for i in worst)
            why = (
                "within the walking radius"
                if not self.pruned[0]
                else f"within the walking radius that can reach a tier-2 site ({self.pruned[0]} tier-1 candidates have "
                "no tier-2 candidate within tier 2's maximum distance)"
            )
            raise ValueError(f"{len(lost)} demand point(s) have no tier-1 candidate {why}; worst: {listed}")
        self._check_local_capacity()
        total = float(self.demand.sum())
        for tier in self.tiers:
            cap = np.sort(tier.capacity)[::-1]
            usable = cap[: tier.max_count].sum() if tier.max_count is not None else cap.sum()
            if usable < total:
                limit = f" with at most {tier.max_count} open" if tier.max_count is not None else ""
                raise ValueError(
                    f"tier {tier.tier}: total capacity {usable:,.0f} kg/day{limit} is below total demand "
                    f"{total:,.0f} kg/day (short by {total - usable:,.0f})"
                )
            if tier.fixed_open.sum() > (tier.max_count if tier.max_count is not None else tier.size):
                raise ValueError(
                    f"tier {tier.tier}: more sites must stay open ({int(tier.fixed_open.sum())}) "
                    f"than max_count {tier.max_count}"
                )
            if tier.min_count > tier.size:
                raise ValueError(
                    f"tier {tier.tier}: min_count {tier.min_count} exceeds the {tier.size} candidate sites"
                )
        for t in range(1, len(self.tiers)):
            src = self.tiers[t - 1]
            has = np.zeros(src.size, dtype=bool)
            has[self.arcs[t].src] = True
            if not has.any():
                raise ValueError(f"no tier-{t} site is within reach of any tier-{t + 1} candidate")

    def _check_local_capacity(self) -> None:
        """Max-flow test: can the collection points within reach hold every demand point's load?

        Even when total capacity suffices, a dense block may reach too little
        of it within the walking radius. The minimum cut names that block.
        """
        from scipy.sparse import csr_array
        from scipy.sparse.csgraph import maximum_flow

        n, m = len(self.demand), self.tiers[0].size
        scale = 10.0  # 0.1 kg resolution: maximum_flow needs integer capacities
        a0 = self.arcs[0]
        src, sink = n + m, n + m + 1
        demand_int = np.ceil(self.demand * scale).astype(np.int64)
        cap_int = np.floor(self.tiers[0].capacity * scale).astype(np.int64)
        big = int(demand_int.sum()) + 1
        rows = np.concatenate([np.full(n, src), a0.src, n + np.arange(m)])
        cols = np.concatenate([np.arange(n), n + a0.dst, np.full(m, sink)])
        caps = np.concatenate([demand_int, np.full(len(a0.src), big), cap_int])
        graph = csr_array((caps, (rows, cols)), shape=(n + m + 2, n + m + 2))
        result = maximum_flow(graph, src, sink)
        if result.flow_value >= demand_int.sum():
            return
        # demand points the source can still reach in the residual graph form the bottleneck
        residual = (graph - result.flow).tocsr()
        residual.data = np.where(residual.data > 0, 1, 0)
        residual.eliminate_zeros()
        from scipy.sparse.csgraph import breadth_first_order

        reached = breadth_first_order(residual, src, directed=True, return_predecessors=False)
        block = np.array(sorted(i for i in reached if i < n))
        reach_sites = np.unique(a0.dst[np.isin(a0.src, block)])
        short = (demand_int.sum() - result.flow_value) / scale
        worst = block[np.argsort(-self.demand[block], kind="stable")][:5]
        raise ValueError(
            f"the tier-1 candidates within walking reach cannot hold all demand: {len(block)} demand point(s) "
            f"({self.demand[block].sum():,.0f} kg/day) reach only {len(reach_sites)} candidate(s) with "
            f"{self.tiers[0].capacity[reach_sites].sum():,.0f} kg/day in all; short by {short:,.0f} kg/day. "
            f"Largest of them: {', '.join(f'#{i} ({self.demand[i]:.0f} kg/day)' for i in worst)}. "
            "Add candidate sites there, raise tier-1 capacity, or widen the radius."
        )

    # ---------------------------------------------------------------- evaluation
    def evaluate(
        self, open_: list[np.ndarray], demand_to_tier1: np.ndarray, links: list[np.ndarray]
    ) -> tuple[float, dict[str, float], list[np.ndarray]]:
        """Cost and loads of a given network, recomputed from the decisions.

        Parameters
        ----------
        open_
            Open masks per tier.
        demand_to_tier1
            Tier-1 site per demand point.
        links
            Next-tier site per site, per tier link.

        Returns
        -------
        tuple
            Total cost per year, cost parts, loads per tier (kg/day).
        """
        parts: dict[str, float] = {}
        loads = [np.zeros(t.size) for t in self.tiers]
        np.add.at(loads[0], demand_to_tier1[demand_to_tier1 >= 0], self.demand[demand_to_tier1 >= 0])
        d0 = self._arc_distance(0, np.arange(len(self.demand)), demand_to_tier1)
        parts["access"] = float(np.nansum(self.demand * d0) / 1e6 * self.access * self.days)
        for t, tier in enumerate(self.tiers):
            parts[f"open_t{t + 1}"] = float(tier.open_cost[open_[t]].sum())
        for t in range(len(self.tiers) - 1):
            nxt = links[t]
            src = np.flatnonzero(nxt >= 0)
            np.add.at(loads[t + 1], nxt[src], loads[t][src])
            d = self._arc_distance(t + 1, src, nxt[src])
            parts[f"haul_t{t + 1}"] = float(np.nansum(loads[t][src] * d) / 1e6 * self.haul[t] * self.days)
        return float(sum(parts.values())), parts, loads

    def _arc_distance(self, level: int, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        arcs = self.arcs[level]
        lookup = {(int(a), int(b)): float(d) for a, b, d in zip(arcs.src, arcs.dst, arcs.distance)}
        return np.array([lookup.get((int(a), int(b)), np.nan) if b >= 0 else 0.0 for a, b in zip(src, dst)])

    # ------------------------------------------------------------------- solving
    def solve(
        self,
        mode: Literal["integrated", "bottom_up", "both"] = "both",
        time_limit: float = 60.0,
        seed: int = 0,
        backend: str = "SCIP",
    ) -> dict[str, NetworkSolution]:
        """Site and link the network.

        Parameters
        ----------
        mode
            ``"bottom_up"``, ``"integrated"`` or ``"both"``.
        time_limit
            Seconds for the whole call (bottom-up gets up to a third when
            both run; the integrated model the rest).
        seed
            Solver seed.
        backend
            ``"SCIP"`` or ``"HIGHS"``.

        Returns
        -------
        dict
            ``{"bottom_up": ..., "integrated": ...}`` for the modes run.
        """
        self.time_limit_hit = []
        self._components = {}
        try:
            return self._solve(mode, time_limit, seed, backend)
        finally:
            self._components = {}  # the components' results are only reused within one solve

    def _solve(
        self, mode: Literal["integrated", "bottom_up", "both"], time_limit: float, seed: int, backend: str
    ) -> dict[str, NetworkSolution]:
        """The steps of :meth:`solve`."""
        start = time.perf_counter()
        out: dict[str, NetworkSolution] = {}
        # The stage's time limit is shared out over its steps; it is only a safety cap: node and
        # iteration limits end the searches, and a step that meets its share is reported.
        shares = {"bottom_up": 0.5, "bound": 0.2} if mode != "bottom_up" else {"bottom_up": 0.75, "bound": 0.25}
        if self.engine == "lagrangian":
            bottom = self._bottom_up_lagrangian(time_limit * shares["bottom_up"], seed)
            left = time_limit * shares["bottom_up"] - (time.perf_counter() - start)
            bottom = self._stations_first(bottom, max(left, 0.01), seed)
            bound_backend = "HIGHS"
        else:
            bottom = self._bottom_up(time_limit * shares["bottom_up"], seed, backend)
            bound_backend = backend
        tier1_bound = bottom.steps[0].get("bound", float("nan")) if bottom.steps else float("nan")
        upper = bottom.objective if bottom.status in ("optimal", "feasible") else float("inf")
        bound_limit = min(time_limit * shares["bound"], max(time_limit - (time.perf_counter() - start), 0.01))
        bound, bound_parts = self.lower_bound(tier1_bound, bound_limit, seed, bound_backend, upper)
        if mode in ("integrated", "both"):
            remaining = max(time_limit - (time.perf_counter() - start), 0.01)
            hint = bottom if bottom.status in ("optimal", "feasible") else None
            if self.engine == "lagrangian":
                integrated = self._integrated_local(hint, time.perf_counter() + remaining)
            else:
                integrated = self._integrated(remaining, seed, backend, hint=hint)
            out["integrated"] = self._finish(integrated, bound, bound_parts)
        if mode in ("bottom_up", "both"):
            out["bottom_up"] = self._finish(bottom, bound, bound_parts)
        for sol in out.values():
            sol.time_limit_hit = list(self.time_limit_hit)
        if self.time_limit_hit:
            from netplan.diagnostics import warn

            warn(
                "locate",
                "locate.time_limit_hit",
                f"siting stopped at locate.time_limit_s ({time_limit:g} s) in {', '.join(self.time_limit_hit)} before "
                "its work limit: the plan may differ between runs and machines; raise locate.time_limit_s",
                ids=self.time_limit_hit,
            )
        return out

    def _timed_out(self, step: str, elapsed: float, limit: float, status: str) -> None:
        """Record a step that stopped at its share of the time limit (its result then depends on the clock)."""
        if status != "optimal" and elapsed >= 0.95 * limit and step not in self.time_limit_hit:
            self.time_limit_hit.append(step)

    def _stations_first(self, bottom: NetworkSolution, time_limit: float, seed: int) -> NetworkSolution:
        """Site the network again from the cheapest cover of transfer stations; keep the cheaper plan.

        Bottom-up sites the collection points for the residents alone, and the
        stations must then reach the points it chose: in a city wider than the
        stations' reach that can take more stations than the cheapest set
        every demand point can reach through some collection point (the cover
        of :meth:`_cover_bound`, whose opening cost is a bound). Here the
        stations come first: that cover, then bottom-up with tier 1 limited to
        the collection points linked to a station of it (every demand point
        keeps one in walking reach, by the cover's rows) and the stations
        sited as usual, so they can follow the cover. The plan kept is the
        cheaper of the two; the first's tier-1 step, whose bound is over every
        candidate, stays first in the steps. Skipped (and recorded) when the
        cover opens stations for no less than the plan does.
        """
        if bottom.status not in ("optimal", "feasible"):
            return bottom
        start = time.perf_counter()
        record: dict[str, Any] = {"step": "stations_first"}
        stations = self.tiers[1]
        cover = self._station_cover(time_limit / 4, seed)
        plan_open = float(stations.open_cost[bottom.open[1]].sum())
        if cover is None or float(stations.open_cost[cover].sum()) >= plan_open * (1 - 1e-9):
            record.update(used=False, reason="the cover opens no cheaper stations")
            bottom.steps.append({**record, "seconds": round(time.perf_counter() - start, 3)})
            return bottom
        a0, a1 = self.arcs[0], self.arcs[1]
        linked = np.zeros(self.tiers[0].size, dtype=bool)
        linked[a1.src[cover[a1.dst]]] = True
        keep0 = linked[a0.dst]
        # the stations stay free: the cover holds the tonnage in total, but single-sourced collection points may
        # need a station more where it is short (on the spread 10,000-point city, the cover alone found no plan)
        arcs = [Arcs(a0.src[keep0], a0.dst[keep0], a0.distance[keep0]), *self.arcs[1:]]
        left = max(time_limit - (time.perf_counter() - start), 0.01)
        alt = self._bottom_up_lagrangian(left, seed, arcs=arcs)
        better = alt.status in ("optimal", "feasible") and alt.objective < bottom.objective * (1 - 1e-9)
        record.update(
            used=bool(better),
            cover_stations=int(cover.sum()),
            plan_stations=int(bottom.open[1].sum()),
            objective=alt.objective,
            bottom_up_objective=bottom.objective,
            steps=alt.steps,
            seconds=round(time.perf_counter() - start, 3),
        )
        if not better:
            bottom.steps.append(record)
            return bottom
        alt.steps = [*bottom.steps, record]
        alt.solve_time = bottom.solve_time + (time.perf_counter() - start)  # the cover's MIP included
        return alt

    def _station_cover(self, time_limit: float, seed: int) -> np.ndarray | None:
        """The cheapest set of transfer stations every demand point reaches through a collection point, or None."""
        reach = (self._link_matrix(0) @ self._link_matrix(1)).tocsr()
        reach.data[:] = 1.0
        value, chosen = self._cover(reach, self.tiers[1], time_limit, seed, "HIGHS", step="stations_first")
        return chosen if np.isfinite(value) else None

    def _link_matrix(self, level: int):  # a scipy sparse array (scipy is imported lazily)
        """Level ``level``'s allowed links as a sparse array: sources (demand points or the tier below) x sites."""
        from scipy import sparse

        arcs = self.arcs[level]
        rows = len(self.demand) if level == 0 else self.tiers[level - 1].size
        return sparse.csr_array((np.ones(len(arcs.src)), (arcs.src, arcs.dst)), shape=(rows, self.tiers[level].size))

    def _bottom_up_lagrangian(self, time_limit: float, seed: int, arcs: list[Arcs] | None = None) -> NetworkSolution:
        """Bottom-up with every level sited by :func:`~netplan.locate.lagrangian.solve_level`.

        A level the Lagrangian heuristic cannot make feasible (tight count
        bounds on a small upper tier) falls back to a HiGHS MIP. ``arcs``
        (default: the model's) restricts the links each level may use; a
        plan on a subset of them is a plan of the whole model.
        """
        links_allowed = self.arcs if arcs is None else arcs
        from netplan.locate.lagrangian import LevelProblem, solve_level_split

        start = time.perf_counter()
        steps: list[dict[str, Any]] = []
        levels = len(self.tiers)

        def site_level(
            t: int, weights: np.ndarray, src_active: np.ndarray, kg_m_cost: float
        ) -> tuple[np.ndarray, np.ndarray, str]:
            tier, arcs = self.tiers[t], links_allowed[t]
            # tier 1 gets 80 % of the time, the levels above share the rest; what a level leaves unused passes on
            weight = [0.8] + [0.2 / (levels - 1)] * (levels - 1) if levels > 1 else [1.0]
            left = max(time_limit - (time.perf_counter() - start), 0.01)
            limit = left * weight[t] / sum(weight[t:])
            t0 = time.perf_counter()
            level = LevelProblem(
                weights=weights,
                active=src_active,
                src=arcs.src,
                dst=arcs.dst,
                cost=weights[arcs.src] * arcs.distance * kg_m_cost,
                capacity=tier.capacity,
                open_cost=tier.open_cost,
                fixed_open=tier.fixed_open,
                min_count=tier.min_count,
                max_count=tier.max_count,
            )
            res = solve_level_split(
                level,
                iterations=self.iterations,
                time_limit=limit,
                node_limit=self.exact_nodes if t == 0 else self.upper_exact_nodes,
                seed=seed,
                # HiGHS proves a single-source tier-1 block of 20 points in a fraction of a
                # second but may find nothing at the root of 24; upper levels have few sites
                exact_sources=20 if t == 0 else 250,
                lp_start=t < self.lp_start_levels,
                binary_arcs=self.binary_arcs,
                columns=self.column_window if t == 0 else 0,
                column_sources=self.column_sources,
                column_nodes=self.column_nodes,
                workers=self.workers or default_workers(),
                memo=self._components,
            )
            if res.time_limit_hit:
                self.time_limit_hit.append(f"tier{tier.tier}")
            mask, assign, bound = res.open, res.assign, res.bound
            st = "optimal" if relative_gap(res.objective, bound) <= 1e-7 else "feasible"
            step: dict[str, Any] = {
                "tier": tier.tier,
                "engine": "lagrangian",
                **res.details,
                "objective": res.objective,
                "seconds": round(time.perf_counter() - t0, 3),
            }
            if not np.isfinite(res.objective):
                t0 = time.perf_counter()
                mask, assign, st, bound = self._single_level(
                    weights, src_active, tier, arcs, kg_m_cost, limit, seed, "HIGHS"
                )
                self._timed_out(f"tier{tier.tier}", time.perf_counter() - t0, limit, st)
                step["engine"] = "lagrangian->HiGHS"
            step.update({"status": st, "bound": bound})
            steps.append(step)
            return mask, assign, st

        return self._bottom_up_levels(site_level, start=start, steps=steps, backend="lagrangian", solver="lagrangian")

    def _bottom_up_levels(
        self,
        site_level: Callable[[int, np.ndarray, np.ndarray, float], tuple[np.ndarray, np.ndarray, str]],
        *,
        start: float,
        steps: list[dict[str, Any]],
        backend: str,
        solver: str,
    ) -> NetworkSolution:
        """Site the tiers bottom-up, each level's loads the next level's demand.

        Parameters
        ----------
        site_level
            Sites level ``t`` given its source weights, the sources that need a site and the cost per kg and metre;
            returns the open mask, the assignment and the status (and records its step in ``steps``).
        start
            ``time.perf_counter()`` when the mode started.
        steps
            The steps recorded so far (the failed or finished solution carries them).
        backend, solver
            The engine named in a failed solution and in the finished one.

        Returns
        -------
        NetworkSolution
            The bottom-up plan, or the failure of the first level that found none.
        """
        open_: list[np.ndarray] = []
        links: list[np.ndarray] = []
        weights = self.demand
        cost_per_kg_m = [self.access * self.days / 1e6] + [h * self.days / 1e6 for h in self.haul]
        assignment = np.full(len(self.demand), -1)
        status = "optimal"
        for t in range(len(self.tiers)):
            # every open site of the level below needs a link, even one that carries nothing
            src_active = weights > 0 if t == 0 else open_[t - 1]
            mask, assign, st = site_level(t, weights, src_active, cost_per_kg_m[t])
            if st not in ("optimal", "feasible"):
                return self._failed("bottom_up", st, time.perf_counter() - start, backend, steps)
            if st == "feasible":
                status = "feasible"
            if t == 0:
                assignment = assign
            weights = self._link_level(t, mask, assign, src_active, weights, open_, links)
        if len(self.tiers) > 1:
            # the level-by-level plan can keep a station open for a few outlying collection points
            t0 = time.perf_counter()
            open_, assignment, links, repair = close_stations(self, open_, assignment, links)
            steps.append({"step": "close_stations", **asdict(repair), "seconds": round(time.perf_counter() - t0, 3)})
            if repair.stations_closed:
                status = "feasible"
        return self._bottom_up_result(open_, assignment, links, status, start, solver, steps)

    def _link_level(
        self,
        t: int,
        mask: np.ndarray,
        assign: np.ndarray,
        src_active: np.ndarray,
        weights: np.ndarray,
        open_: list[np.ndarray],
        links: list[np.ndarray],
    ) -> np.ndarray:
        """Record level ``t``'s open sites (and its links from the level below); return the next level's weights."""
        open_.append(mask)
        if t > 0:
            full = np.full(self.tiers[t - 1].size, -1)
            full[open_[t - 1]] = assign[open_[t - 1]]
            links.append(full)
        # the next level's demand is this level's load per open site
        loads = np.zeros(self.tiers[t].size)
        np.add.at(loads, assign[src_active], weights[src_active])
        return loads

    def _bottom_up_result(
        self,
        open_: list[np.ndarray],
        assignment: np.ndarray,
        links: list[np.ndarray],
        status: str,
        start: float,
        solver_name: str,
        steps: list[dict[str, Any]],
    ) -> NetworkSolution:
        """The bottom-up plan, priced on the whole network (bound and gap come later, from :meth:`_finish`)."""
        objective, parts, loads_all = self.evaluate(open_, assignment, links)
        return NetworkSolution(
            "bottom_up",
            status,
            open_,
            assignment,
            links,
            loads_all,
            objective,
            parts,
            float("nan"),
            float("nan"),
            time.perf_counter() - start,
            solver_name,
            steps,
        )

    def _integrated_local(self, hint: NetworkSolution | None, deadline: float) -> NetworkSolution:
        """The ``lagrangian`` engine's integrated mode.

        The bottom-up plan improved by moves priced on the whole network.
        """
        start = time.perf_counter()
        if hint is None:
            return self._failed("integrated", "no_solution", 0.0, "lagrangian", [])
        open_, assign, links = self.drop_tier1(hint.open, hint.demand_to_tier1, hint.links)
        value, parts, loads = self.evaluate(open_, assign, links)
        plan: _Plan = (open_, assign, links, loads, value, parts)
        if value > hint.objective - 1e-6:
            plan = hint.plan()
        if time.perf_counter() > deadline:
            self.time_limit_hit.append("integrated")
        return NetworkSolution(
            "integrated",
            "feasible",
            *plan,
            float("nan"),
            float("nan"),
            time.perf_counter() - start,
            "lagrangian+local search",
            [{"note": "bottom-up plan, then close/swap moves priced on the whole network"}],
        )

    def _finish(self, sol: NetworkSolution, bound: float, parts: dict[str, float]) -> NetworkSolution:
        """Attach the network-wide lower bound; a solution is optimal only when it meets it."""
        if sol.status not in ("optimal", "feasible"):
            return sol
        sol.bound = bound
        sol.gap = relative_gap(sol.objective, bound)
        sol.status = "optimal" if sol.gap <= 1e-6 else "feasible"
        sol.steps.append({"bound_parts": parts})
        for name, found, count in (
            ("top_haul", self.top_haul, "groups"),
            ("upper_tiers_lp", self.upper_tiers, "sources"),
        ):
            if found is not None:
                sol.steps.append(
                    {
                        name: {
                            "value": found.value,
                            "status": found.status,
                            count: found.sources,
                            "pairs": found.pairs,
                            "seconds": round(found.seconds, 3),
                        }
                    }
                )
        return sol

    def lower_bound(
        self, tier1_bound: float, time_limit: float, seed: int, backend: str, upper: float = float("inf")
    ) -> tuple[float, dict[str, float]]:
        """A valid lower bound on the cost of any feasible network: the better of two, each by disjoint cost parts.

        :meth:`_split_bound` (tier 1, covers of the middle tiers, and the top
        tier's open sets priced one by one with a path relaxation) and the
        tier-1 bound plus :func:`~netplan.locate.bound.upper_tiers_bound`, one
        LP of every tier above tier 1 with each site's capacity and the links
        between the tiers (strongest where the top tier has too many open sets
        to price one by one). Both are valid, so the larger is.

        Parameters
        ----------
        tier1_bound
            Proven bound of the tier-1 step (open + access cost).
        time_limit
            Seconds for both (a safety cap; node, round and row limits end them). The LP runs only where the split
        bound relaxed the top tier (too many sets to price, or out of time), unless ``upper_tiers_always``.
        seed
            Solver seed.
        backend
            MIP backend.
        upper
            Cost of a known feasible network; the bound never exceeds it.

        Returns
        -------
        tuple
            The bound and its parts.
        """
        from netplan.locate.bound import upper_tiers_bound

        start = time.perf_counter()
        self.upper_tiers = None
        bound, parts = self._split_bound(tier1_bound, time_limit, seed, backend, upper)
        bound, parts = self._cover_haul_bound(
            tier1_bound, bound, parts, time_limit - (time.perf_counter() - start), upper
        )
        relaxed_top = self.top_sets_priced < 0 or "bound" in self.time_limit_hit or not np.isfinite(bound)
        if not (relaxed_top or self.upper_tiers_always):
            # every top-tier set priced: there the split bound was the stronger on every city measured
            return bound, parts
        left = time_limit - (time.perf_counter() - start)
        self.upper_tiers = upper_tiers_bound(
            self, time_limit=max(left, 1.0), max_pairs=self.upper_tiers_pairs, max_links=self.upper_tiers_links
        )
        if self.upper_tiers.time_limit_hit and "bound" not in self.time_limit_hit:
            self.time_limit_hit.append("bound")
        tier1 = float(tier1_bound) if np.isfinite(tier1_bound) else 0.0
        joint = tier1 + self.upper_tiers.value
        if np.isfinite(joint) and not joint <= bound:
            bound, parts = min(joint, upper), {"tier1": tier1, "tiers2+haul (LP)": self.upper_tiers.value}
        return bound, parts

    def _cover_haul_bound(
        self, tier1_bound: float, bound: float, parts: dict[str, float], time_limit: float, upper: float
    ) -> tuple[float, dict[str, float]]:
        """The better of ``bound`` and a third one by disjoint parts: tier 1, covers of tiers 2 to top-1, top + haul.

        Tier 1's proven bound; for each tier from the stations to the one below
        the top, the cheapest open set every demand point can reach with enough
        capacity (the covering MIPs of :meth:`_split_bound`: opening costs only);
        and :func:`~netplan.locate.bound.top_haul_bound` for the top tier's
        opening plus the haulage of every level. The parts share no cost, so
        their sum bounds every network. Where the top tier's sets are too many
        to price, :meth:`_split_bound` prices the stations and hauls as if every
        top site were open; this one makes the haul go to as few top sites as
        can hold it (on a 5,000-point city of 62 stations and 6 sorting centres:
        4 M CNY/yr more).
        """
        from netplan.locate.bound import top_haul_bound

        self.top_haul = None
        covers = dict(self.cover_parts)
        if len(self.tiers) > 2 and "tier2" not in covers:
            return bound, parts  # the split bound stopped before its covers
        if not all(np.isfinite(v) for v in covers.values()):
            return bound, parts
        self.top_haul = top_haul_bound(self, node_limit=self.bound_nodes, time_limit=max(time_limit, 1.0))
        if self.top_haul.time_limit_hit and "bound" not in self.time_limit_hit:
            self.time_limit_hit.append("bound")
        tier1 = float(tier1_bound) if np.isfinite(tier1_bound) else 0.0
        value = tier1 + float(sum(covers.values())) + self.top_haul.value
        if np.isfinite(value) and not value <= bound:
            top = f"tier{len(self.tiers)}+haul"
            return min(value, upper), {"tier1": tier1, **covers, top: self.top_haul.value}
        return bound, parts

    upper_tiers_always = False
    """Compute :func:`~netplan.locate.bound.upper_tiers_bound` even when the split bound priced every top-tier set
    (by default only when it relaxed the top tier: on Chengdu, 3 and 4 tiers, and N = 500 the split bound was the
    stronger and the LP cost 17-18 s on a loaded machine)."""

    upper_tiers_links = 5_000
    """Most strong rows :func:`~netplan.locate.bound.upper_tiers_bound` adds (its work limit)."""

    upper_tiers_pairs = 50_000
    """Above this many source-station pairs :func:`~netplan.locate.bound.upper_tiers_bound` solves its first LP only
    (N = 2,000 has 78,000: the strong rows would add 0.07 M to the bound for about a minute on a loaded machine)."""

    def _split_bound(
        self, tier1_bound: float, time_limit: float, seed: int, backend: str, upper: float = float("inf")
    ) -> tuple[float, dict[str, float]]:
        """A valid lower bound on the cost of any feasible network, by disjoint cost parts.

        Every feasible network contains (a) a tier-1 solution, whose open and
        access costs are at least ``tier1_bound`` (that step's proven bound);
        (b) for each tier strictly between tier 2 and the top, a set of open
        sites such that every demand point can reach one of them through a
        chain of allowed links, with enough total capacity — the cheapest
        such set (a covering MIP) bounds that tier's opening cost; (c) an open
        set ``S`` of the top tier together with open tier-2 sites and every
        kilogram's haul from its collection point all the way to ``S``: the
        facility-location relaxation of :meth:`_path_location_bound` bounds
        tier-2 opening plus all haulage for a given ``S``, so the least over
        the top-tier sets of ``open(S)`` plus that relaxation bounds (c).

        The top-tier sets are enumerated (sets that even the weakest bound
        prices above ``upper`` cannot be optimal and are skipped); when there
        are too many, ``S`` is relaxed to every top-tier candidate and its
        opening cost to the covering bound of (b).

        Parameters
        ----------
        tier1_bound
            Proven bound of the tier-1 step (open + access cost).
        time_limit
            Seconds for the bounding MIPs (a safety cap; the node limit ends them).
        seed
            Solver seed.
        backend
            MIP backend.
        upper
            Cost of a known feasible network (e.g. the bottom-up plan); only
            used to skip top-tier sets, and the bound never exceeds it.

        Returns
        -------
        tuple
            The bound and its parts (those of the best top-tier set).
        """
        start = time.perf_counter()
        levels = len(self.tiers)
        self.cover_parts = {}
        parts: dict[str, float] = {"tier1": float(tier1_bound) if np.isfinite(tier1_bound) else 0.0}
        reach = self._link_matrix(0)
        reach_dense = reach.toarray() > 0
        # (b): tiers between 2 and the top; the top tier's cover is kept for the fallback
        top_cover = 0.0
        for t in range(1, levels):
            reach = (reach @ self._link_matrix(t)).tocsr()
            reach.data[:] = 1.0
            if t == 1 and levels == 2:
                continue
            budget = max(time_limit - (time.perf_counter() - start), 1.0) / (2 * levels)
            cover = self._cover_bound(reach, self.tiers[t], budget, seed, backend)
            if t == 1:
                # not part of this bound (the path relaxation prices the stations); the cover bound uses it
                self.cover_parts = {"tier2": cover}
            elif t < levels - 1:
                parts[f"tier{t + 1}"] = cover
                self.cover_parts[f"tier{t + 1}"] = cover
            else:
                top_cover = cover
        rest = float(sum(parts.values()))
        relax = _PathRelaxation(self, reach_dense)
        top = self.tiers[-1]
        everything = np.ones(top.size, dtype=bool)
        budget = max(time_limit - (time.perf_counter() - start), 1.0) / 4
        weakest = relax.solve(everything, budget, seed, backend)
        if not np.isfinite(weakest):
            return float("nan"), parts
        sets = self._top_sets(upper - rest - weakest)
        fallback = {"tier2+haul": weakest, f"tier{levels}": top_cover}
        if sets is None:
            parts.update(fallback)
            self.top_sets_priced = -1  # too many to price: every top-tier site relaxed to open
            return min(float(sum(parts.values())), upper), parts
        self.top_sets_priced = len(sets)
        floors = self._set_floors(sets, relax, backend)
        self.top_sets_solved = 0
        best, best_parts = float("inf"), {}
        for k, index in enumerate(np.argsort(floors, kind="stable").tolist()):
            if floors[index] >= best:
                break  # sorted: no set left can lower the minimum, as a set's MIP value is never below its LP's
            left = time_limit - (time.perf_counter() - start)
            if left <= 0:
                # out of time: the minimum over the sets is unknown, the relaxed one is still valid
                self.time_limit_hit.append("bound")
                parts.update(fallback)
                return min(float(sum(parts.values())), upper), parts
            s = sets[index]
            opening = float(top.open_cost[s].sum())
            value = relax.solve(s, left / max(len(sets) - k, 1), seed, backend, cutoff=best - opening)
            self.top_sets_solved += 1
            total = opening + value
            if total < best:
                best, best_parts = total, {"tier2+haul": value, f"tier{levels}": opening}
        parts.update(best_parts)
        if not best_parts:
            # no top-tier set can beat ``upper``: the plan behind it is optimal
            return (float(upper) if np.isfinite(upper) else float("nan")), parts
        return min(rest + best, upper), parts

    top_set_limit = 64
    """Most top-tier open sets :meth:`lower_bound` prices one by one (one small MIP each)."""

    screen_top_sets = True
    """Rule top-tier sets out by their path relaxation's LP before pricing them by its MIP (:meth:`_set_floors`;
    the bound is the same either way, only the work differs)."""

    top_sets_solved = 0
    """How many of the top-tier sets the last bound priced by their MIP (the others their LP ruled out)."""

    def _set_floors(self, sets: list[np.ndarray], relax: _PathRelaxation, backend: str) -> np.ndarray:
        """Each top-tier set's opening cost plus its path relaxation's LP value: a floor under its priced total.

        Sets are then priced cheapest floor first and the rest skipped once a
        floor reaches the best total, which leaves the minimum over the sets,
        and so the bound, as pricing every one would. On Chengdu the LP takes
        a fifth of the MIP's time and has its value for 15 of 16 sets, so one
        MIP is solved instead of 16. Where the relaxation is too large for a
        MIP (it is bounded by Lagrangian relaxation then) every floor is
        -inf: the sets are priced in their own order, all of them. Each MIP
        also runs under the best total as a cutoff (HiGHS), so a set that
        cannot beat it stops as soon as that is proved: on the rural county,
        whose LPs rule out no set, the bound took 3.5 s instead of 7.5 s.
        """
        top = self.tiers[-1]
        opening = np.array([float(top.open_cost[s].sum()) for s in sets])
        if not self.screen_top_sets or relax.lagrangian_sized():
            return np.full(len(sets), -np.inf)
        return opening + np.array([relax.solve_lp(s, backend) for s in sets])

    top_set_work = 100_000
    """Most candidate sets :meth:`_top_sets` examines (kept or rejected) before giving up on enumerating."""

    def _top_sets(self, slack: float, limit: int | None = None) -> list[np.ndarray] | None:
        """Open sets of the top tier an optimal network may use: at most ``limit`` of them, else None.

        A set qualifies when it keeps the fixed sites, respects the count
        bounds, holds the total demand and costs at most ``slack`` to open
        (sets above that cannot be part of a network cheaper than the one
        ``slack`` was derived from). Sets come cheapest first.
        """
        from itertools import combinations

        limit = self.top_set_limit if limit is None else limit
        top = self.tiers[-1]
        if not np.isfinite(slack):
            slack = float("inf")
        fixed = np.flatnonzero(top.fixed_open)
        free = np.flatnonzero(~top.fixed_open)
        total = float(self.demand.sum())
        lo = max(top.min_count, len(fixed), 1)
        hi = top.max_count if top.max_count is not None else top.size
        base = float(top.open_cost[fixed].sum())
        cheapest = np.sort(top.open_cost[free])
        sets: list[tuple[float, tuple[int, ...]]] = []
        examined = 0
        for size in range(lo, hi + 1):
            extra = size - len(fixed)
            if extra > len(free) or base + cheapest[:extra].sum() > slack * (1 + 1e-9) + 1e-6:
                break
            for combo in combinations(free.tolist(), extra):
                examined += 1
                if examined > self.top_set_work:
                    return None
                cost = base + float(top.open_cost[list(combo)].sum())
                if cost > slack * (1 + 1e-9) + 1e-6:
                    continue
                if float(top.capacity[fixed].sum() + top.capacity[list(combo)].sum()) < total * (1 - 1e-12):
                    continue
                sets.append((cost, tuple(fixed.tolist()) + combo))
                if len(sets) > limit:
                    return None
        out = []
        for _, members in sorted(sets):
            mask = np.zeros(top.size, dtype=bool)
            mask[list(members)] = True
            out.append(mask)
        return out

    def _cover_bound(self, reach, tier: TierSites, time_limit: float, seed: int, backend: str) -> float:
        """Cheapest open set of ``tier`` that every demand point can reach, with enough capacity: its cost's bound."""
        return self._cover(reach, tier, time_limit, seed, backend)[0]

    def _cover(
        self, reach, tier: TierSites, time_limit: float, seed: int, backend: str, step: str = "bound"
    ) -> tuple[float, np.ndarray | None]:
        """The covering MIP of :meth:`_cover_bound`: its bound, and its best set when it found one."""
        active = np.flatnonzero(self.demand > 0)
        rows = sorted({tuple(reach.indices[reach.indptr[i] : reach.indptr[i + 1]].tolist()) for i in active})
        solver = make_mip(backend)
        y = [solver.BoolVar(f"y{j}") for j in range(tier.size)]
        for row in rows:
            if not row:
                return float("inf"), None
            solver.Add(sum(y[j] for j in row) >= 1)
        for j in np.flatnonzero(tier.fixed_open):
            y[j].SetLb(1)
        solver.Add(sum(float(tier.capacity[j]) * y[j] for j in range(tier.size)) >= float(self.demand.sum()))
        solver.Add(sum(y) >= tier.min_count)
        if tier.max_count is not None:
            solver.Add(sum(y) <= tier.max_count)
        solver.Minimize(sum(float(tier.open_cost[j]) * y[j] for j in range(tier.size)))
        status, value, bound, elapsed = run_mip(solver, backend, time_limit, seed, node_limit=self.bound_nodes)
        self._timed_out(step, elapsed, time_limit, status)
        chosen = (
            np.array([v.solution_value() > 0.5 for v in y], dtype=bool) if status in ("optimal", "feasible") else None
        )
        if status == "optimal":
            return float(value), chosen
        bound = _clean_bound(bound)
        return (float(bound) if np.isfinite(bound) else 0.0), chosen

    def _bottom_up(self, time_limit: float, seed: int, backend: str) -> NetworkSolution:
        start = time.perf_counter()
        steps: list[dict[str, Any]] = []
        levels = len(self.tiers)
        # tier 1 (thousands of binaries) is the hard step; the upper tiers are small
        budgets = [time_limit * 0.8] + [time_limit * 0.2 / (levels - 1)] * (levels - 1)

        def site_level(
            t: int, weights: np.ndarray, src_active: np.ndarray, kg_m_cost: float
        ) -> tuple[np.ndarray, np.ndarray, str]:
            tier = self.tiers[t]
            limit = min(budgets[t], max(time_limit - (time.perf_counter() - start), 0.01))
            t0 = time.perf_counter()
            mask, assign, st, step_bound = self._single_level(
                weights, src_active, tier, self.arcs[t], kg_m_cost, limit, seed, backend
            )
            self._timed_out(f"tier{tier.tier}", time.perf_counter() - t0, limit, st)
            steps.append({"tier": tier.tier, "status": st, "bound": step_bound})
            return mask, assign, st

        return self._bottom_up_levels(
            site_level, start=start, steps=steps, backend=backend, solver=SOLVER_NAMES.get(backend, backend)
        )

    def _single_level(
        self,
        weights: np.ndarray,
        active: np.ndarray,
        tier: TierSites,
        arcs: Arcs,
        cost_per_kg_m: float,
        time_limit: float,
        seed: int,
        backend: str,
    ) -> tuple[np.ndarray, np.ndarray, str, float]:
        """Single-source capacitated location of one tier for fixed source weights."""
        solver = make_mip(backend)
        m = tier.size
        y = [solver.BoolVar(f"y{j}") for j in range(m)]
        keep = active[arcs.src]
        idx = np.flatnonzero(keep)
        x = {int(a): solver.BoolVar(f"x{a}") for a in idx}
        by_src, by_dst = _group_arcs(arcs.src, arcs.dst, idx)
        for i in np.flatnonzero(active):
            solver.Add(sum(x[a] for a in by_src.get(int(i), [])) == 1)
        for j in range(m):
            arcs_j = by_dst.get(j, [])
            for a in arcs_j:
                solver.Add(x[a] <= y[j])
            if arcs_j:
                solver.Add(sum(float(weights[arcs.src[a]]) * x[a] for a in arcs_j) <= float(tier.capacity[j]) * y[j])
            if tier.fixed_open[j]:
                y[j].SetLb(1)
        solver.Add(sum(y) >= tier.min_count)
        if tier.max_count is not None:
            solver.Add(sum(y) <= tier.max_count)
        solver.Add(sum(float(tier.capacity[j]) * y[j] for j in range(m)) >= float(weights[active].sum()))
        solver.Minimize(
            sum(float(tier.open_cost[j]) * y[j] for j in range(m))
            + sum(float(weights[arcs.src[a]] * arcs.distance[a] * cost_per_kg_m) * x[a] for a in idx.tolist())
        )
        status, value, bound, _ = run_mip(solver, backend, time_limit, seed, node_limit=self.node_limit)
        bound = _clean_bound(bound)
        if status not in ("optimal", "feasible"):
            return np.zeros(m, bool), np.full(len(weights), -1), status, bound
        mask = np.array([v.solution_value() > 0.5 for v in y])
        assign = np.full(len(weights), -1)
        for a, var in x.items():
            if var.solution_value() > 0.5:
                assign[arcs.src[a]] = arcs.dst[a]
        return mask, assign, status, (value if status == "optimal" else bound)

    def _integrated(self, time_limit: float, seed: int, backend: str, hint: NetworkSolution | None) -> NetworkSolution:  # noqa: C901 - builds the whole integrated MIP level by level and reads it back
        start = time.perf_counter()
        solver = make_mip(backend)
        levels = len(self.tiers)
        allowed = self._tier1_shortlist(hint)
        y = [[solver.BoolVar(f"y{t}_{j}") for j in range(tier.size)] for t, tier in enumerate(self.tiers)]
        for t, tier in enumerate(self.tiers):
            for j in np.flatnonzero(tier.fixed_open).tolist():
                y[t][j].SetLb(1)
            solver.Add(sum(y[t]) >= tier.min_count)
            if tier.max_count is not None:
                solver.Add(sum(y[t]) <= tier.max_count)
            solver.Add(sum(float(tier.capacity[j]) * y[t][j] for j in range(tier.size)) >= float(self.demand.sum()))

        # Level 0: demand -> tier 1, binary assignment.
        a0 = self.arcs[0]
        active = self.demand > 0
        idx0 = np.flatnonzero(active[a0.src] & allowed[a0.dst])
        for j in np.flatnonzero(~allowed).tolist():
            y[0][j].SetUb(0)
        x = {int(a): solver.BoolVar(f"x{a}") for a in idx0}
        by_src0, by_dst0 = _group_arcs(a0.src, a0.dst, idx0)
        for i in np.flatnonzero(active):
            solver.Add(sum(x[a] for a in by_src0[int(i)]) == 1)
        load: list[list[Any]] = [[0.0] * tier.size for tier in self.tiers]
        for j in range(self.tiers[0].size):
            arcs_j = by_dst0.get(j, [])
            for a in arcs_j:
                solver.Add(x[a] <= y[0][j])
            load[0][j] = sum(float(self.demand[a0.src[a]]) * x[a] for a in arcs_j) if arcs_j else 0.0
            if arcs_j:
                solver.Add(load[0][j] <= float(self.tiers[0].capacity[j]) * y[0][j])
        objective = sum(
            float(self.tiers[t].open_cost[j]) * y[t][j] for t in range(levels) for j in range(self.tiers[t].size)
        )
        k0 = self.access * self.days / 1e6
        objective += sum(float(self.demand[a0.src[a]] * a0.distance[a] * k0) * x[a] for a in idx0.tolist())

        # Levels 1..: tier t -> t+1 with a binary link and a flow bounded by the source's capacity.
        z: list[dict[int, Any]] = []
        f: list[dict[int, Any]] = []
        for t in range(1, levels):
            arcs = self.arcs[t]
            src_tier, dst_tier = self.tiers[t - 1], self.tiers[t]
            usable = self._link_shortlist(t, hint, allowed if t == 1 else None)
            zt = {int(a): solver.BoolVar(f"z{t}_{a}") for a in usable}
            ft = {int(a): solver.NumVar(0.0, float(src_tier.capacity[arcs.src[a]]), f"f{t}_{a}") for a in usable}
            z.append(zt)
            f.append(ft)
            groups_src = arcs.by_source(src_tier.size)
            groups_dst = arcs.by_destination(dst_tier.size)
            for j in range(src_tier.size):
                out = [a for a in groups_src[j] if int(a) in zt]
                if t == 1 and not allowed[j]:
                    continue
                solver.Add(sum(zt[int(a)] for a in out) == y[t - 1][j])
                solver.Add(sum(ft[int(a)] for a in out) == load[t - 1][j])
                for a in out:
                    solver.Add(ft[int(a)] <= float(src_tier.capacity[j]) * zt[int(a)])
            for k in range(dst_tier.size):
                inc = [a for a in groups_dst[k] if int(a) in zt]
                for a in inc:
                    solver.Add(zt[int(a)] <= y[t][k])
                load[t][k] = sum(ft[int(a)] for a in inc) if len(inc) else 0.0
                if len(inc):
                    solver.Add(load[t][k] <= float(dst_tier.capacity[k]) * y[t][k])
            kt = self.haul[t - 1] * self.days / 1e6
            objective += sum(float(arcs.distance[a] * kt) * ft[a] for a in ft)
        solver.Minimize(objective)

        if hint is not None and backend != "HIGHS":  # ortools 9.15 crashes when HiGHS is given a hint
            self._set_hint(solver, hint, y, x, z)
        status, _, bound, elapsed = run_mip(solver, backend, time_limit, seed, node_limit=self.node_limit)
        self._timed_out("integrated", elapsed, time_limit, status)
        bound = _clean_bound(bound)
        if status not in ("optimal", "feasible"):
            if hint is not None:
                # the bottom-up plan is a feasible solution of this model: report it with the bound found
                return NetworkSolution(
                    "integrated",
                    "feasible",
                    *hint.plan(),
                    bound,
                    relative_gap(hint.objective, bound),
                    time.perf_counter() - start,
                    SOLVER_NAMES.get(backend, backend),
                    [{"note": "integrated MIP found no solution in time; bottom-up plan kept"}],
                )
            return self._failed("integrated", status, time.perf_counter() - start, backend, [])
        open_ = [np.array([v.solution_value() > 0.5 for v in y[t]]) for t in range(levels)]
        assign = np.full(len(self.demand), -1)
        for a, var in x.items():
            if var.solution_value() > 0.5:
                assign[a0.src[a]] = a0.dst[a]
        links = []
        for t in range(1, levels):
            arcs = self.arcs[t]
            nxt = np.full(self.tiers[t - 1].size, -1)
            for a, var in z[t - 1].items():
                if var.solution_value() > 0.5:
                    nxt[arcs.src[a]] = arcs.dst[a]
            links.append(nxt)
        value, parts, loads = self.evaluate(open_, assign, links)
        if hint is not None and hint.objective < value - 1e-6:
            open_, assign, links, loads, value, parts = hint.plan()
        if status != "optimal":
            open_, assign, links = self.drop_tier1(open_, assign, links)
            value, parts, loads = self.evaluate(open_, assign, links)
        bound = value if status == "optimal" else bound
        return NetworkSolution(
            "integrated",
            status,
            open_,
            assign,
            links,
            loads,
            value,
            parts,
            bound,
            0.0 if status == "optimal" else relative_gap(value, bound),
            time.perf_counter() - start,
            SOLVER_NAMES.get(backend, backend),
            [{"variables": solver.NumVariables(), "constraints": solver.NumConstraints()}],
        )

    def drop_tier1(  # noqa: C901 - drop/swap moves share the loads being updated; kept whole so results stay the same
        self, open_: list[np.ndarray], demand_to_tier1: np.ndarray, links: list[np.ndarray]
    ) -> tuple[list[np.ndarray], np.ndarray, list[np.ndarray]]:
        """Close collection points whose residents other open points can take, while that saves money.

        A cheap local search after the MIPs, which stop at a node limit: a
        collection point is closed when every demand point it serves fits
        (capacity of every site along the new route) into another open
        collection point within walking reach, and the opening cost saved
        exceeds the extra walking and haulage. Residents move greedily, the
        heaviest first, each to the open point where its kilograms cost
        least all the way up the (unchanged) links. Deterministic; the result
        is feasible whenever the input is.

        Parameters
        ----------
        open_
            Open masks per tier.
        demand_to_tier1
            Collection point per demand point.
        links
            Next-tier site per site, per tier link.

        Returns
        -------
        tuple
            The new tier masks, assignment and links (only tier 1 changes).
        """
        tier1 = self.tiers[0]
        levels = len(self.tiers)
        assign = demand_to_tier1.copy()
        open1 = open_[0].copy()
        _, _, loads = self.evaluate(open_, assign, links)
        loads = [ld.copy() for ld in loads]
        k0 = self.access * self.days / 1e6
        # per-kg cost from each tier-1 site up its chain of links, and the chain itself
        chain = np.full((levels - 1, tier1.size), -1)
        path = np.zeros(tier1.size)
        at = np.arange(tier1.size)
        for t in range(levels - 1):
            nxt = np.where(at >= 0, links[t][np.maximum(at, 0)], -1)
            d = self._arc_distance(t + 1, np.maximum(at, 0), nxt)
            path += np.where(nxt >= 0, np.nan_to_num(d) * self.haul[t] * self.days / 1e6, 0.0)
            chain[t] = nxt
            at = nxt
        usable = open1 & (chain[0] >= 0)
        a0 = self.arcs[0]
        options = a0.by_source(len(self.demand))
        served = [np.flatnonzero(assign == j) for j in range(tier1.size)]

        def move(i: int, src: int, dst: int, sign: float) -> None:
            w = sign * self.demand[i]
            if src >= 0:
                loads[0][src] -= w
                for t in range(levels - 1):
                    loads[t + 1][chain[t, src]] -= w
            loads[0][dst] += w
            for t in range(levels - 1):
                loads[t + 1][chain[t, dst]] += w

        def fits(j: int) -> bool:
            if loads[0][j] > tier1.capacity[j] + 1e-6:
                return False
            return all(
                loads[t + 1][chain[t, j]] <= self.tiers[t + 1].capacity[chain[t, j]] + 1e-6 for t in range(levels - 1)
            )

        def try_drop(j: int, paid: float) -> bool:
            """Close ``j`` if its residents fit elsewhere and that saves more than ``paid``."""
            people = served[j][np.argsort(-self.demand[served[j]], kind="stable")]
            saving = float(tier1.open_cost[j]) - paid
            moved: list[tuple[int, int]] = []
            for i in people:
                arcs_i = options[i]
                dst = a0.dst[arcs_i]
                ok = usable[dst] & (dst != j)
                before = self.demand[i] * (a0.distance[arcs_i][dst == j].min() * k0 + path[j])
                best, best_cost = -1, np.inf
                for a, k in zip(arcs_i[ok], dst[ok]):
                    cost = self.demand[i] * (a0.distance[a] * k0 + path[k])
                    if cost < best_cost - 1e-12:
                        move(i, j, k, 1.0)
                        if fits(k):
                            best, best_cost = k, cost
                        move(i, j, k, -1.0)
                if best < 0:
                    break
                move(i, j, best, 1.0)
                moved.append((i, best))
                saving -= best_cost - before
            if len(moved) == len(people) and saving > 1e-6:
                usable[j] = open1[j] = False
                for i, k in moved:
                    assign[i] = k
                    served[k] = np.append(served[k], i)
                served[j] = served[j][:0]
                return True
            for i, k in reversed(moved):
                move(i, j, k, -1.0)
            return False

        # per-kg cost from each site of tier 2 up its links, to price a newly opened collection point
        up = np.zeros(self.tiers[-1].size)
        for t in range(levels - 2, 0, -1):
            src = np.flatnonzero(links[t] >= 0)
            cost = np.zeros(self.tiers[t].size)
            cost[src] = (
                np.nan_to_num(self._arc_distance(t + 1, src, links[t][src])) * self.haul[t] * self.days / 1e6
                + up[links[t][src]]
            )
            up = cost
        a1 = self.arcs[1]
        open2 = open_[1]

        def try_swap(j: int) -> bool:
            """Open a cheaper closed point in reach of ``j``'s residents, then close ``j``.

            The point opened is linked to an open station.
            """
            near = np.unique(a0.dst[np.isin(a0.src, served[j])])
            near = near[~open1[near] & (tier1.open_cost[near] < tier1.open_cost[j])]
            for k in near[np.lexsort((near, tier1.open_cost[near]))][:4]:
                arcs_k = np.flatnonzero((a1.src == k) & open2[a1.dst])
                if arcs_k.size == 0:
                    continue
                price = a1.distance[arcs_k] * self.haul[0] * self.days / 1e6 + up[a1.dst[arcs_k]]
                a = arcs_k[np.argmin(price)]
                chain[0, k] = a1.dst[a]
                for t in range(1, levels - 1):
                    chain[t, k] = links[t][chain[t - 1, k]]
                path[k] = float(price.min())
                usable[k] = open1[k] = True
                if try_drop(j, float(tier1.open_cost[k])):
                    links[0][k] = a1.dst[a]
                    if not served[k].size:  # nobody moved there: a plain drop after all
                        usable[k] = open1[k] = False
                    return True
                usable[k] = open1[k] = False
                chain[:, k] = -1
            return False

        links = [ln.copy() for ln in links]
        improved = True
        while improved:
            improved = False
            order = np.flatnonzero(open1 & ~tier1.fixed_open)
            order = order[np.lexsort((order, -tier1.open_cost[order]))]
            for j in order.tolist():
                if open1.sum() <= tier1.min_count:
                    break
                if not open1[j]:
                    continue
                if try_drop(j, 0.0) or try_swap(j):
                    improved = True
        links[0] = np.where(open1, links[0], -1)
        return [open1] + [m.copy() for m in open_[1:]], assign, links

    def _tier1_shortlist(self, hint: NetworkSolution | None, nearest: int = 3) -> np.ndarray:
        """Tier-1 candidates the integrated MIP may open: each demand point's nearest few, plus the warm start.

        The integrated MIP over every tier-1 candidate is too large to solve
        in minutes on a city; this shortlist keeps it small. The lower bound
        comes from :meth:`lower_bound` over all candidates, so the gap
        reported stays honest about what the shortlist may have cost.
        """
        a0 = self.arcs[0]
        allowed = np.zeros(self.tiers[0].size, dtype=bool)
        allowed[self.tiers[0].fixed_open] = True
        if hint is not None:
            allowed |= hint.open[0]
        order = np.lexsort((a0.distance, a0.src))
        src_sorted = a0.src[order]
        first = np.searchsorted(src_sorted, np.arange(len(self.demand)))
        rank = np.arange(len(order)) - first[src_sorted]
        allowed[a0.dst[order[rank < nearest]]] = True
        return allowed

    def _link_shortlist(
        self, t: int, hint: NetworkSolution | None, allowed_src: np.ndarray | None, nearest: int = 8
    ) -> np.ndarray:
        """Links the integrated MIP may use at level ``t``: each source's nearest few, plus the warm start's.

        Like the tier-1 shortlist, this keeps the integrated MIP small; its
        solutions stay feasible for the full model and the reported bound is
        the full model's.
        """
        arcs = self.arcs[t]
        order = np.lexsort((arcs.distance, arcs.src))
        src_sorted = arcs.src[order]
        first = np.searchsorted(src_sorted, np.arange(self.tiers[t - 1].size))
        rank = np.arange(len(order)) - first[src_sorted]
        keep = np.zeros(len(arcs.src), dtype=bool)
        keep[order[rank < nearest]] = True
        if hint is not None:
            keep |= hint.links[t - 1][arcs.src] == arcs.dst
        if allowed_src is not None:
            keep &= allowed_src[arcs.src]
        return np.flatnonzero(keep)

    def _set_hint(self, solver: pywraplp.Solver, hint: NetworkSolution, y: list, x: dict, z: list) -> None:
        variables, values = [], []
        for t, mask in enumerate(hint.open):
            for j, var in enumerate(y[t]):
                variables.append(var)
                values.append(float(mask[j]))
        a0 = self.arcs[0]
        for a, var in x.items():
            variables.append(var)
            values.append(float(hint.demand_to_tier1[a0.src[a]] == a0.dst[a]))
        for t in range(1, len(self.tiers)):
            arcs = self.arcs[t]
            for a, var in z[t - 1].items():
                variables.append(var)
                values.append(float(hint.links[t - 1][arcs.src[a]] == arcs.dst[a]))
        solver.SetHint(variables, values)

    def _failed(self, mode: str, status: str, elapsed: float, backend: str, steps: list) -> NetworkSolution:
        empty = [np.zeros(t.size, bool) for t in self.tiers]
        return NetworkSolution(
            mode,
            status,
            empty,
            np.full(len(self.demand), -1),
            [np.full(t.size, -1) for t in self.tiers[:-1]],
            [np.zeros(t.size) for t in self.tiers],
            float("nan"),
            {},
            float("nan"),
            float("inf"),
            elapsed,
            SOLVER_NAMES.get(backend, backend),
            steps,
        )


class _PathRelaxation:
    """Tier-2 opening plus all haulage for a given open set of the top tier, relaxed to facility location.

    Every kilogram of demand point ``i`` leaves from a collection point in
    its walking reach, goes to an open transfer station ``k`` and from there
    through a chain of allowed links to an open top-tier site. So it costs at
    least ``D[i, k]`` (the shortest link into ``k`` from any collection point
    in reach of ``i``) plus ``e_S[k]``, the cheapest per-kilogram chain from
    ``k`` to the top-tier set ``S``. Opening stations at their cost and
    sending each point's kilograms (split allowed, capacities aggregated) at
    those prices relaxes the network, so the optimum (or the MIP's bound)
    bounds tier-2 opening plus the haul of every level, given ``S``.

    The MIP is built once; each top-tier set only changes the objective.
    """

    def __init__(self, model: TieredNetwork, reach1: np.ndarray):
        self.model = model
        tiers, arcs1 = model.tiers, model.arcs[1]
        dist = np.full((tiers[0].size, tiers[1].size), np.inf)
        np.minimum.at(dist, (arcs1.src, arcs1.dst), arcs1.distance)
        active = np.flatnonzero(model.demand > 0)
        k1 = model.haul[0] * model.days / 1e6
        # per-kg price of demand point -> station, haul into the station only
        into = (
            np.stack(
                [dist[reach1[i]].min(axis=0) if reach1[i].any() else np.full(tiers[1].size, np.inf) for i in active]
            )
            * k1
            if len(active)
            else np.zeros((0, tiers[1].size))
        )
        # Points with the same prices (parts of one split compound, neighbours) merge into one customer
        # of their summed weight: with split assignment that changes nothing, and the MIP shrinks.
        self.into, group = np.unique(into, axis=0, return_inverse=True)
        self.weight = np.bincount(np.asarray(group).ravel(), weights=model.demand[active], minlength=len(self.into))
        self.solver: pywraplp.Solver | None = None
        self.stations: list = []  # the built model's open variables of tier 2 (integral, but for solve_lp)

    def to_top(self, top_open: np.ndarray) -> np.ndarray:
        """Cheapest per-kilogram haul from every tier-2 site to an open site of the top tier."""
        model = self.model
        e = np.where(top_open, 0.0, np.inf)
        for t in range(len(model.tiers) - 1, 1, -1):
            arcs = model.arcs[t]
            prev = np.full(model.tiers[t - 1].size, np.inf)
            np.minimum.at(prev, arcs.src, arcs.distance * (model.haul[t - 1] * model.days / 1e6) + e[arcs.dst])
            e = prev
        return e

    def _build(self, backend: str) -> None:
        model, tier = self.model, self.model.tiers[1]
        everywhere = (
            np.isfinite(self.into) & np.isfinite(self.to_top(np.ones(model.tiers[-1].size, dtype=bool)))[None, :]
        )
        solver = make_mip(backend)
        y = [solver.BoolVar(f"y{k}") for k in range(tier.size)]
        for k in np.flatnonzero(tier.fixed_open).tolist():
            y[k].SetLb(1)
        self.rows, self.cols = np.nonzero(everywhere)
        self.x = [solver.NumVar(0.0, 1.0, f"x{r}_{k}") for r, k in zip(self.rows.tolist(), self.cols.tolist())]
        starts = np.searchsorted(self.rows, np.arange(len(self.into) + 1))
        for r in range(len(self.into)):
            solver.Add(sum(self.x[a] for a in range(starts[r], starts[r + 1])) == 1)
        for var, k in zip(self.x, self.cols.tolist()):
            solver.Add(var <= y[k])
        solver.Add(sum(float(tier.capacity[k]) * y[k] for k in range(tier.size)) >= float(model.demand.sum()))
        solver.Add(sum(y) >= tier.min_count)
        if tier.max_count is not None:
            solver.Add(sum(y) <= tier.max_count)
        objective = solver.Objective()
        for k in range(tier.size):
            objective.SetCoefficient(y[k], float(tier.open_cost[k]))
        objective.SetMinimization()
        self.solver = solver
        self.stations = y

    lagrangian_above = 300_000
    """With the ``lagrangian`` engine, relaxations with more customer-station pairs than this are bounded by
    :meth:`solve_lagrangian` instead of a MIP (whose building and root alone grow faster than the city)."""

    def solve_lagrangian(self, top_open: np.ndarray, iterations: int = 100, time_limit: float = float("inf")) -> float:
        """A valid bound of the relaxation by Lagrangian relaxation of its assignment constraints.

        The relaxation posed as one level (customers to stations over the pairs
        with a path to ``top_open``, each station's capacity on the kilograms it
        receives, which every network respects too) and bounded by
        :func:`~netplan.locate.lagrangian.level_bound`: multipliers from the
        strong LP (HiGHS), every station's part a continuous knapsack, the open
        decisions bounded by count and capacity cover. Any multipliers give a
        valid bound; starting from the LP's, the bound is that LP's value. (300
        subgradient steps from the cheapest-assignment start stopped at half of
        it on a 5,000-point city of 62 stations, where coverage decides.)
        """
        from netplan.locate.lagrangian import LevelProblem, level_bound

        tier = self.model.tiers[1]
        e = self.to_top(top_open)
        cost = self.weight[:, None] * (self.into + e[None, :])  # customers x stations, inf = no path
        ok = np.isfinite(cost)
        if not ok.any(axis=1).all():
            return float("inf")
        rows, cols = np.nonzero(ok)
        level = LevelProblem(
            weights=self.weight,
            active=np.ones(len(self.weight), dtype=bool),
            src=rows,
            dst=cols,
            cost=cost[rows, cols],
            capacity=tier.capacity,
            open_cost=tier.open_cost,
            fixed_open=tier.fixed_open,
            min_count=tier.min_count,
            max_count=tier.max_count,
        )
        value, hit = level_bound(level, iterations=iterations, time_limit=time_limit)
        if hit and "bound" not in self.model.time_limit_hit:
            self.model.time_limit_hit.append("bound")
        return value

    def lagrangian_sized(self) -> bool:
        """Whether :meth:`solve` bounds this relaxation by Lagrangian relaxation rather than its MIP."""
        return self.model.engine == "lagrangian" and self.into.size > self.lagrangian_above

    def solve_lp(self, top_open: np.ndarray, backend: str) -> float:
        """The LP relaxation of :meth:`solve`'s MIP for ``top_open``: a value its MIP never goes below.

        inf when no demand point can reach ``top_open``; -inf when the LP ends
        without a proven value (it then rules nothing out).
        """
        if self.solver is None:
            self._build(backend)
        solver = self.solver
        assert solver is not None  # _build sets it
        if not self._set_objective(top_open):
            return float("inf")
        for var in self.stations:
            var.SetInteger(False)
        try:
            status = interrupts.solve(solver.Solve, stop=solver.InterruptSolve)
            value = float(solver.Objective().Value()) if status == pywraplp.Solver.OPTIMAL else -float("inf")
        finally:
            for var in self.stations:
                var.SetInteger(True)
        return float("inf") if status == pywraplp.Solver.INFEASIBLE else value

    def _set_objective(self, top_open: np.ndarray) -> bool:
        """Price the built model's arcs for ``top_open``; False when some customer has no path to it."""
        assert self.solver is not None
        e = self.to_top(top_open)
        price = self.weight[self.rows] * (self.into[self.rows, self.cols] + e[self.cols])
        usable = np.isfinite(price)
        if not np.isin(np.arange(len(self.into)), self.rows[usable]).all():
            return False
        objective = self.solver.Objective()
        for var, ok, c in zip(self.x, usable.tolist(), price.tolist()):
            var.SetUb(1.0 if ok else 0.0)
            objective.SetCoefficient(var, c if ok else 0.0)
        return True

    def solve(
        self, top_open: np.ndarray, time_limit: float, seed: int, backend: str, cutoff: float | None = None
    ) -> float:
        """Bound for the top-tier open set ``top_open`` (inf when no demand point can reach it).

        With ``cutoff`` (HiGHS) the MIP only looks for values below it and
        returns the cutoff itself once it proves there are none: a valid bound
        for a caller that only needs the least value over several sets.
        """
        lagrangian = self.model.engine == "lagrangian"
        if self.lagrangian_sized():
            return self.solve_lagrangian(top_open, time_limit=time_limit)
        value = self._solve_mip(top_open, time_limit, seed, backend, cutoff)
        if lagrangian and np.isnan(value):
            # the MIP found no bound within its share: a weaker valid one
            return self.solve_lagrangian(top_open, time_limit=time_limit)
        return value

    def _solve_mip(
        self, top_open: np.ndarray, time_limit: float, seed: int, backend: str, cutoff: float | None = None
    ) -> float:
        if self.solver is None:
            self._build(backend)
        assert self.solver is not None  # _build sets it
        if not self._set_objective(top_open):
            return float("inf")
        status, value, bound, _ = run_mip(
            self.solver,
            backend,
            time_limit,
            seed,
            node_limit=self.model.bound_nodes,
            scip_params=SCIP_BOUND_ONLY,
            cutoff=cutoff if backend == "HIGHS" else None,
        )
        if status == "no_solution":
            # pywraplp reports no bound without an incumbent: search again, with SCIP's heuristics
            status, value, bound, _ = run_mip(self.solver, backend, time_limit, seed, node_limit=self.model.bound_nodes)
        if status == "optimal":
            # under a cutoff, a value at or above it only says none lies below it (HiGHS may report any such value)
            return float(value) if cutoff is None or backend != "HIGHS" or value < cutoff else float(cutoff)
        if status == "infeasible":
            return float("inf") if cutoff is None or backend != "HIGHS" or not np.isfinite(cutoff) else float(cutoff)
        bound = _clean_bound(bound)
        if cutoff is not None and backend == "HIGHS" and np.isfinite(bound):
            bound = min(bound, cutoff)  # pruned at the cutoff: the nodes it cut off are only known to lie above it
        return float(bound) if np.isfinite(bound) else float("nan")


def _group_arcs(src: np.ndarray, dst: np.ndarray, idx: np.ndarray) -> tuple[dict[int, list[int]], dict[int, list[int]]]:
    """The arcs ``idx`` grouped by their source and by their destination, each group in ``idx`` order."""
    by_src: dict[int, list[int]] = {}
    by_dst: dict[int, list[int]] = {}
    for a in idx.tolist():
        by_src.setdefault(int(src[a]), []).append(int(a))
        by_dst.setdefault(int(dst[a]), []).append(int(a))
    return by_src, by_dst


def _clean_bound(bound: float) -> float:
    """Solvers report +-1e20 or similar when they have no bound; treat that as NaN."""
    return float(bound) if np.isfinite(bound) and abs(bound) < 1e19 else float("nan")
