"""Write small hand-made OSM XML files for tests, with coordinates given in metres."""

from __future__ import annotations

import math
from pathlib import Path

from netplan.city import City, load_city
from netplan.scenario import CityConfig

LON0, LAT0 = 104.0, 30.0
M_PER_DEG_LAT = 111_320.0
M_PER_DEG_LON = 111_320.0 * math.cos(math.radians(LAT0))


def lonlat(x_m: float, y_m: float) -> tuple[float, float]:
    """WGS-84 longitude and latitude of a point given in metres, in the builder's frame."""
    return LON0 + x_m / M_PER_DEG_LON, LAT0 + y_m / M_PER_DEG_LAT


class OsmBuilder:
    """Collects nodes and ways; ``write`` produces an OSM XML file."""

    def __init__(self) -> None:
        self.nodes: list[tuple[int, float, float]] = []
        self.ways: list[tuple[int, list[int], dict[str, str]]] = []
        self._next_node = 1
        self._next_way = 1000

    def node(self, x_m: float, y_m: float, tags: dict[str, str] | None = None) -> int:
        nid = self._next_node
        self._next_node += 1
        self.nodes.append((nid, LON0 + x_m / M_PER_DEG_LON, LAT0 + y_m / M_PER_DEG_LAT))
        if tags:
            self.ways.append((-nid, [], tags))  # node tags, stored apart
        return nid

    def way(self, points_m: list[tuple[float, float]], tags: dict[str, str], closed: bool = False) -> int:
        ids = [self.node(x, y) for x, y in points_m]
        if closed:
            ids.append(ids[0])
        wid = self._next_way
        self._next_way += 1
        self.ways.append((wid, ids, tags))
        return wid

    def link(self, node_ids: list[int], tags: dict[str, str]) -> int:
        """A way through existing nodes (to join grids, or to bridge between them)."""
        wid = self._next_way
        self._next_way += 1
        self.ways.append((wid, list(node_ids), tags))
        return wid

    def rect(self, x0: float, y0: float, x1: float, y1: float, tags: dict[str, str]) -> int:
        return self.way([(x0, y0), (x1, y0), (x1, y1), (x0, y1)], tags, closed=True)

    def write(self, path: Path) -> Path:
        node_tags = {-wid: tags for wid, ids, tags in self.ways if wid < 0}
        out = ["<?xml version='1.0' encoding='UTF-8'?>", '<osm version="0.6">']
        for nid, lon, lat in self.nodes:
            tags = node_tags.get(nid)
            if tags:
                out.append(
                    f'<node id="{nid}" lat="{lat:.7f}" lon="{lon:.7f}">'
                    + "".join(f'<tag k="{k}" v="{v}"/>' for k, v in tags.items())
                    + "</node>"
                )
            else:
                out.append(f'<node id="{nid}" lat="{lat:.7f}" lon="{lon:.7f}"/>')
        for wid, ids, tags in self.ways:
            if wid < 0:
                continue
            out.append(
                f'<way id="{wid}">'
                + "".join(f'<nd ref="{n}"/>' for n in ids)
                + "".join(f'<tag k="{k}" v="{v}"/>' for k, v in tags.items())
                + "</way>"
            )
        out.append("</osm>")
        path.write_text("\n".join(out), encoding="utf-8")
        return path


def street_grid(
    b: OsmBuilder,
    size_m: float = 600.0,
    step_m: float = 150.0,
    highway: str = "residential",
    x0_m: float = 0.0,
    y0_m: float = 0.0,
) -> dict[tuple[int, int], int]:
    """A connected two-way street grid from (x0, y0) to (x0 + size, y0 + size); returns its node ids by (i, j)."""
    grid: dict[tuple[int, int], int] = {}
    n = int(size_m // step_m)
    for i in range(n + 1):
        for j in range(n + 1):
            grid[(i, j)] = b.node(x0_m + i * step_m, y0_m + j * step_m)
    for i in range(n + 1):
        for j in range(n):
            for ids in ([grid[(i, j)], grid[(i, j + 1)]], [grid[(j, i)], grid[(j + 1, i)]]):
                b.link(ids, {"highway": highway})
    return grid


def grid_city(folder: Path, *, size_m: float, step_m: float = 150.0) -> City:
    """A city loaded from a two-way street grid (see :func:`street_grid`) written as ``folder/grid.osm``."""
    b = OsmBuilder()
    street_grid(b, size_m=size_m, step_m=step_m)
    return load_city(CityConfig(source=str(b.write(folder / "grid.osm"))))
