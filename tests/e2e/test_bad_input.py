"""The bad-input corpus: every way a user can hand the tool something wrong, and what they must get back.

Each row is one command line. The tool must answer with exactly one line on stderr (`error: ...`, no
traceback), the documented exit code, and must write nothing: the files in the working folder stay
byte-for-byte the same and the sandbox holds no new issue, comment or description change.

Fixtures live in `tests/data/bad/`; each test copies them into its own folder, so a write would show.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gl_rollout.sandbox import Sandbox
from tests.helpers import CliResult, run_cli

BAD = Path(__file__).resolve().parents[1] / "data" / "bad"
FLAG = "product_analytics_aggregated_metrics"


@dataclass(frozen=True)
class Bad:
    """One bad command line and what it must get back.

    In `args`, `{dir}` is the test's folder (the fixtures and `seed.md`), `{ref}` a rollout issue in the
    sandbox, `{project}` its project. `as_` picks the credential: developer, none, job, reporter or wrong.
    """

    id: str
    code: int
    says: str  # a phrase the one-line error must contain (case-insensitive)
    args: tuple[str, ...]
    as_: str = "developer"


def bad(id_: str, code: int, says: str, *args: str, as_: str = "developer") -> Bad:
    return Bad(id_, code, says, args, as_)


SEED = "{dir}/seed.md"
NAME = "invalid feature flag name"

# fmt: off
OFFLINE = [
    # flag names, bad and borderline-bad
    bad("flag-space-and-bang", 2, NAME, "render", "Bad Flag!"),
    bad("flag-double-underscore", 2, NAME, "render", "a__b"),
    bad("flag-leading-underscore", 2, NAME, "render", "_flag"),
    bad("flag-trailing-underscore", 2, NAME, "render", "flag_"),
    bad("flag-dot", 2, NAME, "render", "my.flag"),
    bad("flag-non-ascii", 2, NAME, "render", "fläg"),
    bad("flag-empty", 2, "flag", "render", ""),
    bad("flag-too-long-for-a-title", 2, "255", "render", "a" * 300),
    # steps
    bad("step-unknown", 5, "not found", "check", "--file", SEED, "no-such-step"),
    bad("step-ambiguous", 5, "ambiguous", "check", "--file", SEED, "staging"),
    bad("step-position-zero", 5, "position 0", "check", "--file", SEED, "0"),
    bad("step-position-past-end", 5, "position 12", "check", "--file", SEED, "12"),
    bad("step-typo", 5, 'step "enable-stagng" not found; did you mean enable-staging?',
        "check", "--file", SEED, "enable-stagng"),
    bad("require-typo", 5, "did you mean enable-production?",
        "status", "--file", SEED, "--require", "enable-prodution"),
    bad("require-not-done", 6, "required step not done", "status", "--file", SEED, "--require", "1"),
    bad("option-typo", 2, "no such option --requre; did you mean --require?",
        "status", "--file", SEED, "--requre", "1"),
    bad("global-option-typo", 2, "did you mean --sandbox or --sandbox-db?",
        "status", "--file", SEED, "--sandbx"),
    bad("command-typo", 2, "no such command 'statsu'; did you mean status?", "statsu", "--file", SEED),
    bad("debug-unknown-level", 2, "--debug=body", "--debug=everything", "templates"),
    bad("step-in-empty-file", 5, "no checklist", "check", "--file", "{dir}/empty.md", "enable-staging"),
    bad("check-undo-and-skip", 2, "--undo", "check", "--file", SEED, "1", "--undo", "--skip"),
    bad("check-in-place-stdin", 2, "--in-place", "check", "--file", "-", "1", "--in-place"),
    # flag definition YAML
    bad("definition-wrong-types", 2, "default_enabled",
        "render", "--definition", "{dir}/definition-wrong-types.yml"),
    bad("definition-nested-types", 2, "definition-nested-types.yml:",
        "render", "--definition", "{dir}/definition-nested-types.yml"),
    bad("definition-unquoted-milestone", 2, "milestone",
        "render", "--definition", "{dir}/definition-unquoted-milestone.yml"),
    bad("definition-unknown-type", 2, "type", "render", "--definition", "{dir}/definition-unknown-type.yml"),
    bad("definition-malformed", 2, "YAML", "render", "--definition", "{dir}/definition-malformed.yml"),
    bad("definition-a-list", 2, "mapping", "render", "--definition", "{dir}/definition-list.yml"),
    bad("definition-empty", 2, "empty", "render", "--definition", "{dir}/definition-empty.yml"),
    bad("definition-bad-name", 2, NAME, "render", "--definition", "{dir}/definition-bad-name.yml"),
    bad("definition-missing", 2, "nowhere.yml", "render", "--definition", "{dir}/nowhere.yml"),
    bad("definition-not-utf8", 2, "UTF-8", "render", "--definition", "{dir}/latin1.md"),
    # templates: syntax, undefined variables, attempts to leave the sandbox
    bad("template-syntax-error", 2, "syntax-error.md.j2:2",
        "render", FLAG, "--template", "{dir}/syntax-error.md.j2"),
    bad("template-undefined-variable", 2, "not_a_variable",
        "render", FLAG, "--template", "{dir}/undefined-variable.md.j2"),
    bad("template-escape-subclasses", 2, "escape-subclasses.md.j2:1",
        "render", FLAG, "--template", "{dir}/escape-subclasses.md.j2"),
    bad("template-escape-globals", 2, "escape-globals.md.j2:1",
        "render", FLAG, "--template", "{dir}/escape-globals.md.j2"),
    bad("template-escape-self", 2, "escape-self.md.j2:1",
        "render", FLAG, "--template", "{dir}/escape-self.md.j2"),
    bad("template-include-absolute", 2, "/etc/passwd",
        "render", FLAG, "--template", "{dir}/include-absolute.md.j2"),
    bad("template-include-parent", 2, "etc/passwd",
        "render", FLAG, "--template", "{dir}/include-parent.md.j2"),
    bad("template-missing", 2, "nowhere.md.j2", "render", FLAG, "--template", "{dir}/nowhere.md.j2"),
    bad("template-is-a-folder", 2, "directory", "render", FLAG, "--template", "{dir}"),
    bad("template-unknown-name", 2, "rollout-deluxe", "render", FLAG, "--template", "rollout-deluxe"),
    bad("description-over-1-mib", 2, "1048576",
        "render", FLAG, "--template", "{dir}/huge-description.md.j2"),
    # input files
    bad("file-not-utf8", 2, "not UTF-8", "status", "--file", "{dir}/latin1.md"),
    bad("file-binary", 2, "binary", "status", "--file", "{dir}/binary.md"),
    bad("file-missing", 2, "nowhere.md", "status", "--file", "{dir}/nowhere.md"),
    bad("file-is-a-folder", 2, "directory", "status", "--file", "{dir}"),
    bad("file-not-utf8-in-place", 2, "UTF-8", "check", "--file", "{dir}/latin1.md", "1", "--in-place"),
    # option values
    bad("ramp-out-of-range", 2, "--ramp", "render", FLAG, "--ramp", "0,200"),
    bad("ramp-not-rising", 2, "--ramp", "render", FLAG, "--ramp", "50,10"),
    # issue 15: the rollout plan's options
    bad("plan-wait-not-a-duration", 2, "invalid --wait 'soon'",
        "render", FLAG, "--template", "rollout-detailed", "--wait", "soon"),
    bad("plan-wait-without-unit", 2, "invalid --wait '15'", "render", FLAG, "--wait", "15"),
    bad("plan-hold-not-a-duration", 2, "invalid --hold", "render", FLAG, "--hold", "a day"),
    bad("plan-max-jump-not-a-number", 2, "--max-jump", "render", FLAG, "--max-jump", "lots"),
    bad("plan-ramp-past-max-jump", 2, "jumps from 10% to on, more than the max jump of 50",
        "render", FLAG, "--template", "rollout-detailed", "--ramp", "1,10,100"),
    bad("plan-max-jump-tighter-than-ramp", 2, "more than the max jump of 20",
        "render", FLAG, "--template", "rollout-detailed", "--max-jump", "20"),
    bad("plan-approver-not-a-username", 2, "is not a GitLab username",
        "render", FLAG, "--template", "rollout-detailed", "--approver", "a/b"),
    bad("plan-approver-mentions-all", 2, "would mention everyone",
        "render", FLAG, "--template", "rollout-detailed", "--approver", "@all"),
    bad("plan-approver-unknown-step", 2, "no step or environment",
        "render", FLAG, "--template", "rollout-detailed", "--approver", "production-33=alice"),
    bad("var-bad-key", 2, "--var", "render", FLAG, "--var", "bad key=1"),
    bad("var-hides-builtin", 2, "flag", "render", FLAG, "--var", "flag=other"),
    bad("milestone-two-lines", 2, "milestone", "render", FLAG, "--milestone", "17.1\n/close"),
    bad("unknown-option", 2, "--frobnicate", "render", FLAG, "--frobnicate"),
    bad("timeout-not-a-number", 2, "--timeout", "--timeout", "soon", "templates"),
    bad("var-not-utf8", 2, "not valid UTF-8", "render", FLAG, "--var", "x=\udcff\udcfe"),
    # issue 9: templates cannot compute without bounds (each of these used to run out of memory or time)
    bad("template-power", 2, "template-power.md.j2:2: refused",
        "render", FLAG, "--template", "{dir}/template-power.md.j2"),
    bad("template-repeat-string", 2, "template-repeat-string.md.j2:3: refused",
        "render", FLAG, "--template", "{dir}/template-repeat-string.md.j2"),
    bad("template-repeat-list", 2, "template-repeat-list.md.j2:1: refused",
        "render", FLAG, "--template", "{dir}/template-repeat-list.md.j2"),
    bad("template-range", 2, "template-range.md.j2:2",
        "render", FLAG, "--template", "{dir}/template-range.md.j2"),
    bad("template-format-width", 2, "template-format-width.md.j2:1: refused",
        "render", FLAG, "--template", "{dir}/template-format-width.md.j2"),
    bad("template-concat-doubling", 2, "template-concat-doubling.md.j2:3: refused",
        "render", FLAG, "--template", "{dir}/template-concat-doubling.md.j2"),
    bad("template-center", 2, "template-center.md.j2:1: refused",
        "render", FLAG, "--template", "{dir}/template-center.md.j2"),
    bad("output-read-only", 2, "read-only", "render", FLAG, "-o", "{dir}/read-only.md"),
]

NETWORKED = [
    # credentials
    bad("missing-token", 2, "GITLAB_TOKEN", "create", FLAG, "--project", "{project}", as_="none"),
    bad("job-token-create", 3, "CI_JOB_TOKEN", "create", FLAG, "--project", "{project}", as_="job"),
    bad("job-token-enable", 3, "CI_JOB_TOKEN", "enable", "{ref}", "--env", "staging", as_="job"),
    bad("read-only-token", 3, "403", "announce", "{ref}", "--eta", "in 2h", as_="reporter"),
    bad("wrong-token", 3, "401", "enable", "{ref}", as_="wrong"),
    # where
    bad("unknown-project", 3, "not found", "create", FLAG, "--project", "no/such"),
    bad("closed-port", 3, "127.0.0.1:9", "create", FLAG, "--project", "{project}", "--url", "http://127.0.0.1:9"),
    bad("sandbox-and-url", 2, "--sandbox", "create", FLAG, "--project", "{project}", "--sandbox"),
    bad("plan-ramp-past-max-jump-create", 2, "more than the max jump",
        "create", FLAG, "--project", "{project}", "--template", "rollout-detailed", "--ramp", "5,100"),
    bad("plan-approver-not-a-user-create", 2, "GitLab has no such user",
        "create", "approved_flag", "--project", "{project}", "--template", "rollout-detailed",
        "--approver", "production=nobody_by_that_name"),
    bad("description-over-1-mib-create", 2, "1048576",
        "create", FLAG, "--project", "{project}", "--template", "{dir}/huge-description.md.j2"),
    # --eta
    bad("eta-words", 2, "tomorrow-ish", "announce", "{ref}", "--eta", "tomorrow-ish"),
    bad("eta-no-zone", 2, "zone", "announce", "{ref}", "--eta", "2030-12-01 14:00"),
    bad("eta-past", 2, "past", "announce", "{ref}", "--eta", "2020-01-01T00:00Z"),
    bad("eta-impossible-date", 2, "2030-13-45", "announce", "{ref}", "--eta", "2030-13-45T00:00Z"),
    bad("eta-negative", 2, "-2h", "announce", "{ref}", "--eta", "in -2h"),
    bad("eta-unknown-unit", 2, "fortnights", "announce", "{ref}", "--eta", "in 2 fortnights"),
    bad("eta-empty", 2, "empty", "announce", "{ref}", "--eta", ""),
    bad("eta-and-enabled", 2, "--enabled", "announce", "{ref}", "--eta", "in 2h", "--enabled"),
    # percentages and the combinations ChatOps refuses
    bad("percentage-over-100", 2, "101", "enable", "{ref}", "--percentage", "101", "--actors"),
    bad("percentage-negative", 2, "-1", "enable", "{ref}", "--percentage", "-1", "--actors"),
    bad("percentage-not-a-number", 2, "--percentage", "enable", "{ref}", "--percentage", "half", "--actors"),
    bad("percentage-without-kind", 2, "--actors", "enable", "{ref}", "--percentage", "50"),
    bad("percentage-actors-and-time", 2, "--time",
        "enable", "{ref}", "--percentage", "50", "--actors", "--time"),
    bad("percentage-with-actor-targets", 2, "actor",
        "enable", "{ref}", "--percentage", "50", "--actors", "--project-actor", "g/p"),
    bad("unknown-environment", 2, "moon", "enable", "{ref}", "--env", "moon"),
    bad("bad-feature-group", 2, "feature", "enable", "{ref}", "--feature-group", "Bad Group!"),
    bad("project-actor-with-quick-action", 2, "--project",
        "enable", "{ref}", "--project-actor", "g/p\n/close"),
    bad("user-with-quick-action", 2, "--user", "enable", "{ref}", "--user", "bob\n/close"),
    bad("apply-without-admin-token", 2, "GITLAB_ADMIN_TOKEN", "enable", "{ref}", "--apply"),
    # issue references, and steps of a real issue
    bad("ref-garbage", 2, "not an issue reference", "status", "not a reference"),
    bad("ref-bare-number-without-project", 2, "project", "status", "42"),
    bad("remote-step-typo", 5, "did you mean enable-staging?", "check", "{ref}", "enable-stagin"),
    # a 404 says which of project and issue is missing, as GitLab's body tells
    bad("unknown-issue", 3, "issue #999 in project acme/platform/rollouts not found",
        "status", "{project}#999"),
    bad("unknown-project-of-issue", 3, "project no/such not found", "status", "no/such#1"),
    bad("remote-step-unknown", 5, "not found", "check", "{ref}", "no-such-step"),
    bad("remote-step-ambiguous", 5, "ambiguous", "check", "{ref}", "staging"),
    bad("remote-check-undo-and-skip", 2, "--undo", "check", "{ref}", "1", "--undo", "--skip"),
    # issue 9: an actor value that names nobody never widens the change to everyone (--apply included)
    bad("user-empty", 2, "--user '' names nobody", "enable", "{ref}", "--user", "", "--apply"),
    bad("user-blank", 2, "--user", "enable", "{ref}", "--user", "   "),
    bad("user-lone-at", 2, "--user '@'", "enable", "{ref}", "--user", "@"),
    bad("user-empty-item", 2, "--user 'alice,'", "enable", "{ref}", "--user", "alice,"),
    bad("user-empty-middle-item", 2, "--user", "enable", "{ref}", "--user", "alice,,bob"),
    bad("project-actor-empty", 2, "--project-actor", "enable", "{ref}", "--project-actor", ""),
    bad("group-actor-blank", 2, "--group-actor", "enable", "{ref}", "--group-actor", " \t"),
    bad("feature-group-empty", 2, "--feature-group", "enable", "{ref}", "--feature-group", ""),
    bad("second-user-empty", 2, "--user", "enable", "{ref}", "--user", "alice", "--user", ""),
    bad("disable-user-empty", 2, "--user", "disable", "{ref}", "--user", "", "--apply"),
    bad("disable-project-actor-empty", 2, "--project-actor", "disable", "{ref}", "--project-actor", ","),
    # issue 9: where the token may go
    bad("issue-url-on-another-host", 2, "GITLAB_URL", "status", "http://127.0.0.1:9/acme/app/-/issues/1"),
    bad("url-plain-http-remote", 2, "plain HTTP", "status", "{ref}", "--url", "http://192.0.2.7"),
    bad("target-url-plain-http", 2, "--target-url is plain HTTP",
        "enable", "{ref}", "--env", "staging", "--apply", "--target-url", "http://192.0.2.7"),
    bad("url-with-credentials", 2, "credentials", "status", "{ref}", "--url", "https://u:p4ss@h.example"),
    bad("token-with-a-line-break", 2, "GITLAB_TOKEN is malformed", "status", "{ref}", as_="crlf"),
    # issue 9: small ones
    bad("eta-overflow", 2, "out of range", "announce", "{ref}", "--eta", "in 99999999d"),
    bad("eta-overflow-offset", 2, "out of range", "announce", "{ref}", "--eta", "9999-12-31 23:59 -05:00"),
    bad("eta-5000-digits", 2, "out of range", "announce", "{ref}", "--eta", "in " + "9" * 5000 + "d"),
    bad("ref-dot-dot", 2, "'..'", "status", "acme/../etc#1"),
    bad("ref-dot", 2, "'..'", "check", "acme/./platform/rollouts#1", "1"),
    bad("ref-url-dot-dot", 2, "'..'", "status", "{url}/acme/../etc/-/issues/1"),
    bad("project-dot-dot", 2, "'..'", "create", FLAG, "--project", "acme/platform/.."),
    bad("not-utf8-argument", 2, "not valid UTF-8",
        "create", FLAG, "--project", "{project}", "--group", "a\udcff"),
    bad("not-utf8-reference", 2, "not valid UTF-8", "check", "{ref}\udcff", "1"),
    # issue 12: create --from-mr
    bad("from-mr-issue-ref", 2, "not a merge request reference", "create", "--from-mr", "{ref}"),
    bad("from-mr-bare-without-project", 2, "needs a project", "create", "--from-mr", "12"),
    bad("from-mr-and-flag", 2, "--from-mr takes no FLAG", "create", FLAG, "--from-mr", "{project}!1"),
    bad("from-mr-and-definition", 2, "--from-mr takes no --definition",
        "create", "--from-mr", "{project}!1", "--definition", "{dir}/definition-malformed.yml"),
    bad("from-mr-missing", 3, "merge request !99 not found", "create", "--from-mr", "{project}!99"),
    bad("from-mr-on-another-host", 2, "GITLAB_URL",
        "create", "--from-mr", "http://127.0.0.1:9/acme/app/-/merge_requests/1"),
]
# fmt: on


# --- fixtures and checks -------------------------------------------------------------------------------


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """The bad fixtures and a freshly rendered seed issue, in a folder of the test's own."""
    folder = tmp_path / "work"
    shutil.copytree(BAD, folder)
    rendered = run_cli(["render", FLAG])
    assert rendered.code == 0, rendered.stderr
    (folder / "seed.md").write_text(rendered.stdout.split("\n", 2)[2], encoding="utf-8")
    (folder / "read-only.md").write_text("precious\n", encoding="utf-8")
    (folder / "read-only.md").chmod(0o444)  # git keeps no such mode, so it is made here
    return folder


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def fingerprint(sb: Sandbox) -> list[Any]:
    """Everything a write could change: issues, their text, state, labels, notes; and the features."""
    state: list[Any] = []
    for project in (sb.project_path, sb.second_project_path):
        for iid in range(1, sb.count_issues(project) + 1):
            issue = sb.get_issue(project, iid)
            notes = [(n["body"], n["system"]) for n in sb.notes(project, iid)]
            state.append(
                (
                    project,
                    iid,
                    issue["title"],
                    issue["description"],
                    issue["state"],
                    sorted(issue["labels"]),
                    issue["updated_at"],
                    notes,
                )
            )
    state.append(json.dumps(sb.features(), sort_keys=True, default=str))
    return state


def fill(args: tuple[str, ...], values: dict[str, str]) -> list[str]:
    out = []
    for arg in args:
        filled = arg
        for key, value in values.items():
            filled = filled.replace("{" + key + "}", value)
        out.append(filled)
    return out


def assert_one_line_error(result: CliResult, case: Bad) -> None:
    assert result.code == case.code, f"exit {result.code}, expected {case.code}: {result.output[-400:]}"
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, f"expected exactly one line on stderr, got {lines}"
    assert lines[0].startswith("error: ")
    assert case.says.lower() in lines[0].lower(), f"{case.says!r} not in {lines[0]!r}"
    # One message per failure: standard output does not say it again (as `status --require` once did).
    assert "error:" not in result.stdout
    assert case.says.lower() not in result.stdout.lower(), f"{case.says!r} said twice: {result.stdout!r}"


def rollout_issue(sb: Sandbox) -> str:
    data = json.loads(run_cli(["render", FLAG, "--json"]).stdout)["data"]
    issue = sb.create_issue(title=data["title"], description=data["description"], labels=data["labels"])
    return f"{sb.project_path}#{issue['iid']}"


def credentials(sb: Sandbox, kind: str) -> dict[str, str]:
    assert sb.url is not None
    return {
        "developer": {"GITLAB_TOKEN": sb.tokens["developer"]},
        "none": {},
        "job": {"CI_JOB_TOKEN": sb.tokens["job"], "CI_SERVER_URL": sb.url},
        "reporter": {"GITLAB_TOKEN": sb.tokens["reporter"]},
        "wrong": {"GITLAB_TOKEN": "glpat-not-a-real-token-000"},
        "crlf": {"GITLAB_TOKEN": sb.tokens["developer"] + "\r\nX-Injected: 1"},
    }[kind]


# --- the corpus ----------------------------------------------------------------------------------------


def test_the_corpus_is_big_enough() -> None:
    assert len(OFFLINE) + len(NETWORKED) >= 40
    assert len({c.id for c in OFFLINE + NETWORKED}) == len(OFFLINE) + len(NETWORKED)


@pytest.mark.parametrize("case", OFFLINE, ids=[c.id for c in OFFLINE])
def test_offline_bad_input(case: Bad, workdir: Path) -> None:
    before = snapshot(workdir)
    result = run_cli(fill(case.args, {"dir": str(workdir)}), stdin=b"- [ ] from stdin\n")
    assert_one_line_error(result, case)
    assert snapshot(workdir) == before, "a file was written or changed"


@pytest.mark.parametrize("case", NETWORKED, ids=[c.id for c in NETWORKED])
def test_networked_bad_input(case: Bad, workdir: Path, sandbox: Sandbox) -> None:
    assert sandbox.url is not None
    ref = rollout_issue(sandbox)
    args = fill(
        case.args, {"dir": str(workdir), "ref": ref, "project": sandbox.project_path, "url": sandbox.url}
    )
    if "--url" not in args and "--sandbox" not in args:
        args += ["--url", sandbox.url]
    elif "--sandbox" in args:
        args += ["--url", sandbox.url, "--sandbox-db", str(workdir / "never.sqlite3")]
    files, gitlab = snapshot(workdir), fingerprint(sandbox)
    result = run_cli([*args, "--timeout", "5"], env=credentials(sandbox, case.as_))
    assert_one_line_error(result, case)
    assert snapshot(workdir) == files, "a file was written or changed"
    assert fingerprint(sandbox) == gitlab, "something was written to GitLab"


# --- borderline input that is accepted, and values that must not act ------------------------------------


@pytest.mark.parametrize(
    ("given", "normalised"),
    [("my-flag", "my_flag"), ("My_Flag", "my_flag"), ("flag_2", "flag_2"), ("1st_flag", "1st_flag")],
)
def test_borderline_flag_names_are_accepted_with_a_note(given: str, normalised: str) -> None:
    result = run_cli(["render", given, "--json"])
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout)["data"]["title"] == f"[Feature flag] Rollout of `{normalised}`"
    if given != normalised:
        assert normalised in result.stderr  # the note says what the name became


UNSAFE_LINE = re.compile(
    r"^[ \t]*/(?!label ~\"(feature flag|written by the template author)\")", re.MULTILINE
)
BARE_MENTION = re.compile(r"(?<![`\w])@(all|here)\b(?!`)")


def test_values_cannot_run_quick_actions_or_mass_mention(sandbox: Sandbox) -> None:
    """Values go into the issue as text: no quick action runs, nobody is mass-mentioned.

    What the template author wrote literally (`/label ~"written by the template author"`) still acts.
    """
    assert sandbox.url is not None
    sandbox.create_label("written by the template author")  # GitLab's /label applies existing labels only
    args = [
        "create", "injected_flag", "--project", sandbox.project_path,
        "--template", str(BAD / "inject-values.md.j2"),
        "--var", "note=/close",
        "--var", "shout=@all look\n/assign @root\n/due tomorrow\n/unlabel ~\"feature flag\"",
        "--url", sandbox.url, "--json",
    ]  # fmt: skip
    result = run_cli(args, env={"GITLAB_TOKEN": sandbox.tokens["developer"]})
    assert result.code == 0, result.stderr
    iid = json.loads(result.stdout)["data"]["iid"]
    issue = sandbox.get_issue(sandbox.project_path, iid)
    assert issue["state"] == "opened", "a /close in a value closed the issue"
    assert issue["assignees"] == []
    assert issue["due_date"] is None
    assert "feature flag" in issue["labels"], "an /unlabel in a value removed the label"
    assert "written by the template author" in issue["labels"], "the template's own quick action must act"
    description = issue["description"]
    assert not UNSAFE_LINE.search(description), description
    assert not BARE_MENTION.search(description), description
    assert "/close" in description, "the value is still shown, as text"


def test_builtin_template_values_cannot_run_quick_actions(sandbox: Sandbox) -> None:
    assert sandbox.url is not None
    args = [
        "create", "injected_builtin", "--project", sandbox.project_path,
        "--owner", "@all", "--expect", "/close", "--risks", "fine\n/assign @root\n@here see",
        "--monitor", "- [ ] a smuggled step\n/unlabel ~\"feature flag\"",
        "--url", sandbox.url, "--json",
    ]  # fmt: skip
    result = run_cli(args, env={"GITLAB_TOKEN": sandbox.tokens["developer"]})
    assert result.code == 0, result.stderr
    iid = json.loads(result.stdout)["data"]["iid"]
    issue = sandbox.get_issue(sandbox.project_path, iid)
    assert issue["state"] == "opened"
    assert issue["assignees"] == []
    assert "feature flag" in issue["labels"]
    assert not BARE_MENTION.search(issue["description"])
    status = run_cli(["status", "--file", "-", "--json"], stdin=issue["description"].encode())
    assert json.loads(status.stdout)["data"]["total"] == 11, "a value added a step"


# --- TLS: a self-signed certificate is refused unless --ca-bundle trusts it -------------------------------


def test_self_signed_certificate_is_refused_then_trusted_with_ca_bundle(
    https_sandbox: tuple[Sandbox, str, Path],
) -> None:
    sb, url, cert = https_sandbox
    env = {"GITLAB_TOKEN": sb.tokens["developer"]}
    args = ["create", FLAG, "--project", sb.project_path, "--url", url, "--timeout", "5"]
    refused = run_cli(args, env=env)
    assert_one_line_error(refused, bad("tls", 3, "certificate"))
    assert sb.count_issues(sb.project_path) == 0
    trusted = run_cli([*args, "--ca-bundle", str(cert)], env=env)
    assert trusted.code == 0, trusted.stderr
    assert sb.count_issues(sb.project_path) == 1


def test_a_malformed_definition_in_the_mr_is_named_and_nothing_is_created_for_any_flag(
    sandbox: Sandbox,
) -> None:
    """Issue 12: every definition is validated before the first write (the good one gets no issue either)."""
    assert sandbox.url is not None
    good = "---\nname: search_v2\ntype: beta\ndefault_enabled: false\n"
    broken = "---\nname: fast_export\ntype: gitlab_com_derisk\ndefault_enabled: maybe\n"
    mr = sandbox.create_merge_request(
        {
            "config/feature_flags/beta/search_v2.yml": good,
            "config/feature_flags/gitlab_com_derisk/fast_export.yml": broken,
        }
    )
    before = fingerprint(sandbox)
    result = run_cli(
        ["create", "--from-mr", f"{sandbox.project_path}!{mr['iid']}", "--url", sandbox.url],
        env={"GITLAB_TOKEN": sandbox.tokens["developer"]},
    )
    case = Bad("from-mr-malformed", 2, "config/feature_flags/gitlab_com_derisk/fast_export.yml:4", ())
    assert_one_line_error(result, case)
    assert "default_enabled" in result.stderr
    assert fingerprint(sandbox) == before
    assert sandbox.merge_request_notes(mr["iid"]) == []
