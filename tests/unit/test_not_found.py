"""A 404 on an issue's path says which of project and issue is missing, as GitLab's body tells it.

GitLab answers `{"message": "404 Project Not Found"}` when the project is missing or hidden from the token,
and `{"message": "404 Not found"}` when the project is there but the issue is not; an older sandbox said
`404 Issue Not Found`. Anything else keeps the cautious "project or its issue".
"""

from __future__ import annotations

import pytest

from gl_rollout.gitlab.calls import Call
from gl_rollout.gitlab.connection import Connection
from gl_rollout.gitlab.errors import ErrorTranslator

SECRET = "glpat-unit-404-secret"


def translated(message: str, *, token: str | None = SECRET, iid: int | None = 42) -> str:
    conn = Connection("https://gitlab.example.com", "personal" if token else None, token)
    call = Call(
        "get",
        "/projects/g%2Fp/issues/42",
        "read issue g/p#42",
        "project g/p or its issue #42",
        project="g/p",
        iid=iid,
    )
    return ErrorTranslator(conn, 30.0).http_error(call, 404, message, None, 1).one_line()


@pytest.mark.parametrize(
    ("body", "says", "hint"),
    [
        ("404 Project Not Found", "project g/p not found, or you lack access (404)", "check --project"),
        ("404 Not found", "issue #42 in project g/p not found, or you lack access (404)", "check the issue"),
        ("404 Issue Not Found", "issue #42 in project g/p not found, or you lack access (404)", "check the"),
        # `not_found!` with no resource named (or a route GitLab does not have): it could be either
        ("404 Not Found", "project g/p or its issue #42 not found", "check --project and the issue"),
        ("something else", "project g/p or its issue #42 not found", "check --project and the issue"),
    ],
)
def test_the_body_names_what_is_missing(body: str, says: str, hint: str) -> None:
    line = translated(body)
    assert line.startswith(says), line
    assert f"(404). {hint}" in line
    assert SECRET not in line


def test_a_call_that_names_no_issue_keeps_its_own_words() -> None:
    assert translated("404 Not found", iid=None).startswith("project g/p or its issue #42 not found")
