"""The render stage: maps and figures drawn from a plan.

* :func:`plan_map` / :func:`write_plan_map`: the plan map (one HTML page).
* :func:`compare_map` / :func:`write_compare_map`: two or more plans side by side.
* :func:`write_figures`: static PNG figures (network per tier, coverage curve).
* :func:`write_render_outputs`: everything a run writes into its output folder.
"""

from netplan.render.compare import compare_map, write_compare_map
from netplan.render.data import MapData
from netplan.render.figures import write_figures
from netplan.render.outputs import write_render_outputs
from netplan.render.plan_map import plan_map, write_plan_map

__all__ = ["MapData", "compare_map", "plan_map", "write_compare_map", "write_figures", "write_plan_map", "write_render_outputs"]
