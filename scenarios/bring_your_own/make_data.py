"""Write the bring-your-own example's inputs as a Chinese city's bureaus keep them, from the embedded Chengdu extract.

    python scenarios/bring_your_own/make_data.py [OUT_DIR]

writes into OUT_DIR (default: this folder):

``roads.gpkg``, layer ``道路中心线``
    the road centre lines of the Chengdu truck network as a planning bureau's network-analysis export: one row per
    direction of travel (a two-way road is two rows, drawn each way), the grade in Chinese (快速路, 主干路, 次干路,
    支路; 单位内部路 for service roads), design speed, truck access, road name; coordinates in GCJ-02, as GIS data
    digitised on AMap are.
``compounds.csv``
    the district's compound register (小区台账): name, GCJ-02 longitude and latitude, households. Whole compounds:
    several hold far more than the 400 households an OSM compound is split at.
``land.csv``
    the land the planning bureau offers for facilities (候选用地): name, GCJ-02 position, the tiers it may host (2-4),
    land use and status.

The same inputs always give the same files (rows in graph order, numbers rounded), so the example is reproducible.
"""

from __future__ import annotations

import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import LineString

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]

GRADE = {
    "motorway": "快速路",
    "trunk": "快速路",
    "motorway_link": "匝道",
    "trunk_link": "匝道",
    "primary": "主干路",
    "primary_link": "主干路",
    "secondary": "次干路",
    "secondary_link": "次干路",
    "tertiary": "支路",
    "tertiary_link": "支路",
    "unclassified": "支路",
    "residential": "支路",
    "living_street": "支路",
    "service": "单位内部路",
    "road": "支路",
}
"""OSM class -> the grade a bureau records (单位内部路 is not a standard grade: the scenario maps it)."""

LAND = {
    "industrial": ("工业用地", "2,3,4"),
    "commercial": ("商业服务业用地", "2,3"),
    "railway": ("铁路用地", "3,4"),
    "retail": ("商业用地", "2"),
    "parking": ("社会停车场", "2"),
}
"""OSM land use -> the land-use name and the tiers the bureau offers it for."""


def _gcj(geoms: np.ndarray) -> np.ndarray:
    from netplan.coords import wgs84_to_gcj02

    return shapely.transform(geoms, lambda xy: np.column_stack(wgs84_to_gcj02(xy[:, 0], xy[:, 1])))


def roads_layer(city) -> gpd.GeoDataFrame:
    """The truck graph as directed rows with Chinese grades, in GCJ-02."""
    G = city.drive.graph
    rows = []
    for u, v, d in G.edges(data=True):
        geom = d.get("geometry") or LineString([(G.nodes[u]["x"], G.nodes[u]["y"]), (G.nodes[v]["x"], G.nodes[v]["y"])])
        name = d.get("name")
        rows.append(
            {
                "道路名称": name if isinstance(name, str) else (" / ".join(name) if isinstance(name, list) else None),
                "道路等级": GRADE.get(d["highway"], "支路"),
                "设计车速": int(round(float(d["speed_kph"]))),
                "货车通行": "是",
                "geometry": geom,
            }
        )
    frame = gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326")
    frame["geometry"] = _gcj(frame.geometry.to_numpy())
    frame.insert(0, "道路编号", np.arange(1, len(frame) + 1))
    return frame


def compound_table(demand: gpd.GeoDataFrame) -> pd.DataFrame:
    """Whole compounds (the parts of a split OSM compound joined again), in GCJ-02."""
    from netplan.coords import wgs84_to_gcj02

    d = demand[demand["households"] > 0].copy()
    d["key"] = d["osm_id"].astype("string").fillna("p" + d["demand_id"].astype(str))
    d["x"], d["y"] = d.geometry.x, d.geometry.y
    whole = d.groupby("key", sort=False).agg(
        name=("name", "first"), households=("households", "sum"), x=("x", "mean"), y=("y", "mean")
    )
    lon, lat = wgs84_to_gcj02(whole["x"].to_numpy(), whole["y"].to_numpy())
    names = [n if isinstance(n, str) and n else f"未命名小区{i + 1}" for i, n in enumerate(whole["name"])]
    return pd.DataFrame(
        {
            "小区名称": names,
            "经度": np.round(lon, 7),
            "纬度": np.round(lat, 7),
            "户数": np.round(whole["households"].to_numpy()).astype(int),
        }
    )


def land_table(sites: gpd.GeoDataFrame) -> pd.DataFrame:
    """The OSM land a bureau would offer for transfer stations, sorting centres and the city centre, in GCJ-02."""
    from netplan.coords import wgs84_to_gcj02

    rows = []
    count: dict[str, int] = {}
    for landuse, geom, source in zip(sites["landuse"], sites.geometry, sites["source"]):
        key = "parking" if source == "osm:parking" else landuse
        if key not in LAND:
            continue
        label, tiers = LAND[key]
        count[label] = count.get(label, 0) + 1
        lon, lat = wgs84_to_gcj02(geom.x, geom.y)
        rows.append(
            {
                "名称": f"{label}{count[label]:02d}",
                "经度": round(float(lon), 7),
                "纬度": round(float(lat), 7),
                "层级": tiers,
                "用地性质": label,
                "状态": "candidate",
            }
        )
    return pd.DataFrame(rows)


def main(out: Path) -> None:
    """Write the three files into ``out``."""
    from netplan.city import load_city
    from netplan.demand import estimate_demand
    from netplan.scenario import load_scenario
    from netplan.sites import candidate_sites

    scenario = load_scenario(ROOT / "scenarios" / "chengdu_4tier.yaml")
    city = load_city(scenario.city, scenario.base_dir)
    demand, areas = estimate_demand(city, scenario)
    sites = candidate_sites(city, scenario, areas)
    out.mkdir(parents=True, exist_ok=True)
    roads = roads_layer(city)
    target = out / "roads.gpkg"
    if target.exists():
        target.unlink()
    roads.to_file(target, layer="道路中心线", driver="GPKG")
    compound_table(demand).to_csv(out / "compounds.csv", index=False, encoding="utf-8")
    land_table(sites).to_csv(out / "land.csv", index=False, encoding="utf-8")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
