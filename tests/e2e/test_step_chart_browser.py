"""The step chart in a real browser (headless Chromium): it draws, in the light and the dark scheme."""

from __future__ import annotations

import datetime as dt
import struct
import zlib
from pathlib import Path

import pytest

from gl_rollout.core.plans import build_plan
from gl_rollout.render.step_chart import ChartEvent, step_chart
from tests.e2e.test_report import chromium, run_chromium

T0 = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC)


def pixels(png: Path) -> bytes:
    blob = png.read_bytes()
    assert blob[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, offset = [], 8
    while offset < len(blob):
        (length,) = struct.unpack(">I", blob[offset : offset + 4])
        if blob[offset + 4 : offset + 8] == b"IDAT":
            chunks.append(blob[offset + 8 : offset + 8 + length])
        offset += 12 + length
    return zlib.decompress(b"".join(chunks))


@pytest.mark.browser
@pytest.mark.skipif(chromium() is None, reason="chromium is not installed")
def test_the_chart_draws_in_light_and_dark(tmp_path: Path) -> None:
    events = [
        ChartEvent("step", T0, "staging", 100),
        ChartEvent("step", T0 + dt.timedelta(minutes=20), "production", 1),
        ChartEvent("step", T0 + dt.timedelta(minutes=40), "production", 10),
        ChartEvent(
            "blocked", T0 + dt.timedelta(minutes=50), until=T0 + dt.timedelta(minutes=70), label="freeze"
        ),
        ChartEvent("step", T0 + dt.timedelta(minutes=80), "production", 25),
    ]
    svg = step_chart(build_plan((1, 10, 25, 50, 100)), events, T0 + dt.timedelta(minutes=90))
    page = tmp_path / "chart.html"
    page.write_text(
        "<!doctype html><meta charset=utf-8><style>@media (prefers-color-scheme: dark)"
        "{body{background:#1f1e24;color:#ececef}}</style><body>" + svg,
        encoding="utf-8",
    )
    light, dark = tmp_path / "light.png", tmp_path / "dark.png"
    run_chromium(tmp_path, f"--screenshot={light}", "--window-size=760,340", page.as_uri())
    run_chromium(
        tmp_path, "--force-dark-mode", f"--screenshot={dark}", "--window-size=760,340", page.as_uri()
    )
    shown_light, shown_dark = pixels(light), pixels(dark)
    # a blank page compresses to a handful of byte values; lines, bands and labels give many
    assert len(set(shown_light)) > 50
    assert len(set(shown_dark)) > 50
    assert shown_light != shown_dark  # the dark scheme's colours apply
