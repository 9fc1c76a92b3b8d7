"""`gl-rollout demo --ramp` (issue 15, deliverable 9): a whole guarded ramp against a sandbox whose clock
moves, through the real CLI; its output shows each guard at work, and its report draws the chart."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from gl_rollout.core.markers import find_note_marker
from gl_rollout.sandbox import Sandbox
from tests.helpers import run_cli

RUNS = "$ gl-rollout --sandbox advance 'acme/platform/rollouts#1' --incident-project acme/website"


def blocks(out: str) -> list[str]:
    """Each command the demo shows, with its output under it."""
    return [block for block in out.split("\n\n") if "$ gl-rollout" in block]


def test_demo_ramp_walks_waits_an_incident_a_rollback_and_the_resume_to_100(tmp_path: Path) -> None:
    db, out_file = tmp_path / "ramp.sqlite3", tmp_path / "ramp.html"

    done = run_cli(
        ["demo", "--ramp", "--sandbox-db", str(db), "-o", str(out_file)], env={"HOME": str(tmp_path)}
    )

    assert done.code == 0, done.output
    out = done.stdout
    shown = blocks(out)
    runs = [block for block in shown if RUNS in block]
    # a wait, said with its time
    assert re.search(r"wait: staging on must stay so until \d{4}-\d\d-\d\d \d\d:\d\d UTC", out)
    assert re.search(r"# held by the wait until \d{4}-\d\d-\d\d \d\d:\d\d UTC", out)
    # the incident holds a step, and the step is taken once it is closed
    (held,) = [block for block in runs if "incident: incident acme/website#1 is open (severity::2)" in block]
    after_incident = runs[runs.index(held) + 1]
    assert "took production-1 (production at 1%)" in after_incident
    # the probe turns unhealthy after production-10: back to production-1, and held until a resume
    (rollback,) = [block for block in runs if "the probe says unhealthy after production-10" in block]
    assert "rolled back to production-1 (production at 1%)" in rollback
    assert "rolled-back: the rollout is rolled back" in out
    resume = next(i for i, block in enumerate(shown) if "$ gl-rollout --sandbox resume " in block)
    assert "acme/platform/rollouts#1: resumed" in shown[resume]
    assert "took production-10 (production at 10%)" in shown[resume + 1]
    # then up to 100% and the hold
    assert "took production-100 (production on)" in out
    assert "every step of the plan is taken, hold until" in out
    # where the report with the chart is, and the chart in it
    assert f"the report, with the rollout's step chart: {out_file}" in out
    page = out_file.read_text(encoding="utf-8")
    assert 'data-environment="production"' in page
    assert 'class="paused"' in page  # the rollback's pause band
    assert "rolled back from 10% to 1%" in page
    assert f"sandbox serve --sandbox-db {db}" in out
    # the evidence in GitLab: one comment per step taken, the rollback's and the resume's
    sb = Sandbox(db_path=db)
    try:
        actions = [
            marker.action
            for note in sb.notes(None, 1)
            if not note["system"] and (marker := find_note_marker(note["body"])) is not None
        ]
        incident = sb.get_issue(sb.second_project_path, 1)
    finally:
        sb.close()
    assert actions.count("rollback") == 1
    assert actions.count("resume") == 1
    assert incident["state"] == "closed"


def test_demo_ramp_with_a_project_flag_ends_at_100_percent(tmp_path: Path) -> None:
    done = run_cli(
        ["demo", "--ramp", "--flag-backend", "project", "--json", "-o", str(tmp_path / "r.html")],
        env={"HOME": str(tmp_path), "TMPDIR": str(tmp_path)},
    )
    assert done.code == 0, done.output
    data = json.loads(done.stdout)["data"]
    took = [
        entry["step"]["data"]["took"]
        for entry in data["entries"]
        if "step" in entry and entry["step"]["command"] == "advance" and entry["step"]["data"]["took"]
    ]
    # a project flag's ramp is 10, 25, 50, 100: the probe's rollback from 25 to 10, then 25 again
    assert took == ["staging-100", "production-10", "production-25", "production-25", "production-50",
                    "production-100"]  # fmt: skip
    assert data["report"] == str(tmp_path / "r.html")


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["-o", "report.md"], "is not an HTML file"),
        (["--flag-backend", "unleash"], "invalid --flag-backend"),
    ],
)
def test_demo_ramp_refuses_bad_input_before_any_work(tmp_path: Path, args: list[str], says: str) -> None:
    done = run_cli(["demo", "--ramp", *args], env={"HOME": str(tmp_path), "TMPDIR": str(tmp_path)})
    assert done.code == 2
    assert says in done.stderr
    assert list(tmp_path.iterdir()) == []  # no sandbox, no report written


def test_output_without_ramp_is_a_usage_error(tmp_path: Path) -> None:
    done = run_cli(["demo", "-o", str(tmp_path / "r.html")], env={"HOME": str(tmp_path)})
    assert done.code == 2
    assert "--output is for demo --ramp" in done.stderr
