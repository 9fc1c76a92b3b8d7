"""`gl-rollout demo --ramp`: a whole guarded rollout walked by `advance` against a sandbox whose clock moves.

The same use cases as the commands it prints: `create` with a plan (staging, then the production ramp:
1, 10, 25, 50, 75 and 100% for GitLab's own flags, 10, 25, 50 and 100% for a project flag; 15 minutes
between steps, a day's hold), then `advance` run after run, each one's
own output shown under it: a step taken, a step held by its wait ("until ..."), the clock moved past it,
a step held by an incident opened in the incident project (then closed), a health probe that turns
unhealthy after a step (`advance` rolls the flag back one step and pauses the rollout), `resume`, the
ramp to 100% and the hold; then `report` writes the HTML page with the rollout's step chart.

Time never passes by sleeping: the sandbox's clock is moved forward (`move_clock`), and every guard reads
GitLab's time from its answers, as on a real GitLab. The probe is the demo's own (`DemoProbe`): what a
`--probe CMD` script would say of an error rate, healthy until the demo makes it unhealthy once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gl_rollout.core.plan_text import read_plan
from gl_rollout.core.refs import IssueRef
from gl_rollout.core.scope import Scope
from gl_rollout.core.times import format_utc
from gl_rollout.errors import RolloutError
from gl_rollout.gitlab.api import GitLabAPI
from gl_rollout.render.issue import RenderOptions, render_issue
from gl_rollout.render.templating import DEFAULT_TEMPLATE
from gl_rollout.result import OMIT_NONE, Result
from gl_rollout.workflows.advance import AdvanceOptions, AdvanceOutcome, advance
from gl_rollout.workflows.create import CreateOptions, create
from gl_rollout.workflows.demo import DemoIssue, DemoStep, _line
from gl_rollout.workflows.posting import DEFAULT_PATIENCE, Patience
from gl_rollout.workflows.probe import ProbeResult
from gl_rollout.workflows.ramp_control import resume
from gl_rollout.workflows.report import report

RAMP_DEMO_FLAG = "checkout_guarded_ramp"
RAMP_DEMO_WAIT_MINUTES = 15
PROBE_LINE = "./check-error-rate.sh"  # what the probe stands for, in the command lines shown
INCIDENT_TITLE = "Checkout errors spike in production"
INCIDENT_LABEL = "severity::2"


def _render_options(flag_backend: str) -> RenderOptions:
    return RenderOptions(
        flag=RAMP_DEMO_FLAG,
        group="fulfillment",
        expect="Buyers go through the new checkout, step by step of the plan.",
        risks="Payments could fail for part of the users; the probe watches the error rate.",
        monitor="The checkout error rate (the probe), and the payments dashboard.",
        wait=f"{RAMP_DEMO_WAIT_MINUTES}m",
        hold="1d",
        flag_backend=flag_backend,
        # the instance flag's plan needs the detailed template; a project flag's template has one
        template="rollout-detailed" if flag_backend == "instance" else DEFAULT_TEMPLATE,
    )


class DemoProbe:
    """The demo's health probe: healthy until `fail_next` makes its next answer unhealthy (once)."""

    def __init__(self) -> None:
        self._fail = False

    def fail_next(self) -> None:
        self._fail = True

    def __call__(self) -> ProbeResult:
        if self._fail:
            self._fail = False
            return ProbeResult(False, "exit 1\ncheckout error rate 4.2% (limit 1%)")
        return ProbeResult(True, "exit 0\ncheckout error rate 0.3% (limit 1%)")


@dataclass(frozen=True)
class RampDemoEntry:
    """One line of the walk: what happens (`said`, e.g. the clock moving), or a command and its outcome."""

    said: str = ""
    step: DemoStep | None = field(default=None, metadata=OMIT_NONE)


@dataclass(frozen=True)
class RampDemoOutcome:
    """The walk, the issue at its end, and the HTML report written (with the rollout's step chart)."""

    entries: tuple[RampDemoEntry, ...]
    final: DemoIssue | None = field(default=None, metadata=OMIT_NONE)
    report: str | None = field(default=None, metadata=OMIT_NONE)


class _Stopped(Exception):
    """A command of the walk failed: the demo ends with its error."""

    def __init__(self, error: RolloutError) -> None:
        super().__init__()
        self.error = error


def run_ramp_demo(
    api: GitLabAPI,
    project: str,
    incident_project: str,
    move_clock: Callable[[float], dt.datetime],
    report_path: Path,
    *,
    flag_backend: str = "instance",
    patience: Patience = DEFAULT_PATIENCE,
) -> Result[RampDemoOutcome]:
    """Walk the guarded ramp (see the module docstring); a failing command ends the walk with its error."""
    entries: list[RampDemoEntry] = []

    def say(text: str) -> None:
        entries.append(RampDemoEntry(said=text))

    def record(command: str, line: str, result: Result[Any]) -> Any:
        """Keep the command's outcome; its value, or _Stopped when it failed."""
        step = DemoStep(
            command, line, result.ok, int(result.exit_code), tuple(result.messages),
            result.error.one_line() if result.error is not None else None,
            result.value if result.value is not None else {},
        )  # fmt: skip
        entries.append(RampDemoEntry(step=step))
        if result.error is not None:
            raise _Stopped(result.error)
        return result.value

    def later(minutes: int) -> None:
        now = move_clock(minutes * 60 + 1)
        say(f"{minutes} minutes later (the sandbox clock moves forward): GitLab's time is {format_utc(now)}")

    try:
        return _walk(api, project, incident_project, report_path, flag_backend, patience, say, record, later,
                     entries)  # fmt: skip
    except _Stopped as stop:
        return Result.failure("demo", stop.error, RampDemoOutcome(tuple(entries)))


def _walk(
    api: GitLabAPI, project: str, incident_project: str, report_path: Path, flag_backend: str,
    patience: Patience, say: Callable[[str], None], record: Callable[[str, str, Result[Any]], Any],
    later: Callable[[int], None], entries: list[RampDemoEntry],
) -> Result[RampDemoOutcome]:  # fmt: skip
    probe = DemoProbe()
    rendered = render_issue(_render_options(flag_backend))
    options = CreateOptions(project=project, patience=patience)
    words = ["create", RAMP_DEMO_FLAG, "--project", project, "--wait", f"{RAMP_DEMO_WAIT_MINUTES}m"]
    words += ["--hold", "1d"]
    if flag_backend == "project":
        from gl_rollout.workflows.project_flag_create import create_with_flag

        creating = create_with_flag(api, rendered, options)
        words += ["--flag-backend", "project", "--create-flag"]
    else:
        creating = create(api, rendered, options)
        words += ["--template", "rollout-detailed"]
    plan = read_plan(rendered.description).plan
    assert plan is not None  # both templates the demo uses show the plan
    last = plan.environments[-1]
    shares = ", ".join(f"{step.percent:g}" for step in plan.steps if step.environment == last)
    say(
        f"A rollout issue with a plan: {', '.join(plan.environments[:-1])}, then {shares}% of {last}, "
        f"{RAMP_DEMO_WAIT_MINUTES} minutes apart, and a day's hold"
    )
    created = record("create", _line(*words), creating)
    assert created.issue.iid is not None
    if not created.created:
        say(
            f"{created.issue.reference} exists already in this sandbox: its ramp was walked before. "
            "Run `gl-rollout demo --ramp` without --sandbox-db, or with a new file, to watch it again"
        )
        return Result("demo", RampDemoOutcome(tuple(entries)))
    ref = IssueRef(project, created.issue.iid)
    reference = f"{project}#{ref.iid}"
    guarded = AdvanceOptions(incident_projects=(incident_project,), probe=probe)
    advance_line = _line("advance", reference, "--incident-project", incident_project, "--probe", PROBE_LINE)

    def step() -> AdvanceOutcome:
        outcome: AdvanceOutcome = record(
            "advance", advance_line, advance(api, ref, guarded, patience=patience)
        )
        return outcome

    say("The runner (a scheduled pipeline) runs `advance`: the first step has no wait")
    step()
    say("It runs again at once: the step just taken must stay so for the plan's wait")
    held = step()
    if held.next_at:
        say(f"held by the wait until {format_utc(_moment(held.next_at))}")
    later(RAMP_DEMO_WAIT_MINUTES)

    incident = api.create_issue(
        incident_project, {"title": INCIDENT_TITLE, "labels": INCIDENT_LABEL, "issue_type": "incident"}
    )
    say(f"Someone files an incident, {incident.reference} '{INCIDENT_TITLE}', labelled {INCIDENT_LABEL}")
    step()
    say("held by the incident: no production change while a severity 1 or 2 incident is open")
    api.update_issue(incident_project, incident.iid, {"state_event": "close"})
    say(f"The incident {incident.reference} is closed; the runner runs again")
    step()
    later(RAMP_DEMO_WAIT_MINUTES)
    step()

    later(RAMP_DEMO_WAIT_MINUTES)
    probe.fail_next()
    say("The error rate climbs: the probe answers unhealthy on the next run")
    halted = step()
    say(f"rolled back to {halted.halted or 'the step before'} and paused: no step is taken until a resume")
    later(RAMP_DEMO_WAIT_MINUTES)
    step()
    say("The cause is found and fixed; a person lets the runner go on")
    record("resume", _line("resume", reference), resume(api, ref, patience=patience))

    for _ in range(12):  # the rest of the ramp, one step a run; a bound, never reached, against a loop
        outcome = step()
        if outcome.took is None and outcome.next_step is None:
            break  # every step taken: the hold
        if outcome.took is None and outcome.next_at:
            say(f"held by the wait until {format_utc(_moment(outcome.next_at))}")
        if outcome.next_step is not None:
            later(RAMP_DEMO_WAIT_MINUTES)

    record("report", _line("report", "--project", project, "-o", str(report_path)),
           report(api, Scope(project=project), report_path))  # fmt: skip
    final = api.get_issue(ref.project, ref.iid)
    issue = DemoIssue(
        final.iid, final.reference, final.title, final.web_url, tuple(final.labels), final.description
    )
    messages = [f"the report, with the rollout's step chart: {report_path}"]
    return Result("demo", RampDemoOutcome(tuple(entries), issue, str(report_path)), messages=messages)


def _moment(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
