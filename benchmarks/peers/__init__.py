"""Peer solvers for the routing benchmarks: a plain OR-Tools model as documented, and PyVRP used directly.

Each peer takes a :class:`benchmarks.instances.BenchmarkInstance` (or its
VRPLIB file) and returns a :class:`PeerResult` with the routes as node lists
(start and end depot omitted, a depot inside a route is a reload), so the
benchmark scripts check and measure every solver the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class PeerResult:
    """Routes found by a peer (node numbers of the file, 0 = depot) and what it reported."""

    routes: list[list[int]]
    feasible: bool
    runtime_s: float
    info: dict[str, Any] = field(default_factory=dict)
