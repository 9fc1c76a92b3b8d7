"""Where the URL, token and project come from: the documented order, config files, and secrets."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from gl_rollout.cli.connection import default_sandbox_db, require_write_token
from gl_rollout.cli.running import AppState
from gl_rollout.errors import ExitCode, GitLabError, UsageError
from gl_rollout.gitlab.connection import find_project, resolve_connection, resolve_project


def state(env: dict[str, str], *, url: str | None = None, gitlab: str | None = None) -> AppState:
    return AppState(env=env, url=url, gitlab_name=gitlab)


# (environment, --url, expected URL, where it came from)
URL_ORDER = [
    ({}, None, "https://gitlab.com", "default"),
    ({"GITLAB_URL": "https://a.example/"}, None, "https://a.example", "GITLAB_URL"),
    ({"GITLAB_HOST": "b.example"}, None, "https://b.example", "GITLAB_HOST"),
    ({"GITLAB_HOST": "b.example:8443"}, None, "https://b.example:8443", "GITLAB_HOST"),
    # plain HTTP is for this machine only (else --allow-http: see test_plain_http_*)
    ({"GITLAB_HOST": "http://localhost:8080"}, None, "http://localhost:8080", "GITLAB_HOST"),
    ({"CI_SERVER_URL": "https://ci.example"}, None, "https://ci.example", "CI_SERVER_URL"),
    ({"CI_SERVER_URL": "https://ci.example/api/v4"}, None, "https://ci.example", "CI_SERVER_URL"),
    ({"GITLAB_URL": "https://Example.com/gitlab/"}, None, "https://example.com/gitlab", "GITLAB_URL"),
    ({"GITLAB_URL": "https://a.example"}, "https://flag.example", "https://flag.example", "--url"),
    (
        {"GITLAB_URL": "https://a.example", "GITLAB_HOST": "b.example", "CI_SERVER_URL": "https://c.example"},
        None,
        "https://a.example",
        "GITLAB_URL",
    ),
    (
        {"GITLAB_HOST": "b.example", "CI_SERVER_URL": "https://c.example"},
        None,
        "https://b.example",
        "GITLAB_HOST",
    ),
    ({"GITLAB_URL": "  ", "CI_SERVER_URL": "https://c.example"}, None, "https://c.example", "CI_SERVER_URL"),
]


@pytest.mark.parametrize(("env", "flag", "url", "source"), URL_ORDER)
def test_url_order(env: dict[str, str], flag: str | None, url: str, source: str) -> None:
    conn = resolve_connection(state(env, url=flag))
    assert (conn.url, conn.url_source) == (url, source)


@pytest.mark.parametrize(
    "bad",
    [
        "ftp://x.example",
        "https://",
        "://nohost",
        "https://[::1",
        "https://h:port",
        "https://h .example",  # issue 9: whitespace, controls and undecodable bytes inside
        "https://h.example/\udcff",
        "https://h.example/a\x00",
    ],
)
def test_bad_url_is_a_usage_error(bad: str) -> None:
    with pytest.raises(UsageError, match="is not a GitLab URL"):
        resolve_connection(state({}, url=bad))


# (environment, token kind, token, source)
TOKEN_ORDER = [
    ({}, None, None, "none"),
    ({"GITLAB_TOKEN": "glpat-aaaa"}, "private", "glpat-aaaa", "GITLAB_TOKEN"),
    ({"GITLAB_PRIVATE_TOKEN": "glpat-bbbb"}, "private", "glpat-bbbb", "GITLAB_PRIVATE_TOKEN"),
    ({"GITLAB_OAUTH_TOKEN": "oauth-cccc"}, "oauth", "oauth-cccc", "GITLAB_OAUTH_TOKEN"),
    (
        {"GITLAB_TOKEN": "glpat-aaaa", "GITLAB_OAUTH_TOKEN": "oauth-cccc"},
        "private",
        "glpat-aaaa",
        "GITLAB_TOKEN",
    ),
    (
        {"GITLAB_PRIVATE_TOKEN": "glpat-bbbb", "GITLAB_OAUTH_TOKEN": "oauth-cccc"},
        "private",
        "glpat-bbbb",
        "GITLAB_PRIVATE_TOKEN",
    ),
    ({"CI_JOB_TOKEN": "job-dddd"}, "job", "job-dddd", "CI_JOB_TOKEN"),
    (
        {"CI_JOB_TOKEN": "job-dddd", "CI_SERVER_URL": "https://ci.example"},
        "job",
        "job-dddd",
        "CI_JOB_TOKEN",
    ),
    ({"CI_JOB_TOKEN": "job-dddd", "GITLAB_TOKEN": "glpat-aaaa"}, "private", "glpat-aaaa", "GITLAB_TOKEN"),
    # the job token is valid only on its own GitLab: never sent to another host
    (
        {
            "CI_JOB_TOKEN": "job-dddd",
            "CI_SERVER_URL": "https://ci.example",
            "GITLAB_URL": "https://other.example",
        },
        None,
        None,
        "none",
    ),
]


@pytest.mark.parametrize(("env", "kind", "token", "source"), TOKEN_ORDER)
def test_token_order(env: dict[str, str], kind: str | None, token: str | None, source: str) -> None:
    options = state(env)
    conn = resolve_connection(options)
    assert (conn.token_kind, conn.token, conn.source) == (kind, token, source)
    # The connection returns its token as a secret for the printer to mask.
    assert conn.secrets.values == ((token,) if token else ())


def test_token_is_a_secret_and_not_in_repr() -> None:
    options = state({"GITLAB_TOKEN": "glpat-supersecret"})
    conn = resolve_connection(options)
    assert "glpat-supersecret" in conn.secrets.values
    assert "supersecret" not in repr(conn)
    assert "supersecret" not in conn.describe()
    assert conn.describe() == "https://gitlab.com (from default), private token from GITLAB_TOKEN"


def test_ca_bundle_must_exist(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"--ca-bundle .*: no such file") as caught:
        resolve_connection(AppState(env={}, ca_bundle=tmp_path / "missing.pem"))
    assert caught.value.exit_code == ExitCode.USAGE
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    assert resolve_connection(AppState(env={}, ca_bundle=bundle)).ca_bundle == str(bundle)


# --- python-gitlab configuration files -------------------------------------------------------


def write_cfg(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


CFG = """\
[global]
default = work

[work]
url = https://work.example
private_token = glpat-work

[hobby]
url = https://hobby.example:8443
oauth_token = oauth-hobby

[ci]
url = https://ci.example
job_token = job-ci
"""


def test_config_file_default_section(tmp_path: Path) -> None:
    cfg = write_cfg(tmp_path / "gl.cfg", CFG)
    conn = resolve_connection(state({"PYTHON_GITLAB_CFG": str(cfg)}))
    assert conn.url == "https://work.example"
    assert (conn.token_kind, conn.token) == ("private", "glpat-work")
    assert conn.source == conn.url_source == "python-gitlab config [work]"


@pytest.mark.parametrize(
    ("name", "url", "kind", "token"),
    [
        ("hobby", "https://hobby.example:8443", "oauth", "oauth-hobby"),
        ("ci", "https://ci.example", "job", "job-ci"),
    ],
)
def test_gitlab_option_picks_a_section(tmp_path: Path, name: str, url: str, kind: str, token: str) -> None:
    cfg = write_cfg(tmp_path / "gl.cfg", CFG)
    conn = resolve_connection(state({"PYTHON_GITLAB_CFG": str(cfg)}, gitlab=name))
    assert (conn.url, conn.token_kind, conn.token) == (url, kind, token)


def test_home_config_is_read_when_python_gitlab_cfg_is_unset(tmp_path: Path) -> None:
    write_cfg(tmp_path / ".python-gitlab.cfg", CFG)
    conn = resolve_connection(state({"HOME": str(tmp_path)}))
    assert (conn.url, conn.token) == ("https://work.example", "glpat-work")


def test_python_gitlab_cfg_is_the_only_file_when_set(tmp_path: Path) -> None:
    write_cfg(tmp_path / ".python-gitlab.cfg", CFG)
    only = write_cfg(tmp_path / "only.cfg", "[global]\ndefault = x\n[x]\nurl = https://x.example\n")
    conn = resolve_connection(state({"HOME": str(tmp_path), "PYTHON_GITLAB_CFG": str(only)}))
    assert (conn.url, conn.token) == ("https://x.example", None)


def test_missing_python_gitlab_cfg_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"PYTHON_GITLAB_CFG names .*nope.cfg, which does not exist"):
        resolve_connection(state({"PYTHON_GITLAB_CFG": str(tmp_path / "nope.cfg")}))


def test_python_gitlab_cfg_naming_a_folder_is_not_a_regular_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"PYTHON_GITLAB_CFG names .*, which is not a regular file"):
        resolve_connection(state({"PYTHON_GITLAB_CFG": str(tmp_path)}))


def test_python_gitlab_cfg_dev_null_is_an_empty_configuration(tmp_path: Path) -> None:
    write_cfg(tmp_path / ".python-gitlab.cfg", CFG)
    conn = resolve_connection(state({"HOME": str(tmp_path), "PYTHON_GITLAB_CFG": os.devnull}))
    assert conn.token is None  # the home file is not read either: PYTHON_GITLAB_CFG names the only one


def test_unknown_section_lists_the_known_ones(tmp_path: Path) -> None:
    cfg = write_cfg(tmp_path / "gl.cfg", CFG)
    with pytest.raises(UsageError) as caught:
        resolve_connection(state({"PYTHON_GITLAB_CFG": str(cfg)}, gitlab="nosuch"))
    assert "--gitlab nosuch: no such section" in caught.value.one_line()
    assert "sections: work, hobby, ci" in caught.value.one_line()


def test_gitlab_option_without_any_config_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no python-gitlab configuration file"):
        resolve_connection(state({"HOME": str(tmp_path)}, gitlab="work"))


def test_token_variable_wins_and_keeps_the_config_file_out(tmp_path: Path) -> None:
    """A GITLAB_TOKEN is never paired with the URL of another host's config section."""
    cfg = write_cfg(tmp_path / "gl.cfg", CFG)
    conn = resolve_connection(state({"PYTHON_GITLAB_CFG": str(cfg), "GITLAB_TOKEN": "glpat-env"}))
    assert (conn.url, conn.token, conn.source) == ("https://gitlab.com", "glpat-env", "GITLAB_TOKEN")
    named = resolve_connection(
        state({"PYTHON_GITLAB_CFG": str(cfg), "GITLAB_TOKEN": "glpat-env"}, gitlab="work")
    )
    assert (named.url, named.token) == ("https://work.example", "glpat-env")


def test_url_variable_wins_over_the_section_url(tmp_path: Path) -> None:
    cfg = write_cfg(tmp_path / "gl.cfg", CFG)
    conn = resolve_connection(state({"PYTHON_GITLAB_CFG": str(cfg), "GITLAB_URL": "https://work.example/"}))
    assert (conn.url, conn.url_source, conn.token) == ("https://work.example", "GITLAB_URL", "glpat-work")


def test_section_token_is_not_sent_to_another_host(tmp_path: Path) -> None:
    cfg = write_cfg(tmp_path / "gl.cfg", CFG)
    conn = resolve_connection(
        state({"PYTHON_GITLAB_CFG": str(cfg), "GITLAB_URL": "https://elsewhere.example"})
    )
    assert (conn.url, conn.token) == ("https://elsewhere.example", None)
    with pytest.raises(UsageError, match=r"\[work\] is for work.example but the GitLab URL is"):
        resolve_connection(
            state({"PYTHON_GITLAB_CFG": str(cfg)}, url="https://elsewhere.example", gitlab="work")
        )


def test_section_without_default_is_not_used(tmp_path: Path) -> None:
    cfg = write_cfg(tmp_path / "gl.cfg", "[work]\nurl = https://work.example\nprivate_token = glpat-work\n")
    conn = resolve_connection(state({"PYTHON_GITLAB_CFG": str(cfg)}))
    assert (conn.url, conn.token) == ("https://gitlab.com", None)


def test_two_token_kinds_in_one_section_are_refused(tmp_path: Path) -> None:
    cfg = write_cfg(
        tmp_path / "gl.cfg",
        "[global]\ndefault = w\n[w]\nurl = https://w.example\nprivate_token = a1234\njob_token = b1234\n",
    )
    with pytest.raises(UsageError, match="sets private_token and job_token"):
        resolve_connection(state({"PYTHON_GITLAB_CFG": str(cfg)}))


def test_section_ssl_verify_path_is_the_ca_bundle(tmp_path: Path) -> None:
    bundle = write_cfg(tmp_path / "ca.pem", "-----BEGIN CERTIFICATE-----\n")
    cfg = write_cfg(
        tmp_path / "gl.cfg",
        f"[global]\ndefault = w\nssl_verify = {bundle}\n"
        "[w]\nurl = https://w.example\nprivate_token = glpat-w\n",
    )
    assert resolve_connection(state({"PYTHON_GITLAB_CFG": str(cfg)})).ca_bundle == str(bundle)


def test_section_ssl_verify_false_is_refused(tmp_path: Path) -> None:
    cfg = write_cfg(
        tmp_path / "gl.cfg",
        "[global]\ndefault = w\n[w]\nurl = https://w.example\nprivate_token = glpat-w\nssl_verify = false\n",
    )
    with pytest.raises(UsageError, match="ssl_verify = false; gl-rollout always verifies TLS"):
        resolve_connection(state({"PYTHON_GITLAB_CFG": str(cfg)}))


def make_helper(tmp_path: Path, body: str) -> Path:
    script = tmp_path / "bin" / "token-helper"
    script.parent.mkdir(exist_ok=True)
    script.write_text("#!/bin/sh\n" + body, encoding="utf-8")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def test_helper_syntax_runs_the_command_with_the_injected_environment(tmp_path: Path) -> None:
    make_helper(tmp_path, 'echo "  glpat-from-$WHO  "\n')
    cfg = write_cfg(
        tmp_path / "gl.cfg",
        "[global]\ndefault = w\n"
        "[w]\nurl = https://w.example\nprivate_token = helper: $HOME/bin/token-helper\n",
    )
    options = state({"PYTHON_GITLAB_CFG": str(cfg), "HOME": str(tmp_path), "WHO": "helper"})
    conn = resolve_connection(options)
    assert (conn.token_kind, conn.token) == ("private", "glpat-from-helper")
    assert "glpat-from-helper" in conn.secrets.values


def test_helper_with_tilde_and_oauth(tmp_path: Path) -> None:
    make_helper(tmp_path, "echo oauth-from-helper\n")
    cfg = write_cfg(
        tmp_path / "gl.cfg",
        "[global]\ndefault = w\n[w]\nurl = https://w.example\noauth_token = helper: ~/bin/token-helper\n",
    )
    conn = resolve_connection(state({"PYTHON_GITLAB_CFG": str(cfg), "HOME": str(tmp_path)}))
    assert (conn.token_kind, conn.token) == ("oauth", "oauth-from-helper")


def test_failing_helper_is_a_usage_error_that_never_shows_its_output(tmp_path: Path) -> None:
    """A helper's stderr may hold the token (or the start of it): the error names the helper and its exit
    status only. (Until issue 9 the first 200 characters of its stderr were shown.)"""
    make_helper(tmp_path, "echo 'keyring is locked: glpat-half-a-token' >&2\necho glpat-out\nexit 3\n")
    cfg = write_cfg(
        tmp_path / "gl.cfg",
        "[global]\ndefault = w\n[w]\nurl = https://w.example\nprivate_token = helper: ~/bin/token-helper\n",
    )
    with pytest.raises(UsageError) as caught:
        resolve_connection(state({"PYTHON_GITLAB_CFG": str(cfg), "HOME": str(tmp_path)}))
    line = caught.value.one_line()
    assert "the private_token helper token-helper failed (exit 3)" in line
    assert "keyring" not in line
    assert "glpat" not in line


def test_helper_is_not_run_when_a_token_variable_is_set(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    make_helper(tmp_path, f"touch {marker}\necho x\n")
    cfg = write_cfg(
        tmp_path / "gl.cfg",
        "[global]\ndefault = w\n[w]\nurl = https://w.example\nprivate_token = helper: ~/bin/token-helper\n",
    )
    resolve_connection(
        state({"PYTHON_GITLAB_CFG": str(cfg), "HOME": str(tmp_path), "GITLAB_TOKEN": "glpat-e"})
    )
    assert not marker.exists()


# --- issue URLs and hosts ----------------------------------------------------------------------


def test_issue_url_never_chooses_the_gitlab() -> None:
    """With no URL configured the GitLab is gitlab.com, and an issue URL elsewhere is refused before
    anything is sent. (Until issue 9 the issue URL's host became the GitLab, and got the token.)"""
    with pytest.raises(UsageError) as caught:
        resolve_connection(state({"GITLAB_TOKEN": "glpat-x"}), ref_url="http://192.0.2.2:39113")
    line = caught.value.one_line()
    assert line.startswith("the issue URL is on 192.0.2.2:39113 but the GitLab URL is https://gitlab.com")
    assert "set GITLAB_URL=http://192.0.2.2:39113" in line
    conn = resolve_connection(state({"GITLAB_TOKEN": "glpat-x"}), ref_url="https://gitlab.com")
    assert (conn.url, conn.url_source, conn.token) == ("https://gitlab.com", "default", "glpat-x")


def test_issue_url_on_another_host_than_the_configured_one_is_refused() -> None:
    with pytest.raises(UsageError) as caught:
        resolve_connection(state({"GITLAB_URL": "https://a.example"}), ref_url="https://b.example")
    assert caught.value.one_line() == (
        "the issue URL is on b.example but the GitLab URL is https://a.example (from GITLAB_URL); "
        "nothing was sent. set GITLAB_URL=https://b.example (or pass --url https://b.example) to use "
        "that GitLab, or give the reference as group/project#IID"
    )
    same = resolve_connection(state({"GITLAB_URL": "https://A.example/"}), ref_url="https://a.example")
    assert same.url == "https://a.example"


def test_issue_url_picks_the_config_section_of_its_host(tmp_path: Path) -> None:
    cfg = write_cfg(tmp_path / "gl.cfg", CFG)
    conn = resolve_connection(state({"PYTHON_GITLAB_CFG": str(cfg)}), ref_url="https://hobby.example:8443")
    assert (conn.url, conn.token) == ("https://hobby.example:8443", "oauth-hobby")


# --- project -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "env", "want"),
    [
        ("group/project", {}, "group/project"),
        (" group/sub/project/ ", {"CI_PROJECT_PATH": "ci/project"}, "group/sub/project"),
        ("1234", {}, "1234"),
        ("https://gitlab.com/group/project/-/issues", {}, "group/project"),
        ("https://gitlab.com/group/project.git", {}, "group/project"),
        (None, {"CI_PROJECT_PATH": "ci/project"}, "ci/project"),
        ("", {"CI_PROJECT_PATH": "ci/project"}, "ci/project"),
    ],
)
def test_project_order(option: str | None, env: dict[str, str], want: str) -> None:
    assert resolve_project(option, env) == want


def test_no_project_is_a_usage_error() -> None:
    with pytest.raises(UsageError) as caught:
        resolve_project(None, {})
    assert caught.value.message == "no project: pass --project or set CI_PROJECT_PATH"
    assert caught.value.exit_code == ExitCode.USAGE
    assert find_project(None, {}) is None
    assert find_project(None, {}, default="sand/box") == "sand/box"


@pytest.mark.parametrize("bad", ["project", "-group/project", "group//project", "a b/c"])
def test_bad_project_is_a_usage_error(bad: str) -> None:
    with pytest.raises(UsageError, match="not a project path or ID"):
        resolve_project(bad, {})


def test_writes_need_a_token_that_can_write() -> None:
    with pytest.raises(UsageError, match=r"no GitLab token for https://gitlab\.com"):
        require_write_token(resolve_connection(state({})))
    with pytest.raises(GitLabError) as caught:
        require_write_token(resolve_connection(state({"CI_JOB_TOKEN": "job-1234"})))
    assert caught.value.one_line() == (
        "CI_JOB_TOKEN can read issues but not write them. "
        "set GITLAB_TOKEN to a project access token with the api scope"
    )
    require_write_token(resolve_connection(state({"GITLAB_TOKEN": "glpat-1234"})))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="XDG layout is the Linux rule")
def test_sandbox_state_lives_in_the_users_state_folder(tmp_path: Path) -> None:
    home = str(tmp_path)
    assert default_sandbox_db({"HOME": home}) == tmp_path / ".local/state/gl-rollout/sandbox.sqlite3"
    state_home = str(tmp_path / "xdg")
    assert default_sandbox_db({"HOME": home, "XDG_STATE_HOME": state_home}) == (
        tmp_path / "xdg/gl-rollout/sandbox.sqlite3"
    )
    assert default_sandbox_db({"HOME": home, "XDG_STATE_HOME": "relative"}).is_relative_to(
        tmp_path / ".local"
    )


# --- issue 9: configuration errors say where, never what the line holds -----------------------------


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (
            "private_token = glpat-LeakMe123456\n[w]\nurl = https://w.example\n",
            "line 1: a setting before any",
        ),
        ("[w]\nurl = https://w.example\nglpat-LeakMe123456\n", "line 3: not a `key = value` line"),
        (
            "[w]\nprivate_token = glpat-LeakMe123456\nprivate_token = glpat-LeakMe123456\n",
            "line 3: private_token",
        ),
        ("[global]\ndefault = w\n[w]\nprivate_token = glpat-Leak%Me123456\n", "[w] private_token: a % must"),
    ],
    ids=["no-section", "no-key", "twice", "percent"],
)
def test_config_errors_name_the_place_never_the_line(tmp_path: Path, text: str, says: str) -> None:
    cfg = write_cfg(tmp_path / "gl.cfg", text)
    with pytest.raises(UsageError) as caught:
        resolve_connection(state({"PYTHON_GITLAB_CFG": str(cfg)}))
    line = caught.value.one_line()
    assert says in line
    assert "LeakMe" not in line
    assert "Me123456" not in line


def test_a_config_file_that_is_not_utf8_is_a_usage_error(tmp_path: Path) -> None:
    cfg = tmp_path / "gl.cfg"
    cfg.write_bytes(b"[global]\ndefault = w\n[w]\nprivate_token = glpat-\xff\xfe\n")
    with pytest.raises(UsageError, match="not UTF-8"):
        resolve_connection(state({"PYTHON_GITLAB_CFG": str(cfg)}))
