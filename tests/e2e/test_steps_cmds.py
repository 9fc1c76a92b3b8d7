"""`status --file` and `check --file`, run through the real CLI in-process (tests.helpers.run_cli)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.helpers import run_cli

DATA = Path(__file__).resolve().parents[1] / "data" / "checklists"
ISSUE = DATA / "rollout-issue.md"


@pytest.fixture
def issue(tmp_path: Path) -> Path:
    """A copy of the 11-step rollout issue that a test may change."""
    path = tmp_path / "issue.md"
    shutil.copyfile(ISSUE, path)
    return path


def changed_lines(before: bytes, after: bytes) -> list[tuple[bytes, bytes]]:
    old, new = before.splitlines(keepends=True), after.splitlines(keepends=True)
    assert len(old) == len(new)
    return [(a, b) for a, b in zip(old, new, strict=True) if a != b]


# --- status ---------------------------------------------------------------------------------------


def test_status_lists_the_steps_and_the_progress() -> None:
    result = run_cli(["status", "--file", str(ISSUE)])
    assert result.code == 0, result.stderr
    assert "0 of 11 checklist items completed" in result.stdout
    assert "next: enable-staging" in result.stdout
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["#", "ID", "STATE", "TEXT", "SECTION"]
    rows = [line.split()[:3] for line in lines[1 : lines.index("")]]
    assert rows[0] == ["1", "enable-staging", "todo"]
    assert [row[1] for row in rows][-1] == "cleanup"
    assert len(rows) == 11


def test_status_json_is_one_envelope_with_the_documented_keys() -> None:
    result = run_cli(["status", "--file", str(DATA / "nested.md"), "--json"])
    assert result.code == 0
    envelope = json.loads(result.stdout)
    assert envelope["command"] == "status"
    assert envelope["ok"] is True
    data = envelope["data"]
    assert {"steps", "done", "total", "skipped", "next"} <= set(data)
    assert (data["done"], data["total"], data["skipped"], data["next"]) == (2, 9, 1, "parent-box")
    assert set(data["steps"][0]) == {"id", "text", "state", "line", "section", "depth"}
    assert data["steps"][1] == {
        "id": "child-box",
        "text": "child box",
        "state": "done",
        "line": 4,
        "section": "Nested lists",
        "depth": 1,
    }


def test_status_reads_standard_input() -> None:
    result = run_cli(["status", "--file", "-"], stdin=(DATA / "legacy-wording.md").read_bytes())
    assert result.code == 0
    assert "2 of 11 checklist items completed" in result.stdout
    assert "next: docs-updated" in result.stdout


def test_status_of_a_description_without_boxes() -> None:
    result = run_cli(["status", "--file", "-", "--json"], stdin=b"# Notes\n\n- a plain list\n")
    data = json.loads(result.stdout)["data"]
    assert (result.code, data["steps"], data["total"], data["next"]) == (0, [], 0, None)
    assert "no checklist items" in run_cli(["status", "-f", "-"], stdin=b"text\n").stdout


def test_status_says_so_when_every_step_is_done_or_skipped(tmp_path: Path) -> None:
    path = tmp_path / "d.md"
    path.write_text("- [x] one\n- [~] two\n", encoding="utf-8")
    result = run_cli(["status", "--file", str(path)])
    assert "1 of 1 checklist item completed" in result.stdout
    assert "next: none" in result.stdout


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        (b"- [ ] caf\xe9\n", "not UTF-8"),
        (b"- [ ] a\x00b\n", "binary"),
    ],
)
def test_status_of_unreadable_input_is_one_line_and_exit_2(
    tmp_path: Path, content: bytes | None, message: str
) -> None:
    path = tmp_path / "description.md"
    if content is not None:
        path.write_bytes(content)
    result = run_cli(["status", "--file", str(path)])
    assert result.code == 2
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
    assert message in result.stderr


def test_status_without_a_file_is_a_usage_error() -> None:
    result = run_cli(["status"])
    assert result.code == 2
    assert "--file" in result.stderr


# --- check ----------------------------------------------------------------------------------------


def test_check_in_place_changes_exactly_one_line(issue: Path) -> None:
    before = issue.read_bytes()
    result = run_cli(["check", "--file", str(issue), "enable-staging", "--in-place"])
    assert result.code == 0, result.stderr
    assert changed_lines(before, issue.read_bytes()) == [
        (
            b"- [ ] Switch it on in staging <!-- step:enable-staging -->\n",
            b"- [x] Switch it on in staging <!-- step:enable-staging -->\n",
        )
    ]
    assert "enable-staging: todo -> done" in result.stdout
    assert "1 of 11 checklist items completed" in result.stdout


def test_check_again_is_nothing_to_do_and_leaves_the_file_alone(issue: Path) -> None:
    assert run_cli(["check", "-f", str(issue), "enable-staging", "-i"]).code == 0
    stamp, before = issue.stat().st_mtime_ns, issue.read_bytes()
    result = run_cli(["check", "-f", str(issue), "enable-staging", "-i"])
    assert result.code == 0
    assert "nothing to do" in result.stdout
    assert (issue.stat().st_mtime_ns, issue.read_bytes()) == (stamp, before)


def test_check_prints_the_new_text_and_leaves_the_file_alone(issue: Path) -> None:
    before = issue.read_text(encoding="utf-8")
    result = run_cli(["check", "--file", str(issue), "2", "docs"])
    assert result.code == 0
    assert issue.read_text(encoding="utf-8") == before
    expected = before.replace("- [ ] Try it out", "- [x] Try it out").replace("- [ ] Docs", "- [x] Docs")
    assert result.stdout == expected
    assert "2 of 11 checklist items completed" in result.stderr


def test_check_keeps_crlf_and_every_other_byte(tmp_path: Path) -> None:
    path = tmp_path / "crlf.md"
    original = "## Étapes\r\n\r\n- [ ] Enable on staging  \r\n* [X] Test on staging\t\r\n- [ ] last"
    path.write_bytes(original.encode("utf-8"))
    result = run_cli(["check", "-f", str(path), "test-staging", "--undo", "-i"])
    assert result.code == 0
    assert path.read_bytes() == original.replace("* [X]", "* [ ]").encode("utf-8")
    result = run_cli(["check", "-f", str(path), "enable-staging", "--skip", "-i"])
    assert (
        path.read_bytes()
        == original.replace("* [X]", "* [ ]").replace("- [ ] Enable", "- [~] Enable").encode()
    )


def test_check_dry_run_prints_a_diff_and_writes_nothing(issue: Path) -> None:
    before = issue.read_bytes()
    result = run_cli(["check", "-f", str(issue), "cleanup", "--in-place", "--dry-run"])
    assert result.code == 0
    assert issue.read_bytes() == before
    assert f"--- {issue}" in result.stdout
    assert "-- [ ] Delete the flag from every environment <!-- step:cleanup -->" in result.stdout
    assert "+- [x] Delete the flag from every environment <!-- step:cleanup -->" in result.stdout
    assert "nothing written" in result.stderr


def test_check_json_reports_changed_and_unchanged(issue: Path) -> None:
    run_cli(["check", "-f", str(issue), "coordinate", "-i"])
    result = run_cli(["check", "-f", str(issue), "coordinate", "announce-eta", "-i", "--json"])
    envelope = json.loads(result.stdout)
    assert (result.code, envelope["command"], envelope["ok"]) == (0, "check", True)
    data = envelope["data"]
    assert (data["changed"], data["unchanged"]) == (["announce-eta"], ["coordinate"])
    assert (data["done"], data["total"], data["next"], data["written"]) == (2, 11, "enable-staging", True)


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        ("no-such-step", 'step "no-such-step" not found; steps: enable-staging'),
        ("switch it on", 'step "switch it on" is ambiguous: enable-staging, enable-beta, enable-production'),
        ("42", "no step at position 42"),
    ],
)
def test_check_with_a_bad_step_exits_5_and_writes_nothing(issue: Path, selector: str, message: str) -> None:
    before = issue.read_bytes()
    result = run_cli(["check", "-f", str(issue), "enable-staging", selector, "-i"])
    assert result.code == 5
    assert issue.read_bytes() == before
    assert len(result.stderr.splitlines()) == 1
    assert message in result.stderr


def test_check_of_missing_or_non_utf8_files_exits_2(tmp_path: Path) -> None:
    missing = run_cli(["check", "-f", str(tmp_path / "nope.md"), "1", "-i"])
    assert (missing.code, len(missing.stderr.splitlines())) == (2, 1)
    assert not (tmp_path / "nope.md").exists()
    latin1 = tmp_path / "latin1.md"
    latin1.write_bytes(b"- [ ] \xe9t\xe9\n")
    bad = run_cli(["check", "-f", str(latin1), "1", "-i"])
    assert (bad.code, len(bad.stderr.splitlines())) == (2, 1)
    assert latin1.read_bytes() == b"- [ ] \xe9t\xe9\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--undo", "--skip"], "cannot be used together"),
        (["--file", "-", "--in-place"], "--in-place needs a file"),
    ],
)
def test_check_usage_errors_exit_2(issue: Path, args: list[str], message: str) -> None:
    before = issue.read_bytes()
    argv = ["check", "enable-staging", *args]
    if "--file" not in args:
        argv += ["--file", str(issue)]
    result = run_cli(argv, stdin=before)
    assert result.code == 2
    assert message in result.stderr
    assert issue.read_bytes() == before


def test_check_reads_standard_input_and_prints_the_result() -> None:
    result = run_cli(["check", "-f", "-", "enable-beta", "--skip"], stdin=ISSUE.read_bytes())
    assert result.code == 0
    assert "- [~] Switch it on for the early-access groups" in result.stdout
    assert "0 of 10 checklist items completed" in result.stderr


def test_require_on_a_file_hints_the_file_form_of_check(tmp_path: Path) -> None:
    """The gate's hint for `status --file` must tick the file, not treat its path as an issue."""
    path = tmp_path / "rollout.md"
    path.write_text(
        "- [ ] Enable on staging <!-- step:enable-staging -->\n- [ ] Test <!-- step:test-staging -->\n",
        encoding="utf-8",
    )
    done = run_cli(
        ["status", "--file", str(path), "--require", "enable-staging", "--require", "test-staging"]
    )
    assert done.code == 6
    error = done.stderr.strip().splitlines()[-1]
    assert f"`gl-rollout check --file {path} enable-staging test-staging --in-place`" in error
    piped = run_cli(["status", "--file", "-", "--require", "1"], stdin=path.read_bytes())
    assert "`gl-rollout check --file - enable-staging`" in piped.stderr
