"""Security promises a user relies on without reading the code.

- The token never shows: not on stdout or stderr, not in the JSON envelope or `--json-file`, not with
  `--debug`, not in log records; every failure path runs with a recognisable token and all output is scanned.
- TLS is verified by default; `--ca-bundle` is how a private CA is trusted.
- The sandbox listens on loopback only.
- Written files are replaced atomically and never through a symlink that leaves the target's folder.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import re
import socket
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote_plus

import pytest

from gl_rollout.sandbox import Sandbox
from tests.helpers import run_cli

FLAG = "product_analytics_aggregated_metrics"
SENTINEL = "glpat-Sentinel7f3a9c1eD4b2"  # a token GitLab does not know: it must still never be shown


def rollout_issue(sb: Sandbox) -> str:
    data = json.loads(run_cli(["render", FLAG, "--json"]).stdout)["data"]
    issue = sb.create_issue(title=data["title"], description=data["description"], labels=data["labels"])
    return f"{sb.project_path}#{issue['iid']}"


# --- the token never shows -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Path_:
    """A failure path: how to arm the sandbox, the command, and the environment holding the token."""

    id: str
    args: Callable[[Sandbox, str], list[str]]
    env: Callable[[Sandbox, Path], dict[str, str]]  # the sandbox and a scratch folder
    arm: Callable[[Sandbox], None] = lambda sb: None


def developer(sb: Sandbox, _folder: Path) -> dict[str, str]:
    return {"GITLAB_TOKEN": sb.tokens["developer"]}


def sentinel(_sb: Sandbox, _folder: Path) -> dict[str, str]:
    return {"GITLAB_TOKEN": SENTINEL}


def write_config(sb: Sandbox, folder: Path) -> dict[str, str]:
    """A python-gitlab configuration file holding the token (no token variable set)."""
    return config_with(f"[global]\ndefault = sb\n\n[sb]\nurl = {sb.url}\nprivate_token = {SENTINEL}\n")(
        sb, folder
    )


def config_with(text: str, helper: str | None = None) -> Callable[[Sandbox, Path], dict[str, str]]:
    """A configuration file of `text` (`{url}` is the sandbox's, `{helper}` the script of `helper`)."""

    def build(sb: Sandbox, folder: Path) -> dict[str, str]:
        script = folder / "helper.sh"
        if helper is not None:
            script.write_text("#!/bin/sh\n" + helper, encoding="utf-8")
            script.chmod(0o755)
        cfg = folder / "python-gitlab.cfg"
        cfg.write_text(text.format(url=sb.url, helper=script, token=SENTINEL), encoding="utf-8")
        return {"PYTHON_GITLAB_CFG": str(cfg)}

    return build


SECTION = "[global]\ndefault = sb\n[sb]\nurl = {url}\n"


FAILURES = [
    Path_("401-wrong-token", lambda sb, ref: ["enable", ref, "--env", "staging"], sentinel),
    Path_("401-oauth", lambda sb, ref: ["status", ref], lambda sb, _f: {"GITLAB_OAUTH_TOKEN": SENTINEL}),
    Path_("401-config-file", lambda sb, ref: ["announce", ref, "--eta", "in 2h"], write_config),
    Path_("401-create", lambda sb, ref: ["create", FLAG, "--project", sb.project_path], sentinel),
    Path_("403-read-only", lambda sb, ref: ["announce", ref, "--eta", "in 2h"],
          lambda sb, _f: {"GITLAB_TOKEN": sb.tokens["reporter"]}),
    Path_("job-token-write", lambda sb, ref: ["check", ref, "enable-staging"],
          lambda sb, _f: {"CI_JOB_TOKEN": SENTINEL, "CI_SERVER_URL": sb.url or ""}),
    Path_("404-project", lambda sb, ref: ["create", FLAG, "--project", "no/such"], developer),
    Path_("404-issue", lambda sb, ref: ["status", f"{sb.project_path}#999"], developer),
    Path_("500-forever", lambda sb, ref: ["status", ref], developer,
          lambda sb: sb.faults.fail_next("GET", "/issues", 500, count=50)),
    Path_("502-on-write", lambda sb, ref: ["enable", ref, "--env", "staging"], developer,
          lambda sb: sb.faults.fail_next("POST", "/notes", 502, count=50)),
    Path_("dropped-connections", lambda sb, ref: ["status", ref], developer,
          lambda sb: sb.faults.drop_next("GET", "/issues", count=50)),
    Path_("timeout", lambda sb, ref: ["sync", ref], developer,
          lambda sb: sb.faults.delay("GET", "/issues", 1.0, count=50)),
    Path_("closed-port", lambda sb, ref: ["status", ref, "--url", "http://127.0.0.1:9"], sentinel),
    Path_("unknown-step", lambda sb, ref: ["check", ref, "no-such-step"], developer),
    Path_("apply-bad-admin-token", lambda sb, ref: ["enable", ref, "--env", "staging", "--apply"],
          lambda sb, _f: {"GITLAB_TOKEN": sb.tokens["developer"], "GITLAB_ADMIN_TOKEN": SENTINEL}),
    Path_("require-not-done", lambda sb, ref: ["status", ref, "--require", "cleanup"], developer),
    # issue 9: a token that is no header value, configuration errors and helpers
    Path_("token-with-crlf", lambda sb, ref: ["status", ref],
          lambda sb, _f: {"GITLAB_TOKEN": f"{SENTINEL}\r\nX-Injected: 1"}),
    Path_("admin-token-with-newline", lambda sb, ref: ["enable", ref, "--env", "staging", "--apply"],
          lambda sb, _f: {"GITLAB_TOKEN": sb.tokens["developer"], "GITLAB_ADMIN_TOKEN": f"{SENTINEL}\nx"}),
    Path_("helper-prints-two-lines", lambda sb, ref: ["status", ref],
          config_with(SECTION + "private_token = helper: {helper}\n", f"echo {SENTINEL}\necho login: dev\n")),
    Path_("helper-fails-saying-the-token", lambda sb, ref: ["status", ref],
          config_with(SECTION + "private_token = helper: {helper}\n", f"echo 'no {SENTINEL}' >&2\nexit 1")),
    Path_("config-line-without-key", lambda sb, ref: ["status", ref],
          config_with(SECTION + "private_token\n{token}\n")),
    Path_("config-before-any-section", lambda sb, ref: ["status", ref],
          config_with("private_token = {token}\n" + SECTION)),
    Path_("config-percent-in-token", lambda sb, ref: ["status", ref],
          config_with(SECTION + "private_token = {token}%{token}\n")),
    Path_("config-option-twice", lambda sb, ref: ["status", ref],
          config_with(SECTION + "private_token = {token}\nprivate_token = {token}\n")),
    Path_("url-holding-the-token", lambda sb, ref: ["status", ref, "--url", f"http://oauth2:{SENTINEL}@127.0.0.1:9"],
          developer),
    Path_("issue-url-holding-the-token", lambda sb, ref: ["status", f"http://u:{SENTINEL}@h.example/a/b/-/issues/1"],
          developer),
]  # fmt: skip


def secrets_of(sb: Sandbox, env: dict[str, str]) -> list[str]:
    """Every token the run could know, and a distinctive part of each (a leak may be cut or re-encoded)."""
    found = {SENTINEL, *sb.tokens.values()} | {v for k, v in env.items() if "TOKEN" in k}
    parts = set(found)
    for token in found:
        parts.add(token[len(token) // 3 : 2 * len(token) // 3])
    return sorted(p for p in parts if len(p) >= 6)


def leaks(text: str, secrets: list[str]) -> list[str]:
    """The secrets found in `text` as written, URL-encoded, backslash-escaped, or base64-encoded at any
    alignment (as inside `Authorization: Basic`, after a user name)."""
    readings = [text, unquote_plus(text)]
    with contextlib.suppress(UnicodeDecodeError):
        readings.append(text.encode("latin-1", "backslashreplace").decode("unicode_escape"))
    for run in re.findall(r"[A-Za-z0-9+/_-]{12,}={0,2}", text):
        for start in range(4):
            chunk = run[start:]
            chunk = chunk[: len(chunk) - len(chunk) % 4]
            with contextlib.suppress(ValueError):
                readings.append(base64.b64decode(chunk.replace("-", "+").replace("_", "/")).decode("latin-1"))
    return [s for s in secrets if any(s in reading for reading in readings)]


@pytest.mark.parametrize("mode", ["plain", "json-debug"])
@pytest.mark.parametrize("path", FAILURES, ids=[p.id for p in FAILURES])
def test_the_token_never_shows(
    path: Path_, mode: str, sandbox: Sandbox, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert sandbox.url is not None
    ref = rollout_issue(sandbox)
    path.arm(sandbox)
    env = path.env(sandbox, tmp_path)
    args = path.args(sandbox, ref)
    if "--url" not in args:
        args += ["--url", sandbox.url]
    envelope_file = tmp_path / "envelope.json"
    args += ["--timeout", "0.5", "--json-file", str(envelope_file)]
    if mode == "json-debug":
        args += ["--json", "--debug"]  # the envelope on stdout, tracebacks on stderr: both scanned
    caplog.set_level(logging.DEBUG)
    result = run_cli(args, env=env)
    assert result.code != 0, f"{path.id} was meant to fail: {result.output[-300:]}"
    secrets = secrets_of(sandbox, env)
    assert not leaks(result.stdout, secrets), "token on stdout"
    assert not leaks(result.stderr, secrets), "token on stderr"
    assert not leaks(caplog.text, secrets), "token in a log record"
    assert envelope_file.exists(), "--json-file was not written"
    assert not leaks(envelope_file.read_text(encoding="utf-8"), secrets), "token in --json-file"
    if mode == "json-debug":
        envelope = json.loads(result.stdout)
        assert envelope["ok"] is False
        assert not leaks(json.dumps(envelope), secrets)
        if result.code == 1:
            assert "Traceback" in result.stderr


ENCODED = {
    "raw": lambda t: f"token {t} here",
    "repr": lambda t: repr(ValueError(f"Invalid header value {(t + chr(13) + chr(10)).encode()!r}")),
    "json": lambda t: json.dumps({"header": t + "\n"}),
    "url-encoded": lambda t: "https://h.example/?private_token=" + quote(t + " /", safe=""),
    "basic-auth": lambda t: "Authorization: Basic " + base64.b64encode(f"oauth2:{t}".encode()).decode(),
    "basic-auth-2": lambda t: "Authorization: Basic " + base64.b64encode(f"ci:{t}".encode()).decode(),
    "basic-auth-3": lambda t: "Authorization: Basic " + base64.b64encode(f"me:{t}".encode()).decode(),
    "base64": lambda t: base64.b64encode(t.encode()).decode(),
}


@pytest.mark.parametrize("form", list(ENCODED))
def test_the_scan_sees_every_encoding_and_redact_masks_it(form: str) -> None:
    """The scan above would catch a token in any of these forms, and the CLI's masking removes it."""
    from gl_rollout.errors import redact

    token = SENTINEL + "/+x y"  # characters that URL-encoding and JSON change
    text = ENCODED[form](token)
    assert leaks(text, [SENTINEL]), "the scan must see the token in this form"
    masked = redact(text, [token])
    assert "[MASKED]" in masked
    assert not leaks(masked, [SENTINEL[3:-3]]), masked


def test_a_token_inside_the_url_is_not_shown(sandbox: Sandbox) -> None:
    """People paste `https://user:TOKEN@host`; the token must not come back in an error about that URL."""
    result = run_cli(
        [
            "status",
            "acme/platform/rollouts#1",
            "--url",
            f"http://oauth2:{SENTINEL}@127.0.0.1:9",
            "--timeout",
            "0.5",
        ],
        env={"GITLAB_TOKEN": sandbox.tokens["developer"]},
    )
    assert result.code != 0
    assert SENTINEL not in result.output


# --- TLS -------------------------------------------------------------------------------------------------


def test_tls_is_verified_by_default_even_with_an_empty_curl_ca_bundle(
    https_sandbox: tuple[Sandbox, str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An empty CURL_CA_BUNDLE once switched verification off in requests; it must not here."""
    sb, url, cert = https_sandbox
    monkeypatch.setenv("CURL_CA_BUNDLE", "")
    env = {"GITLAB_TOKEN": sb.tokens["developer"]}
    ref = rollout_issue(sb)
    refused = run_cli(["status", ref, "--url", url, "--timeout", "5"], env=env)
    assert refused.code == 3, refused.output
    assert "certificate" in refused.stderr.lower()
    trusted = run_cli(["status", ref, "--url", url, "--timeout", "5", "--ca-bundle", str(cert)], env=env)
    assert trusted.code == 0, trusted.stderr


def test_a_missing_ca_bundle_is_a_usage_error(sandbox: Sandbox, tmp_path: Path) -> None:
    assert sandbox.url is not None
    result = run_cli(
        ["status", rollout_issue(sandbox), "--url", sandbox.url, "--ca-bundle", str(tmp_path / "none.pem")],
        env={"GITLAB_TOKEN": sandbox.tokens["developer"]},
    )
    assert result.code == 2, result.output
    assert "none.pem" in result.stderr


# --- the sandbox listens on loopback only ------------------------------------------------------------------


def outward_address() -> str | None:
    """This machine's address on its default route, if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: nothing is sent for UDP connect
        except OSError:
            return None
        address = str(probe.getsockname()[0])
    return None if address.startswith("127.") or address == "0.0.0.0" else address  # noqa: S104


def test_the_sandbox_listens_on_loopback_only(sandbox: Sandbox) -> None:
    assert sandbox.url is not None
    assert sandbox.url.startswith("http://127.0.0.1:")
    port = int(sandbox.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5):
        pass
    outward = outward_address()
    if outward is None:
        pytest.skip("no non-loopback address on this machine")
    with (
        pytest.raises((ConnectionRefusedError, TimeoutError)),
        socket.create_connection((outward, port), timeout=2),
    ):
        pass


def test_sandbox_serve_binds_loopback_and_has_no_host_option(tmp_path: Path) -> None:
    assert run_cli(["sandbox", "serve", "--host", "0.0.0.0"]).code == 2  # noqa: S104
    command = [
        sys.executable,
        "-m",
        "gl_rollout",
        "sandbox",
        "serve",
        "--port",
        "0",
        "--db",
        str(tmp_path / "s.db"),
    ]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as process:
        try:
            assert process.stdout is not None
            banner = ""
            for _ in range(40):
                line = process.stdout.readline()
                banner += line
                if "http://" in line:
                    break
            assert "http://127.0.0.1:" in banner, banner
            assert "0.0.0.0" not in banner  # noqa: S104
        finally:
            process.terminate()
            process.wait(timeout=30)


# --- written files: atomic, never through a symlink out of the folder -------------------------------------


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    """`work/` where the user writes, `outside/` that a symlink in `work/` points into."""
    work, outside = tmp_path / "work", tmp_path / "outside"
    work.mkdir()
    outside.mkdir()
    rendered = run_cli(["render", FLAG])
    (work / "seed.md").write_text(rendered.stdout.split("\n", 2)[2], encoding="utf-8")
    (outside / "victim.md").write_text("precious\n", encoding="utf-8")
    (work / "link.md").symlink_to(outside / "victim.md")
    return work, outside


def test_check_in_place_refuses_a_symlink_out_of_the_folder(folders: tuple[Path, Path]) -> None:
    work, outside = folders
    (outside / "victim.md").write_text((work / "seed.md").read_text(encoding="utf-8"), encoding="utf-8")
    before = (outside / "victim.md").read_bytes()
    result = run_cli(["check", "--file", str(work / "link.md"), "enable-staging", "--in-place"])
    assert result.code == 2, result.output
    assert len(result.stderr.splitlines()) == 1
    assert "symlink" in result.stderr
    assert (outside / "victim.md").read_bytes() == before
    assert (work / "link.md").is_symlink()


def test_check_in_place_replaces_the_file_atomically(folders: tuple[Path, Path]) -> None:
    work, _ = folders
    seed = work / "seed.md"
    seed.chmod(0o640)
    inode = seed.stat().st_ino
    result = run_cli(["check", "--file", str(seed), "enable-staging", "--in-place"])
    assert result.code == 0, result.stderr
    assert "[x] Enable on staging" in seed.read_text(encoding="utf-8")
    # A rename puts a new file in place (readers see the old or the new text, never half of it).
    assert seed.stat().st_ino != inode
    assert seed.stat().st_mode & 0o777 == 0o640, "the file's permissions are kept"
    assert sorted(p.name for p in work.iterdir()) == ["link.md", "seed.md"], "no temporary file is left"


def test_check_in_place_through_a_symlink_inside_the_folder_keeps_the_link(
    folders: tuple[Path, Path],
) -> None:
    work, _ = folders
    (work / "inner.md").symlink_to("seed.md")
    result = run_cli(["check", "--file", str(work / "inner.md"), "enable-staging", "--in-place"])
    assert result.code == 0, result.stderr
    assert (work / "inner.md").is_symlink()
    assert "[x] Enable on staging" in (work / "seed.md").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "args",
    [
        ["render", FLAG, "-o", "{work}/out.md"],
        ["status", "--file", "{work}/seed.md", "--json-file", "{work}/out.md"],
    ],
    ids=["render-o", "json-file"],
)
def test_outputs_never_follow_a_symlink_out_of_the_folder(
    args: list[str], folders: tuple[Path, Path]
) -> None:
    work, outside = folders
    (work / "out.md").symlink_to(outside / "victim.md")
    result = run_cli([a.replace("{work}", str(work)) for a in args])
    assert result.code == 2, result.output
    assert "Traceback" not in result.output
    assert (outside / "victim.md").read_text(encoding="utf-8") == "precious\n"


def test_json_file_never_follows_a_symlink_out_of_its_folder(folders: tuple[Path, Path]) -> None:
    work, outside = folders
    (work / "envelope.json").symlink_to(outside / "victim.md")
    result = run_cli(["status", "--file", str(work / "seed.md"), "--json-file", str(work / "envelope.json")])
    assert result.code == 2, result.output
    assert "Traceback" not in result.output
    assert (outside / "victim.md").read_text(encoding="utf-8") == "precious\n"


def test_report_never_follows_a_symlink_out_of_its_folder(
    sandbox: Sandbox, folders: tuple[Path, Path]
) -> None:
    assert sandbox.url is not None
    work, outside = folders
    rollout_issue(sandbox)
    (work / "report.html").symlink_to(outside / "victim.md")
    result = run_cli(
        ["report", "--project", sandbox.project_path, "-o", str(work / "report.html"), "--url", sandbox.url],
        env={"GITLAB_TOKEN": sandbox.tokens["developer"]},
    )
    assert result.code == 2, result.output
    assert (outside / "victim.md").read_text(encoding="utf-8") == "precious\n"


def test_write_definition_never_follows_a_symlink_out_of_its_folder(
    sandbox: Sandbox, folders: tuple[Path, Path]
) -> None:
    assert sandbox.url is not None
    work, outside = folders
    definition = f"name: {FLAG}\ntype: beta\ndefault_enabled: false\nmilestone: '17.1'\nrollout_issue_url:\n"
    (outside / "flag.yml").write_text(definition, encoding="utf-8")
    (work / "flag.yml").symlink_to(outside / "flag.yml")
    result = run_cli(
        ["create", "--definition", str(work / "flag.yml"), "--write-definition",
         "--project", sandbox.project_path, "--url", sandbox.url],
        env={"GITLAB_TOKEN": sandbox.tokens["developer"]},
    )  # fmt: skip
    assert result.code == 2, result.output
    assert "Traceback" not in result.output
    assert (outside / "flag.yml").read_text(encoding="utf-8") == definition


def test_write_definition_keeps_the_file_and_writes_atomically(sandbox: Sandbox, tmp_path: Path) -> None:
    assert sandbox.url is not None
    definition = tmp_path / "flag.yml"
    text = (
        f"---\n# owned by product analytics\nname: {FLAG}\ntype: beta\ndefault_enabled: false\n"
        "milestone: '17.1'\nrollout_issue_url:\n"
    )
    definition.write_text(text, encoding="utf-8")
    inode = definition.stat().st_ino
    result = run_cli(
        ["create", "--definition", str(definition), "--write-definition",
         "--project", sandbox.project_path, "--url", sandbox.url],
        env={"GITLAB_TOKEN": sandbox.tokens["developer"]},
    )  # fmt: skip
    assert result.code == 0, result.stderr
    written = definition.read_text(encoding="utf-8")
    assert "# owned by product analytics" in written
    assert "rollout_issue_url: " in written
    assert "/-/issues/1" in written
    assert definition.stat().st_ino != inode
    assert sorted(p.name for p in tmp_path.iterdir()) == ["flag.yml"]


def test_files_written_by_sync_state_stay_in_their_folder(
    sandbox: Sandbox, folders: tuple[Path, Path]
) -> None:
    assert sandbox.url is not None
    work, outside = folders
    rollout_issue(sandbox)
    (work / "state.json").symlink_to(outside / "victim.md")
    result = run_cli(
        [
            "sync",
            "--project",
            sandbox.project_path,
            "--state",
            str(work / "state.json"),
            "--url",
            sandbox.url,
        ],
        env={"GITLAB_TOKEN": sandbox.tokens["developer"]},
    )
    assert result.code != 0
    assert "Traceback" not in result.output
    assert (outside / "victim.md").read_text(encoding="utf-8") == "precious\n"
