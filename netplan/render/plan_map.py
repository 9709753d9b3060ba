"""The plan map: a :class:`folium.Map` with a layer per tier, saved as one self-contained HTML page.

Layers, grouped in the layer control:

* network: sited facilities per tier (回收点, 中转站, 分拣中心, 市级中心; a
  shape and colour per tier, black ring = existing, white ring = new),
  assignment lines per link, vehicle routes (``plan.routes``, when present);
* coverage: walking service areas of collection points, catchments of
  higher tiers, demand left uncovered;
* demand: demand points (one GeoJSON layer, sized by households), compounds;
* context: restricted-traffic zones with their hours, candidate and
  existing sites per tier, the truck roads (and, without a basemap, every
  walkable street).

Every feature has a tooltip and a popup with its numbers; the page has a
legend, a scale bar, a KPI panel (the rows of ``kpis.csv``) and under it the
run's warnings (what the plan leaves out or doubts). Text is Chinese or
English; every map credits "© OpenStreetMap contributors".

The map is a :class:`folium.Map` (:class:`~netplan.render.page.NetplanMap`):
a notebook shows it inline, and a user can add layers to it
(``gdf.explore(m=m)``) before saving it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict, Unpack

from netplan.render.basemaps import Basemap
from netplan.render.basemaps import basemap as make_basemap
from netplan.render.basemaps import tianditu_token as tianditu_token_for
from netplan.render.data import MapData
from netplan.render.kpis import panel_html
from netplan.render.labels import label
from netplan.render.layers import ICON_SIZES, Context, Derived, bounds, derive, icon_table, legend_html, plan_layers
from netplan.render.page import NetplanMap, plan_page


@dataclass(frozen=True)
class MapOptions:
    """The options a map is drawn with, resolved by :func:`render_options`.

    ``lang`` is ``"zh"`` or ``"en"``; ``basemap`` one of ``osm``, ``amap``,
    ``tianditu``, ``none`` (always ``none`` when ``offline``: request nothing
    from the network); ``token`` the Tianditu token, if any.
    """

    lang: str
    basemap: str
    offline: bool
    token: str | None

    def tiles(self) -> Basemap:
        """The basemap these options ask for (raises :class:`NetplanError` for one that cannot work)."""
        return make_basemap(self.basemap, self.lang, self.offline, self.token)


class MapChoices(TypedDict, total=False):
    """Map options a caller gives (None or absent: the scenario's), as :func:`plan_map` takes them."""

    lang: str | None
    basemap: str | None
    offline: bool | None
    tianditu_token: str | None


def render_options(plan: Any, **given: Unpack[MapChoices]) -> MapOptions:
    """Resolve map options: explicit arguments first, then the scenario's ``outputs`` and ``lang``."""
    scenario = getattr(plan, "scenario", None)
    out = getattr(scenario, "outputs", None)
    asked = given.get("offline")
    offline = bool(asked if asked is not None else getattr(out, "offline", False))
    basemap = given.get("basemap") or getattr(out, "basemap", None) or "osm"
    return MapOptions(
        lang=given.get("lang") or getattr(scenario, "lang", None) or getattr(plan, "lang", None) or "zh",
        basemap="none" if offline else basemap,
        offline=offline,
        token=tianditu_token_for(given.get("tianditu_token"), getattr(out, "tianditu_token", None)),
    )


def check_options(
    scenario: Any, basemap: str | None = None, offline: bool | None = None, token: str | None = None
) -> None:
    """Fail early (before any solving) on map options that cannot work, e.g. Tianditu without a token."""
    from types import SimpleNamespace

    render_options(SimpleNamespace(scenario=scenario), basemap=basemap, offline=offline, tianditu_token=token).tiles()


def page_config(ctx: Context, tiers: list[int], panels: list[dict], offline: bool, collapsed: bool) -> dict[str, Any]:
    """The configuration ``netplan.init`` reads."""
    L = ctx.L
    return {
        "lang": ctx.lang,
        "labels": {"yes": L("yes"), "no": L("no"), "unnamed": L("unnamed")},
        "basemap": {
            "name": L(f"basemap_{ctx.basemap.key}"),
            "tiles": ctx.basemap.tiles,
            "attribution": ctx.basemap.attribution,
        },
        "offline": offline,
        "icons": icon_table(tiers),
        "iconSizes": {str(t): s for t, s in ICON_SIZES.items()},
        "groups": {g: L(f"group_{g}") for g in ("network", "coverage", "demand", "context")},
        "collapsed": collapsed,
        "panels": panels,
    }


def plan_map(
    plan: Any,
    lang: str | None = None,
    basemap: str | None = None,
    offline: bool | None = None,
    tianditu_token: str | None = None,
    derived: Derived | None = None,
) -> NetplanMap:
    """Build the plan map.

    Parameters
    ----------
    plan
        A :class:`~netplan.plan.Plan` or a :class:`MapData`.
    lang
        ``"zh"`` or ``"en"``; defaults to the scenario's language.
    basemap
        ``osm`` (default), ``amap`` (GCJ-02: overlays are shifted),
        ``tianditu`` (needs a token) or ``none`` (roads from the city graph).
    offline
        Request nothing from the network (forces ``basemap="none"``).
    tianditu_token
        Token for Tianditu tiles (else ``TIANDITU_TOKEN`` or the scenario's).
    derived
        Service areas, distances etc. already computed by :func:`derive`.

    Returns
    -------
    NetplanMap
        A :class:`folium.Map` on its own page: shown inline by a notebook,
        extensible with folium layers (``gdf.explore(m=m)``);
        ``.save(path)`` writes the self-contained HTML file and returns the
        path, ``.html`` is the page's text.
    """
    options = render_options(plan, lang=lang, basemap=basemap, offline=offline, tianditu_token=tianditu_token)
    return draw_plan_map(plan if isinstance(plan, MapData) else MapData.from_plan(plan), options, derived)


def draw_plan_map(data: MapData, options: MapOptions, derived: Derived | None = None) -> NetplanMap:
    """Build the plan map of ``data`` with resolved ``options`` (see :func:`plan_map`)."""
    lang = options.lang
    ctx = Context(lang, options.tiles())
    derived = derived or derive(data)
    no_tiles = ctx.basemap.key == "none"
    layers, has = plan_layers(data, ctx, derived, show_roads=no_tiles, streets=no_tiles)
    tiers = [t.tier for t in data.tiers]
    icons = icon_table(tiers)
    title = data.title or data.name
    panel = {
        "layers": layers,
        "bounds": bounds(data, ctx),
        "kpiHtml": panel_html(
            data.kpis, tiers, lang, f"{title} — {label(lang, 'kpis')}", icons, warnings=data.warnings
        ),
        "legendHtml": legend_html(ctx, tiers, has),
    }
    config = page_config(ctx, tiers, [panel], options.offline, collapsed=False)
    return plan_page(title, lang, config)


def write_plan_map(
    plan: Any, path: str | Path, *, derived: Derived | None = None, **choices: Unpack[MapChoices]
) -> Path:
    """Render the plan map and write it atomically as one HTML file.

    ``derived`` and the map options (``lang``, ``basemap``, ``offline``, ``tianditu_token``) are those
    of :func:`plan_map`.

    Returns
    -------
    pathlib.Path
        The written path.
    """
    return plan_map(plan, derived=derived, **choices).save(path)
