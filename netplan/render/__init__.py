"""The render stage: maps and figures drawn from a plan."""

from netplan.render.plan_map import plan_map, write_plan_map

__all__ = ["plan_map", "write_plan_map"]
