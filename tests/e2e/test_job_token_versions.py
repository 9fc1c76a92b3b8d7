"""CI_JOB_TOKEN tells the truth: GitLab lets a job token read issues from 18.3 on (the issue list and one
issue), treats it as anonymous before (404 on a private project), and never lets it read notes. The
sandbox reports its version (`gitlab_version`) and answers accordingly; the CLI says in one line which
version is needed and which variable to set instead.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gl_rollout.sandbox import Sandbox
from tests.conftest import PlainHTTP
from tests.workflow_cli import create, ref_of, run


@pytest.mark.parametrize(("version", "issue_status"), [("17.11.0", 404), ("18.2.4", 404), ("18.3.0", 200)])
def test_the_sandbox_lets_a_job_token_read_issues_from_18_3(
    sandbox: Sandbox, api: PlainHTTP, version: str, issue_status: int
) -> None:
    iid = create(sandbox)["iid"]
    sandbox.quirks.gitlab_version = version
    assert api("GET", "/version", as_="developer").body["version"] == version
    path = "/projects/acme%2Fplatform%2Frollouts/issues"
    assert api("GET", f"{path}/{iid}", as_="job", auth="job").status == issue_status
    assert api("GET", path, as_="job", auth="job").status == issue_status
    assert api("GET", f"{path}/{iid}/notes", as_="job", auth="job").status == 404  # no version reads notes


def test_status_with_only_a_job_token_on_17_11_says_which_version_and_variable(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    iid = create(sandbox)["iid"]
    sandbox.quirks.gitlab_version = "17.11.0"
    done = run(sandbox, "status", ref_of(sandbox, iid), role="job")
    assert done.code == 3, done.result.output
    lines = done.result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert "CI_JOB_TOKEN could not read" in lines[0]
    assert "GitLab 18.3 or later" in lines[0]
    assert "set GITLAB_TOKEN to a project access token with the read_api scope instead" in lines[0]
    report = run(
        sandbox, "report", "--project", sandbox.project_path, "--output", str(tmp_path / "r.md"), role="job"
    )
    assert report.code == 3, report.result.output
    assert "GitLab 18.3 or later" in report.result.stderr
    assert not (tmp_path / "r.md").exists()


def test_status_with_a_job_token_on_18_3_reads_the_issue_but_not_its_notes(sandbox: Sandbox) -> None:
    iid = create(sandbox)["iid"]
    sandbox.quirks.gitlab_version = "18.3.0"
    assert run(sandbox, "status", ref_of(sandbox, iid), role="job").code == 0
    timeline = run(sandbox, "status", ref_of(sandbox, iid), "--timeline", role="job")
    assert timeline.code == 3
    assert "no GitLab version lets a job token read that" in timeline.result.stderr
