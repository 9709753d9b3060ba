"""HTML pages: one self-contained file per map.

Leaflet 1.9.4 (vendored in ``assets/``, BSD-2-Clause, see
``assets/LICENSE.leaflet``), netplan's page script and stylesheet and the
map data are all written into the page; the images Leaflet's stylesheet
refers to become ``data:`` URIs. Pages therefore need no CDN (jsDelivr and
unpkg are unreliable from mainland China) and, with the ``none`` basemap,
make no network request at all.
"""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

from netplan.io import write_text
from netplan.render.layers import to_json

ASSETS = Path(__file__).resolve().parent / "assets"


@lru_cache(maxsize=None)
def asset(name: str) -> str:
    """The text of a vendored asset."""
    return (ASSETS / name).read_text(encoding="utf-8")


@lru_cache(maxsize=None)
def leaflet_css() -> str:
    """Leaflet's stylesheet with its images inlined."""

    def inline(match: re.Match) -> str:
        data = (ASSETS / match.group(1)).read_bytes()
        return f"url(data:image/png;base64,{base64.b64encode(data).decode('ascii')})"

    return re.sub(r"url\(images/([\w\-]+\.png)\)", inline, asset("leaflet.css"))


@lru_cache(maxsize=None)
def leaflet_js() -> str:
    """Leaflet's script without its source-map comment (which would point at a file that is not there)."""
    return re.sub(r"//# sourceMappingURL=\S+\s*$", "", asset("leaflet.js"))


def _version() -> str:
    try:
        return metadata.version("netplan")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a checkout
        return "dev"


@dataclass
class MapDocument:
    """A finished map page."""

    html: str

    def save(self, path: str | Path) -> Path:
        """Write the page (UTF-8, atomically) and return its path."""
        return write_text(path, self.html)

    def _repr_html_(self) -> str:  # pragma: no cover - notebooks
        return f'<iframe srcdoc="{html.escape(self.html)}" style="width:100%;height:600px;border:none"></iframe>'


def page(title: str, lang: str, body: str, config: dict[str, Any], body_class: str) -> MapDocument:
    """Assemble a page: inlined Leaflet and netplan assets, ``body``, and the configuration for ``netplan.init``."""
    return MapDocument(
        "<!DOCTYPE html>\n"
        f'<html lang="{"zh-CN" if lang == "zh" else "en"}">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta name="generator" content="netplan {html.escape(_version())}">\n'
        f"<title>{html.escape(title)}</title>\n"
        f"<style>\n{leaflet_css()}\n</style>\n<style>\n{asset('netplan-map.css')}\n</style>\n</head>\n"
        f'<body class="{body_class}">\n{body}\n'
        f"<script>\n{leaflet_js()}\n</script>\n<script>\n{asset('netplan-map.js')}\n</script>\n"
        f'<script type="application/json" id="np-config">{to_json(config)}</script>\n'
        '<script>netplan.init(JSON.parse(document.getElementById("np-config").textContent));</script>\n'
        "</body>\n</html>\n"
    )
