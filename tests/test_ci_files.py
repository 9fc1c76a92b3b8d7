"""The project's pipeline and the includable rollout template pass GitLab's CI schema and do their jobs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parent.parent
PROJECT_CI = ROOT / ".gitlab-ci.yml"
ROLLOUT_TEMPLATE = ROOT / "templates" / "ci" / "rollout.gitlab-ci.yml"


def validate(path: Path) -> subprocess.CompletedProcess[str]:
    """Run check-jsonschema with its vendored copy of GitLab's CI schema (no network)."""
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.gitlab-ci", str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def load(path: Path) -> dict[str, Any]:
    data = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def script_text(job: dict[str, Any]) -> str:
    return "\n".join(str(line) for line in job.get("script", []))


@pytest.mark.parametrize("path", [PROJECT_CI, ROLLOUT_TEMPLATE], ids=["project", "rollout-template"])
def test_ci_file_passes_gitlab_schema(path: Path) -> None:
    result = validate(path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_schema_check_rejects_a_broken_pipeline(tmp_path: Path) -> None:
    """The validation above would notice a mistake: a job whose `when` is not a GitLab keyword."""
    broken = tmp_path / ".gitlab-ci.yml"
    text = ROLLOUT_TEMPLATE.read_text(encoding="utf-8").replace("when: manual", "when: sometimes", 1)
    broken.write_text(text, encoding="utf-8")
    result = validate(broken)
    assert result.returncode != 0


def test_project_pipeline_lints_typechecks_tests_three_pythons_and_builds_a_wheel() -> None:
    ci = load(PROJECT_CI)
    all_scripts = "\n".join(script_text(job) for job in ci.values() if isinstance(job, dict))
    assert "ruff check" in all_scripts
    assert "ruff format --check" in all_scripts
    assert "mypy" in all_scripts
    assert "python -m build" in all_scripts or "pip wheel" in all_scripts

    test_jobs = [job for job in ci.values() if isinstance(job, dict) and ".ci/run" in script_text(job)]
    assert len(test_jobs) == 1
    matrix = test_jobs[0]["parallel"]["matrix"]
    versions = {v for entry in matrix for v in entry["PYTHON_VERSION"]}
    assert versions == {"3.11", "3.12", "3.13"}
    assert "$PYTHON_VERSION" in test_jobs[0]["image"]


def test_rollout_template_has_scheduled_sync_manual_dry_run_pages_and_gate() -> None:
    ci = load(ROLLOUT_TEMPLATE)

    sync = ci["rollout-sync"]
    assert sync["rules"] == [{"if": '$CI_PIPELINE_SOURCE == "schedule"'}]
    assert "gl-rollout sync" in script_text(sync)
    assert "--dry-run" not in script_text(sync)
    assert "--state" in script_text(sync)

    dry = ci["rollout-sync-dry-run"]
    assert "--dry-run" in script_text(dry)
    assert any(rule.get("when") == "manual" for rule in dry["rules"])

    pages = ci["pages"]
    assert pages["artifacts"]["paths"] == ["public"]
    assert "gl-rollout report" in script_text(pages)
    assert "public/index.html" in script_text(pages)

    gate = ci["rollout-gate"]
    assert 'gl-rollout status "$ROLLOUT_ISSUE" --require enable-production' in script_text(gate)

    # Every job installs the tool and keeps colour codes out of job logs.
    base = ci[".gl-rollout"]
    assert base["variables"]["NO_COLOR"] == "1"
    for name in ("rollout-sync", "rollout-sync-dry-run", "pages", "rollout-gate"):
        assert ci[name]["extends"] == ".gl-rollout"
