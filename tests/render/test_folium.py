"""The folium side of the maps: a folium.Map to extend, the run's warnings on the page, and ``netplan render``."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import time

import folium
import pytest

from netplan.cli import main
from netplan.diagnostics import RunWarning
from netplan.render import compare_map, plan_map

from .conftest import read_kpis, save_artifact

WARNINGS = [
    RunWarning(
        "demand", "demand.duplicate_rows", "2 demand rows repeat an earlier row's id and were left out.", ("7", "9")
    ),
    RunWarning(
        "route", "route.dropped_stops", "1 stop could not be served within the shift <06:00-16:00>.", ("t1:100",)
    ),
]


def test_plan_map_is_a_folium_map_a_user_extends(open_map, helsinki_plan, tmp_path):
    m = helsinki_plan.explore(offline=True)
    assert isinstance(m, folium.Map)
    # the user's own layers, the folium way
    helsinki_plan.demand.explore(m=m, color="black", marker_type="circle_marker", name="my demand layer")
    folium.Circle(location=[60.1699, 24.9384], radius=200, color="green", tooltip="my circle").add_to(m)
    html = m.html
    assert html.count("<html") == 1 and "var map_np0 = L.map(" in html and "netplan.attach(map_np0, 0)" in html
    assert "cdn.jsdelivr" not in html and "code.jquery.com" not in html, (
        "folium's CDN links are replaced by inlined Leaflet"
    )
    loaded = open_map(m.save(tmp_path / "extended.html"))
    assert loaded.errors == [] and loaded.external == []
    own = loaded.page.evaluate(
        "Object.values(map_np0._layers)"
        ".filter(l => (l instanceof L.GeoJSON || l instanceof L.Circle) && !l._npSpec).length"
    )
    assert own >= 2, "the user's GeoJSON layer and circle are on the same map as netplan's layers"
    assert loaded.page.evaluate("netplan.maps[0].map === map_np0")
    assert loaded.page.locator(".leaflet-marker-icon.np-tier1").count() == 14


def test_same_plan_same_page(helsinki_plan):
    assert plan_map(helsinki_plan, offline=True).html == helsinki_plan.explore(offline=True).html


def test_plan_map_shows_the_run_warnings(open_map, helsinki_plan, tmp_path):
    plan = dataclasses.replace(helsinki_plan, warnings=list(WARNINGS))
    path = plan_map(plan, offline=True, lang="zh").save(tmp_path / "warned.html")
    loaded = open_map(path)
    assert loaded.errors == []
    panel = loaded.page.locator(".np-kpis .np-warnings")
    assert panel.locator("summary").inner_text().startswith("运行警告 (2)")
    items = loaded.page.evaluate(
        "Array.from(document.querySelectorAll('.np-kpis .np-warning')).map(e => [e.dataset.code, e.textContent])"
    )
    assert items == [[w.code, w.message] for w in WARNINGS], "each warning's message, escaped, in the run's order"
    save_artifact(loaded, "plan_map_warnings_zh.png")
    english = plan_map(dataclasses.replace(helsinki_plan, warnings=[]), offline=True, lang="en").html
    assert "Run warnings (0)" in english and "this run has no warnings" in english


def test_render_rewrites_a_run_without_solving(open_map, helsinki_out, tmp_path, capsys):
    folder = tmp_path / "run"
    shutil.copytree(helsinki_out.folder, folder)
    (folder / "map.html").unlink()
    (folder / "network.png").unlink()
    start = time.perf_counter()
    assert main(["render", str(folder), "--lang", "zh", "--offline", "-q"]) == 0
    seconds = time.perf_counter() - start
    out = capsys.readouterr().out
    assert "nothing solved" in out and str((folder / "map.html").resolve()) in out
    assert (folder / "network.png").is_file()
    assert seconds < 60, f"re-rendering took {seconds:.1f} s"
    loaded = open_map(folder / "map.html")
    assert loaded.errors == [] and loaded.external == []
    labels = loaded.page.evaluate(
        "Array.from(document.querySelectorAll('.leaflet-control-layers label')).map(e => e.textContent.trim())"
    )
    assert any(text.startswith("回收点（已选址") for text in labels)
    csv = read_kpis(folder / "kpis.csv")
    shown = loaded.page.evaluate(
        "Array.from(document.querySelectorAll('.np-kpis [data-key]'))"
        ".map(e => [e.dataset.section, e.dataset.key, e.dataset.value])"
    )
    assert len(shown) >= 15 and all(float(v) == pytest.approx(float(csv[(s, k)])) for s, k, v in shown)
    recorded = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))["warnings"]
    assert f"运行警告 ({len(recorded)})" in loaded.page.inner_text(".np-kpis")
    # by default the scenario's own settings (Helsinki: English, OSM tiles); map only
    assert main(["render", str(folder), "--no-figures"]) == 0
    html = (folder / "map.html").read_text(encoding="utf-8")
    assert "tile.openstreetmap.org" in html and '"lang":"en"' in html
    assert main(["render", str(tmp_path / "nothing")]) == 2
    assert "not a folder" in capsys.readouterr().err


def test_compare_shows_each_runs_warnings(open_map, helsinki_out, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    shutil.copytree(helsinki_out.folder, a)
    shutil.copytree(helsinki_out.folder, b)
    clean = json.loads((a / "manifest.json").read_text(encoding="utf-8"))
    clean["warnings"] = []
    (a / "manifest.json").write_text(json.dumps(clean), encoding="utf-8")
    manifest = json.loads((b / "manifest.json").read_text(encoding="utf-8"))
    manifest["warnings"] = [w.as_dict() for w in WARNINGS]
    (b / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    page = compare_map([a, b], lang="en", offline=True)
    assert [m.get_name() for m in page.maps] == ["map_np0", "map_np1"] and all(
        isinstance(m, folium.Map) for m in page.maps
    )
    loaded = open_map(page.save(tmp_path / "compare.html"), viewport=(1600, 1000))
    assert loaded.errors == [] and loaded.external == []
    side = loaded.page.locator(".np-side .np-warnings")
    assert side.inner_text().startswith("Run warnings")
    assert "A · this run has no warnings" in side.inner_text()
    messages = loaded.page.evaluate(
        "Array.from(document.querySelectorAll(\".np-warnings-plan[data-plan='1'] .np-warning\"))"
        ".map(e => e.textContent)"
    )
    assert messages == [w.message for w in WARNINGS]


def test_template_syntax_in_names_reaches_the_page_verbatim(helsinki_plan):
    """Layer data is not passed through jinja2: a place name with '{{' or '{#' stays as it is."""
    plan = dataclasses.replace(helsinki_plan, demand=helsinki_plan.demand.copy())
    plan.demand["name"] = plan.demand["name"].astype(object)
    plan.demand.loc[plan.demand.index[0], "name"] = "Block {{ 7 }} {# east"
    html = plan_map(plan, offline=True).html
    assert "Block {{ 7 }} {# east" in html


def test_comparison_takes_each_plans_own_location_mode():
    import pandas as pd

    from netplan.render.kpis import compare_html

    def kpis(chosen: str, gaps: dict[str, float]) -> pd.DataFrame:
        rows = [("locate", "chosen", chosen), ("cost", "total", 100.0)]
        for mode, gap in gaps.items():
            rows += [(f"locate_{mode}", "gap", gap), (f"locate_{mode}", "solve_time_s", 10.0 * gap)]
        return pd.DataFrame(rows, columns=["section", "key", "value"]).assign(unit="")

    a = kpis("integrated", {"integrated": 0.0069, "bottom_up": 0.0083})
    b = kpis("bottom_up", {"bottom_up": 0.039})  # B ran bottom-up only: A's mode is absent from its KPIs
    table = compare_html([("A", a), ("B", b)], [1, 2, 3], "en")
    found = re.findall(
        r'data-section="(locate_\w+)" data-key="gap" data-value="([^"]*)" data-fmt="pct2" data-plan="(\d)"', table
    )
    cells = {(section, plan): v for section, v, plan in found}
    assert cells == {("locate_integrated", "0"): "0.0069", ("locate_bottom_up", "1"): "0.039"}
    assert "0.69%" in table and "3.90%" in table
    diff = re.search(
        r'class="np-diff np-nz" data-section="locate_chosen" data-key="gap" data-plan="1" data-value="([^"]+)"', table
    )
    assert diff and float(diff.group(1)) == pytest.approx(0.039 - 0.0069)
