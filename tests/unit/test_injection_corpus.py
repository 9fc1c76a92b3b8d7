"""The injection corpus (issue 9): every payload through every templated field, judged as GitLab would.

A payload is either refused (exit 2, the field's own validation) or lands inert. Inert means, on the
description as it would be stored:

- boxes: the template's steps and no other, counted three ways that must agree: gl-rollout's parser, the
  sandbox's port of GitLab's `Taskable` counter (`task_completion_status`), and a CommonMark renderer with
  task lists (what GitLab draws);
- mentions: no `@all`/`@here`/`@channel` that GitLab's reference pattern `(?<!\\w)@name` finds in a text
  node of the rendered HTML (after emphasis and character references are resolved, as GitLab sees them);
- quick actions: no line but the template's own `/label` starts with `/`;
- no control, bidi or zero-width character in the text;
- no HTML comment opened or closed by a value.

Then a smaller set runs through the CLI against the sandbox: the issue is created, nothing is closed,
assigned or relabelled, and GitLab's count equals the tool's.
"""

from __future__ import annotations

import html
import json
import re
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt
from mdit_py_plugins.tasklists import tasklists_plugin

from gl_rollout.core.checklist import parse_checklist
from gl_rollout.errors import UsageError
from gl_rollout.render.issue import RenderOptions, render_issue
from gl_rollout.sandbox import Sandbox
from gl_rollout.sandbox.tasks import task_completion_status
from tests.conftest import PlainHTTP
from tests.helpers import run_cli
from tests.workflow_cli import env_for, user_notes

INJECTION = Path(__file__).resolve().parents[1] / "data" / "templates" / "injection.md.j2"
FLAG = "injected_flag"

PAYLOADS: dict[str, str] = {
    # quick actions
    "slash-close": "/close",
    "slash-second-line": "fine\n/close\n  /assign @root",
    "slash-after-cr": "fine\r/close",
    # mentions, as GitLab's pattern sees them after rendering
    "at-all": "@all",
    "at-all-emphasis": "_@all_",
    "at-all-strong": "**@all**",
    "at-all-after-dot": "done.@all",
    "at-all-after-dash": "-@all",
    "at-all-after-plus": "+@all",
    "at-all-after-non-ascii": "é@all",
    "at-all-in-parens": "(@here)",
    "at-all-upper": "@ALL",
    "at-all-entity": "&#64;all",
    "at-all-entity-hex": "&#x40;here",
    "at-all-entity-named": "&commat;all",
    # boxes: lines GitLab's renderer or counter takes for task items
    "box": "- [ ] fake",
    "box-done": "* [x] fake done",
    "box-after-form-feed": "\f- [x] fake",
    "box-after-vertical-tab": "\v- [x] fake",
    "box-after-newline-form-feed": "ok\n\f- [x] fake",
    "box-nested-markers": "- 1. [x] fake",
    "box-in-quote": "> - [x] fake",
    "box-paren-marker": "1) [x] fake",
    "box-unicode-space": "\u3000- [x] fake",
    "box-line-separator": "ok\u2028- [x] fake",
    "box-next-line": "ok\u0085- [x] fake",
    "box-completing-a-marker": "[x] fake",
    "box-entity-bracket": "&#91;x] fake",
    "box-entity-named": "&lbrack;x&rbrack; fake",
    "box-entity-hex": "- &#x5B;x&#x5D; fake",
    "box-tab-inside": "- [\t] fake",
    # hiding and breaking out
    "comment-open": "<!-- hide",
    "comment-close": "--> <!--",
    "details": "<details><summary>x",
    "fence-tilde": "~~~\n- [ ] inside",
    "fence-backtick": "```\n- [ ] inside",
    "backtick": "`break` out",
    "html-checkbox": '<input type="checkbox" checked>',
    # reordering and invisible text
    "bidi-override": "evil\u202egnp.exe",
    "bidi-isolate": "a\u2066b\u2069c",
    "zero-width": "z\u200bw\u200dj\ufeff",
    "soft-hyphen": "soft\u00adhyphen",
    "nul-and-escape": "a\x00b\x1b[31m",
}

CF_OR_CC = {"Cc", "Cf", "Zl", "Zp"}
GITLAB_MENTION = re.compile(r"(?<![A-Za-z0-9_])@(all|here|channel)(?![A-Za-z0-9_-]|\.[A-Za-z0-9_])", re.I)


def definition_with(key: str, payload: str, folder: Path) -> Path:
    path = folder / f"{FLAG}.yml"
    value = json.dumps(payload)  # a JSON string is a YAML double-quoted scalar
    fields = {"name": json.dumps(FLAG), "type": "beta", "default_enabled": "false", "milestone": "'17.1'"}
    fields[key] = value
    path.write_text("---\n" + "".join(f"{k}: {v}\n" for k, v in fields.items()), encoding="utf-8")
    return path


FIELDS: dict[str, Callable[[str, Path], dict[str, Any]]] = {
    "flag": lambda p, _f: {"flag": p},
    "--group": lambda p, _f: {"group": p},
    "--team": lambda p, _f: {"team": p},
    "--slack": lambda p, _f: {"slack": p},
    "--owner": lambda p, _f: {"owners": (p,)},
    "--beta-project": lambda p, _f: {"beta_projects": (p,)},
    "--beta-group": lambda p, _f: {"beta_groups": (p,)},
    "--milestone": lambda p, _f: {"milestone": p},
    "--feature-issue": lambda p, _f: {"feature_issue_url": "https://gitlab.example.com/i/" + p},
    "--introduced-by": lambda p, _f: {"introduced_by_url": "https://gitlab.example.com/mr/" + p},
    "--type": lambda p, _f: {"flag_type": p},
    "--expect": lambda p, _f: {"expect": p},
    "--risks": lambda p, _f: {"risks": p},
    "--monitor": lambda p, _f: {"monitor": p},
    "--chatops-prefix": lambda p, _f: {"chatops_prefix": p},
    "--var": lambda p, _f: {"template": str(INJECTION), "variables": (f"v={p}",)},
    "definition description": lambda p, f: {"flag": None, "definition": definition_with("description", p, f)},
    "definition group": lambda p, f: {"flag": None, "definition": definition_with("group", p, f)},
    "definition feature_issue_url": lambda p, f: {
        "flag": None,
        "definition": definition_with("feature_issue_url", "https://x.example/" + p, f),
    },
}


def rendered_tasks(markdown: str) -> int:
    """Checkboxes a CommonMark renderer with task lists draws."""
    md = MarkdownIt("commonmark").use(tasklists_plugin)
    return md.render(markdown).count('class="task-list-item-checkbox"')


def gitlab_mentions(markdown: str) -> list[str]:
    """Mass mentions GitLab's user reference filter would find: its pattern over each text node of the
    rendered HTML, outside code (Markdown's own, and `<code>`/`<pre>` in raw HTML) and HTML comments."""
    found: list[str] = []

    def scan(text: str) -> None:
        found.extend(m.group(0) for m in GITLAB_MENTION.finditer(text))

    def scan_html(raw: str) -> None:
        raw = re.sub(r"<!--.*?(-->|\Z)", " ", raw, flags=re.S)
        raw = re.sub(r"<(code|pre)\b.*?</\1>", " ", raw, flags=re.S | re.I)
        for piece in re.split(r"<[^>]*>", raw):
            scan(html.unescape(piece))

    for token in MarkdownIt("commonmark").parse(markdown):
        if token.type == "html_block":
            scan_html(token.content)
        for node_text in _text_nodes(token.children or []):
            scan(node_text)
    return found


def _text_nodes(children: list[Any]) -> list[str]:
    """Text nodes as the HTML will have them: adjacent text and line breaks join; any tag splits; text in
    an inline `<code>` or `<pre>` element is left out, as GitLab's reference filters leave it."""
    nodes: list[str] = []
    current = ""
    in_code = False
    for child in children:
        if child.type in ("text", "text_special") and not in_code:
            current += child.content
        elif child.type == "softbreak":
            current += "\n"
        else:
            if child.type == "html_inline":
                if re.match(r"<(code|pre)\b", child.content, re.I):
                    in_code = True
                elif re.match(r"</(code|pre)\s*>", child.content, re.I):
                    in_code = False
            nodes.append(current)
            current = ""
    nodes.append(current)
    return nodes


def quick_action_lines(markdown: str) -> list[str]:
    return [
        line
        for line in markdown.splitlines()
        if line.lstrip(" \t").startswith("/") and not line.startswith('/label ~"')
    ]


def hidden_characters(text: str) -> list[str]:
    return [f"U+{ord(c):04X}" for c in text if unicodedata.category(c) in CF_OR_CC and c not in "\t\n"]


def counts(markdown: str) -> dict[str, object]:
    checklist = parse_checklist(markdown)
    return {
        "ours": ([s.id for s in checklist.steps], sum(s.state == "done" for s in checklist.steps)),
        "gitlab count": task_completion_status(markdown),
        "drawn": rendered_tasks(markdown),
    }


HARMLESS = {"--type": "beta", "--chatops-prefix": "/chatops gitlab run"}


def baseline(field: str, folder: Path) -> dict[str, Any]:
    value = HARMLESS.get(field, "harmless")
    issue = render_issue(RenderOptions(**{"flag": FLAG, **FIELDS[field](value, folder)}))
    return {"counts": counts(issue.description), "comments": issue.description.count("<!--")}


@pytest.mark.parametrize("field", list(FIELDS))
def test_every_payload_through_every_field_is_refused_or_inert(field: str, tmp_path: Path) -> None:
    expected = baseline(field, tmp_path)
    steps = expected["counts"]["ours"][0]
    assert expected["counts"]["gitlab count"] == {"count": len(steps), "completed_count": 0}
    assert expected["counts"]["drawn"] == len(steps)
    accepted = 0
    for name, payload in PAYLOADS.items():
        options = {"flag": FLAG, **FIELDS[field](payload, tmp_path)}
        try:
            issue = render_issue(RenderOptions(**options))
        except UsageError:
            continue  # the field's own rule refused it: exit 2, nothing written
        accepted += 1
        text = issue.description
        where = f"{field} <- {name}: {text!r}"
        assert counts(text) == expected["counts"], where
        assert gitlab_mentions(text) == [], where
        assert GITLAB_MENTION.findall(re.sub(r"`[^`]*`", "", issue.title)) == [], issue.title
        assert quick_action_lines(text) == [], where
        assert hidden_characters(text + issue.title) == [], where
        assert text.count("<!--") == expected["comments"], where
    if field in {"--team", "--expect", "--risks", "--monitor", "--var", "definition description"}:
        assert accepted == len(PAYLOADS), "free-text fields take every payload (and make it inert)"


def test_the_judges_can_fail() -> None:
    """Each check above sees the attack it is there for, in text that was not neutralised."""
    assert gitlab_mentions("_@all_") == ["@all"]
    assert gitlab_mentions("x.@all") == ["@all"]
    assert gitlab_mentions("&#64;all") == ["@all"]
    assert gitlab_mentions("<details>\n@here\n</details>") == ["@here"]
    assert gitlab_mentions("`@all` me@all.com <code>@all</code>") == []
    assert task_completion_status("\f- [x] a")["count"] == 1
    assert rendered_tasks("- 1. [x] a") == 1
    assert quick_action_lines("a\n  /close") == ["  /close"]
    assert hidden_characters("a\u202eb") == ["U+202E"]


# --- through the CLI, into the sandbox ------------------------------------------------------------------

E2E = [
    "slash-second-line",
    "at-all-emphasis",
    "at-all-after-dot",
    "at-all-entity",
    "box-after-form-feed",
    "box-completing-a-marker",
    "box-entity-bracket",
    "box-nested-markers",
    "comment-open",
    "bidi-override",
]


@pytest.mark.parametrize("name", E2E)
def test_payloads_created_on_the_sandbox_act_on_nothing(sandbox: Sandbox, api: PlainHTTP, name: str) -> None:
    payload = PAYLOADS[name]
    args = [
        "create", f"injected_{E2E.index(name)}", "--project", sandbox.project_path,
        "--template", str(INJECTION), "--var", f"v={payload}", "--json",
    ]  # fmt: skip
    done = run_cli(args, env=env_for(sandbox))
    assert done.code == 0, done.output
    iid = json.loads(done.stdout)["data"]["iid"]
    entity = api("GET", f"/projects/42/issues/{iid}").body
    assert entity["state"] == "opened"
    assert entity["assignees"] == []
    assert entity["labels"] == ["feature flag"]
    assert entity["task_completion_status"] == {"count": 3, "completed_count": 0}
    assert [n for n in sandbox.notes(None, iid) if n["system"]] == []
    assert user_notes(sandbox, iid) == []
    assert gitlab_mentions(entity["description"]) == []
    assert rendered_tasks(entity["description"]) == 3
    assert hidden_characters(entity["description"] + entity["title"]) == []
    status = run_cli(["status", f"{sandbox.project_path}#{iid}", "--json"], env=env_for(sandbox))
    data = json.loads(status.stdout)["data"]
    assert (data["done"], data["total"]) == (0, 3), "gl-rollout counts what GitLab counts"


@pytest.mark.parametrize("payload", ["\n/close", " @all", "\f- [x] x", "\u202e"])
def test_eta_text_cannot_carry_a_payload(sandbox: Sandbox, payload: str) -> None:
    """The ETA is parsed, never copied: anything but a time is refused before any request."""
    issue = sandbox.create_issue(title=f"[Feature flag] Rollout of `{FLAG}`", description="- [ ] a")
    done = run_cli(["announce", f"{sandbox.project_path}#{issue['iid']}", "--eta", "in 2h" + payload],
                   env=env_for(sandbox))  # fmt: skip
    assert done.code == 2, done.output
    assert sandbox.request_log == []
