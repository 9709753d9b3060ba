"""The render stage: maps (folium) and figures drawn from a plan.

* :func:`plan_map` / :func:`write_plan_map`: the plan map, a :class:`folium.Map` saved as one HTML page.
* :func:`compare_map` / :func:`write_compare_map`: two or more plans side by side (synchronised folium maps).
* :func:`write_figures`: static PNG figures (network per tier, coverage curve).
* :func:`write_render_outputs`: everything a run writes into its output folder.
* :func:`render_folder`: redraw a finished run's map and figures from its output folder (``netplan render``).
"""

from netplan.render.compare import compare_map, write_compare_map
from netplan.render.data import MapData
from netplan.render.figures import write_figures
from netplan.render.outputs import render_folder, write_render_outputs
from netplan.render.page import NetplanMap, NetplanPage
from netplan.render.plan_map import plan_map, write_plan_map

__all__ = [
    "MapData",
    "NetplanMap",
    "NetplanPage",
    "compare_map",
    "plan_map",
    "render_folder",
    "write_compare_map",
    "write_figures",
    "write_plan_map",
    "write_render_outputs",
]
