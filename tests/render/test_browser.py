"""Plan and comparison maps opened in headless Chromium (/usr/bin/chromium, via Playwright).

Every page is opened over file://; every request that is not file:// or
data: is recorded (tile requests of online maps are answered with a blank
PNG, anything else is refused).
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from netplan.cli import main
from netplan.render import plan_map
from netplan.render.data import MapData
from netplan.render.labels import label

from .conftest import parse_shown, read_kpis, save_artifact

TIERS_EN = ["Collection point", "Transfer station", "Sorting centre"]
TIERS_ZH = ["回收点", "中转站", "分拣中心"]
JS_LABELS = (
    "(i) => Array.from(document.querySelectorAll('.leaflet-control-layers')[i].querySelectorAll('label'))"
    ".map(e => e.textContent.trim())"
)


def _labels(page, index: int = 0) -> list[str]:
    return page.evaluate(JS_LABELS, index)


def _shown_kpis(page, selector: str) -> list[dict]:
    return page.evaluate(
        """(sel) => Array.from(document.querySelectorAll(sel)).map(e => ({
            section: e.dataset.section, key: e.dataset.key, value: e.dataset.value, plan: e.dataset.plan,
            fmt: e.dataset.fmt, text: e.textContent.trim()}))""",
        selector,
    )


def _check_kpis_against_csv(shown: list[dict], csv: dict[tuple[str, str], str]) -> int:
    checked = 0
    for item in shown:
        raw = csv[(item["section"], item["key"])]
        assert float(item["value"]) == pytest.approx(float(raw), rel=1e-9, abs=1e-9), item
        value, tol = parse_shown(item["text"])
        assert value == pytest.approx(float(raw), abs=tol), item
        checked += 1
    return checked


def test_plan_map_offline_loads_without_errors_or_requests(open_map, helsinki_out):
    html = helsinki_out.map.read_text(encoding="utf-8")
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=\"?https?:", html), "no external script, style or image"
    assert "tile.openstreetmap.org" not in html and "autonavi" not in html
    loaded = open_map(helsinki_out.map)
    assert loaded.errors == []
    assert loaded.external == [], "an offline map must not request anything"
    assert loaded.page.evaluate("netplan.errors") == []
    # every layer drew: facilities as icons, vector layers on the canvas
    assert loaded.page.locator(".leaflet-marker-icon.np-tier1").count() == 14
    assert loaded.page.locator(".leaflet-marker-icon.np-tier2").count() >= 1
    assert loaded.page.locator("canvas").count() >= 2
    assert "© OpenStreetMap contributors" in loaded.page.inner_text(".leaflet-control-attribution")
    assert loaded.page.locator(".leaflet-control-scale-line").count() == 1
    save_artifact(loaded, "plan_map_offline_en.png")


def test_plan_map_layer_toggles_for_every_tier(open_map, helsinki_out):
    loaded = open_map(helsinki_out.map)
    labels = _labels(loaded.page)
    for tier in TIERS_EN:
        assert any(text.startswith(f"{tier} (") and "sited" in text for text in labels), (tier, labels)
        assert any(text.startswith(f"{tier} candidates") for text in labels), (tier, labels)
    for name in (
        "Walking service areas of collection points (300 m)",
        "Transfer station catchments",
        "Demand points (39)",
        "Roads (truck-accessible)",
        "Streets (city graph)",
    ):
        assert name in labels
    groups = loaded.page.evaluate("Array.from(document.querySelectorAll('.np-group')).map(e => e.textContent)")
    assert groups == ["Network", "Coverage", "Demand", "Context and candidates"]
    # switching a tier off removes its icons, switching it on brings them back (and the headings stay)
    box = loaded.page.locator(".leaflet-control-layers label", has_text="Collection point (14 sited").locator("input")
    box.uncheck()
    assert loaded.page.locator(".leaflet-marker-icon.np-tier1").count() == 0
    box.check()
    assert loaded.page.locator(".leaflet-marker-icon.np-tier1").count() == 14
    assert loaded.page.locator(".np-group").count() == 4
    assert loaded.errors == []


def test_plan_map_kpi_panel_matches_kpis_csv(open_map, helsinki_out):
    loaded = open_map(helsinki_out.map)
    shown = _shown_kpis(loaded.page, ".np-kpis [data-key]")
    checked = _check_kpis_against_csv(shown, read_kpis(helsinki_out.kpis))
    keys = {(s["section"], s["key"]) for s in shown}
    assert {
        ("network", "households_covered_share"),
        ("cost", "total"),
        ("network", "tier1_open"),
        ("network", "tier3_open"),
        ("demand", "households"),
    } <= keys
    assert checked >= 15


def test_plan_map_popups_show_numbers(open_map, helsinki_out):
    loaded = open_map(helsinki_out.map)
    loaded.page.locator(".leaflet-marker-icon.np-tier2").first.click()
    popup = loaded.page.locator(".leaflet-popup-content")
    popup.wait_for()
    text = popup.inner_text()
    assert (
        "Transfer station" in text
        and "Load (kg/day)" in text
        and "Capacity (kg/day)" in text
        and "Sites served" in text
    )
    assert loaded.errors == []


@pytest.mark.parametrize(
    "basemap, host, credit",
    [
        ("osm", "tile.openstreetmap.org", "© OpenStreetMap contributors"),
        ("amap", ".is.autonavi.com", "© AutoNavi (AMap)"),
    ],
)
def test_online_basemaps_request_only_their_tiles(open_map, helsinki_plan, tmp_path, basemap, host, credit):
    path = plan_map(helsinki_plan, basemap=basemap).save(tmp_path / "map.html")
    loaded = open_map(path, tiles=(host,))
    assert loaded.errors == []
    assert loaded.external and all(host in url for url in loaded.external), loaded.external[:5]
    attribution = loaded.page.inner_text(".leaflet-control-attribution")
    assert credit in attribution and "© OpenStreetMap contributors" in attribution


def test_compare_map(open_map, helsinki_out, helsinki_variant, tmp_path, capsys):
    out = tmp_path / "compare.html"
    assert (
        main(
            [
                "compare",
                str(helsinki_out.folder),
                str(helsinki_variant["folder"]),
                "--out",
                str(out),
                "--offline",
                "--lang",
                "en",
            ]
        )
        == 0
    )
    assert str(out.resolve()) in capsys.readouterr().out
    loaded = open_map(out, viewport=(1600, 1000))
    page = loaded.page
    assert loaded.errors == [] and loaded.external == []
    assert page.evaluate("netplan.maps.length") == 2
    for i in (0, 1):
        labels = _labels(page, i)
        for tier in TIERS_EN:
            assert any(text.startswith(f"{tier} (") for text in labels), (i, tier, labels)
    # the difference layers: B has the moved point only in B,
    # and the dropped one plus the moved one's old place only in A
    labels_b = _labels(page, 1)
    assert "only in this plan · Collection point (1)" in labels_b
    assert "only in A · Collection point (2)" in labels_b
    assert "only in B · Collection point (1)" in _labels(page, 0)
    ids = page.evaluate(
        "netplan.maps[1].layers.diffdel1.getLayers().map(l => l.feature.properties.site_id).sort((a, b) => a - b)"
    )
    assert ids == sorted([helsinki_variant["dropped"], helsinki_variant["moved"]])
    # the KPI table: each plan's column matches its kpis.csv, and B - A is the difference
    csvs = [read_kpis(helsinki_out.kpis), read_kpis(helsinki_variant["folder"] / "kpis.csv")]
    shown = _shown_kpis(page, ".np-compare-table td.np-kpi")
    for plan in (0, 1):
        assert _check_kpis_against_csv([s for s in shown if s["plan"] == str(plan)], csvs[plan]) >= 15
    diffs = {(d["section"], d["key"]): d for d in _shown_kpis(page, ".np-compare-table td.np-diff")}
    assert float(diffs[("cost", "total")]["value"]) == pytest.approx(1000.0)
    assert diffs[("cost", "total")]["text"] == "+1,000"
    assert float(diffs[("network", "tier1_open")]["value"]) == pytest.approx(-1.0)
    assert float(diffs[("demand", "households")]["value"]) == 0.0
    # synchronised: panning or zooming one map moves the other; layer switches follow too
    page.evaluate("() => { netplan.maps[1].map.setView([60.1670, 24.9440], 17); }")
    page.wait_for_function("netplan.maps.every(e => e.map.getZoom() === 17)", timeout=5000)  # after the zoom animation
    centres = page.evaluate("netplan.maps.map(e => [e.map.getCenter().lat, e.map.getCenter().lng, e.map.getZoom()])")
    assert np.allclose(centres[0], centres[1]) and centres[0][2] == 17
    page.mouse.move(400, 500)
    page.mouse.down()
    page.mouse.move(300, 420, steps=5)
    page.mouse.up()
    centres = page.evaluate("netplan.maps.map(e => [e.map.getCenter().lat, e.map.getCenter().lng])")
    assert np.allclose(centres[0], centres[1], atol=1e-9)
    page.evaluate("() => { netplan.maps[0].map.removeLayer(netplan.maps[0].layers.fac1); }")
    assert page.evaluate("netplan.maps[1].map.hasLayer(netplan.maps[1].layers.fac1)") is False
    page.evaluate("() => { netplan.maps[0].map.fitBounds(netplan.config.panels[0].bounds); }")
    save_artifact(loaded, "compare_map_offline_en.png")
    assert loaded.errors == []


def test_compare_map_chinese_three_plans(open_map, helsinki_out, helsinki_variant, tmp_path):
    out = tmp_path / "compare_zh.html"
    folders = [str(helsinki_out.folder), str(helsinki_variant["folder"]), str(helsinki_out.folder)]
    assert main(["compare", *folders, "--out", str(out), "--offline", "--lang", "zh"]) == 0
    loaded = open_map(out, viewport=(1600, 1000))
    assert loaded.errors == [] and loaded.external == []
    assert loaded.page.evaluate("netplan.maps.length") == 3
    assert loaded.page.inner_text(".np-header").startswith("方案对比")
    for i in range(3):
        labels = _labels(loaded.page, i)
        for tier in TIERS_ZH:
            assert any(text.startswith(f"{tier}（已选址") for text in labels), (i, tier, labels)
    head = loaded.page.evaluate(
        "Array.from(document.querySelectorAll('.np-compare-table thead th')).map(e => e.textContent)"
    )
    assert head == ["指标", "A", "B", "C", "B − A", "C − A"]
    assert "仅本方案有的设施" in loaded.page.inner_text(".np-side")
    save_artifact(loaded, "compare_map_offline_zh.png")


def test_chengdu_plan_map_in_chinese(open_map, chengdu_run):
    plan, outputs = chengdu_run
    loaded = open_map(outputs.map, viewport=(1600, 1000), tiles=("tile.openstreetmap.org",))
    assert loaded.errors == []
    assert all("tile.openstreetmap.org" in url for url in loaded.external)
    labels = _labels(loaded.page)
    for tier in TIERS_ZH:
        assert any(text.startswith(f"{tier}（已选址") for text in labels), (tier, labels)
    assert any(text.startswith("限行区域") for text in labels)
    assert loaded.page.inner_text(".np-kpi-title") == f"{plan.scenario.title} — 关键指标"
    panel = loaded.page.inner_text(".np-kpis")
    for name in ("回收点步行覆盖率", "年总成本（元）", "回收点", "中转站", "分拣中心"):
        assert name in panel
    assert _check_kpis_against_csv(_shown_kpis(loaded.page, ".np-kpis [data-key]"), read_kpis(outputs.kpis)) >= 15
    assert "© OpenStreetMap 贡献者" in loaded.page.inner_text(".leaflet-control-attribution")
    # a restricted zone's popup names its hours
    zone = plan.scenario.restrictions[0]
    hours = loaded.page.evaluate("netplan.maps[0].layers.restricted.getLayers()[0].feature.properties.hours")
    assert hours == ", ".join(zone.hours)
    save_artifact(loaded, "plan_map_chengdu_zh.png")


def test_ten_thousand_points_stay_one_layer_and_load_fast(open_map, helsinki_plan, tmp_path):
    data = MapData.from_plan(helsinki_plan)
    rng = np.random.default_rng(0)
    lon0, lat0, lon1, lat1 = data.demand.total_bounds
    n = 10_000
    import geopandas as gpd

    data.demand = gpd.GeoDataFrame(
        {
            "demand_id": np.arange(n),
            "name": None,
            "households": rng.uniform(5, 400, n),
            "kg_day": rng.uniform(1, 300, n),
        },
        geometry=gpd.points_from_xy(rng.uniform(lon0, lon1, n), rng.uniform(lat0, lat1, n)),
        crs="EPSG:4326",
    )
    path = plan_map(data, offline=True).save(tmp_path / "big.html")
    assert path.stat().st_size < 10_000_000
    loaded = open_map(path)
    assert loaded.errors == [] and loaded.external == []
    assert loaded.page.evaluate("netplan.maps[0].layers.demand.getLayers().length") == n
    assert loaded.page.evaluate("netplan.maps[0].layers.demand instanceof L.GeoJSON") is True
    assert loaded.page.locator(".leaflet-marker-icon").count() < 100, (
        "points are drawn on the canvas, not as DOM markers"
    )
    assert loaded.seconds < 10
    assert (
        json.loads(
            loaded.page.evaluate("JSON.stringify(netplan.maps[0].layers.demand.getLayers()[0].feature.properties)")
        )["households"]
        > 0
    )
    assert label("en", "uncovered") in " ".join(_labels(loaded.page))
