"""Shell completion: the protocol the shell scripts speak, run as the shell runs it (a subprocess of the
installed `gl-rollout` with `_GL_ROLLOUT_COMPLETE` set), and `--install-completion bash` into a temporary
HOME, then the installed function called by a real bash.

Step IDs and references complete from the recent issues, which commands that read an issue remember:
completion itself never sends a request (the sandbox's request log shows it).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gl_rollout.sandbox import Sandbox
from tests.helpers import run_cli

DATA = Path(__file__).resolve().parents[1] / "data" / "checklists"
ISSUE = DATA / "rollout-issue.md"
FLAG = "product_analytics_aggregated_metrics"
GL_ROLLOUT = str(Path(sys.executable).with_name("gl-rollout"))


def base_env(home: Path) -> dict[str, str]:
    """A user's environment with its own HOME and nothing of the runner's GitLab settings."""
    keep = {name: os.environ[name] for name in ("PATH", "LANG", "SYSTEMROOT") if name in os.environ}
    return {**keep, "HOME": str(home), "XDG_STATE_HOME": str(home / "state")}


def complete(env: dict[str, str], shell: str, words: str, cword: int | None = None) -> list[str]:
    """What `gl-rollout` answers the `shell`'s script for the words typed so far (`words` ends with a space
    when the cursor is on a new word)."""
    request = {**env, "_GL_ROLLOUT_COMPLETE": f"complete_{shell}"}
    if shell == "bash":
        split = words.split()
        request["COMP_WORDS"] = words
        request["COMP_CWORD"] = str(
            cword if cword is not None else len(split) - (0 if words.endswith(" ") else 1)
        )
    else:
        request["_TYPER_COMPLETE_ARGS"] = words
        request["_TYPER_COMPLETE_FISH_ACTION"] = "get-args"
    done = subprocess.run([GL_ROLLOUT], capture_output=True, text=True, env=request, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    return done.stdout.splitlines()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    folder = tmp_path / "home"
    folder.mkdir()
    return folder


def test_commands_and_options_complete(home: Path) -> None:
    env = base_env(home)
    assert complete(env, "bash", "gl-rollout sta") == ["status"]
    assert set(complete(env, "bash", "gl-rollout ", 1)) >= {"render", "status", "check", "sandbox", "report"}
    assert "--require" in complete(env, "bash", "gl-rollout status --req")
    # Global options may follow the command, as when running it.
    assert "--sandbox" in complete(env, "bash", "gl-rollout status --sandb")
    assert complete(env, "bash", "gl-rollout enable g/p#1 --env stag") == ["staging", "staging-ref"]
    assert complete(env, "bash", "gl-rollout --install-completion f") == ["fish"]


def test_step_ids_complete_from_a_file_in_each_shell(home: Path) -> None:
    env = base_env(home)
    words = f"gl-rollout check --file {ISSUE} enable-"
    assert complete(env, "bash", words) == ["enable-staging", "enable-beta", "enable-production"]
    zsh = "\n".join(complete(env, "zsh", f"gl-rollout status --file {ISSUE} --require enable-"))
    assert '"enable-staging":"todo\\\\: ' in zsh  # each ID with its state and text
    fish = complete(env, "fish", f"gl-rollout status --file {ISSUE} --require enable-b")
    assert [line.split("\t")[0] for line in fish] == ["enable-beta"]
    # Steps already named are not offered again.
    again = complete(env, "bash", f"gl-rollout check --file {ISSUE} enable-staging enable-")
    assert again == ["enable-beta", "enable-production"]


def test_step_ids_and_refs_complete_offline_from_the_last_issue_read(home: Path, sandbox: Sandbox) -> None:
    assert sandbox.url is not None
    data = json.loads(run_cli(["render", FLAG, "--json"]).stdout)["data"]
    issue = sandbox.create_issue(title=data["title"], description=data["description"], labels=data["labels"])
    ref = f"{sandbox.project_path}#{issue['iid']}"
    env = base_env(home)
    read = run_cli(
        ["status", ref, "--url", sandbox.url], env={**env, "GITLAB_TOKEN": sandbox.tokens["developer"]}
    )
    assert read.code == 0, read.stderr
    sandbox.clear_log()

    # No token, no URL, and the sandbox sees no request: the answers come from the recent issues.
    assert complete(env, "bash", "gl-rollout status ", 2) == [ref]
    assert complete(env, "bash", f"gl-rollout check {ref} enable-") == [
        "enable-staging",
        "enable-beta",
        "enable-production",
    ]
    assert complete(env, "bash", "gl-rollout check ", 2) == [ref]
    assert "test-staging" in complete(env, "bash", f"gl-rollout status {ref} --require ", 4)
    assert sandbox.request_log == []

    # An issue not read before: without --complete-online nothing is asked of GitLab.
    other = sandbox.create_issue(title="other", description="- [ ] Only step <!-- step:only-step -->\n")
    other_ref = f"{sandbox.project_path}#{other['iid']}"
    online_env = {**env, "GITLAB_TOKEN": sandbox.tokens["developer"], "GITLAB_URL": sandbox.url}
    assert "only-step" not in complete(online_env, "bash", f"gl-rollout check {other_ref} o")
    assert sandbox.request_log == []
    # With it (the script installed by --complete-online sets GL_ROLLOUT_COMPLETE_ONLINE=1), it is read once.
    online = {**online_env, "GL_ROLLOUT_COMPLETE_ONLINE": "1"}
    assert complete(online, "bash", f"gl-rollout check {other_ref} o") == ["only-step"]
    assert len(sandbox.request_log) >= 1


def test_the_recent_issues_file_holds_no_token(home: Path, sandbox: Sandbox) -> None:
    assert sandbox.url is not None
    issue = sandbox.create_issue(title="t", description="- [ ] A step <!-- step:a-step -->\n")
    env = {**base_env(home), "GITLAB_TOKEN": sandbox.tokens["developer"]}
    ref = f"{sandbox.project_path}#{issue['iid']}"
    assert run_cli(["check", ref, "a-step", "--url", sandbox.url], env=env).code == 0
    saved = (home / "state" / "gl-rollout" / "recent-issues.json").read_text(encoding="utf-8")
    assert sandbox.tokens["developer"] not in saved
    assert json.loads(saved)["issues"][0]["steps"] == [{"id": "a-step", "state": "done", "text": "A step"}]


def test_install_completion_bash_into_a_home_then_bash_completes(home: Path) -> None:
    env = {**base_env(home), "PATH": f"{Path(GL_ROLLOUT).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = run_cli(["--install-completion", "bash"], env=env)
    assert done.code == 0, done.stderr
    script = home / ".local" / "share" / "bash-completion" / "completions" / "gl-rollout"
    assert f"wrote {script}" in done.stdout
    assert "bash completion installed" in done.stdout
    bashrc = (home / ".bashrc").read_text(encoding="utf-8")
    assert str(script) in bashrc
    again = run_cli(["--install-completion", "bash"], env=env)
    assert again.code == 0
    assert "installed already" in again.stdout
    assert (home / ".bashrc").read_text(encoding="utf-8") == bashrc  # appended once

    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("no bash on this machine")
    typed = f"gl-rollout check --file {ISSUE} enable-"
    words = " ".join(f"'{word}'" for word in typed.split())
    program = (
        f"source {home / '.bashrc'}\n"
        f"COMP_WORDS=({words}); COMP_CWORD={len(typed.split()) - 1}\n"
        "_gl_rollout_completion gl-rollout\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
        "complete -p gl-rollout\n"
    )
    ran = subprocess.run(
        [bash, "--norc", "--noprofile", "-c", program],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    lines = ran.stdout.splitlines()
    assert lines[:3] == ["enable-staging", "enable-beta", "enable-production"]
    assert lines[3].endswith("_gl_rollout_completion gl-rollout")


def test_show_completion_prints_each_shells_script(home: Path) -> None:
    env = base_env(home)
    assert (
        "complete -o default -F _gl_rollout_completion gl-rollout"
        in run_cli(["--show-completion", "bash"], env=env).stdout
    )
    assert "#compdef gl-rollout" in run_cli(["--show-completion", "zsh"], env=env).stdout
    assert "complete --command gl-rollout" in run_cli(["--show-completion", "fish"], env=env).stdout
    online = run_cli(["--show-completion", "bash", "--complete-online"], env=env).stdout
    assert "GL_ROLLOUT_COMPLETE_ONLINE=1" in online
    assert not list(home.iterdir())  # showing writes nothing


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--install-completion", "tcsh"], "cannot complete for shell 'tcsh'"),
        (["--complete-online", "status"], "--complete-online"),
    ],
)
def test_completion_options_refuse_bad_values(home: Path, args: list[str], says: str) -> None:
    done = run_cli(args, env=base_env(home))
    assert done.code == 2
    assert done.stderr.startswith("error: ")
    assert says in done.stderr
    assert len(done.stderr.splitlines()) == 1
    assert not (home / ".bashrc").exists()
