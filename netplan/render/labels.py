"""Map and report labels in Chinese and English (tier names as in DESIGN.md)."""

from __future__ import annotations

LABELS: dict[str, dict[str, str]] = {
    "zh": {
        "tier1": "回收点",
        "tier2": "中转站",
        "tier3": "分拣中心",
        "tier4": "市级中心",
        "candidates": "候选",
        "existing": "现有",
        "roads": "道路（货车可通行）",
        "walk_roads": "步行道路",
        "compounds": "居住小区",
        "demand": "需求点",
        "households": "户数",
        "kg_day": "可回收物（公斤/日）",
        "name": "名称",
        "method": "估算方法",
        "snap_m": "距路网（米）",
        "snap_far": "距路网过远",
        "source": "来源",
        "status": "状态",
        "tiers": "可用层级",
        "legend": "图例",
        "kpis": "关键指标",
        "unnamed": "（未命名）",
        "credit": "© OpenStreetMap 贡献者",
        "coverage_existing": "现有回收点步行覆盖率",
        "coverage_potential": "候选点最大可达覆盖率",
        "demand_points": "需求点数",
        "total_households": "总户数",
        "total_kg_day": "可回收物总量（公斤/日）",
        "drive_km": "货车路网（公里）",
        "walk_km": "步行路网（公里）",
    },
    "en": {
        "tier1": "Collection point",
        "tier2": "Transfer station",
        "tier3": "Sorting centre",
        "tier4": "City centre",
        "candidates": "candidates",
        "existing": "existing",
        "roads": "Roads (truck-accessible)",
        "walk_roads": "Walkways",
        "compounds": "Residential compounds",
        "demand": "Demand points",
        "households": "Households",
        "kg_day": "Recyclables (kg/day)",
        "name": "Name",
        "method": "Estimate",
        "snap_m": "Distance to network (m)",
        "snap_far": "far from network",
        "source": "Source",
        "status": "Status",
        "tiers": "Eligible tiers",
        "legend": "Legend",
        "kpis": "Key figures",
        "unnamed": "(unnamed)",
        "credit": "© OpenStreetMap contributors",
        "coverage_existing": "Walking coverage of existing points",
        "coverage_potential": "Best coverage any layout could reach",
        "demand_points": "Demand points",
        "total_households": "Households",
        "total_kg_day": "Recyclables (kg/day)",
        "drive_km": "Truck network (km)",
        "walk_km": "Walk network (km)",
    },
}

TIER_COLOURS = {1: "#2e7d32", 2: "#1565c0", 3: "#ef6c00", 4: "#6a1b9a"}
"""One colour per tier, kept across every map and figure."""


def label(lang: str, key: str) -> str:
    """Return the label for ``key`` in ``lang`` (``"zh"`` or ``"en"``)."""
    return LABELS[lang].get(key, key)
