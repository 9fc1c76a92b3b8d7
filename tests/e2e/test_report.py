"""`gl-rollout report` against the sandbox: Markdown, JSON and one self-contained HTML page."""

from __future__ import annotations

import html
import json
import re
import struct
import subprocess
import time
import zlib
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt

from gl_rollout.core.checklist import parse_checklist
from gl_rollout.core.model import Issue
from gl_rollout.core.report import report_row
from gl_rollout.render.issue import RenderOptions, render_issue
from gl_rollout.render.report_formats import text_segments
from gl_rollout.sandbox import Sandbox
from tests.e2e.test_sync import add_marker, cli_env, seed_rollout
from tests.helpers import CliResult, run_cli

DAY_MS = 86_400_000


def seed_three(sb: Sandbox) -> dict[str, dict[str, Any]]:
    """A rollout in staging, one in production (another project), one untouched for 30 days."""
    staging = seed_rollout(sb, "search_box", done=["enable-staging"])
    add_marker(sb, staging, "enable", "enable-staging", "search_box", envs=["staging"], value=True)
    production = seed_rollout(
        sb,
        "new_footer",
        project=sb.second_project_path,
        done=["enable-staging", "test-staging", "docs-updated", "enable-production"],
    )
    old = seed_rollout(sb, "old_flag", created_at=int(time.time() * 1000) - 30 * DAY_MS)
    sb.create_issue(None, title="Not a rollout", description="- [ ] a task\n", labels=["feature flag"])
    return {"staging": staging, "production": production, "old": old}


def report(sb: Sandbox, *args: str, env: dict[str, str] | None = None) -> CliResult:
    return run_cli(["report", *args], env if env is not None else cli_env(sb))


def test_json_report_has_one_entry_per_rollout(sandbox: Sandbox, tmp_path: Path) -> None:
    seeded = seed_three(sandbox)
    out = tmp_path / "rollouts.json"

    result = report(sandbox, "--group", "acme", "-o", str(out))

    assert result.code == 0, result.output
    assert "wrote 3 rollouts (1 stale)" in result.stdout
    data = json.loads(out.read_text(encoding="utf-8"))
    rows = {row["flag"]: row for row in data["issues"]}
    assert set(rows) == {"search_box", "new_footer", "old_flag"}
    assert (rows["search_box"]["stage"], rows["search_box"]["done"], rows["search_box"]["total"]) == (
        "staging",
        1,
        11,
    )
    assert rows["search_box"]["next_step"]["id"] == "test-staging"
    assert rows["new_footer"]["stage"] == "production"
    assert rows["new_footer"]["web_url"] == seeded["production"]["web_url"]
    assert rows["old_flag"]["stale"] is True
    assert rows["old_flag"]["days_since_moved"] >= 29
    assert rows["search_box"]["stale"] is False
    assert data["stages"] == {"planned": 1, "staging": 1, "production": 1}


def test_stale_days_is_configurable(sandbox: Sandbox, tmp_path: Path) -> None:
    seed_three(sandbox)
    out = tmp_path / "r.json"

    result = report(sandbox, "--project", sandbox.project_path, "--stale-days", "45", "-o", str(out))

    assert result.code == 0, result.output
    assert not any(row["stale"] for row in json.loads(out.read_text(encoding="utf-8"))["issues"])


def test_markdown_report_groups_by_stage(sandbox: Sandbox, tmp_path: Path) -> None:
    seed_three(sandbox)
    out = tmp_path / "rollouts.md"

    assert report(sandbox, "--group", "acme", "-o", str(out)).code == 0

    text = out.read_text(encoding="utf-8")
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    assert headings == ["## Planned (1)", "## Staging (1)", "## Production (1)"]
    staging = text.split("## Staging (1)")[1].split("## Production")[0]
    assert "| `search_box` | 1 of 11 | Test the feature on staging |" in staging
    assert "**stale**" in text.split("## Staging")[0]


def test_a_job_token_reports_from_the_issue_list_alone(sandbox: Sandbox, tmp_path: Path) -> None:
    seed_three(sandbox)
    out = tmp_path / "r.json"
    env = {
        "CI_SERVER_URL": str(sandbox.url),
        "CI_JOB_TOKEN": sandbox.tokens["job"],
        "CI_PROJECT_PATH": sandbox.project_path,
    }
    sandbox.clear_log()

    result = report(sandbox, "-o", str(out), env=env)

    assert result.code == 0, result.output
    assert [(r.method, r.path.rsplit("/", 1)[1]) for r in sandbox.request_log] == [("GET", "issues")]
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["moved_from"] == "last-activity"
    assert {row["flag"] for row in data["issues"]} == {"search_box", "old_flag"}
    assert "cannot read comments" in result.stdout


def test_a_bad_file_name_fails_before_any_request(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.clear_log()

    result = report(sandbox, "--project", sandbox.project_path, "-o", str(tmp_path / "report.pdf"))

    assert result.code == 2
    assert ".md, .json or .html" in result.stderr
    assert sandbox.request_log == []


def test_the_report_replaces_the_old_one_atomically(sandbox: Sandbox, tmp_path: Path) -> None:
    seed_three(sandbox)
    out = tmp_path / "public" / "index.html"
    out.parent.mkdir()
    out.write_text("old report", encoding="utf-8")

    assert report(sandbox, "--group", "acme", "-o", str(out)).code == 0

    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert sorted(p.name for p in out.parent.iterdir()) == ["index.html"]


# Issue text is anyone's input; none of these may become markup in a rendered report.
HOSTILE_STEP = "Check <img src=x onerror=alert(1)> and **bold** [x](javascript:alert(2)) | cell"
# `` opens nothing (no `` closes it), so for CommonMark <img> is outside any code span.
HOSTILE_SPAN = "``<img src=y onerror=alert(3)>`then `code` <b>x</b>"
HOSTILE_TITLE = "Rollout <script>alert(4)</script> of the search box"


def seed_hostile(sb: Sandbox) -> None:
    """Two rollouts whose next step, and one whose title (no flag in it), carry HTML and Markdown."""
    for flag, text in (("flag_a", HOSTILE_STEP), ("flag_b", HOSTILE_SPAN)):
        issue = seed_rollout(sb, flag)
        first = parse_checklist(issue["description"]).steps[0]
        line = first.source.replace(first.text, text)
        description = issue["description"].replace(first.source, line)
        sb.edit_issue(None, issue["iid"], description=description)
    rendered = render_issue(RenderOptions(flag="flag_c"))
    sb.create_issue(None, title=HOSTILE_TITLE, description=rendered.description, labels=["feature flag"])


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text += data


def tags_and_text(page: str) -> tuple[set[str], str]:
    parser = _Tags()
    parser.feed(page)
    return set(parser.tags), " ".join(parser.text.split())


def test_markdown_report_keeps_issue_text_inert(sandbox: Sandbox, tmp_path: Path) -> None:
    seed_hostile(sandbox)
    out = tmp_path / "rollouts.md"

    assert report(sandbox, "--project", sandbox.project_path, "-o", str(out)).code == 0

    # Rendered as GitLab renders Markdown (CommonMark with raw HTML allowed, GFM tables).
    shown = MarkdownIt("commonmark").enable("table").render(out.read_text(encoding="utf-8"))
    tags, text = tags_and_text(shown)
    assert not tags & {"img", "script", "strong", "b"}
    assert [tag for tag in tags if tag == "a"] == ["a"]  # the issue links, nothing from the text
    assert 'href="javascript' not in shown
    # ...and the reader sees the text as written, the code span as code, each table row intact.
    assert "Check <img src=x onerror=alert(1)> and **bold** [x](javascript:alert(2)) | cell" in text
    assert "``<img src=y onerror=alert(3)>" in text
    assert "<code>then </code>code` <b>x</b>" in shown.replace("&lt;", "<").replace("&gt;", ">")
    assert "Rollout <script>alert(4)</script> of the search box" in text
    rows = [line for line in out.read_text(encoding="utf-8").splitlines() if line.startswith("| ")]
    assert {line.count(" | ") for line in rows} == {5}  # six cells in every row


def test_html_report_keeps_issue_text_inert(sandbox: Sandbox, tmp_path: Path) -> None:
    seed_hostile(sandbox)
    out = tmp_path / "index.html"

    assert report(sandbox, "--project", sandbox.project_path, "-o", str(out)).code == 0

    tags, text = tags_and_text(out.read_text(encoding="utf-8"))
    assert not tags & {"img", "script", "strong", "b"}
    assert "Next: Check <img src=x onerror=alert(1)> and **bold**" in text
    assert "Rollout <script>alert(4)</script> of the search box" in text


def test_last_activity_is_the_utc_date(sandbox: Sandbox, tmp_path: Path) -> None:
    # A server answering in +01:00: 23:30 UTC on the 20th is 00:30 on the 21st there.
    sandbox.quirks.time_format = "local"
    utc = datetime(2026, 11, 20, 23, 30, tzinfo=UTC)
    seed_rollout(sandbox, "search_box", created_at=int(utc.timestamp() * 1000))
    out_md, out_html = tmp_path / "r.md", tmp_path / "r.html"

    assert report(sandbox, "--project", sandbox.project_path, "-o", str(out_md)).code == 0
    assert report(sandbox, "--project", sandbox.project_path, "-o", str(out_html)).code == 0

    assert "| 2026-11-20 |" in out_md.read_text(encoding="utf-8")
    assert "last activity 2026-11-20" in out_html.read_text(encoding="utf-8")
    assert "2026-11-21" not in out_md.read_text(encoding="utf-8") + out_html.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("text", "segments"),
    [
        ("plain", [("plain", False)]),
        ("run `cmd --x` now", [("run ", False), ("cmd --x", True), (" now", False)]),
        ("``a ` b``", [("a ` b", True)]),
        ("`` `x` ``", [("`x`", True)]),
        ("``<i>`a`", [("``<i>", False), ("a", True)]),
        ("\\`<i>`a`", [("\\`<i>", False), ("a", True)]),
        ("`unclosed <i>", [("`unclosed <i>", False)]),
        (
            HOSTILE_SPAN,
            [("``<img src=y onerror=alert(3)>", False), ("then ", True), ("code` <b>x</b>", False)],
        ),
    ],
)
def test_code_spans_are_found_as_commonmark_finds_them(text: str, segments: list[tuple[str, bool]]) -> None:
    assert text_segments(text) == segments
    # The oracle: CommonMark's own reading of the same text.
    rendered = MarkdownIt("commonmark").renderInline(text)
    assert re.findall(r"<code>(.*?)</code>", rendered) == [html.escape(p) for p, code in segments if code]


def test_unreadable_timestamps_give_no_made_up_age() -> None:
    issue = Issue(
        id=1, iid=7, project_id=1, title="Rollout of `search_box`",
        description=render_issue(RenderOptions(flag="search_box")).description, state="opened",
        labels=("feature flag",), web_url="http://gitlab.test/g/p/-/issues/7", reference="g/p#7",
        created_at="yesterday", updated_at="soon", author="lead",
    )  # fmt: skip
    row = report_row(issue, [], now=datetime(2026, 3, 1, tzinfo=UTC), stale_days=14)

    assert row is not None
    assert (row.days_since_moved, row.stale) == (None, False)
    assert row.unreadable_times == ("yesterday", "soon")


class _Resources(HTMLParser):
    """Every attribute that could make a browser fetch something, and the links."""

    def __init__(self) -> None:
        super().__init__()
        self.fetching: list[str] = []
        self.links: list[str] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        for name, value in attrs:
            if tag == "a" and name == "href":
                self.links.append(value or "")
            elif name in {"src", "href", "srcset", "poster", "data", "action"}:
                self.fetching.append(f"{tag} {name}={value}")


def test_html_report_is_self_contained(sandbox: Sandbox, tmp_path: Path) -> None:
    seeded = seed_three(sandbox)
    out = tmp_path / "index.html"

    assert report(sandbox, "--group", "acme", "-o", str(out)).code == 0

    page = out.read_text(encoding="utf-8")
    parser = _Resources()
    parser.feed(page)
    assert parser.fetching == []
    assert not parser.tags & {"script", "link", "img", "iframe", "object", "embed"}
    assert "url(" not in page
    assert "@import" not in page
    assert sorted(parser.links) == sorted(issue["web_url"] for issue in seeded.values())


def chromium() -> str | None:
    for candidate in ("/usr/bin/chromium", "/usr/bin/chromium-browser"):
        if Path(candidate).exists():
            return candidate
    return None


def run_chromium(tmp_path: Path, *args: str) -> str:
    browser = chromium()
    assert browser is not None
    done = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'chromium-profile'}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


class _Rendered(HTMLParser):
    """What the rendered page shows: each stage heading, the flags and progress texts under it."""

    def __init__(self) -> None:
        super().__init__()
        self.stages: dict[str, list[dict[str, str]]] = {}
        self._stage: str | None = None
        self._field: str | None = None
        self._in_h2 = False
        self._h2 = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        classes = (attributes.get("class") or "").split()
        if tag == "h2":
            self._in_h2, self._h2 = True, ""
        elif tag == "li" and "rollout" in classes and self._stage is not None:
            self.stages[self._stage].append({"stale": "yes" if "is-stale" in classes else "no"})
        elif tag == "div" and "bar" in classes and self._stage is not None:
            self.stages[self._stage][-1]["bar"] = (
                f"{attributes.get('aria-valuenow')}/{attributes.get('aria-valuemax')}"
            )
        elif tag == "span" and self._stage is not None and {"flag", "progress", "next"} & set(classes):
            self._field = next(c for c in classes if c in {"flag", "progress", "next"})

    def handle_endtag(self, tag: str) -> None:
        if tag == "h2":
            self._in_h2 = False
            self._stage = " ".join(self._h2.split())
            self.stages[self._stage] = []
        elif tag == "span":
            self._field = None

    def handle_data(self, data: str) -> None:
        if self._in_h2:
            self._h2 += data
        elif self._field and self._stage is not None:
            entry = self.stages[self._stage][-1]
            entry[self._field] = entry.get(self._field, "") + data


@pytest.mark.browser
@pytest.mark.skipif(chromium() is None, reason="chromium is not installed")
def test_html_report_renders_in_chromium(sandbox: Sandbox, tmp_path: Path) -> None:
    seed_three(sandbox)
    out = tmp_path / "index.html"
    assert report(sandbox, "--group", "acme", "-o", str(out)).code == 0

    dom = run_chromium(tmp_path, "--dump-dom", out.as_uri())

    shown = _Rendered()
    shown.feed(dom)
    assert list(shown.stages) == ["Planned (1)", "Staging (1)", "Production (1)"]
    assert shown.stages["Staging (1)"] == [
        {
            "stale": "no",
            "flag": "search_box",
            "bar": "1/11",
            "progress": "1 of 11 done",
            "next": "Next: Test the feature on staging",
        }
    ]
    (old,) = shown.stages["Planned (1)"]
    assert (old["flag"], old["stale"], old["progress"]) == ("old_flag", "yes", "0 of 11 done")
    (production,) = shown.stages["Production (1)"]
    assert (production["flag"], production["progress"]) == ("new_footer", "4 of 11 done")


@pytest.mark.browser
@pytest.mark.skipif(chromium() is None, reason="chromium is not installed")
def test_html_report_screenshot_is_not_blank(sandbox: Sandbox, tmp_path: Path) -> None:
    seed_three(sandbox)
    out = tmp_path / "index.html"
    assert report(sandbox, "--group", "acme", "-o", str(out)).code == 0
    png = tmp_path / "shot.png"

    run_chromium(tmp_path, f"--screenshot={png}", "--window-size=900,700", out.as_uri())

    blob = png.read_bytes()
    assert blob[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, offset = [], 8
    while offset < len(blob):
        (length,) = struct.unpack(">I", blob[offset : offset + 4])
        kind = blob[offset + 4 : offset + 8]
        if kind == b"IDAT":
            chunks.append(blob[offset + 8 : offset + 8 + length])
        offset += 12 + length
    pixels = zlib.decompress(b"".join(chunks))
    # A blank page compresses to a handful of byte values; text, bars and headings give many.
    assert len(set(pixels)) > 50
