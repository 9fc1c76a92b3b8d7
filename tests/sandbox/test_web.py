"""The sandbox's web pages: what the links gl-rollout prints open in a browser (issue 13, deliverable 1).

The pages are read as a browser would: parsed HTML over real HTTP, and once in headless Chromium (as
the report is, tests/e2e/test_report.py), where the boxes a description ticks must show checked.
"""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest
import requests

from gl_rollout.sandbox import Sandbox
from tests.conftest import PlainHTTP
from tests.e2e.test_report import chromium, run_chromium

CHECKLIST = """Rollout of `my_flag`.

- [x] Enable on staging
- [ ] Enable for 10% of production
- [~] Announce in the changelog
- [X] Check the dashboards
"""


class Boxes(HTMLParser):
    """The checkboxes, ids, script tags and links of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.boxes: list[str] = []
        self.ids: list[str] = []
        self.scripts = 0
        self.handlers: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.tags.append(tag)
        if tag == "script":
            self.scripts += 1
        self.handlers += [name for name, _ in attrs if name.startswith("on")]
        if found.get("id"):
            self.ids.append(found["id"])
        if tag == "input" and found.get("type") == "checkbox":
            state = "checked" if "checked" in found else "open"
            self.boxes.append("inapplicable" if "data-inapplicable" in found else state)


def get(sandbox: Sandbox, path: str) -> requests.Response:
    return requests.get(f"{sandbox.url}{path}", timeout=10)


def parsed(text: str) -> Boxes:
    parser = Boxes()
    parser.feed(text)
    return parser


def test_issue_page_shows_title_state_labels_boxes_and_activity(api: PlainHTTP, sandbox: Sandbox) -> None:
    issue = sandbox.create_issue(title="Roll out my_flag", description=CHECKLIST, labels=["feature flag"])
    note = sandbox.add_note(None, issue["iid"], "Enabled on **staging**", author="alice")
    api("PUT", f"/projects/42/issues/{issue['iid']}", json={"state_event": "close"})
    page = get(sandbox, f"/acme/platform/rollouts/-/issues/{issue['iid']}")
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert "script-src" not in page.headers["Content-Security-Policy"]  # default-src 'none' forbids them
    assert page.headers["X-Request-Id"]
    seen = parsed(page.text)
    assert seen.boxes == ["checked", "open", "inapplicable", "checked"]
    assert f"note_{note['id']}" in seen.ids
    assert "Roll out my_flag" in page.text
    assert "feature flag" in page.text
    assert "Closed" in page.text
    assert "<strong>staging</strong>" in page.text  # comments rendered as Markdown
    assert page.text.index("Enabled on") < page.text.index("closed</div>")  # activity oldest first
    assert "2 of 3 checklist items completed" in page.text  # `[~]` counts neither way
    work_item = get(sandbox, f"/acme/platform/rollouts/-/work_items/{issue['iid']}")
    assert parsed(work_item.text).boxes == seen.boxes


def test_checklist_notes_have_anchors(sandbox: Sandbox) -> None:
    issue = sandbox.create_issue(title="t", description="- [ ] one")
    sandbox.edit_issue(None, issue["iid"], description="- [x] one")
    system = sandbox.notes(None, issue["iid"])[0]
    page = get(sandbox, f"/acme/platform/rollouts/-/issues/{issue['iid']}")
    assert f"note_{system['id']}" in parsed(page.text).ids
    assert "marked the checklist item <strong>one</strong> as completed" in page.text


def test_attacker_text_is_never_markup(sandbox: Sandbox) -> None:
    hostile = (
        '<script>alert(1)</script> <img src=x onerror="alert(2)"> [x](javascript:alert(3))\n\n'
        '<details><summary>more</summary><a href="https://evil.example" onclick="x()">hi</a></details>\n\n'
        "- [x] <b onmouseover=alert(4)>bold</b>\n"
    )
    issue = sandbox.create_issue(title="<script>alert('t')</script>", description=hostile)
    sandbox.add_note(None, issue["iid"], "<iframe src=//evil.example></iframe>")
    page = get(sandbox, f"/acme/platform/rollouts/-/issues/{issue['iid']}")
    seen = parsed(page.text)
    assert seen.scripts == 0
    assert seen.handlers == []
    assert "iframe" not in seen.tags
    assert "img" not in seen.tags
    assert "javascript:" not in page.text.replace("[x](javascript:alert(3))", "")
    assert "&lt;script&gt;" in page.text
    assert "details" in seen.tags  # a tag GitLab's sanitiser keeps, re-emitted bare
    assert seen.boxes == ["checked"]


def test_issue_list_project_and_missing_pages(sandbox: Sandbox) -> None:
    sandbox.create_issue(title="Open one", description="- [x] a\n- [ ] b")
    closed = sandbox.create_issue(title="Closed one", state_event="close")
    listing = get(sandbox, "/acme/platform/rollouts/-/issues")
    assert listing.status_code == 200
    assert "Open one" in listing.text
    assert "Closed one" not in listing.text
    assert "1 of 2 checklist items completed" in listing.text
    closed_list = get(sandbox, "/acme/platform/rollouts/-/issues?state=closed").text
    assert f'href="/acme/platform/rollouts/-/issues/{closed["iid"]}"' in closed_list
    assert get(sandbox, "/acme/platform/rollouts").status_code == 200
    assert get(sandbox, "/").status_code == 200
    assert get(sandbox, "/groups/acme").status_code == 200
    for missing in ("/acme/platform/rollouts/-/issues/99", "/acme/nothing/-/issues", "/groups/none"):
        answer = get(sandbox, missing)
        assert answer.status_code == 404, missing
        assert answer.headers["Content-Type"].startswith("text/html")
    assert requests.post(f"{sandbox.url}/acme/platform/rollouts/-/issues", timeout=10).status_code == 404


def test_feature_flag_pages(api: PlainHTTP, sandbox: Sandbox) -> None:
    api("POST", "/features/my_flag", as_="admin", data={"value": "25"})
    instance = get(sandbox, "/admin/features")
    assert instance.status_code == 200
    assert "my_flag" in instance.text
    assert "conditional" in instance.text
    sandbox.create_project_flag("new_checkout", description="<b>x</b>")
    project = get(sandbox, "/acme/platform/rollouts/-/feature_flags")
    assert project.status_code == 200
    assert "new_checkout" in project.text
    assert "&lt;b&gt;x&lt;/b&gt;" in project.text


@pytest.mark.skipif(chromium() is None, reason="chromium is not installed")
def test_issue_page_in_chromium_shows_ticked_boxes(sandbox: Sandbox, tmp_path: Path) -> None:
    issue = sandbox.create_issue(title="Roll out my_flag", description=CHECKLIST)
    url = f"{sandbox.url}/acme/platform/rollouts/-/issues/{issue['iid']}"
    dom = run_chromium(tmp_path, "--dump-dom", url)
    seen = parsed(dom)
    assert seen.boxes == ["checked", "open", "inapplicable", "checked"]
    assert "Roll out my_flag" in dom
