"""Fixtures for python-gitlab's own functional tests of issues, run against the sandbox (written here).

python-gitlab's `tests/functional/conftest.py` starts GitLab in Docker and creates a project; these
fixtures give the same names what the test bodies need from one sandbox: `gl` (an administrator's
client, as upstream's root token), `project` (the seeded project), `issue` (made as upstream's fixture
makes it). `tests/sandbox/test_python_gitlab_functional.py` copies this file beside the test module as its `conftest.py`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import gitlab
import pytest

from gl_rollout.sandbox import Sandbox


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    sb = Sandbox()
    sb.start()
    try:
        yield sb
    finally:
        sb.close()


@pytest.fixture(scope="session")
def gl(sandbox: Sandbox) -> gitlab.Gitlab:
    assert sandbox.url is not None
    client = gitlab.Gitlab(sandbox.url, private_token=sandbox.tokens["admin"])
    client.auth()
    return client


@pytest.fixture(scope="module")
def project(gl: gitlab.Gitlab, sandbox: Sandbox):  # type: ignore[no-untyped-def]
    return gl.projects.get(sandbox.project_path)


@pytest.fixture(scope="module")
def issue(project):  # type: ignore[no-untyped-def]
    _id = uuid.uuid4().hex
    return project.issues.create({"title": f"Issue {_id}", "description": f"Issue {_id} description"})
