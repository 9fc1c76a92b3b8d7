"""The fault matrix: every command that writes, against every way GitLab (or the network) fails it.

Each cell runs the real CLI against the sandbox with one fault armed on the command's write request (or,
for "person's edit", another user editing the description right after the tool's read). A cell passes when
the command ends in success after retrying, or in a one-line error with a documented exit code, and when,
counted in the sandbox afterwards:

- no issue exists twice and no comment was posted twice;
- a person's edit is still in the description, unless the command exited 4 and said so;
- running the same command again, with no fault, finishes the job and writes nothing twice.

The outcomes are written as a Markdown table to `benchmarks/fault_matrix.md` at the end of the session;
`python benchmarks/run.py` prints it and README shows it.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gl_rollout.core.markers import NoteMarker, find_note_marker
from gl_rollout.sandbox import LoggedRequest, Sandbox
from tests.conftest import outcomes_of
from tests.helpers import CliResult, run_cli

FLAG = "product_analytics_aggregated_metrics"
TIMEOUT = 0.5  # seconds per request: small, so "slower than the timeout" costs one second
SLOW = 2 * TIMEOUT
# GitLab's request timeout as the tool is told it (GitLab's own: 60 s). A write held past the client's
# timeout lands within it; "commit N s after the client gave up" holds it N/60 of it past the timeout.
SERVER_TIMEOUT = 2.0
PERSON_LINE = "Person's edit: keep me."
MATRIX_FILE = Path(__file__).resolve().parents[2] / "benchmarks" / "fault_matrix.md"

# --- the commands -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    """A writing command: how to prepare its issue, its arguments, its write request, what success means."""

    name: str
    write: tuple[str, str]  # method and path regex of the request the fault hits
    args: Callable[[Sandbox, int | None], list[str]]
    prepare: Callable[[Sandbox], int | None]  # the issue's iid (None: the command creates it)
    done: Callable[[Sandbox, int | None], None]  # asserts the command's effect is in GitLab
    step: str | None = None  # the step the command ticks or unticks
    reads_issue: bool = True  # False: it creates the issue, so there is no issue for a person to edit


def rendered() -> dict[str, Any]:
    result = run_cli(["render", FLAG, "--json"])
    assert result.code == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)["data"]
    return data


def set_box(description: str, step: str, box: str) -> str:
    lines = description.split("\n")
    for i, line in enumerate(lines):
        if f"<!-- step:{step} -->" in line:
            lines[i] = re.sub(r"\[[ xX~]\]", box, line, count=1)
    return "\n".join(lines)


def new_issue(sb: Sandbox, ticked: tuple[str, ...] = ()) -> int:
    data = rendered()
    description = data["description"]
    for step in ticked:
        description = set_box(description, step, "[x]")
    issue = sb.create_issue(title=data["title"], description=description, labels=data["labels"])
    return int(issue["iid"])


def issue_with_enable_evidence(sb: Sandbox) -> int:
    """A rollout issue with an enable comment whose tick was lost: sync has a step to tick."""
    iid = new_issue(sb)
    marker = NoteMarker("enable", FLAG, "enable-staging", {"value": True, "envs": ["staging"]})
    body = f"Enabled `{FLAG}` on staging.\n\n{marker.to_comment()}"
    sb.add_note(sb.project_path, iid, body, author="developer")
    return iid


def box_of(sb: Sandbox, iid: int | None, step: str) -> str:
    assert iid is not None
    for line in sb.get_issue(sb.project_path, iid)["description"].splitlines():
        if f"<!-- step:{step} -->" in line:
            found = re.search(r"\[([ xX~])\]", line)
            assert found is not None
            return found.group(1)
    raise AssertionError(f"step {step} is gone from the description")


def ref(sb: Sandbox, iid: int | None) -> str:
    return f"{sb.project_path}#{iid}"


def title() -> str:
    return f"[Feature flag] Rollout of `{FLAG}`"


def created_once(sb: Sandbox, _iid: int | None) -> None:
    assert sb.count_issues(sb.project_path, title=title()) == 1


def ticked(step: str, box: str = "x") -> Callable[[Sandbox, int | None], None]:
    def check(sb: Sandbox, iid: int | None) -> None:
        assert box_of(sb, iid, step) == box, f"{step} should be [{box}]"

    return check


def commented(action: str, step: str, box: str) -> Callable[[Sandbox, int | None], None]:
    def check(sb: Sandbox, iid: int | None) -> None:
        assert iid is not None
        actions = [m.action for m in our_markers(sb, iid)]
        assert actions.count(action) == 1, f"expected one {action} comment, found {actions}"
        assert box_of(sb, iid, step) == box

    return check


NOTES = r"/issues/\d+/notes$"
ISSUE = r"/issues/\d+$"
RAMP_FLAG = "ramp_matrix"


def ramp_rollout(sb: Sandbox) -> int:
    """A project-flag rollout with a plan (staging, then production 10/50/100%), its flag inactive."""
    assert sb.url is not None
    args = ["create", RAMP_FLAG, "--project", sb.project_path, "--flag-backend", "project", "--create-flag"]
    result = run_cli(
        [*args, "--ramp", "10,50,100", "--json", "--url", sb.url],
        env={"GITLAB_TOKEN": sb.tokens["developer"]},
    )
    assert result.code == 0, result.stderr
    return int(json.loads(result.stdout)["data"]["iid"])


def advanced_once(sb: Sandbox, iid: int | None) -> None:
    """One step taken, once: one advance comment, staging ticked, the flag on in staging."""
    assert iid is not None
    steps = [m.values.get("advance") for m in our_markers(sb, iid) if m.action == "enable"]
    assert steps == ["staging-100"], f"expected one step, found {steps}"
    assert box_of(sb, iid, "enable-staging") == "x"
    assert sb.project_flags()[RAMP_FLAG]["active"] is True


PROJECT_FLAG = "project_matrix"


def project_flag_rollout(sb: Sandbox) -> int:
    """A project-flag rollout (issue 11) without a plan, its flag created inactive."""
    assert sb.url is not None
    args = [
        "create",
        PROJECT_FLAG,
        "--project",
        sb.project_path,
        "--flag-backend",
        "project",
        "--create-flag",
    ]
    result = run_cli([*args, "--json", "--url", sb.url], env={"GITLAB_TOKEN": sb.tokens["developer"]})
    assert result.code == 0, result.stderr
    return int(json.loads(result.stdout)["data"]["iid"])


def project_flag_enabled(sb: Sandbox, iid: int | None) -> None:
    """The flag on in staging, through one PUT's worth of change: one enable comment, the step ticked."""
    assert iid is not None
    actions = [m.action for m in our_markers(sb, iid)]
    assert actions.count("enable") == 1, f"expected one enable comment, found {actions}"
    assert box_of(sb, iid, "enable-staging") == "x"
    flag = sb.project_flags()[PROJECT_FLAG]
    assert flag["active"] is True
    scopes = [
        scope["environment_scope"]
        for strategy in flag["strategies"]
        if strategy["name"] == "default"
        for scope in strategy["scopes"]
    ]
    assert scopes == ["staging"], f"staging alone should be on, found {flag['strategies']}"


CREATED_FLAG = "created_matrix"


def flag_created_once(sb: Sandbox, iid: int | None) -> None:
    """One issue, one flag (inactive, pointing at the issue), one comment ticking create-flag."""
    assert iid is not None
    title = f"[Feature flag] Rollout of `{CREATED_FLAG}`"
    assert sb.count_issues(sb.project_path, title=title) == 1
    flag = sb.project_flags()[CREATED_FLAG]
    assert flag["active"] is False
    assert sb.get_issue(sb.project_path, iid)["web_url"] in flag["description"]
    actions = [m.action for m in our_markers(sb, iid)]
    assert len(actions) == 1, f"expected one comment, found {actions}"
    assert box_of(sb, iid, "create-flag") == "x"


COMMANDS = [
    Command(
        "create",
        ("POST", r"/projects/[^/]+/issues$"),
        lambda sb, _iid: ["create", FLAG, "--project", sb.project_path],
        lambda sb: None,
        created_once,
        reads_issue=False,
    ),
    Command(
        "check",
        ("PUT", ISSUE),
        lambda sb, iid: ["check", ref(sb, iid), "enable-staging"],
        new_issue,
        ticked("enable-staging"),
        "enable-staging",
    ),
    Command(
        "announce",
        ("POST", NOTES),
        lambda sb, iid: ["announce", ref(sb, iid), "--eta", "in 2h"],
        new_issue,
        commented("announce-eta", "announce-eta", "x"),
        "announce-eta",
    ),
    Command(
        "enable",
        ("POST", NOTES),
        lambda sb, iid: ["enable", ref(sb, iid), "--env", "staging"],
        new_issue,
        commented("enable", "enable-staging", "x"),
        "enable-staging",
    ),
    Command(
        "disable",
        ("POST", NOTES),
        lambda sb, iid: ["disable", ref(sb, iid), "--env", "staging"],
        lambda sb: new_issue(sb, ticked=("enable-staging",)),
        commented("disable", "enable-staging", " "),
        "enable-staging",
    ),
    Command(
        "sync",
        ("PUT", ISSUE),
        lambda sb, iid: ["sync", ref(sb, iid)],
        issue_with_enable_evidence,
        ticked("enable-staging"),
        "enable-staging",
    ),
    # A project feature flag (issue 11): the fault hits the flag's PUT, before the comment and the tick.
    Command(
        "enable (project flag)",
        ("PUT", r"/feature_flags/[^/]+$"),
        lambda sb, iid: ["enable", ref(sb, iid), "--env", "staging"],
        project_flag_rollout,
        project_flag_enabled,
        "enable-staging",
    ),
    Command(
        "create --create-flag",
        ("POST", r"/feature_flags$"),
        lambda sb, _iid: [
            "create",
            CREATED_FLAG,
            "--project",
            sb.project_path,
            "--flag-backend",
            "project",
            "--create-flag",
        ],
        lambda sb: None,
        flag_created_once,
        reads_issue=False,
    ),
    # The ramp runner (issue 15): its step's comment is the write; run again, it waits the step's wait.
    Command(
        "advance",
        ("POST", NOTES),
        lambda sb, iid: ["advance", ref(sb, iid)],
        ramp_rollout,
        advanced_once,
        "enable-staging",
    ),
]

# --- the faults ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    name: str
    arm: Callable[[Sandbox, Command, int | None], None]
    transient: bool = True  # one transient fault must end in success: the tool retries


def add_person_line(text: str) -> str:
    # A new paragraph above the steps: every step's line number moves, as when someone edits the intro.
    return text.replace("## Owners", f"{PERSON_LINE}\n\n## Owners", 1)


def person_edit(sb: Sandbox, _command: Command, iid: int | None) -> None:
    assert iid is not None
    sb.faults.edit_between_read_and_write(sb.project_path, iid, add_person_line)


def person_edit_before_write(sb: Sandbox, _command: Command, iid: int | None) -> None:
    """After every read the command makes, right before its write: the race no read can see."""
    assert iid is not None
    sb.faults.edit_before_next_write(sb.project_path, iid, add_person_line)


def commit_late(gitlab_seconds: float) -> Callable[[Sandbox, Command, int | None], None]:
    """The write is held past the client's timeout and committed `gitlab_seconds` (of GitLab's 60) later."""
    held = TIMEOUT + gitlab_seconds * SERVER_TIMEOUT / 60.0

    def arm(sb: Sandbox, command: Command, _iid: int | None) -> None:
        sb.faults.delay(*command.write, held, count=1)

    return arm


FAULTS = [
    Fault("429 + Retry-After", lambda sb, c, _i: sb.faults.fail_next(*c.write, 429, retry_after=1)),
    Fault("500", lambda sb, c, _i: sb.faults.fail_next(*c.write, 500)),
    Fault("502 after commit", lambda sb, c, _i: sb.faults.fail_next(*c.write, 502, after_commit=True)),
    Fault("503", lambda sb, c, _i: sb.faults.fail_next(*c.write, 503)),
    Fault("slower than timeout", lambda sb, c, _i: sb.faults.delay(*c.write, SLOW, count=1)),
    Fault("dropped connection", lambda sb, c, _i: sb.faults.drop_next(*c.write)),
    Fault("dropped after commit", lambda sb, c, _i: sb.faults.drop_next(*c.write, after_commit=True)),
    Fault("commit 8 s after the client gave up", commit_late(8)),
    Fault("commit 30 s after the client gave up", commit_late(30)),
    Fault("person's edit", person_edit, transient=False),
    Fault("person's edit right before the write", person_edit_before_write, transient=False),
]
PERSONS = {"person's edit", "person's edit right before the write"}

CELLS = [
    pytest.param(command, fault, id=f"{command.name}-{fault.name}")
    for command in COMMANDS
    for fault in FAULTS
    if command.reads_issue or fault.name not in PERSONS  # a command that creates the issue reads none
]
# Two `advance` processes started at the same moment (issue 15, deliverable 5), the fault armed once: it
# hits whichever runner writes first. No double step (one comment, one strategy, one tick) and no lost edit.
PAIR = "advance ×2 at once"
ADVANCE = next(command for command in COMMANDS if command.name == "advance")
PAIR_CELLS = [pytest.param(fault, id=f"advance-pair-{fault.name}") for fault in FAULTS]

# --- the table ----------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def matrix(request: pytest.FixtureRequest) -> dict[tuple[str, str], str]:
    """Cell outcomes, written as a Markdown table once the whole session ends (`tests/e2e/conftest.py`:
    under pytest-xdist each worker hands its cells to the controller, which writes the file once)."""
    return outcomes_of(request.config)


def write_if_complete(outcomes: dict[tuple[str, str], str]) -> bool:
    """Write the table when every cell ran. A partial run (`-k`, or a failed worker) leaves the last full
    table in place rather than replace it with gaps."""
    if len(outcomes) != len(CELLS) + len(PAIR_CELLS):
        return False
    MATRIX_FILE.write_text(render_table(outcomes), encoding="utf-8")
    return True


def render_table(outcomes: dict[tuple[str, str], str]) -> str:
    header = ["command", *[f.name for f in FAULTS]]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for command in COMMANDS:
        cells = []
        for fault in FAULTS:
            if not command.reads_issue and fault.name in PERSONS:
                cells.append("n/a")
            else:
                cells.append(outcomes.get((command.name, fault.name), "not run"))
        lines.append(f"| {command.name} | " + " | ".join(cells) + " |")
    pair = [outcomes.get((PAIR, fault.name), "not run") for fault in FAULTS]
    lines.append(f"| {PAIR} | " + " | ".join(pair) + " |")
    failed = sum(1 for v in outcomes.values() if v.startswith("FAILED"))
    lines += [
        "",
        f"Each cell: the first run's outcome and its HTTP requests (`--timeout {TIMEOUT}`). Then, counted "
        "in the sandbox: no duplicate issue, no duplicate comment, a person's edit kept or exit 4; and a "
        "second run with no fault finished the job writing nothing twice. "
        f"{len(outcomes)} cells run, {failed} failed.",
        "",
        "A person's edit lands right after the command's read of the issue, or after all its reads, right "
        "before its write. The late commits are scaled: the tool is told the sandbox's request timeout is "
        f"{SERVER_TIMEOUT:g} s (`GL_ROLLOUT_SERVER_TIMEOUT`; GitLab's is 60 s), and the sandbox commits "
        "8/60 or 30/60 of that after the client's timeout.",
        "",
        f"`{PAIR}`: two `advance` processes started together on one rollout, the fault armed once (it hits "
        "the runner that writes first). Each cell: both exit codes, the requests of both; then one step "
        "comment, one strategy in the flag, one tick, and a person's edit kept or an exit 4.",
    ]
    return "\n".join(lines) + "\n"


# --- the checks ---------------------------------------------------------------------------------------


def our_markers(sb: Sandbox, iid: int) -> list[NoteMarker]:
    markers = []
    for note in sb.notes(sb.project_path, iid):
        if note.get("system"):
            continue
        marker = find_note_marker(note["body"])
        if marker is not None:
            markers.append(marker)
    return markers


def no_duplicates(sb: Sandbox, iid: int | None) -> None:
    titles = Counter(
        sb.get_issue(sb.project_path, n)["title"] for n in range(1, sb.count_issues(sb.project_path) + 1)
    )
    twice = [t for t, n in titles.items() if n > 1]
    assert not twice, f"duplicate issues: {twice}"
    if iid is None:
        return
    bodies = Counter(n["body"] for n in sb.notes(sb.project_path, iid) if not n.get("system"))
    assert all(n == 1 for n in bodies.values()), "a comment was posted twice"
    keys = Counter(m.key for m in our_markers(sb, iid))
    assert all(n == 1 for n in keys.values()), f"a marker key appears twice: {keys}"


def one_line_error(result: CliResult) -> None:
    assert "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, f"expected one error line, got: {result.stderr!r}"


def run(sb: Sandbox, args: list[str]) -> tuple[CliResult, int]:
    assert sb.url is not None
    sb.clear_log()
    result = run_cli(
        [*args, "--url", sb.url, "--timeout", str(TIMEOUT)],
        env={"GITLAB_TOKEN": sb.tokens["developer"], "GL_ROLLOUT_SERVER_TIMEOUT": str(SERVER_TIMEOUT)},
    )
    return result, len(sb.request_log)


def wait_for_held_write(sb: Sandbox, command: Command) -> None:
    """The held write has been handled (its answer went nowhere): the late commit is in the sandbox."""
    method, pattern = command.write

    def handled(log: list[LoggedRequest]) -> bool:
        held = [r for r in log if r.method == method and re.search(pattern, r.path)]
        return any(r.duration >= TIMEOUT for r in held)

    if not sb.wait_for_requests(handled, timeout=10):
        raise AssertionError("the held write was never handled")


def describe(result: CliResult, requests: int, fault: Fault, edit_kept: bool | None) -> str:
    if result.code == 0:
        text = "ok"
    elif result.code == 4:
        text = "exit 4, edit reported"
    else:
        text = f"exit {result.code}"
    if fault.name in PERSONS and edit_kept is not None:
        text += ", edit kept" if edit_kept else ""
    return f"{text} · {requests} req"


@pytest.mark.parametrize(("command", "fault"), CELLS)
def test_fault_cell(
    sandbox: Sandbox, command: Command, fault: Fault, matrix: dict[tuple[str, str], str]
) -> None:
    iid = command.prepare(sandbox)
    fault.arm(sandbox, command, iid)
    cell = (command.name, fault.name)
    try:
        result, requests = run(sandbox, command.args(sandbox, iid))
        if not command.reads_issue:  # the command created the issue: the project's first
            iid = 1 if sandbox.count_issues(sandbox.project_path) else None
        if fault.name.startswith("commit "):
            wait_for_held_write(sandbox, command)
            requests = len(sandbox.request_log)  # the held write too, logged once handled
        edit_kept = None
        if fault.name in PERSONS:
            assert iid is not None
            edit_kept = PERSON_LINE in sandbox.get_issue(sandbox.project_path, iid)["description"]
        matrix[cell] = describe(result, requests, fault, edit_kept)
        assert not sandbox.faults.armed(), f"the fault never fired: {sandbox.faults.armed()}"

        assert result.code in (0, 3, 4), f"undocumented exit {result.code}: {result.output[-300:]}"
        if result.code:
            one_line_error(result)
        if fault.transient:
            assert result.code == 0, f"one transient fault should be retried: {result.stderr.strip()[-300:]}"
            command.done(sandbox, iid)
        else:
            assert edit_kept or result.code == 4, "a person's edit was lost without exit 4"
            if result.code == 0:
                command.done(sandbox, iid)
        no_duplicates(sandbox, iid)
        sandbox.faults.clear()

        again, _ = run(sandbox, command.args(sandbox, iid))
        assert again.code == 0, f"the second run failed: {again.stderr.strip()[-300:]}"
        command.done(sandbox, iid)
        no_duplicates(sandbox, iid)
    except AssertionError as exc:
        matrix[cell] = "FAILED: " + " ".join(str(exc).split())[:60].replace("|", "/")
        raise


# --- two runners at once -------------------------------------------------------------------------------


def run_pair(sb: Sandbox, args: list[str]) -> tuple[list[CliResult], int]:
    """Both runners as their own processes, started together, with the cells' timeouts."""
    import os
    import subprocess

    from tests.e2e.test_concurrency import cli_path

    assert sb.url is not None
    sb.clear_log()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": "/nonexistent",
        "GITLAB_TOKEN": sb.tokens["developer"],
        "GL_ROLLOUT_SERVER_TIMEOUT": str(SERVER_TIMEOUT),
        "NO_COLOR": "1",
    }
    command = [cli_path(), *args, "--url", sb.url, "--timeout", str(TIMEOUT)]
    started = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)
    ]
    results = []
    for process in started:
        out, err = process.communicate(timeout=120)
        results.append(CliResult(process.returncode, out.decode(), err.decode()))
    return results, len(sb.request_log)


def one_step(sb: Sandbox, iid: int) -> None:
    """The step once (`advanced_once`), and the flag changed once: one strategy serves staging."""
    advanced_once(sb, iid)
    flag = sb.project_flags()[RAMP_FLAG]
    staging = [s for s in flag["strategies"] if any(c["environment_scope"] == "staging" for c in s["scopes"])]
    assert len(staging) == 1, f"the flag was changed twice: {flag['strategies']}"


@pytest.mark.parametrize("fault", PAIR_CELLS)
def test_two_runners_at_once(sandbox: Sandbox, fault: Fault, matrix: dict[tuple[str, str], str]) -> None:
    iid = ADVANCE.prepare(sandbox)
    assert iid is not None
    fault.arm(sandbox, ADVANCE, iid)
    cell = (PAIR, fault.name)
    try:
        results, requests = run_pair(sandbox, ADVANCE.args(sandbox, iid))
        if fault.name.startswith("commit "):
            wait_for_held_write(sandbox, ADVANCE)
            requests = len(sandbox.request_log)
        edit_kept = PERSON_LINE in sandbox.get_issue(sandbox.project_path, iid)["description"]
        codes = sorted(result.code for result in results)
        text = " + ".join("ok" if code == 0 else f"exit {code}" for code in codes)
        if fault.name in PERSONS and edit_kept:
            text += ", edit kept"
        matrix[cell] = f"{text} · {requests} req"
        assert not sandbox.faults.armed(), f"the fault never fired: {sandbox.faults.armed()}"
        for result in results:
            assert result.code in (0, 3, 4), f"undocumented exit {result.code}: {result.output[-300:]}"
            if result.code:
                one_line_error(result)
        if fault.transient:
            # one took the step; the other was held by its wait (0) or lost the claim (4)
            assert codes in ([0, 0], [0, 4]), [r.stderr.strip()[-300:] for r in results]
            one_step(sandbox, iid)
        else:
            assert edit_kept or 4 in codes, "a person's edit was lost without exit 4"
            if 0 in codes:
                one_step(sandbox, iid)
        no_duplicates(sandbox, iid)
        sandbox.faults.clear()

        again, _ = run(sandbox, ADVANCE.args(sandbox, iid))
        assert again.code == 0, f"the run after them failed: {again.stderr.strip()[-300:]}"
        one_step(sandbox, iid)
        no_duplicates(sandbox, iid)
    except AssertionError as exc:
        matrix[cell] = "FAILED: " + " ".join(str(exc).split())[:60].replace("|", "/")
        raise
