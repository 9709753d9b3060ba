"""Figures read in Chinese without system CJK fonts: the bundled "netplan Sans SC" (a subset of Noto Sans CJK SC)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from fontTools.ttLib import TTFont

from netplan.render.figures import BUNDLED_FONT
from netplan.render.labels import LABELS

ROOT = Path(__file__).resolve().parents[2]

FRESH_MACHINE = r"""
import warnings
import matplotlib.font_manager as fm
# a machine with matplotlib's own DejaVu fonts only: forget every system font, and never scan for more
fm.fontManager.ttflist = [f for f in fm.fontManager.ttflist if "mpl-data" in f.fname]
fm.findSystemFonts = lambda *args, **kwargs: []
from matplotlib.backends.backend_agg import FigureCanvasAgg
from netplan.render import figures
assert figures.cjk_font() is None, figures.cjk_font()
lang, family = figures._fonts("zh")
assert lang == "zh" and family[0] == "netplan Sans SC", family
assert figures._fonts("en")[1] == ["DejaVu Sans", "netplan Sans SC"]
from matplotlib.figure import Figure
with warnings.catch_warnings():
    warnings.simplefilter("error")  # "Glyph ... missing from font(s)" would be raised
    fig = Figure(figsize=(4, 2), dpi=100)
    fig.suptitle("成都中心城区再生资源回收网络 — 回收点步行可达覆盖曲线", fontfamily=family)
    ax = fig.add_subplot()
    ax.set_xlabel("步行距离（米）", fontfamily=family)
    ax.set_title("Chengdu 成都 — English labels", fontfamily=figures._fonts("en")[1])
    FigureCanvasAgg(fig).draw()
print("ok")
"""


def test_bundled_font_has_every_label_and_the_common_hanzi():
    cmap = TTFont(BUNDLED_FONT).getBestCmap()
    missing = {c for text in LABELS["zh"].values() for c in text if not c.isspace() and ord(c) not in cmap}
    assert not missing, f"labels with characters the bundled font lacks: {sorted(missing)}"
    common = [
        bytes([b1, b2]).decode("gb2312")
        for b1 in range(0xB0, 0xD8)
        for b2 in range(0xA1, 0xFF)
        if not (b1 == 0xD7 and b2 > 0xF9)
    ]
    assert len(common) == 3755 and all(ord(c) in cmap for c in common)
    assert BUNDLED_FONT.stat().st_size < 3_000_000
    assert (BUNDLED_FONT.parent / "LICENSE.netplan-sans-sc").read_text(encoding="utf-8").count(
        "SIL OPEN FONT LICENSE"
    ) == 1


def test_a_machine_without_cjk_fonts_draws_chinese_titles(tmp_path):
    env = {"PYTHONPATH": str(ROOT), "MPLCONFIGDIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(
        [sys.executable, "-c", FRESH_MACHINE], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == "ok"
