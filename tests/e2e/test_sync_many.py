"""`gl-rollout sync --project P | --group G` against the sandbox: many issues, a state file, failures."""

from __future__ import annotations

import contextlib
import io
import json
import threading
from pathlib import Path
from typing import Any

import pytest

from gl_rollout.cli import invoke
from gl_rollout.cli.printer import Printer
from gl_rollout.cli.sync_cmds import progress_bar
from gl_rollout.core.checklist import apply_step_states
from gl_rollout.errors import ExitCode
from gl_rollout.render.issue import RenderOptions, render_issue
from gl_rollout.sandbox import Sandbox
from gl_rollout.workflows.pool import run_bounded
from gl_rollout.workflows.sync_many import worst_exit_code
from tests.e2e.test_sync import add_marker, labels_of, ref, seed_rollout, set_feature, steps_of, sync, writes


def listing_requests(sb: Sandbox) -> list[str]:
    return [r.path for r in sb.request_log if r.method == "GET" and r.path.endswith("/issues")]


def notes_reads(sb: Sandbox) -> list[str]:
    return [r.path for r in sb.request_log if r.method == "GET" and r.path.endswith("/notes")]


def test_group_sync_covers_every_project_and_only_rollout_issues(sandbox: Sandbox) -> None:
    rollout = seed_rollout(sandbox, "search_box")
    website = seed_rollout(sandbox, "new_footer", project=sandbox.second_project_path)
    rendered = render_issue(RenderOptions(flag="hidden_flag"))
    without_label = rendered.description.replace('/label ~"feature flag"', "")
    unlabelled = sandbox.create_issue(None, title=rendered.title, description=without_label)
    bug = sandbox.create_issue(None, title="Flag bug", description="- [ ] fix it\n", labels=["feature flag"])
    for issue, flag in ((rollout, "search_box"), (website, "new_footer"), (unlabelled, "hidden_flag")):
        add_marker(sandbox, issue, "enable", "enable-staging", flag, envs=["staging"], value=True)
    sandbox.clear_log()

    result = sync(sandbox, "--group", "acme", "--json")

    assert result.code == 0, result.output
    data = json.loads(result.stdout)["data"]
    assert sorted(entry["reference"] for entry in data["issues"]) == sorted([ref(rollout), ref(website)])
    assert all(entry["ticked"] == ["enable-staging"] for entry in data["issues"])
    assert steps_of(sandbox, website)["enable-staging"] == "done"
    assert "rollout::staging" in labels_of(sandbox, website)
    # Not labelled "feature flag", or not a rollout: never touched.
    assert steps_of(sandbox, unlabelled)["enable-staging"] == "todo"
    touched = {w.split("/issues/")[1] for w in writes(sandbox)}
    assert str(bug["iid"]) not in touched
    assert str(unlabelled["iid"]) not in touched
    assert len(listing_requests(sandbox)) == 1


def test_human_output_is_a_summary_table_and_json_file_keeps_the_envelope(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    issue = seed_rollout(sandbox, "search_box")
    add_marker(sandbox, issue, "enable", "enable-staging", "search_box", envs=["staging"], value=True)
    artifact = tmp_path / "rollout-sync.json"

    result = sync(sandbox, "--project", sandbox.project_path, "--json-file", str(artifact))

    assert result.code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["issue", "flag", "stage", "done", "changes", "status"]
    assert lines[1].split() == [
        ref(issue),
        "search_box",
        "staging",
        "1/11",
        "+enable-staging",
        "label",
        "rollout::staging",
        "updated",
    ]
    assert lines[-1] == "1 rollout issue: 1 updated"
    assert "\x1b[" not in result.output
    envelope = json.loads(artifact.read_text(encoding="utf-8"))
    assert (envelope["command"], envelope["ok"]) == ("sync", True)
    assert [e["reference"] for e in envelope["data"]["issues"]] == [ref(issue)]


def test_state_file_skips_issues_not_updated_since_the_last_sync(sandbox: Sandbox, tmp_path: Path) -> None:
    issues = [
        seed_rollout(sandbox, f"flag_{n}", labels=("feature flag", "rollout::planned")) for n in range(105)
    ]
    state = tmp_path / "sync-state.json"
    first = sync(sandbox, "--project", sandbox.project_path, "--state", str(state))
    assert first.code == 0, first.output
    assert len(json.loads(state.read_text(encoding="utf-8"))["issues"]) == 105
    sandbox.clear_log()

    repeat = sync(sandbox, "--project", sandbox.project_path, "--state", str(state), "--json")

    assert repeat.code == 0, repeat.output
    assert len(sandbox.request_log) == 2  # ceil(105 / 100) list pages, nothing else
    assert len(listing_requests(sandbox)) == 2
    statuses = {e["status"] for e in json.loads(repeat.stdout)["data"]["issues"]}
    assert statuses == {"unchanged-since-last-sync"}

    changed = issues[40]
    add_marker(sandbox, changed, "announce-eta", "announce-eta", "flag_40", eta="2026-12-01T14:00:00Z")
    sandbox.clear_log()

    third = sync(sandbox, "--project", sandbox.project_path, "--state", str(state), "--json")

    assert third.code == 0, third.output
    assert notes_reads(sandbox)[0].endswith(f"/issues/{changed['iid']}/notes")
    assert {p.split("/issues/")[1] for p in notes_reads(sandbox)} == {f"{changed['iid']}/notes"}
    assert steps_of(sandbox, changed)["announce-eta"] == "done"
    # Our own write moved updated_at; the state remembers the new value, so a fourth run reads nothing.
    sandbox.clear_log()
    assert sync(sandbox, "--project", sandbox.project_path, "--state", str(state)).code == 0
    assert notes_reads(sandbox) == []


def test_a_failing_issue_leaves_the_others_synced_and_the_exit_code_says_so(sandbox: Sandbox) -> None:
    issues = [seed_rollout(sandbox, f"flag_{n}") for n in range(3)]
    for n, issue in enumerate(issues):
        add_marker(sandbox, issue, "enable", "enable-staging", f"flag_{n}", envs=["staging"], value=True)
    broken = issues[1]
    # Every attempt (the adapter retries 5xx) at this issue's notes fails; Retry-After 0 keeps the test quick.
    sandbox.faults.fail_next("GET", rf"/issues/{broken['iid']}/notes$", 503, count=10, retry_after=0)

    result = sync(sandbox, "--project", sandbox.project_path, "--json")

    assert result.code == int(ExitCode.GITLAB), result.output
    envelope = json.loads(result.stdout)
    assert envelope["ok"] is False
    assert envelope["error"]["code"] == 3
    entries = {e["reference"]: e for e in envelope["data"]["issues"]}
    assert entries[ref(broken)]["status"] == "failed"
    assert "503" in entries[ref(broken)]["error"] or "unavailable" in entries[ref(broken)]["error"].lower()
    for other in (issues[0], issues[2]):
        assert entries[ref(other)]["status"] == "updated"
        assert steps_of(sandbox, other)["enable-staging"] == "done"
    assert steps_of(sandbox, broken)["enable-staging"] == "todo"


def test_a_conflicting_edit_is_reported_with_exit_4(sandbox: Sandbox) -> None:
    calm = seed_rollout(sandbox, "calm_flag")
    busy = seed_rollout(sandbox, "busy_flag")
    for issue, flag in ((calm, "calm_flag"), (busy, "busy_flag")):
        add_marker(sandbox, issue, "enable", "enable-staging", flag, envs=["staging"], value=True)
    # Alice edits busy's description last; after sync's last read she edits once more, right before
    # its write, and sync's write lands on top of her second edit.
    text = sandbox.get_issue(None, busy["iid"])["description"]
    sandbox.edit_issue(None, busy["iid"], author="alice", description=text + "\nFirst edit.\n")
    sandbox.faults.edit_before_next_write(
        sandbox.project_path, busy["iid"], lambda current: current + "\nSecond edit.\n"
    )

    result = sync(sandbox, "--project", sandbox.project_path, "--json")

    assert result.code == int(ExitCode.CONFLICT), result.output
    entries = {e["reference"]: e for e in json.loads(result.stdout)["data"]["issues"]}
    assert entries[ref(busy)]["status"] == "failed"
    assert entries[ref(busy)]["exit_code"] == 4
    assert "alice" in entries[ref(busy)]["error"]
    assert entries[ref(calm)]["status"] == "updated"


def test_dry_run_over_many_writes_nothing_and_keeps_no_state(sandbox: Sandbox, tmp_path: Path) -> None:
    issue = seed_rollout(sandbox, "search_box")
    add_marker(sandbox, issue, "enable", "enable-staging", "search_box", envs=["staging"], value=True)
    state = tmp_path / "state.json"
    sandbox.clear_log()

    result = sync(sandbox, "--project", sandbox.project_path, "--dry-run", "--state", str(state), "--json")

    assert result.code == 0, result.output
    assert json.loads(result.stdout)["data"]["issues"][0]["status"] == "would-update"
    assert writes(sandbox) == []
    assert not state.exists()


def test_usage_errors(sandbox: Sandbox) -> None:
    both = sync(sandbox, "--project", sandbox.project_path, "--group", "acme")
    assert both.code == 2
    ref_and_group = sync(sandbox, "acme/platform/rollouts#1", "--group", "acme")
    assert ref_and_group.code == 2
    too_many = sync(sandbox, "--project", sandbox.project_path, "--concurrency", "9")
    assert too_many.code == 2


def test_run_bounded_keeps_listing_and_work_within_the_limit() -> None:
    limit = 8
    active = 0
    lock = threading.Lock()
    # All 8 slots must be usable at once: each task waits until 8 are running together.
    together = threading.Barrier(limit, timeout=30)
    seen_by_listing: list[int] = []

    def items() -> Any:
        for n in range(40):
            with lock:
                seen_by_listing.append(active)  # a worker lists: at most 7 others are working
            yield n

    def work(n: int) -> int:
        nonlocal active
        with lock:
            active += 1
        try:
            if n < limit:
                together.wait()
            return n * n
        finally:
            with lock:
                active -= 1

    results: dict[int, int] = {}
    listed = run_bounded(items(), work, concurrency=limit, on_done=results.__setitem__)

    assert listed == 40
    assert results == {n: n * n for n in range(40)}
    assert max(seen_by_listing) <= limit - 1


def test_run_bounded_finishes_what_was_listed_then_raises_the_listing_error() -> None:
    def items() -> Any:
        yield from range(150)
        raise RuntimeError("page 3 failed")

    done: dict[int, int] = {}
    with pytest.raises(RuntimeError, match="page 3 failed"):
        run_bounded(items(), lambda n: n, concurrency=8, on_done=done.__setitem__, page=50)
    assert sorted(done) == list(range(150))


@pytest.mark.parametrize(
    ("codes", "worst"),
    [
        ([3, 4], ExitCode.GITLAB),
        ([4, 4], ExitCode.CONFLICT),
        ([4, 1, 3], ExitCode.UNEXPECTED),
        ([5], ExitCode.STEP),
    ],
)
def test_worst_exit_code(codes: list[int], worst: ExitCode) -> None:
    assert worst_exit_code(codes) == worst


def test_strict_group_sync_sets_unproven_ticks_back(sandbox: Sandbox) -> None:
    issue = seed_rollout(sandbox, "search_box", done=["enable-staging", "test-staging"])
    desc = sandbox.get_issue(None, issue["iid"])["description"]
    untick, _ = apply_step_states(desc, ["test-staging"], "todo")
    sandbox.edit_issue(None, issue["iid"], author="alice", description=untick)
    sandbox.edit_issue(None, issue["iid"], author="alice", description=desc)  # alice ticked test-staging

    result = sync(sandbox, "--group", "acme", "--strict", "--json")

    assert result.code == 0, result.output
    entry: dict[str, Any] = json.loads(result.stdout)["data"]["issues"][0]
    assert entry["unticked"] == ["enable-staging"]
    steps = steps_of(sandbox, issue)
    assert (steps["enable-staging"], steps["test-staging"]) == ("todo", "done")


class _Terminal(io.StringIO):
    """A stream that says it is a terminal, as stderr does in an interactive shell."""

    def isatty(self) -> bool:
        return True


def test_progress_bar_only_on_a_terminal_and_never_under_no_color() -> None:
    with progress_bar(Printer(err=io.StringIO()), {}) as update:
        assert update is None  # a pipe or a CI log gets no bar

    terminal = _Terminal()
    with progress_bar(Printer(err=terminal), {}) as update:
        assert update is not None
        update(3, 10, True)
    assert "3/10" in terminal.getvalue()

    plain = _Terminal()
    with progress_bar(Printer(err=plain), {"NO_COLOR": "1"}) as update:
        assert update is None
    assert plain.getvalue() == ""


def sync_on_a_terminal(sb: Sandbox, *args: str, **env: str) -> tuple[int, str, str]:
    """The real CLI with stderr a terminal, as in an interactive shell (stdout piped)."""
    out, err = io.StringIO(), _Terminal()
    full_env = {"GITLAB_URL": str(sb.url), "GITLAB_TOKEN": sb.tokens["developer"], **env}
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = invoke(["sync", *args], env=full_env)
    return code, out.getvalue(), err.getvalue()


def test_no_color_on_a_terminal_gets_no_escape_sequences_at_all(sandbox: Sandbox) -> None:
    for n in range(3):
        seed_rollout(sandbox, f"flag_{n}")

    code, _, drawn = sync_on_a_terminal(sandbox, "--project", sandbox.project_path, "--dry-run")
    assert code == 0
    assert "\x1b[" in drawn  # without NO_COLOR the terminal gets the bar (cursor control included)

    code, out, err = sync_on_a_terminal(sandbox, "--project", sandbox.project_path, "--dry-run", NO_COLOR="1")

    assert code == 0
    assert "\x1b" not in out + err  # no colour, and no cursor hiding or line clearing either
    assert out.splitlines()[-1] == "3 rollout issues: 3 would update (dry run: nothing written)"


@pytest.mark.parametrize("bad", ["missing folder", "directory", "symlink out of its folder"])
def test_a_bad_state_path_is_refused_before_any_request(sandbox: Sandbox, tmp_path: Path, bad: str) -> None:
    issue = seed_rollout(sandbox, "search_box")
    add_marker(sandbox, issue, "enable", "enable-staging", "search_box", envs=["staging"], value=True)
    inside, outside = tmp_path / "ci", tmp_path / "elsewhere"
    inside.mkdir()
    outside.mkdir()
    if bad == "missing folder":
        path = tmp_path / "no-such-folder" / "state.json"
    elif bad == "directory":
        path = inside
    else:
        path = inside / "state.json"
        path.symlink_to(outside / "state.json")
    sandbox.clear_log()

    result = sync(sandbox, "--project", sandbox.project_path, "--state", str(path))

    assert result.code == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("error: ")
    assert sandbox.request_log == []
    assert steps_of(sandbox, issue)["enable-staging"] == "todo"
    assert list(outside.iterdir()) == []
    assert not (tmp_path / "no-such-folder").exists()


def test_a_file_that_is_not_a_sync_state_is_refused_and_kept(sandbox: Sandbox, tmp_path: Path) -> None:
    seed_rollout(sandbox, "search_box")
    notes = tmp_path / "rollout.md"
    notes.write_text("# my notes\n", encoding="utf-8")
    other_json = tmp_path / "package.json"
    other_json.write_text('{"name": "x"}\n', encoding="utf-8")
    sandbox.clear_log()

    for path in (notes, other_json):
        result = sync(sandbox, "--project", sandbox.project_path, "--state", str(path))

        assert result.code == 2
        assert f"error: {path} is not a gl-rollout sync state file" in result.stderr
        assert "delete" not in result.stderr
    assert sandbox.request_log == []
    assert notes.read_text(encoding="utf-8") == "# my notes\n"
    assert other_json.read_text(encoding="utf-8") == '{"name": "x"}\n'


def test_the_summary_speaks_plain_words(sandbox: Sandbox, tmp_path: Path) -> None:
    for n in range(2):
        seed_rollout(sandbox, f"flag_{n}", labels=("feature flag", "rollout::planned"))
    sandbox.create_issue(None, title="Flag bug", description="- [ ] fix it\n", labels=["feature flag"])
    state = tmp_path / "state.json"
    state.write_text("", encoding="utf-8")  # an empty file is an empty state, as `touch` leaves it
    assert sync(sandbox, "--project", sandbox.project_path, "--state", str(state)).code == 0

    again = sync(sandbox, "--project", sandbox.project_path, "--state", str(state))

    assert again.code == 0, again.output
    assert again.stdout.splitlines()[-1] == (
        "2 rollout issues: 2 unchanged since last sync; 1 other listed issue without rollout steps"
    )


def test_features_api_is_read_once_and_changed_gates_defeat_the_state_file(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    on = seed_rollout(sandbox, "flag_on", labels=("feature flag", "rollout::planned"))
    later = seed_rollout(sandbox, "flag_later", labels=("feature flag", "rollout::planned"))
    set_feature(sandbox, "flag_on", value="true")
    state = tmp_path / "state.json"
    args = ["--group", "acme", "--state", str(state), "--features-url", str(sandbox.url)]
    admin = {"GITLAB_ADMIN_TOKEN": sandbox.tokens["admin"]}
    sandbox.clear_log()

    first = sync(sandbox, *args, **admin)

    assert first.code == 0, first.output
    assert [r.path for r in sandbox.request_log if "/features" in r.path] == ["/api/v4/features"]
    assert steps_of(sandbox, on)["enable-production"] == "done"
    assert steps_of(sandbox, later)["enable-production"] == "todo"

    # Nobody touched flag_later's issue, but its flag went fully on: the state file must not hide it.
    set_feature(sandbox, "flag_later", value="true")
    sandbox.clear_log()

    second = sync(sandbox, *args, **admin)

    assert second.code == 0, second.output
    assert {p.split("/issues/")[1] for p in notes_reads(sandbox)} == {f"{later['iid']}/notes"}
    assert steps_of(sandbox, later)["enable-production"] == "done"
    assert "rollout::production" in labels_of(sandbox, later)
