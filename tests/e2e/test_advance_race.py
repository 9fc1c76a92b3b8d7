"""Two `gl-rollout advance` processes started at the same moment against one sandbox (issue 15, deliverable
5): whatever the interleaving, the step is taken once. Checked in the sandbox afterwards: one comment of
the step, one strategy for staging in the project flag, the step ticked, the stage label set; the two
exit codes are {0, 4} (both wrote a comment and the later one deleted its own; or the second one read
between the first one's comment and its flag change, or saw that comment in its re-read before writing)
or {0, 0} (the second one's first read already saw the step: held by the wait, nothing written), and an
exit 4 says in one line which runner took, or is taking, the step.

Each trial is a fresh rollout; `GL_ROLLOUT_TEST_ROUNDS=20` runs more of them.
"""

from __future__ import annotations

import json
import os

import pytest

from gl_rollout.core.markers import find_note_marker
from gl_rollout.sandbox import Sandbox
from tests.e2e.test_concurrency import explain, run_together
from tests.e2e.test_fault_matrix import RAMP_FLAG, ramp_rollout
from tests.helpers import run_cli

TRIALS = max(5, int(os.environ.get("GL_ROLLOUT_TEST_ROUNDS", "5")))
LATENCY = 0.05  # seconds added to every answer: each process's reads and writes spread over a window
FLAG = RAMP_FLAG  # the fault matrix's project-flag rollout with a plan (`ramp_rollout`)


def step_comments(sb: Sandbox, iid: int) -> list[str]:
    steps = []
    for note in sb.notes(sb.project_path, iid):
        marker = find_note_marker(note["body"]) if not note["system"] else None
        if marker is not None and marker.action == "enable":
            steps.append(str(marker.values.get("advance")))
    return steps


def staging_strategies(sb: Sandbox) -> list[dict[str, object]]:
    flag = sb.project_flags()[FLAG]
    return [
        s for s in flag["strategies"] if any(scope["environment_scope"] == "staging" for scope in s["scopes"])
    ]


def take_at_once(sandbox: Sandbox, ref: str, flag: str) -> None:
    """Two `advance` processes started together: one takes staging-100, the other is held (exit 0) or
    says in one line which runner took, or is taking, the step (exit 4)."""
    sandbox.faults.latency = LATENCY
    outcomes = run_together(sandbox, [["advance", ref, "--json"], ["advance", ref, "--json"]])
    sandbox.faults.latency = 0.0
    codes = sorted(o.code for o in outcomes)
    assert codes in ([0, 0], [0, 4]), explain(outcomes)
    took = [json.loads(o.stdout)["data"].get("took") for o in outcomes if o.code == 0]
    assert took.count("staging-100") == 1, explain(outcomes)  # one runner took it; a 0 beside it was held
    for loser in (o for o in outcomes if o.code == 4):
        error = json.loads(loser.stdout)["error"]
        assert error["code"] == 4
        # it lost the claim; or its first read fell between the winner's comment and the winner's PUT; or
        # the winner's comment came between its first read and its re-read right before the write
        assert error["message"].startswith(
            (
                "another runner took staging-100 (note ",
                "another runner is taking staging-100 (note ",
                f"another runner wrote about {flag} (note ",
            )
        ), error["message"]
        assert "\n" not in error["message"]
        assert "Traceback" not in loser.stderr
    iid = int(ref.rsplit("#", 1)[1])
    assert step_comments(sandbox, iid) == ["staging-100"], explain(outcomes)
    issue = sandbox.get_issue(sandbox.project_path, iid)
    assert "- [x] " in next(
        line for line in issue["description"].splitlines() if "step:enable-staging " in line
    )
    assert [label for label in issue["labels"] if label.startswith("rollout::")] == ["rollout::staging"]
    # and the rollout goes on from there: the next run waits the step's 15 minutes, writing nothing
    again = run_cli(
        ["advance", ref, "--json", "--url", str(sandbox.url)],
        env={"GITLAB_TOKEN": sandbox.tokens["developer"]},
    )
    assert again.code == 0, again.stderr
    assert [h["guard"] for h in json.loads(again.stdout)["data"]["blocked_by"]] == ["wait"]


@pytest.mark.parametrize("trial", range(TRIALS))
def test_two_runners_at_once_take_the_step_once(sandbox: Sandbox, trial: int) -> None:
    iid = ramp_rollout(sandbox)
    take_at_once(sandbox, f"{sandbox.project_path}#{iid}", FLAG)
    assert len(staging_strategies(sandbox)) == 1, sandbox.project_flags()[FLAG]
    assert sandbox.project_flags()[FLAG]["active"] is True


INSTANCE_FLAG = "race_instance_flag"


def instance_rollout(sb: Sandbox) -> int:
    """One of GitLab's own flags with a plan (`rollout-detailed`): a step is its ChatOps comment and tick."""
    assert sb.url is not None
    args = ["create", INSTANCE_FLAG, "--project", sb.project_path, "--template", "rollout-detailed"]
    result = run_cli(
        [*args, "--ramp", "10,50,100", "--json", "--url", sb.url],
        env={"GITLAB_TOKEN": sb.tokens["developer"]},
    )
    assert result.code == 0, result.stderr
    return int(json.loads(result.stdout)["data"]["iid"])


@pytest.mark.parametrize("trial", range(TRIALS))
def test_two_runners_at_once_post_an_instance_flags_step_once(sandbox: Sandbox, trial: int) -> None:
    """One of GitLab's own flags: the step is its ChatOps comment and tick, taken once."""
    iid = instance_rollout(sandbox)
    take_at_once(sandbox, f"{sandbox.project_path}#{iid}", INSTANCE_FLAG)
