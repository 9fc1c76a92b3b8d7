"""The step chart where people look (issue 15): the HTML report of a sandbox rollout walked a few steps
by `advance` (time moved by the sandbox's clock), checked as text and in headless Chromium, light and
dark, and the sandbox's issue page as `sandbox serve` shows it; a rollout without a plan gets no chart."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import requests

from gl_rollout.cli.connection import open_sandbox
from gl_rollout.sandbox import Sandbox
from tests.e2e.test_advance import MINUTE, advance, new_rollout
from tests.e2e.test_report import chromium, report, run_chromium
from tests.e2e.test_step_chart_browser import pixels
from tests.e2e.test_sync import seed_rollout
from tests.workflow_cli import run

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


def test_the_sandbox_issue_page_draws_the_chart_under_the_description(tmp_path: Path) -> None:
    # the sandbox as the CLI opens it (`sandbox serve`, `--sandbox`): the tool hands it the chart
    sb = open_sandbox(tmp_path / "sandbox.sqlite3", {})
    try:
        sb.start()
        ref = walked(sb)
        plain = seed_rollout(sb, "plain_flag")
        pause = run(sb, "pause", ref, "--reason", "checking the dashboards", "--json")
        assert pause.code == 0, pause.result.output
        iid = ref.rsplit("#", 1)[1]

        page = requests.get(f"{sb.url}/{sb.project_path}/-/issues/{iid}", timeout=10)
        other = requests.get(f"{sb.url}/{sb.project_path}/-/issues/{plain['iid']}", timeout=10)
    finally:
        sb.close()

    assert page.status_code == 200
    assert "script-src" not in page.headers["Content-Security-Policy"]  # still no script allowed
    description_end = page.text.index("<h2>Activity</h2>")
    (chart,) = charts(page.text[:description_end])  # under the description, before the activity
    lines = {line.attrib["data-environment"] for line in chart.iter(f"{SVG}polyline")}
    assert lines == {"staging", "production"}
    (band,) = [r for r in chart.iter(f"{SVG}rect") if r.attrib["class"] == "paused"]
    assert band.findtext(f"{SVG}title") == "paused: checking the dashboards"
    assert "<svg" not in other.text  # no plan: no chart


def test_the_bare_sandbox_draws_no_chart_as_gitlab_draws_none(sandbox: Sandbox) -> None:
    ref = walked(sandbox)
    iid = ref.rsplit("#", 1)[1]
    page = requests.get(f"{sandbox.url}/{sandbox.project_path}/-/issues/{iid}", timeout=10)
    assert page.status_code == 200
    assert "<svg" not in page.text
