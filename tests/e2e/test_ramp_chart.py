"""The step chart where people look (issue 15): the HTML report of a sandbox rollout walked a few steps
by `advance` (time moved by the sandbox's clock), checked as text and in headless Chromium, light and
dark; a rollout without a plan gets no chart."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from gl_rollout.sandbox import Sandbox
from tests.e2e.test_advance import MINUTE, advance, new_rollout
from tests.e2e.test_report import chromium, report, run_chromium
from tests.e2e.test_step_chart_browser import pixels
from tests.e2e.test_sync import seed_rollout

SVG = "{http://www.w3.org/2000/svg}"
_SVG_ELEMENT = re.compile(r"<svg\b.*?</svg>", re.DOTALL)


def walked(sb: Sandbox) -> str:
    """A project-flag rollout with a plan (10, 50, 100%), walked to 50% of production, then paused."""
    ref = new_rollout(sb)
    for _ in range(3):
        done = advance(sb, ref)
        assert done.code == 0, done.result.output
        assert done.data["took"] is not None
        sb.advance_clock(15 * MINUTE + 1)
    return ref


def charts(page: str) -> list[ET.Element]:
    return [ET.fromstring(svg) for svg in _SVG_ELEMENT.findall(page)]  # noqa: S314 - our own output


def test_the_html_report_draws_the_chart_of_a_rollout_with_a_plan_and_none_without(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    walked(sandbox)
    seed_rollout(sandbox, "plain_flag", done=["enable-staging"])  # a rollout without a plan
    out = tmp_path / "index.html"
    sandbox.clear_log()

    done = report(sandbox, "--project", sandbox.project_path, "-o", str(out))

    assert done.code == 0, done.output
    page = out.read_text(encoding="utf-8")
    (chart,) = charts(page)  # one rollout has a plan: one chart
    lines = {line.attrib["data-environment"]: line for line in chart.iter(f"{SVG}polyline")}
    assert set(lines) == {"staging", "production"}
    assert lines["production"].findtext(f"{SVG}title") == "production: 50%"
    assert lines["staging"].findtext(f"{SVG}title") == "staging: 100%"
    (dashed,) = [p for p in chart.iter(f"{SVG}path") if p.attrib["class"].startswith("next")]
    assert dashed.attrib["data-step"] == "production-100"
    assert "<script" not in page
    # the chart comes from the notes the report reads anyway: one list of issues, one of notes per rollout
    paths = [r.path for r in sandbox.request_log]
    assert sum(1 for p in paths if p.endswith("/notes")) == 2
    assert len(paths) == 3


@pytest.mark.browser
@pytest.mark.skipif(chromium() is None, reason="chromium is not installed")
def test_the_report_with_its_chart_renders_in_light_and_dark(sandbox: Sandbox, tmp_path: Path) -> None:
    walked(sandbox)
    out = tmp_path / "index.html"
    assert report(sandbox, "--project", sandbox.project_path, "-o", str(out)).code == 0

    dom = run_chromium(tmp_path, "--dump-dom", out.as_uri())
    assert 'data-environment="production"' in dom  # the browser kept the SVG in the page
    light, dark = tmp_path / "light.png", tmp_path / "dark.png"
    run_chromium(tmp_path, f"--screenshot={light}", "--window-size=900,700", out.as_uri())
    run_chromium(tmp_path, "--force-dark-mode", f"--screenshot={dark}", "--window-size=900,700", out.as_uri())

    shown_light, shown_dark = pixels(light), pixels(dark)
    assert len(set(shown_light)) > 50
    assert len(set(shown_dark)) > 50
    assert shown_light != shown_dark
