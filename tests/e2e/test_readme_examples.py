"""README stays true: every example command it shows runs as shown (offline and `--sandbox` ones).

Examples naming `group/project` run against the sandbox's seeded project; pipes, other hosts and the
long-running `sandbox serve` are left out. Everything runs in order, in one folder, against one sandbox state
file, as a reader would paste it.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from tests.helpers import run_cli

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"

DEFINITION = """\
---
name: my_flag
description: Lets users try the new thing
feature_issue_url: https://gitlab.com/gitlab-org/gitlab/-/issues/1
introduced_by_url: https://gitlab.com/gitlab-org/gitlab/-/merge_requests/2
rollout_issue_url:
milestone: '17.2'
group: group::product analytics
type: beta
default_enabled: false
"""

TEMPLATE = """\
{% set title %}Roll out `{{ flag }}` for {{ vars.squad }}{% endset %}
## Steps

- [ ] Enable on staging: `{{ cmd.staging }}` <!-- step:enable-staging -->
- [ ] Enable on production: `{{ cmd.production }}` <!-- step:enable-production -->
"""


def readme_examples() -> list[str]:
    """Command lines from README's ```sh blocks, in order, continuation lines joined."""
    text = re.sub(r"\\\n\s*", "", README.read_text(encoding="utf-8"))
    commands: list[str] = []
    in_sh = False
    for line in text.splitlines():
        if line.startswith("```"):
            in_sh = line.strip() == "```sh"
        elif in_sh and line.startswith("gl-rollout "):
            commands.append(line)
    return commands


def as_run_here(command: str) -> str | None:
    """The example as it runs here: examples naming `group/project` run against the sandbox's project;
    pipes, other hosts and the long-running server are left out. `--write-definition` there takes
    `--allow-sandbox-url`: the example's definition is not in the sandbox's folder."""
    if "|" in command or "sandbox serve" in command or "example.com" in command:
        return None
    if "group/project" in command:
        command = command.replace("group/project#42", "acme/platform/rollouts#1")
        command = command.replace("-R group/project", "-R acme/platform/rollouts")
        command = command.replace("gl-rollout ", "gl-rollout --sandbox ", 1)
        if "--write-definition" in command:  # the sandbox's loopback URL, into a file outside its folder
            command = re.sub(r"(\s+#\s.*)?$", r" --allow-sandbox-url\1", command, count=1)
    return command


def test_readme_has_examples_for_every_command() -> None:
    shown = {next(word for word in shlex.split(c)[1:] if not word.startswith("-")) for c in readme_examples()}
    commands = ("render", "status", "check", "templates", "create", "announce", "enable", "disable")
    assert set(commands) | {"sync", "report", "sandbox"} <= shown
    assert "gl-rollout demo" in README.read_text(encoding="utf-8")


def test_every_readme_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    definition = tmp_path / "config" / "feature_flags" / "beta" / "my_flag.yml"
    definition.parent.mkdir(parents=True)
    definition.write_text(DEFINITION, encoding="utf-8")
    (tmp_path / "my-template.md.j2").write_text(TEMPLATE, encoding="utf-8")
    env = {"HOME": str(tmp_path / "home"), "XDG_STATE_HOME": str(tmp_path / "state")}
    ran = 0
    for example in readme_examples():
        command = as_run_here(example)
        if command is None:
            continue
        args = shlex.split(re.sub(r"\s+#\s.*$", "", command))[1:]
        done = run_cli(args, env=env)
        assert done.code == 0, f"README example failed ({done.code}): {command}\n{done.stderr}"
        assert "Traceback" not in done.output
        ran += 1
    assert ran >= 24
    assert "rollout_issue_url: http" in definition.read_text(encoding="utf-8")  # create --write-definition
    assert (tmp_path / "rollout.md").read_text(encoding="utf-8").count("<!-- step:") == 11
    html = (tmp_path / "rollouts.html").read_text(encoding="utf-8")
    assert "my_flag" in html
    # demo --ramp: its own state and its report with the step chart, where the example says
    assert 'data-environment="production"' in (tmp_path / "ramp.html").read_text(encoding="utf-8")
    assert (tmp_path / "ramp.sqlite3").is_file()
