"""python-gitlab's own functional tests of issues, run unmodified against the sandbox.

The test bodies come from the sdist of the python-gitlab release pinned in the `test` extra (its
`tests/functional/api/test_issues.py`); the fixtures are ours (`tests/data/python_gitlab_functional/
fixtures.py`: one sandbox instead of GitLab in Docker). The sdist is fetched once with pip into a cache
folder (`GL_ROLLOUT_TEST_CACHE`, else `~/.cache/gl-rollout-tests`); the test is skipped, saying why,
only when the package registry cannot be reached.

In scope: creating, listing, filtering and closing issues, participants, notes (with award emoji),
labels and label events, which is what gl-rollout and its users' scripts do with issues. Out of scope,
each for a reason:
"""

from __future__ import annotations

import ast
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from gl_rollout.sandbox import Sandbox

PINNED = "8.6.0"  # as in pyproject.toml's test extra
UPSTREAM_MODULE = "tests/functional/api/test_issues.py"
FIXTURES = Path(__file__).resolve().parents[1] / "data" / "python_gitlab_functional" / "fixtures.py"
IN_SCOPE = ("test_create_issue", "test_issue_notes", "test_issue_labels", "test_issue_label_events")
OUT_OF_SCOPE = {
    "test_issue_links": "issue links: not part of the rollout workflow, no route in the sandbox",
    "test_issue_weight_events": "issue weights are a Premium feature",
    "test_issue_milestones": "creating milestones and a milestone's issues: the sandbox seeds one milestone",
    "test_issue_discussions": "discussions (threads): gl-rollout writes and reads plain notes only",
}
__doc__ = (__doc__ or "") + "".join(f"\n- {name}: {why}" for name, why in OUT_OF_SCOPE.items())


def cache_folder() -> Path:
    root = os.environ.get("GL_ROLLOUT_TEST_CACHE") or str(Path.home() / ".cache" / "gl-rollout-tests")
    return Path(root) / f"python-gitlab-{PINNED}"


def upstream_tests() -> Path:
    """`test_issues.py` from the pinned sdist, downloaded and extracted once."""
    folder = cache_folder()
    wanted = folder / "test_issues.py"
    if wanted.exists():
        return wanted
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder) as scratch:
        command = [sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps",
                   "--disable-pip-version-check", f"python-gitlab=={PINNED}", "-d", scratch]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
        archives = list(Path(scratch).glob("python_gitlab-*.tar.gz"))
        if done.returncode != 0 or not archives:
            pytest.skip(f"the package registry could not give python-gitlab's sdist: {done.stderr[-300:]}")
        with tarfile.open(archives[0]) as sdist:
            member = sdist.getmember(f"python_gitlab-{PINNED}/{UPSTREAM_MODULE}")
            source = sdist.extractfile(member)
            assert source is not None
            partial = folder / "test_issues.py.part"
            partial.write_bytes(source.read())
            partial.replace(wanted)  # whole or absent, for the next run
    return wanted


def test_the_pinned_release_is_the_one_installed() -> None:
    assert importlib.metadata.version("python-gitlab") == PINNED


def test_python_gitlab_issue_tests_pass_against_the_sandbox(tmp_path: Path) -> None:
    source = upstream_tests()
    module = ast.parse(source.read_text("utf-8"))
    names = [node.name for node in module.body if isinstance(node, ast.FunctionDef)]
    assert sorted(names) == sorted([*IN_SCOPE, *OUT_OF_SCOPE])  # a test upstream adds is seen and decided
    run = tmp_path / "functional"
    run.mkdir()
    shutil.copy(source, run / "test_issues.py")
    shutil.copy(FIXTURES, run / "conftest.py")
    (run / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")  # not this repository's addopts
    report = tmp_path / "report.xml"
    selected = " or ".join(IN_SCOPE)
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
               "-c", str(run / "pytest.ini"), "--rootdir", str(run), "-k", selected,
               f"--junitxml={report}", str(run / "test_issues.py")]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False, cwd=run)
    assert done.returncode == 0, done.stdout[-4000:]
    cases = ET.parse(report).getroot().iter("testcase")  # noqa: S314 (the report our own run wrote)
    outcomes = {case.get("name"): [child.tag for child in case] for case in cases}
    assert outcomes == {name: [] for name in IN_SCOPE}  # each ran and passed (no failure, error or skip)


def test_python_gitlabs_cli_lists_projects_and_issues(sandbox: Sandbox, tmp_path: Path) -> None:
    """`gitlab project list` and `gitlab -o json project-issue list`, configured with the sandbox's URL
    and token, as issue 13's "Done when" tries them."""
    sandbox.create_issue(title="Alpha rollout plan")
    config = tmp_path / "python-gitlab.cfg"
    config.write_text(
        f"[global]\ndefault = sandbox\n\n[sandbox]\nurl = {sandbox.url}\n"
        f"private_token = {sandbox.tokens['developer']}\napi_version = 4\n",
        encoding="utf-8",
    )

    def cli(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "gitlab", "-c", str(config), *args],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout

    listed = cli("project", "list")
    assert "path_with_namespace: acme/platform/rollouts" in listed
    assert "path_with_namespace: acme/website" in listed
    issues = json.loads(cli("-o", "json", "project-issue", "list", "--project-id", "42"))
    assert [(issue["iid"], issue["title"]) for issue in issues] == [(1, "Alpha rollout plan")]
    assert "name: Acme" in cli("group", "list")
