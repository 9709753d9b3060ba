"""Map pages as folium objects: a :class:`folium.Map` per plan, netplan's layers as folium elements.

:class:`NetplanMap` is a :class:`folium.Map` (a notebook shows it inline; a
user adds their own layers, e.g. ``gdf.explore(m=m)``); it sits in a
:class:`NetplanPage` (a branca :class:`~branca.element.Figure`) that writes
one self-contained HTML file. What folium has no element for is written as
folium elements with jinja2 templates, as folium's own plugins are:

* :class:`NetplanAssets`: Leaflet 1.9.4 (vendored in ``assets/``,
  BSD-2-Clause, see ``assets/LICENSE.leaflet``) and netplan's page script and
  stylesheet, inlined in the page's head; the images Leaflet's stylesheet
  refers to become ``data:`` URIs. folium's default CDN links (Leaflet,
  jQuery, Bootstrap, Awesome Markers) are not used: pages need no CDN
  (jsDelivr and unpkg are unreliable from mainland China) and, with the
  ``none`` basemap, make no network request at all.
* :class:`NetplanLayers`: the plan's layers, legend and KPI panel as compact
  JSON (``<script type="application/json" id="np-config">``), drawn into the
  folium map by ``netplan.attach`` (``assets/netplan-map.js``): one canvas for
  tens of thousands of points, grouped bilingual layer control, synchronised
  comparison maps.

Element ids are fixed (``map_np0``, ...), so the same plan gives the same page
byte for byte.
"""

from __future__ import annotations

import base64
import re
from functools import cache
from pathlib import Path
from typing import Any

import folium
from branca.element import Element, Figure, MacroElement
from folium.template import Template

from netplan.io import write_text
from netplan.render.layers import to_json

ASSETS = Path(__file__).resolve().parent / "assets"


@cache
def asset(name: str) -> str:
    """The text of a vendored asset."""
    return (ASSETS / name).read_text(encoding="utf-8")


@cache
def leaflet_css() -> str:
    """Leaflet's stylesheet with its images inlined."""

    def inline(match: re.Match) -> str:
        data = (ASSETS / match.group(1)).read_bytes()
        return f"url(data:image/png;base64,{base64.b64encode(data).decode('ascii')})"

    return re.sub(r"url\(images/([\w\-]+\.png)\)", inline, asset("leaflet.css"))


@cache
def leaflet_js() -> str:
    """Leaflet's script without its source-map comment (which would point at a file that is not there)."""
    return re.sub(r"//# sourceMappingURL=\S+\s*$", "", asset("leaflet.js"))


def _version() -> str:
    from netplan import __version__

    return __version__


class RawHtml(Element):
    """Text put into a page as it is.

    branca's ``Element(text)`` compiles its text as a jinja2 template: megabytes of layer JSON would be lexed for
    nothing, and a ``{{`` or ``{#`` in a place name would break the page.
    """

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def render(self, **kwargs: Any) -> str:
        return self.text


class NetplanAssets(MacroElement):
    """Leaflet and netplan's script and stylesheet, inlined into the page head (once per page)."""

    def __init__(self) -> None:
        super().__init__()
        self._name = "NetplanAssets"
        self._id = "inline"  # one copy per page, however many maps it holds

    # branca's MacroElement.render returns None, unlike the Element.render it overrides
    def render(self, **kwargs: Any) -> None:  # type: ignore[override]
        root = self.get_root()
        assert isinstance(root, Figure), "NetplanAssets renders inside a page"
        root.header.add_child(RawHtml(_assets_html()), name=self.get_name())
        super().render(**kwargs)


@cache
def _assets_html() -> str:
    return (
        f"<style>\n{leaflet_css()}\n</style>\n<style>\n{asset('netplan-map.css')}\n</style>\n"
        f"<script>\n{leaflet_js()}\n</script>\n<script>\n{asset('netplan-map.js')}\n</script>\n"
    )


class NetplanLayers(MacroElement):
    """Panel ``index`` of a page configuration, drawn into its parent map by ``netplan.attach``.

    Parameters
    ----------
    config
        The page configuration (labels, basemap, icons, ``panels``); shared by
        every map of a comparison and written into the page once (by panel 0).
    index
        Which panel this map shows.
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            netplan.attach({{ this._parent.get_name() }}, {{ this.index }});
        {% endmacro %}
        """
    )

    def __init__(self, config: dict[str, Any], index: int = 0) -> None:
        super().__init__()
        self._name = "NetplanLayers"
        self._id = str(index)
        self.config = config
        self.index = index

    # branca's MacroElement.render returns None, unlike the Element.render it overrides
    def render(self, **kwargs: Any) -> None:  # type: ignore[override]
        if self.index == 0:
            text = f'<script type="application/json" id="np-config">{to_json(self.config)}</script>\n'
            root = self.get_root()
            assert isinstance(root, Figure), "NetplanLayers renders inside a page"
            root.html.add_child(RawHtml(text), name=self.get_name())
        super().render(**kwargs)


class NetplanPage(Figure):
    """The HTML page around one map or a comparison grid: language, title, generator, body layout.

    Parameters
    ----------
    title
        The page title.
    lang
        ``"zh"`` or ``"en"`` (the ``lang`` attribute of the page).
    body_class
        ``np-plan`` (one full-window map) or ``np-compare`` (grid and side panel).
    before, after
        HTML around the maps (a comparison's heading and side panel).
    grid_style
        When given, the maps sit in one ``np-grid`` element with this style.
    """

    maps: list[NetplanMap]  # a comparison's maps, in panel order (set by netplan.render.compare)

    _template = Template(
        "<!DOCTYPE html>\n"
        '<html lang="{{ this.lang_tag }}">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="generator" content="netplan {{ this.version|e }}">\n'
        "<title>{{ this.title|e }}</title>\n"
        "{{ this.header.render(**kwargs) }}\n"
        "</head>\n"
        '<body class="{{ this.body_class }}">\n'
        "{{ this.before }}"
        "{% if this.grid_style %}<div class='np-grid' style='{{ this.grid_style }}'>{% endif %}"
        "{{ this.html.render(**kwargs) }}"
        "{% if this.grid_style %}</div>{% endif %}\n"
        "{{ this.after }}\n"
        "<script>\n{{ this.script.render(**kwargs) }}\n</script>\n"
        "</body>\n</html>\n"
    )

    def __init__(
        self,
        title: str,
        lang: str,
        body_class: str = "np-plan",
        before: str = "",
        after: str = "",
        grid_style: str | None = None,
        height: str | None = None,
    ) -> None:
        super().__init__(title=title, height=height)
        self._id = "page"
        self.header._children.pop("meta_http", None)  # the template declares the charset itself
        self.lang_tag = "zh-CN" if lang == "zh" else "en"
        self.version = _version()
        self.body_class = body_class
        self.before, self.after, self.grid_style = before, after, grid_style

    # unlike branca's Element.save (outfile, close_file) -> None: a path in, the written path out
    def save(self, path: str | Path, **kwargs: Any) -> Path:  # type: ignore[override]
        """Write the page (UTF-8, atomically) and return its path."""
        return write_text(path, self.render(**kwargs))

    @property
    def html_text(self) -> str:
        """The whole page."""
        return self.render()


class NetplanMap(folium.Map):
    """A :class:`folium.Map` as netplan draws it: canvas rendering, fine zoom steps, no CDN links.

    Use it as any folium map (add layers, ``gdf.explore(m=m)``, show it in a
    notebook); :meth:`save` writes the page and returns its path.

    Parameters
    ----------
    name
        Fixed element id (``map_<name>``), so pages are reproducible.
    caption
        HTML above the map in a comparison grid (None for a full-window map).
    **kwargs
        Passed to :class:`folium.Map` (Leaflet map options).
    """

    # folium's defaults are CDN links (Leaflet, jQuery, Bootstrap, Awesome Markers): NetplanAssets inlines Leaflet
    default_js: list[tuple[str, str]] = []
    default_css: list[tuple[str, str]] = []

    _template = Template(
        """
        {% macro header(this, kwargs) %}
            <style>#{{ this.get_name() }} { position: relative; width: 100%; height: 100%; left: 0; top: 0; }</style>
        {% endmacro %}
        {% macro html(this, kwargs) %}
        {%- if this.caption is not none -%}
        <div class="np-cell"><div class="np-caption">{{ this.caption }}</div>
        {%- endif -%}
        <div class="folium-map np-map" id={{ this.get_name()|tojson }}></div>
        {%- if this.caption is not none %}</div>{% endif %}
        {% endmacro %}
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = L.map(
                {{ this.get_name()|tojson }},
                {
                    {%- if this.location is not none %}
                    center: {{ this.location|tojson }},
                    {%- endif %}
                    crs: L.CRS.{{ this.crs }},
                    ...{{ this.options|tojavascript }}
                }
            );
        {% endmacro %}
        """
    )

    def __init__(self, name: str = "np0", caption: str | None = None, **kwargs: Any) -> None:
        options: dict[str, Any] = {
            "tiles": None,
            "prefer_canvas": True,
            "zoom_snap": 0.25,
            "zoom_delta": 0.5,
            "wheel_px_per_zoom_level": 90,
        }
        options.update(kwargs)
        super().__init__(**options)
        self.options.setdefault("max_zoom", 20)  # folium's own max_zoom argument is for its tile layer
        if options.get("location") is None:
            # no initial view (folium would show the world at zoom 1): Leaflet then defers adding layers until
            # netplan.attach fits the plan's bounds, so 50,000 points are projected and drawn once, not twice
            self.location = None  # type: ignore[assignment]  # folium infers list[float]; its template takes None
            self.options.pop("zoom", None)
        self._id = name
        self.caption = caption
        self.add_child(NetplanAssets(), name="netplan_assets")

    # unlike branca's Element.save (outfile, close_file) -> None: a path in, the written path out
    def save(self, path: str | Path, **kwargs: Any) -> Path:  # type: ignore[override]
        """Write the page this map is on (UTF-8, atomically) and return its path."""
        return write_text(path, self.get_root().render(**kwargs))

    @property
    def html(self) -> str:
        """The whole page as text (what :meth:`save` writes)."""
        return self.get_root().render()


def plan_page(title: str, lang: str, config: dict[str, Any]) -> NetplanMap:
    """One full-window map on its own page, showing panel 0 of ``config``."""
    m = NetplanMap("np0")
    NetplanPage(title, lang, "np-plan").add_child(m, name="map")
    m.add_child(NetplanLayers(config, 0), name="netplan_layers")
    return m
