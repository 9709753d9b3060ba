"""The locate stage: where the facilities of every tier go.

One class per model, each built from cost matrices (``from_cost_matrix``)
or from GeoDataFrames plus the city (``from_geodataframes``), each solved
with a time limit and a seed into a :class:`LocationResult`.
"""

from netplan.locate.base import LocationResult, network_costs, relative_gap

__all__ = ["LocationResult", "network_costs", "relative_gap"]
