"""gl-rollout against GitLab servers that answer differently from the sandbox's defaults.

GitLab versions, the proxies in front of them and other implementations of GitLab's documented API
differ in what the API leaves open: pagination headers, 429 and 5xx bodies, timestamp formats, the
notes list's order and gaps, system note wording, optional Issue fields, redirects, how a job token
is refused, Feature gates. Each test switches on one such habit in the sandbox (`sandbox.quirks`,
see `gl_rollout.sandbox.quirks`) and runs the real CLI (or the adapter, where the number of requests
is the point) against it: the command must still do its job, or fail with one clean line, never
writing anything twice, never losing a person's edit silently, never showing the token.
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
import requests
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from gl_rollout.core.model import Issue, IssueQuery, Note
from gl_rollout.core.system_notes import OurWrite, Window, checklist_note, compare_times, judge_window
from gl_rollout.core.times import Timestamp
from gl_rollout.gitlab.client import PythonGitLab, connect
from gl_rollout.gitlab.connection import Connection
from gl_rollout.gitlab.decoding import feature_from_json, flatten_message, issue_from_json
from gl_rollout.gitlab.retry import RetryPolicy
from gl_rollout.sandbox import Sandbox
from gl_rollout.sandbox.quirks import html_error_page
from gl_rollout.sandbox.server import QuietHandler
from tests.workflow_cli import FLAG, Run, box, create, description, env_for, ref_of, run, user_notes

FAST_RETRY = {"GL_ROLLOUT_RETRY_BASE": "0.01", "GL_ROLLOUT_RETRY_CAP": "0.05"}
ISSUE_GET = r"/issues/\d+$"
PERSON_LINE = "A person's line: keep me."
DEFINITION = (
    Path(__file__).resolve().parents[1]
    / "data/definitions/config/feature_flags/beta/product_analytics_aggregated_metrics.yml"
)


def cli(sb: Sandbox, *args: str, role: str = "developer", **extra: str) -> Run:
    """The CLI against the sandbox, with fast retries; every run is checked for what must always hold."""
    done = run(sb, *args, env=env_for(sb, role, **{**FAST_RETRY, **extra}))
    check_invariants(sb, done)
    return done


def check_invariants(sb: Sandbox, done: Run) -> None:
    """No page bigger than GitLab allows, one line per error, and never a token in the output."""
    for request in done.requests:
        for value in parse_qs(request.query).get("per_page", []):
            assert int(value) <= 100, request
    for token in sb.tokens.values():
        assert token not in done.result.output
    if done.code != 0 and "--json" not in done.result.stdout:
        errors = [line for line in done.result.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) <= 1, done.result.stderr


def error_line(done: Run) -> str:
    lines = [line for line in done.result.stderr.splitlines() if line.strip()]
    assert lines, done.result.output
    return "\n".join(lines)


def api_client(sb: Sandbox, role: str = "admin") -> PythonGitLab:
    conn = Connection(url=str(sb.url), token_kind="private", token=sb.tokens[role], source="GITLAB_TOKEN")
    policy = RetryPolicy(sleep=lambda _seconds: None)
    return connect(conn, 10.0, retry=policy, requests_per_minute=None, notes_per_minute=None)


def edit_after_read(sb: Sandbox, iid: int, transform: Callable[[str], str] | None = None) -> None:
    """Alice edits the description right after the tool's next read of the issue."""
    sb.faults.edit_between_read_and_write(
        sb.project_path, iid, transform or (lambda text: text + f"\n{PERSON_LINE}\n")
    )


def edit_before_write(sb: Sandbox, iid: int) -> None:
    """Alice edits the description after every read of the tool, right before its next write."""
    sb.faults.edit_before_next_write(sb.project_path, iid, lambda text: text + f"\n{PERSON_LINE}\n")


# --- pagination -------------------------------------------------------------------------------------

PAGINATION_VARIANTS: dict[str, dict[str, Any]] = {
    "gitlab": {},
    "no totals (over 10,000 rows)": {"pagination": "no_totals"},
    "Link only": {"pagination": "link_only"},
    "X-Next-Page only": {"pagination": "next_page_only"},
    "no headers at all": {"pagination": "none"},
    "Link on GitLab's external_url": {"link_origin": "https://gitlab.example.com"},
    "Link only, on another origin": {"pagination": "link_only", "link_origin": "http://10.0.0.9:8080"},
    "server pages of 30": {"max_per_page": 30},
}


@pytest.mark.parametrize("quirks", PAGINATION_VARIANTS.values(), ids=PAGINATION_VARIANTS.keys())
def test_issue_lists_get_every_page_once(sandbox: Sandbox, quirks: dict[str, Any]) -> None:
    for number in range(230):
        sandbox.create_issue(title=f"Issue {number}", labels=["feature flag"])
    sandbox.quirks.update(quirks)
    sandbox.clear_log()
    issues = list(api_client(sandbox).list_issues(IssueQuery(project=sandbox.project_path)))
    assert sorted(issue.iid for issue in issues) == list(range(1, 231))
    page = min(100, quirks.get("max_per_page", 100))
    assert len(sandbox.request_log) == math.ceil(230 / page)
    # the Link on another origin was read, never followed there: every request reached this sandbox
    assert all(entry.status == 200 for entry in sandbox.request_log)


@pytest.mark.parametrize("quirks", PAGINATION_VARIANTS.values(), ids=PAGINATION_VARIANTS.keys())
def test_a_comment_on_a_later_page_is_found_and_not_posted_twice(
    sandbox: Sandbox, quirks: dict[str, Any]
) -> None:
    iid = create(sandbox)["iid"]
    first = cli(sandbox, "announce", ref_of(sandbox, iid), "--eta", "2030-01-02 10:00 UTC")
    assert first.code == 0, first.result.output
    for number in range(230):
        sandbox.add_note(None, iid, f"chatter {number}")
    sandbox.quirks.update(quirks)
    again = cli(sandbox, "announce", ref_of(sandbox, iid), "--eta", "2030-01-02 10:00 UTC", "--json")
    assert again.code == 0, again.result.output
    assert again.data["nothing_to_do"] is True
    assert not again.writes()
    assert len([n for n in user_notes(sandbox, iid) if "Rollout ETA" in n["body"]]) == 1


def test_a_page_emptied_by_hidden_notes_does_not_end_the_listing(sandbox: Sandbox) -> None:
    """GitLab drops notes the reader may not see after paginating: a page may come back empty."""
    iid = create(sandbox)["iid"]
    assert cli(sandbox, "announce", ref_of(sandbox, iid), "--enabled", "--env", "staging").code == 0
    for number in range(100):
        sandbox.add_note(None, iid, f"internal review {number}")
    for number in range(100):
        sandbox.add_note(None, iid, f"chatter {number}")
    sandbox.quirks.hidden_notes = r"^internal review"  # newest first: page 2 of 3 comes back empty
    again = cli(sandbox, "announce", ref_of(sandbox, iid), "--enabled", "--env", "staging", "--json")
    assert again.code == 0, again.result.output
    assert again.data["nothing_to_do"] is True
    assert not again.writes()


def test_notes_read_newest_first_even_when_the_server_ignores_sort(sandbox: Sandbox) -> None:
    iid = create(sandbox)["iid"]
    for number in range(130):
        sandbox.add_note(None, iid, f"chatter {number}")
    sandbox.quirks.notes_sort = "ignore"  # oldest first, whatever `sort=desc` says
    first = cli(sandbox, "announce", ref_of(sandbox, iid), "--eta", "2030-01-02 10:00 UTC")
    assert first.code == 0, first.result.output
    again = cli(sandbox, "announce", ref_of(sandbox, iid), "--eta", "2030-01-02 10:00 UTC", "--json")
    assert again.data["nothing_to_do"] is True
    # the person's edit note is the newest of 130+: it must be seen after the write
    edit_before_write(sandbox, iid)
    raced = cli(sandbox, "check", ref_of(sandbox, iid), "docs-updated")
    assert raced.code == 4, raced.result.output
    assert "alice" in raced.result.stderr


@contextmanager
def serving(app: Callable[[Request], Response]) -> Iterator[tuple[str, list[str]]]:
    """A throwaway HTTP server answering with `app`; yields its URL and the paths it was asked for."""
    asked: list[str] = []

    def wsgi(environ: Any, start_response: Any) -> Any:
        request = Request(environ)
        asked.append(request.full_path)
        return app(request)(environ, start_response)

    server = make_server("127.0.0.1", 0, wsgi, threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", asked
    finally:
        server.shutdown()
        server.server_close()


def _issues(first_id: int, count: int) -> list[dict[str, Any]]:
    return [
        {"id": first_id + n, "iid": first_id + n, "title": f"t{n}", "description": None,
         "web_url": f"http://h/g/p/-/issues/{first_id + n}", "updated_at": "2026-01-01T00:00:00Z"}
        for n in range(count)
    ]  # fmt: skip


BROKEN_PAGINATION: dict[str, Callable[[Request], Response]] = {
    # ignores `page` and always says there is a page 2
    "X-Next-Page never changes": lambda request: Response(
        json.dumps(_issues(1, 100)), content_type="application/json", headers={"X-Next-Page": "2"}
    ),
    # a Link rel="next" that names the page just served
    "Link next names itself": lambda request: Response(
        json.dumps(_issues(1, 3)),
        content_type="application/json",
        headers={"Link": f'<{request.url}>; rel="next"'},
    ),
    # no pagination headers and `page` ignored: full pages of the same items for ever
    "full pages, page ignored": lambda request: Response(
        json.dumps(_issues(1, 100)), content_type="application/json"
    ),
}


@pytest.mark.parametrize("app", BROKEN_PAGINATION.values(), ids=BROKEN_PAGINATION.keys())
def test_pagination_that_never_ends_is_not_followed_for_ever(app: Callable[[Request], Response]) -> None:
    with serving(app) as (url, asked):
        conn = Connection(url=url, token_kind="private", token="glpat-test-secret", source="GITLAB_TOKEN")
        api = connect(conn, 5.0, retry=RetryPolicy(sleep=lambda _s: None), requests_per_minute=None)
        issues = list(api.list_issues(IssueQuery(project="g/p")))
    assert len({issue.iid for issue in issues}) == len(issues)  # nothing twice
    assert len(asked) <= 2


# --- rate limits and error pages -----------------------------------------------------------------

RATE_LIMITS = {
    "Retry-After seconds, text body": {},
    "Retry-After HTTP-date": {"rate_limit_headers": "http_date"},
    "RateLimit-Reset only": {"rate_limit_headers": "reset_only"},
    "no hint at all": {"rate_limit_headers": "none"},
    "app JSON body": {"rate_limit_body": "json"},
}


@pytest.mark.parametrize("quirks", RATE_LIMITS.values(), ids=RATE_LIMITS.keys())
def test_a_429_in_any_form_is_waited_out(sandbox: Sandbox, quirks: dict[str, Any]) -> None:
    iid = create(sandbox)["iid"]
    sandbox.quirks.update(quirks)
    sandbox.faults.fail_next("GET", ISSUE_GET, 429, retry_after=1)
    done = cli(sandbox, "status", ref_of(sandbox, iid), "--json")
    assert done.code == 0, done.result.output
    assert [r.status for r in done.requests] == [429, 200]


@pytest.mark.parametrize(
    ("quirks", "says"),
    [
        ({}, r"retry after 36\d\d s"),
        # A date or an epoch has whole seconds: read a moment after it was written, an hour is 3599 s.
        ({"rate_limit_headers": "http_date"}, r"retry after (?:3599|36\d\d) s"),
        ({"rate_limit_headers": "reset_only"}, r"retry after (?:3599|36\d\d) s"),
        ({"rate_limit_headers": "none", "rate_limit_body": "json"}, r"retry after 60 s"),
    ],
    ids=["seconds", "HTTP-date", "RateLimit-Reset", "none"],
)
def test_a_429_that_lasts_ends_in_one_line(sandbox: Sandbox, quirks: dict[str, Any], says: str) -> None:
    iid = create(sandbox)["iid"]
    sandbox.quirks.update(quirks)
    sandbox.faults.fail_next("PUT", ISSUE_GET, 429, count=10, retry_after=3600)
    done = cli(sandbox, "check", ref_of(sandbox, iid), "test-staging")
    assert done.code == 3
    text = error_line(done)
    assert text.startswith("error: rate limited by GitLab"), text
    assert re.search(says, text), text
    assert box(sandbox, iid, "test-staging") == "[ ]"


@pytest.mark.parametrize("status", [500, 502, 503, 504])
@pytest.mark.parametrize("command", ["status", "check", "create"])
def test_html_error_pages_become_one_clean_line(sandbox: Sandbox, status: int, command: str) -> None:
    iid = create(sandbox)["iid"]
    sandbox.quirks.error_pages = "html"
    if command == "create":
        sandbox.faults.fail_next("GET", r"/issues$", status, count=20)
        args = ["create", "another_flag", "--project", sandbox.project_path]
    else:
        sandbox.faults.fail_next("*", ISSUE_GET, status, count=20)
        args = (
            ["status", ref_of(sandbox, iid)]
            if command == "status"
            else ["check", ref_of(sandbox, iid), "test-staging"]
        )
    done = cli(sandbox, *args)
    assert done.code == 3
    text = error_line(done)
    assert "\n" not in text.split("hint:")[0].strip(), text
    for markup in ("<", "dataLayer", "font-family"):
        assert markup not in text, text
    assert len(text) < 400
    assert str(status) in text
    as_json = cli(sandbox, *args, "--json") if command != "create" else None
    if as_json is not None:
        message = as_json.envelope["error"]["message"]
        assert "<" not in message
        assert len(message) < 300


# --- timestamps and system note wording ----------------------------------------------------------

NOTE_VARIANTS = {
    "GitLab (ms, Z)": {},
    "+00:00 offset": {"time_format": "ms_offset"},
    "+01:00 server zone": {"time_format": "local"},
    "whole seconds": {"time_format": "seconds"},
    "microseconds": {"time_format": "micro"},
    "escaped checklist notes": {"checklist_notes": "escaped"},
    "escaped notes, whole seconds": {"checklist_notes": "escaped", "time_format": "seconds"},
    "'marked the task', +01:00": {"checklist_notes": "task", "time_format": "local"},
    "description note with more words": {
        "description_note": "changed the description (compare with previous version)",
        "time_format": "seconds",
    },
}


@pytest.mark.parametrize("quirks", NOTE_VARIANTS.values(), ids=NOTE_VARIANTS.keys())
def test_the_whole_flow_and_its_conflicts(sandbox: Sandbox, quirks: dict[str, Any]) -> None:
    sandbox.quirks.update(quirks)
    whole_flow(sandbox)


@pytest.mark.parametrize("checklist_notes", ["source", "escaped"])
def test_the_whole_flow_on_a_slow_server_with_whole_seconds(sandbox: Sandbox, checklist_notes: str) -> None:
    """With 80 ms per request the flow's reads and writes fall on both sides of second boundaries."""
    sandbox.quirks.update({"time_format": "seconds", "checklist_notes": checklist_notes})
    sandbox.faults.latency = 0.08
    whole_flow(sandbox)


def whole_flow(sandbox: Sandbox) -> None:
    """Edits by gl-rollout alone never look like conflicts; a person's edit in the window always does."""
    iid = create(sandbox)["iid"]
    ref = ref_of(sandbox, iid)
    steps = [
        ["check", ref, "test-staging"],
        ["announce", ref, "--eta", "2030-01-02 10:00 UTC"],
        ["enable", ref, "--env", "staging"],
        ["check", ref, "docs-updated"],
        ["enable", ref],  # on production: announcing it needs enable-production done
        ["announce", ref, "--enabled"],
        ["check", ref, "test-staging", "--undo"],
        ["check", ref, "test-staging"],
    ]
    for args in steps:
        done = cli(sandbox, *args)
        assert done.code == 0, (args, done.result.output)
    for step in ("test-staging", "announce-eta", "enable-staging", "docs-updated", "announce-enabled"):
        assert box(sandbox, iid, step) == "[x]", step

    # A person's edit between the read and the write of `check`: never silently overwritten.
    edit_before_write(sandbox, iid)
    raced = cli(sandbox, "check", ref, "coordinate")
    assert raced.code == 4, raced.result.output
    assert "alice" in raced.result.stderr

    # ... and of a comment command: its baseline shows the edit, so it edits the fresh text.
    edit_after_read(sandbox, iid, lambda text: text.replace("## ", "## Edited: ", 1))
    fresh = cli(sandbox, "enable", ref, "--env", "production", "--project-actor", "acme/website")
    assert fresh.code in (0, 4), fresh.result.output
    if fresh.code == 0:
        assert "## Edited: " in description(sandbox, iid)

    timeline = cli(sandbox, "status", ref, "--timeline", "--json")
    assert timeline.code == 0, timeline.result.output
    moments = [Timestamp.of(event["at"]).moment for event in timeline.data["timeline"]]
    assert None not in moments
    assert moments == sorted(moments)  # type: ignore[type-var]
    synced = cli(sandbox, "sync", ref, "--json")
    assert synced.code == 0, synced.result.output
    assert synced.data["unticked"] == []


def test_a_text_edit_noted_in_other_words_is_still_a_conflict(sandbox: Sandbox) -> None:
    sandbox.quirks.update({"description_note": "Changed the description", "time_format": "seconds"})
    iid = create(sandbox)["iid"]
    edit_before_write(sandbox, iid)
    raced = cli(sandbox, "check", ref_of(sandbox, iid), "test-staging")
    assert raced.code == 4, raced.result.output


# --- the Issue entity -------------------------------------------------------------------------------

ENTITY_VARIANTS = {
    "no references, no task_completion_status": {
        "omit_issue_fields": ["references", "task_completion_status"]
    },
    "no references, work-item URLs": {"omit_issue_fields": ["references"], "work_items_urls": True},
    "label objects": {"labels_details": True},
    "work-item URLs": {"work_items_urls": True},
    "null description": {"null_empty_description": True, "omit_issue_fields": ["project_id"]},
    "descriptions normalised": {"normalised_descriptions": True},
}


@pytest.mark.parametrize("quirks", ENTITY_VARIANTS.values(), ids=ENTITY_VARIANTS.keys())
def test_issue_entities_with_fields_left_out_or_spelled_otherwise(
    sandbox: Sandbox, quirks: dict[str, Any], tmp_path: Path
) -> None:
    sandbox.quirks.update(quirks)
    made = create(sandbox)
    assert made["reference"] == f"{sandbox.project_path}#{made['iid']}"
    ref = ref_of(sandbox, made["iid"])
    status = cli(sandbox, "status", ref, "--json")
    assert status.code == 0, status.result.output
    assert status.data["reference"] == ref
    assert status.data["total"] == 11
    assert cli(sandbox, "check", ref, "test-staging").code == 0
    again = cli(sandbox, "create", FLAG, "--project", sandbox.project_path, "--json")
    assert again.data["created"] is False
    assert len(again.requests) == 1
    # the definition names the issue by its URL in whatever form GitLab gave it: no extra GET
    definition = tmp_path / "flag.yml"
    definition.write_text(DEFINITION.read_text() + f"rollout_issue_url: {made['web_url']}\n")
    named = cli(
        sandbox, "create", "--definition", str(definition), "--project", sandbox.project_path, "--json"
    )
    assert named.code == 0, named.result.output
    assert named.data["created"] is False
    assert len(named.requests) == 1
    assert sandbox.count_issues() == 1


def test_an_issue_without_description(sandbox: Sandbox) -> None:
    sandbox.quirks.null_empty_description = True
    iid = sandbox.create_issue(title="Empty")["iid"]
    done = cli(sandbox, "status", ref_of(sandbox, iid), "--json")
    assert done.code == 0, done.result.output
    assert done.data["total"] == 0
    missing = cli(sandbox, "check", ref_of(sandbox, iid), "test-staging")
    assert missing.code == 5


# --- redirects ---------------------------------------------------------------------------------------


def test_a_renamed_project_path_is_followed_and_remembered(sandbox: Sandbox) -> None:
    iid = create(sandbox)["iid"]
    sandbox.quirks.moved_projects = {"acme/old-rollouts": sandbox.project_path}
    old = f"acme/old-rollouts#{iid}"
    status = cli(sandbox, "status", old, "--json")
    assert status.code == 0, status.result.output
    assert [r.status for r in status.requests] == [301, 200]

    checked = cli(sandbox, "check", old, "test-staging")
    assert checked.code == 0, checked.result.output
    assert box(sandbox, iid, "test-staging") == "[x]"
    # after the first redirect, the reads and the write go straight to the new path
    assert [r.status for r in checked.requests] == [301, 200, 200, 200, 200]
    assert all("old-rollouts" not in r.path for r in checked.requests[1:])

    made = cli(sandbox, "create", "other_flag", "--project", "acme/old-rollouts", "--json")
    assert made.code == 0, made.result.output
    assert made.data["created"] is True
    assert sandbox.count_issues() == 2


def test_a_redirect_to_another_server_is_not_followed_with_the_token(sandbox: Sandbox) -> None:
    target = str(sandbox.url)

    def redirect(request: Request) -> Response:
        return Response(b"", status=301, headers={"Location": target + request.full_path})

    with serving(redirect) as (url, asked):
        env = env_for(sandbox, **FAST_RETRY)
        env["GITLAB_URL"] = url
        sandbox.clear_log()
        done = run(sandbox, "status", "acme/platform/rollouts#1", env=env)
    assert done.code == 3
    assert "another server" in done.result.stderr
    assert f"--url {target}" in done.result.stderr
    assert sandbox.request_log == []  # the token never reached the other server
    assert len(asked) == 1
    assert sandbox.tokens["developer"] not in done.result.output


# --- CI job tokens ----------------------------------------------------------------------------------


@pytest.mark.parametrize("refusal", [None, 401, 403, 404])
def test_a_job_token_refused_in_any_way_says_what_to_do(sandbox: Sandbox, refusal: int | None) -> None:
    iid = create(sandbox)["iid"]
    sandbox.quirks.job_token_refusal = refusal
    done = cli(sandbox, "status", ref_of(sandbox, iid), "--timeline", role="job")
    assert done.code == 3, done.result.output
    text = error_line(done)
    assert "CI_JOB_TOKEN" in text, text
    assert "GITLAB_TOKEN" in text, text
    write = cli(sandbox, "check", ref_of(sandbox, iid), "test-staging", role="job")
    assert write.code == 3
    assert "CI_JOB_TOKEN can read issues but not write them" in write.result.stderr
    assert write.requests == []


def test_a_job_token_outside_its_project_is_told_about_the_allowlist(sandbox: Sandbox) -> None:
    iid = sandbox.create_issue(project=sandbox.second_project_path, title="Elsewhere")["iid"]
    done = cli(sandbox, "status", f"{sandbox.second_project_path}#{iid}", role="job")
    assert done.code == 3
    assert "allowlist" in done.result.stderr


# --- create: GitLab's search is fuzzy ----------------------------------------------------------------


def test_a_longer_flag_name_in_the_search_results_is_not_a_duplicate(sandbox: Sandbox) -> None:
    longer = cli(sandbox, "create", "my_flag_v2", "--project", sandbox.project_path, "--json")
    assert longer.code == 0
    assert longer.data["created"] is True
    sandbox.create_issue(title="Notes", description="Ran `/chatops run feature set my_flag_v2 true`.")
    made = cli(sandbox, "create", "my_flag", "--project", sandbox.project_path, "--json")
    assert made.code == 0, made.result.output
    assert made.data["created"] is True
    again = cli(sandbox, "create", "my_flag", "--project", sandbox.project_path, "--json")
    assert again.data["created"] is False
    assert again.data["iid"] == made.data["iid"]
    assert sandbox.count_issues() == 3


# --- the Features API --------------------------------------------------------------------------------

FEATURE_VARIANTS = {
    "GitLab": {},
    "state on for any gate": {"feature_state": "on_if_any"},
    "gate values as strings": {"feature_gates_as_strings": True},
    "both, and paginated": {
        "feature_state": "on_if_any",
        "feature_gates_as_strings": True,
        "features_paginated": True,
    },
}


@pytest.mark.parametrize("quirks", FEATURE_VARIANTS.values(), ids=FEATURE_VARIANTS.keys())
def test_apply_reads_the_gates_not_the_state(sandbox: Sandbox, quirks: dict[str, Any]) -> None:
    sandbox.quirks.update(quirks)
    iid = create(sandbox)["iid"]
    admin = {"GITLAB_ADMIN_TOKEN": sandbox.tokens["admin"]}
    apply = ["--apply", "--target-url", str(sandbox.url)]
    ref = ref_of(sandbox, iid)
    ramp = ["enable", ref, "--env", "production", "--percentage", "25", "--actors", *apply]
    first = cli(sandbox, *ramp, **admin)
    assert first.code == 0, first.result.output
    gates = {g["key"]: g["value"] for g in sandbox.features()[FLAG]["gates"]}
    assert gates.get("percentage_of_actors") == 25
    assert gates.get("boolean") is not True
    again = cli(sandbox, *ramp, "--json", **admin)
    assert again.code == 0, again.result.output
    assert not again.writes()  # 25% is already set: not taken for "on" nor for "not 25"
    full = cli(sandbox, "enable", ref, "--env", "staging", *apply, **admin)
    assert full.code == 0, full.result.output
    assert box(sandbox, iid, "enable-staging") == "[x]"
    repeat = cli(sandbox, "enable", ref, "--env", "staging", *apply, "--json", **admin)
    assert not repeat.writes()


@pytest.mark.parametrize("paginated", [False, True], ids=["one answer (GitLab)", "paginated"])
def test_every_feature_flag_is_listed_once(sandbox: Sandbox, paginated: bool) -> None:
    for number in range(150):
        sandbox.store.save_feature(f"flag_{number:03d}", {"boolean": number % 2 == 0})
    sandbox.quirks.features_paginated = paginated
    names = [feature.name for feature in api_client(sandbox).list_features()]
    assert sorted(names) == [f"flag_{number:03d}" for number in range(150)]


# --- sync reads GitLab's checklist notes in every wording -----------------------------------------


@pytest.mark.parametrize("checklist_notes", ["source", "task", "escaped"])
def test_sync_strict_keeps_a_step_a_person_ticked(sandbox: Sandbox, checklist_notes: str) -> None:
    sandbox.quirks.checklist_notes = checklist_notes
    iid = create(sandbox)["iid"]
    assert cli(sandbox, "check", ref_of(sandbox, iid), "test-staging").code == 0
    synced = cli(sandbox, "sync", ref_of(sandbox, iid), "--strict", "--dry-run", "--json")
    assert synced.code == 0, synced.result.output
    assert synced.data["unticked"] == []


# --- the quirks knob itself ---------------------------------------------------------------------------


def test_quirks_are_checked_by_name_and_value() -> None:
    with pytest.raises(ValueError, match="unknown quirk"):
        Sandbox(quirks={"paging": "none"})
    with pytest.raises(ValueError, match="pagination must be one of"):
        Sandbox(quirks={"pagination": "sometimes"})


def test_quirks_can_be_set_over_the_control_path() -> None:
    sandbox = Sandbox(control=True)
    secret = {"Sandbox-Secret": str(sandbox.control_secret)}
    try:
        with sandbox.serve() as url:
            answer = requests.post(
                f"{url}/-/sandbox/quirks", json={"time_format": "seconds"}, headers=secret, timeout=5
            )
            assert answer.status_code == 200
            assert answer.json()["time_format"] == "seconds"
            bad = requests.post(
                f"{url}/-/sandbox/quirks", json={"time_format": "never"}, headers=secret, timeout=5
            )
            assert bad.status_code == 400
            iid = sandbox.create_issue(title="t")["iid"]
            issue = requests.get(
                f"{url}/api/v4/projects/{sandbox.project_id}/issues/{iid}",
                headers={"PRIVATE-TOKEN": sandbox.tokens["developer"]},
                timeout=5,
            ).json()
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", issue["created_at"])
    finally:
        sandbox.close()


# --- the readers, one form at a time ----------------------------------------------------------------


MARKED = "marked the checklist item **{}** as {}"


@pytest.mark.parametrize(
    ("body", "step", "completed"),
    [
        (
            MARKED.format("Enable on staging <!-- step:enable-staging -->", "completed"),
            "enable-staging",
            True,
        ),
        (
            MARKED.format(r"Enable on staging \(now\)  step:enable\-staging", "incomplete"),
            "enable-staging",
            False,
        ),
        (
            "marked the task **Enable on staging <!-- step:enable-staging -->** as completed",
            "enable-staging",
            True,
        ),
        (
            "M" + MARKED.format("Enable on staging <!-- step:enable-staging -->", "completed.")[1:],
            "enable-staging",
            True,
        ),
        (MARKED.format(r"Test the \*new\* thing", "completed"), None, True),
    ],
    ids=["source", "escaped (17+)", "task (before 15)", "capital and period", "no marker"],
)
def test_checklist_notes_in_every_wording(body: str, step: str | None, completed: bool) -> None:
    said = checklist_note(body)
    assert said is not None
    assert said.step_id == step
    assert said.completed is completed
    if step is None:
        assert said.text == "Test the *new* thing"


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-29T01:02:03.456Z",
        "2026-11-29T01:02:03.456+00:00",
        "2026-11-29T02:02:03.456+01:00",
        "2026-11-29T02:02:03.456+0100",
        "2026-11-29T01:02:03.456000+00:00",
        "2026-11-29T01:02:03.456789123Z",
        "2026-11-29 01:02:03.456 UTC",
    ],
)
def test_timestamps_in_every_form_are_the_same_instant(text: str) -> None:
    moment = Timestamp.of(text).moment
    assert moment is not None
    assert moment.timestamp() == pytest.approx(1795914123.456, abs=0.001)


def test_whole_second_timestamps_tie_rather_than_order() -> None:
    assert compare_times("2026-11-29T01:02:03Z", "2026-11-29T01:02:03.900Z") == 0
    assert compare_times("2026-11-29T01:02:04Z", "2026-11-29T01:02:03.900Z") == 1
    assert compare_times("2026-11-29T02:02:03.100+01:00", "2026-11-29T01:02:03.050Z") == 1


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body><center><h1>502 Bad Gateway</h1>"
         b"</center><hr><center>nginx</center></body></html>", "502 Bad Gateway"),
        (html_error_page(503).encode(), "Error 503"),
        (b"<!-- a comment first -->\n<div><p>Service &amp; API down</p></div>", "Service & API down"),
        (b"Retry later\n", "Retry later"),
    ],
    ids=["nginx", "load balancer", "fragment", "text"],
)  # fmt: skip
def test_error_bodies_become_one_short_line(body: bytes, says: str) -> None:
    text = flatten_message(body)
    assert text == says or text.startswith(says)
    assert "\n" not in text
    assert len(text) <= 130


@pytest.mark.parametrize(
    ("data", "base", "reference"),
    [
        ({"web_url": "https://h/g/p/-/issues/5"}, "https://h", "g/p#5"),
        ({"web_url": "https://h/gitlab/g/sub/p/-/work_items/5"}, "https://h/gitlab", "g/sub/p#5"),
        ({"web_url": ""}, "https://h", "g/p#5"),
        ({"references": {"short": "#5"}, "web_url": "https://h/g/p/-/issues/5"}, "https://h", "g/p#5"),
    ],
    ids=["web_url", "work item under a relative root", "only the project asked", "references without full"],
)
def test_an_issue_without_references_still_has_one(data: dict[str, Any], base: str, reference: str) -> None:
    issue = issue_from_json({"id": 1, "iid": 5, **data}, base_url=base, project="g/p")
    assert issue.reference == reference


def test_gate_values_sent_as_strings_are_values() -> None:
    feature = feature_from_json(
        {
            "name": "f",
            "state": "on",
            "gates": [{"key": "boolean", "value": "false"}, {"key": "percentage_of_actors", "value": "25"}],
        }
    )
    assert [(gate.key, gate.value) for gate in feature.gates] == [
        ("boolean", False),
        ("percentage_of_actors", 25),
    ]


def _note(note_id: int, at: str, author: str, body: str = "changed the description") -> Note:
    return Note(id=note_id, body=body, author=author, created_at=at, system=True)


def _issue(updated: str, created: str = "2026-11-29T00:00:00Z") -> Issue:
    return Issue(
        id=1, iid=1, project_id=1, title="t", description="- [ ] a <!-- step:a -->\n", state="opened",
        labels=(), web_url="", reference="g/p#1", created_at=created, updated_at=updated,
    )  # fmt: skip


def test_an_edit_in_the_same_second_as_our_write_is_placed_by_note_id() -> None:
    """Whole seconds tie everything: our own checklist note (the box we ticked, marked as we wrote it)
    is the anchor, a lower note ID came before our write (overwritten), a higher one after it. Nobody
    is asked who they are: the notes' authors play no part."""
    read = _issue("2026-11-29T01:00:00Z")
    ours = _note(
        11, "2026-11-29T01:00:05Z", "x", "marked the checklist item **a <!-- step:a -->** as completed"
    )
    before = _note(10, "2026-11-29T01:00:05Z", "x")
    labels = _note(12, "2026-11-29T01:00:05Z", "x", "added ~backend label")
    after = _note(13, "2026-11-29T01:00:05Z", "x")
    write = OurWrite(read.description, "- [x] a <!-- step:a -->\n", {"a"}, "2026-11-29T01:00:05Z")
    judged = judge_window([ours, before, labels, after], 0, write)
    assert [n.id for n in judged.overwritten] == [10]
    assert [n.id for n in judged.later] == [13]
    assert judged.reverted == ()
    # a text note right after ours is the one some servers add to every checklist edit: not reported
    companion = _note(12, "2026-11-29T01:00:05Z", "x")
    assert judge_window([before, ours, companion], 0, write).later == ()
    # our own note alone in that second is our write's: nothing reported
    assert judge_window([ours], 0, write) == Window()


def test_retry_waits_can_be_set_from_the_environment_and_are_checked(sandbox: Sandbox) -> None:
    iid = create(sandbox)["iid"]
    sandbox.faults.fail_next("GET", ISSUE_GET, 503, count=2)
    quick = cli(sandbox, "status", ref_of(sandbox, iid), GL_ROLLOUT_RETRY_ATTEMPTS="3")
    assert quick.code == 0, quick.result.output
    assert [r.status for r in quick.requests] == [503, 503, 200]
    sandbox.faults.fail_next("GET", ISSUE_GET, 503, count=2)
    once = cli(sandbox, "status", ref_of(sandbox, iid), GL_ROLLOUT_RETRY_ATTEMPTS="1")
    assert once.code == 3
    assert len(once.requests) == 1
    bad = cli(sandbox, "status", ref_of(sandbox, iid), GL_ROLLOUT_RETRY_BASE="soon")
    assert bad.code == 2
    assert "GL_ROLLOUT_RETRY_BASE" in bad.result.stderr
    assert bad.requests == []


def test_a_stale_read_after_setting_a_flag_is_not_what_the_comment_reports(sandbox: Sandbox) -> None:
    """GitLab caches flags per process: the GET after the POST may still show the old gates."""
    sandbox.quirks.stale_feature_reads = 1
    iid = create(sandbox)["iid"]
    apply = ["--apply", "--target-url", str(sandbox.url), "--json"]
    admin = {"GITLAB_ADMIN_TOKEN": sandbox.tokens["admin"]}
    done = cli(sandbox, "enable", ref_of(sandbox, iid), "--env", "staging", *apply, **admin)
    assert done.code == 0, done.result.output
    assert done.data["features_api"]["state"] == "on"
    assert "GitLab now reports state **on**" in user_notes(sandbox, iid)[0]["body"]
