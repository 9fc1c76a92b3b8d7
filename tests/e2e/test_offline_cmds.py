"""`gl-rollout render` and `gl-rollout templates`, run as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gl_rollout.core.steps import STEP_IDS
from gl_rollout.render.issue import RenderOptions, render_issue
from tests.helpers import run_cli

DATA = Path(__file__).resolve().parents[1] / "data"
SEED_FLAG = "product_analytics_aggregated_metrics"
SEED_DEFINITION = DATA / "definitions" / "config" / "feature_flags" / "beta" / f"{SEED_FLAG}.yml"


def test_render_prints_title_blank_line_and_description() -> None:
    result = run_cli(["render", SEED_FLAG])
    assert result.code == 0, result.stderr
    expected = render_issue(RenderOptions(flag=SEED_FLAG))
    assert result.stdout == f"{expected.title}\n\n{expected.description}"
    assert result.stdout.startswith(f"[Feature flag] Rollout of `{SEED_FLAG}`\n\n## What\n")
    assert result.stdout.count("- [ ] ") == 11
    assert result.stderr == ""


def test_render_json_envelope_has_title_description_labels_and_steps() -> None:
    result = run_cli(["render", SEED_FLAG, "--group", "product analytics", "--json"])
    assert result.code == 0
    envelope = json.loads(result.stdout)
    assert envelope["ok"] is True
    assert envelope["command"] == "render"
    assert envelope["error"] is None
    data = envelope["data"]
    assert data["title"] == f"[Feature flag] Rollout of `{SEED_FLAG}`"
    assert data["labels"] == ["feature flag", "group::product analytics"]
    assert [s["id"] for s in data["steps"]] == list(STEP_IDS)
    first = data["steps"][0]
    assert set(first) == {"id", "text", "state", "line", "section", "depth"}
    assert first["state"] == "todo"
    assert first["section"] == "Roll Out Steps"
    assert first["depth"] == 0
    assert data["description"].splitlines()[first["line"] - 1].endswith("<!-- step:enable-staging -->")


def test_render_options_reach_the_issue() -> None:
    result = run_cli(
        [
            "render",
            "my-flag",
            "--template",
            "rollout-detailed",
            "--group",
            "group::source code",
            "--team",
            "Source Code",
            "--slack",
            "#g_create_source_code",
            "--owner",
            "jdoe",
            "--owner",
            "asmith",
            "--beta-project",
            "gitlab-org/gitlab",
            "--beta-group",
            "gitlab-org,gitlab-com",
            "--milestone",
            "17.4",
            "--feature-issue",
            "https://gitlab.com/gitlab-org/gitlab/-/issues/1",
            "--introduced-by",
            "https://gitlab.com/gitlab-org/gitlab/-/merge_requests/2",
            "--type",
            "gitlab_com_derisk",
            "--expect",
            "Faster diffs",
            "--risks",
            "Timeouts",
            "--monitor",
            "Apdex",
            "--chatops-prefix",
            "/chatops gitlab run",
            "--ramp",
            "10,50,100",
            "--json",
        ]
    )
    assert result.code == 0, result.stderr
    assert "note: flag name normalised to 'my_flag'" in result.stderr
    data = json.loads(result.stdout)["data"]
    d = data["description"]
    for expected in (
        "- Team: Source Code",
        "`#g_create_source_code`",
        "@jdoe, @asmith",
        "- Milestone: 17.4",
        "- Feature issue: https://gitlab.com/gitlab-org/gitlab/-/issues/1",
        "- Introduced by: https://gitlab.com/gitlab-org/gitlab/-/merge_requests/2",
        "- Flag type: `gitlab_com_derisk`",
        "Faster diffs",
        "Timeouts",
        "Apdex",
        "`/chatops gitlab run feature set my_flag true --project=gitlab-org/gitlab`",
        "`/chatops gitlab run feature set my_flag true --group=gitlab-org,gitlab-com`",
        "`/chatops gitlab run feature set my_flag 50 --actors`",
        '/label ~"group::source code"',
    ):
        assert expected in d, expected
    assert [s["id"] for s in data["steps"] if s["id"].startswith("ramp-")] == ["ramp-10", "ramp-50"]


def test_render_from_definition_without_flag_argument() -> None:
    result = run_cli(["render", "--definition", str(SEED_DEFINITION), "--json"])
    assert result.code == 0, result.stderr
    data = json.loads(result.stdout)["data"]
    assert data["title"] == f"[Feature flag] Rollout of `{SEED_FLAG}`"
    assert data["labels"] == ["feature flag", "group::product analytics"]


def test_render_output_file_gets_the_description(tmp_path: Path) -> None:
    target = tmp_path / "issue.md"
    target.write_text("old content\n", encoding="utf-8")
    result = run_cli(["render", SEED_FLAG, "-o", str(target)])
    assert result.code == 0, result.stderr
    assert result.stdout == f"[Feature flag] Rollout of `{SEED_FLAG}`\n"
    assert f"wrote the description to {target}" in result.stderr
    assert target.read_text(encoding="utf-8") == render_issue(RenderOptions(flag=SEED_FLAG)).description
    assert [p.name for p in tmp_path.iterdir()] == ["issue.md"]  # no temporary file left behind


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["render", "bad flag"], "invalid feature flag name 'bad flag'"),
        (["render"], "no feature flag name given"),
        (["render", "f", "--template", "nope"], "unknown template 'nope'"),
        (
            ["render", "f", "--template", str(DATA / "templates" / "syntax_error.md.j2")],
            "syntax_error.md.j2:5: syntax error",
        ),
        (
            ["render", "f", "--template", str(DATA / "templates" / "undefined_variable.md.j2")],
            "undefined_variable.md.j2:12: undefined variable 'release_manager'",
        ),
        (
            ["render", "f", "--template", str(DATA / "templates" / "sandbox_class.md.j2")],
            "refused by the template sandbox",
        ),
        (["render", "f", "--template", str(DATA / "templates" / "latin1.md.j2")], "is not UTF-8"),
        (["render", "f", "--definition", "/nonexistent/flag.yml"], "no such file"),
        (["render", "f", "--var", "novalue"], "invalid --var"),
        (["render", "f", "--ramp", "50,10"], "invalid --ramp"),
        (["render", "f", "--chatops-prefix", "chatops"], "invalid ChatOps prefix"),
        (["render", "f", "--beta-project", "a b"], "invalid --beta-project value"),
        (["render", "f", "--type", "feature"], "unknown feature flag type"),
        (["render", "f", "--group", 'x"y'], "invalid group"),
    ],
)
def test_render_errors_are_one_line_exit_2_and_write_nothing(
    tmp_path: Path, args: list[str], message: str
) -> None:
    target = tmp_path / "out.md"
    result = run_cli([*args, "-o", str(target)])
    assert result.code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert message in lines[0]
    assert not target.exists()


def test_render_error_json_envelope() -> None:
    result = run_cli(["render", "bad flag", "--json"])
    assert result.code == 2
    envelope = json.loads(result.stdout)
    assert envelope["ok"] is False
    assert envelope["error"]["code"] == 2
    assert "invalid feature flag name" in envelope["error"]["message"]


def test_templates_lists_builtins_and_their_step_ids() -> None:
    result = run_cli(["templates"])
    assert result.code == 0
    assert result.stdout.startswith("rollout (default): ")
    assert "  11 steps: " + ", ".join(STEP_IDS) in result.stdout
    assert "rollout-detailed: " in result.stdout
    assert "ramp-25" in result.stdout
    assert "rollback-production" in result.stdout
    assert "  cmd: " in result.stdout


def test_templates_json() -> None:
    envelope = json.loads(run_cli(["templates", "--json"]).stdout)
    templates = {t["name"]: t for t in envelope["data"]["templates"]}
    assert list(templates) == ["rollout", "rollout-detailed", "project-flag", "gitlab-current"]
    assert {"create-flag", "ramp-10", "enable-production", "cleanup"} <= set(
        templates["project-flag"]["steps"]
    )
    assert templates["rollout"]["default"] is True
    assert templates["rollout"]["steps"] == list(STEP_IDS)
    assert {"enable-staging", "enable-production", "cleanup", "ramp-1", "ramp-75"} <= set(
        templates["rollout-detailed"]["steps"]
    )
    assert templates["gitlab-current"]["steps"] == [
        "enable-staging", "docs-updated", "enable-production", "remove-flag", "cleanup",
    ]  # fmt: skip
    assert Path(templates["rollout"]["path"]).is_file()
    assert "flag" in envelope["data"]["variables"]
    assert "cmd" in envelope["data"]["variables"]


def test_cli_import_stays_light() -> None:
    code = (
        "import sys, gl_rollout.cli; "
        "print(sorted(m for m in ('jinja2', 'ruamel', 'markdown_it', 'gitlab') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize(
    ("template", "noted"),
    [
        ("rollout", True),  # the default template has no ramp steps
        ("rollout-detailed", False),
        ("{data}/templates/extends_rollout.md.j2", True),  # includes the default one: still none
    ],
)
def test_ramp_given_to_a_template_without_ramp_steps_is_noted(template: str, noted: bool) -> None:
    """Audit #20: `--ramp` was silently ignored by templates that have no ramp."""
    data = Path(__file__).resolve().parents[1] / "data"
    args = [
        "render",
        "my_flag",
        "--ramp",
        "1,10",
        "--template",
        template.format(data=data),
        "--var",
        "notes=x",
    ]
    done = run_cli(args)
    assert done.code == 0, done.output
    note = "note: --ramp 1,10 is not used"
    assert (note in done.stderr) is noted, done.stderr
    assert note not in done.stdout
    assert "ramp is not used" not in run_cli(["render", "my_flag"]).stderr
