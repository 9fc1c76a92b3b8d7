"""Issue references as users paste them: URLs, full references, bare numbers with a project."""

from __future__ import annotations

import re

import pytest

from gl_rollout.core.merge_requests import MergeRequestRef, parse_mr_ref
from gl_rollout.core.refs import IssueRef, parse_issue_ref
from gl_rollout.errors import ExitCode, UsageError

# (reference as typed, --project, expected project, iid, host)
ACCEPTED = [
    ("https://gitlab.com/gitlab-org/gitlab/-/issues/42", None, "gitlab-org/gitlab", 42, "https://gitlab.com"),
    ("https://gitlab.com/a/b/c/-/issues/7", None, "a/b/c", 7, "https://gitlab.com"),
    ("https://gitlab.com/a/b/-/work_items/9", None, "a/b", 9, "https://gitlab.com"),
    ("https://gitlab.com/a/b/-/issues/42#note_123", None, "a/b", 42, "https://gitlab.com"),
    ("https://gitlab.com/a/b/-/issues/42?tab=activity", None, "a/b", 42, "https://gitlab.com"),
    ("https://gitlab.com/a/b/-/issues/42/", None, "a/b", 42, "https://gitlab.com"),
    ("  https://GitLab.Example.com:8443/a/b/-/issues/3  ", None, "a/b", 3, "https://gitlab.example.com:8443"),
    ("http://127.0.0.1:5000/group/proj/-/issues/1", None, "group/proj", 1, "http://127.0.0.1:5000"),
    ("https://gitlab.com/a/b/issues/5", None, "a/b", 5, "https://gitlab.com"),  # pre-/-/ form
    ("https://gitlab.com/group/issues/-/issues/5", None, "group/issues", 5, "https://gitlab.com"),
    (
        "https://gitlab.com/my.group/my-proj_1/-/issues/12",
        None,
        "my.group/my-proj_1",
        12,
        "https://gitlab.com",
    ),
    ("gitlab-org/gitlab#42", None, "gitlab-org/gitlab", 42, None),
    ("a/b/c#1", "x/y", "a/b/c", 1, None),  # a full reference names its own project
    ("42", "group/project", "group/project", 42, None),
    ("#42", "group/project", "group/project", 42, None),
    (" 42 ", "123", "123", 42, None),
    ("a/b#2147483647", None, "a/b", 2147483647, None),
]


@pytest.mark.parametrize(("text", "project", "want_project", "iid", "host"), ACCEPTED)
def test_accepted_references(
    text: str, project: str | None, want_project: str, iid: int, host: str | None
) -> None:
    assert parse_issue_ref(text, project) == IssueRef(want_project, iid, host)


REJECTED = [
    "",
    "abc",
    "group/project",
    "group/project#",
    "group/project#abc",
    "#0",
    "group/project#0",
    "project#42",  # GitLab's relative form needs a namespace we do not know
    "https://gitlab.com/a/b/-/merge_requests/42",
    "https://gitlab.com/a/b",
    "https://gitlab.com/a/-/issues/42",  # a project path has a namespace
    "ftp://gitlab.com/a/b/-/issues/42",
    "https:///a/b/-/issues/42",
    "42 43",
    "https://[::1/a/b/-/issues/1",  # urllib's ValueError must not escape
    "https://gitlab.com:port/a/b/-/issues/1",
    "a/b#2147483648",  # above GitLab's 32-bit IIDs
    "https://gitlab.com/a/b/-/issues/" + "9" * 5000,
]


@pytest.mark.parametrize("text", REJECTED)
def test_rejected_references_show_every_accepted_form(text: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_issue_ref(text, "group/project")
    line = caught.value.one_line()
    assert caught.value.exit_code == ExitCode.USAGE
    assert "/-/issues/42" in line
    assert "group/project#42" in line
    assert "--project" in line


def test_bare_number_without_project_says_how_to_name_one() -> None:
    with pytest.raises(UsageError) as caught:
        parse_issue_ref("42")
    assert caught.value.one_line() == (
        "issue 42 needs a project. pass --project group/project, or a reference like group/project#42"
    )


def test_group_work_item_is_not_a_project_issue() -> None:
    with pytest.raises(UsageError, match="group-level work item"):
        parse_issue_ref("https://gitlab.com/groups/g/-/work_items/5")


@pytest.mark.parametrize(
    ("base_url", "want"),
    [
        ("https://example.com/gitlab", "group/proj"),  # GitLab under a relative URL root
        ("https://example.com", "gitlab/group/proj"),
        ("https://example.com/other", "gitlab/group/proj"),
    ],
)
def test_relative_url_root_is_not_part_of_the_project(base_url: str, want: str) -> None:
    ref = parse_issue_ref("https://example.com/gitlab/group/proj/-/issues/4")
    assert ref.relative_to(base_url).project == want


def test_str_is_the_full_reference() -> None:
    assert str(parse_issue_ref("https://gitlab.com/a/b/-/issues/42")) == "a/b#42"


# One parser serves issues and merge requests; each rule holds for both sigils.
@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("https://user:pw@gitlab.com/g/p/-/merge_requests/3", "the merge request URL holds credentials"),
        ("https://gitlab.com/g/../p/-/merge_requests/3", "cannot have a '.' or '..' segment"),
        ("g/p!0", "not a merge request reference"),
        ("g/p!99999999999", "not a merge request reference"),
        ("ftp://gitlab.com/g/p/-/merge_requests/3", "not a merge request reference"),
        ("https://gitlab.com/g/p/-/issues/3", "not a merge request reference"),
        ("!3", "merge request !3 needs a project"),
    ],
)
def test_merge_request_references_follow_the_issue_rules(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=re.escape(message)):
        parse_mr_ref(text)


def test_the_old_merge_request_url_form_and_a_full_reference_win_over_project() -> None:
    assert parse_mr_ref("https://GitLab.example:8443/g/p/merge_requests/4/diffs") == MergeRequestRef(
        "g/p", 4, "https://gitlab.example:8443"
    )
    assert parse_mr_ref("a/b!4", "other/project") == MergeRequestRef("a/b", 4)
