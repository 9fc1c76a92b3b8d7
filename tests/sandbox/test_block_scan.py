"""The linear scanner finds what GitLab's regexes find (`re.finditer` is the reference), and stays linear."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gl_rollout.sandbox import block_scan
from gl_rollout.sandbox.quickactions import _SKIP, _SKIP_SCAN
from gl_rollout.sandbox.tasks import _SCAN, TASK_REGEX

# Lines built from the pieces the patterns care about, so openers, closers and items meet often.
PIECES = [
    "```", "``` ", "```ruby", "<!--", "<!-- ", " -->", "-->", "--> ", "<div>", "<div", ">", "</div>",
    "</div", "<>", "</>", "- [ ] a", "- [x] b", "* [X] c", "1. [ ] d", "> - [ ] e", "  ", " ", "x", "[ ]",
    "\t", "\r", "/label ~x", "\v",
]  # fmt: skip
LINES = st.lists(st.sampled_from(PIECES), min_size=0, max_size=4).map("".join)
TEXTS = st.lists(LINES, min_size=0, max_size=12).map("\n".join) | st.lists(LINES, max_size=12).map(
    lambda lines: "\n".join(lines) + "\n"
)


def reference(pattern_finditer: object, text: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in pattern_finditer(text)]  # type: ignore[operator]


@given(TEXTS)
def test_task_items_are_found_as_gitlabs_regex_finds_them(text: str) -> None:
    want = [(m.start(), m.end(), m.group("task_item") is not None) for m in TASK_REGEX.finditer(text)]
    got = [(f.start, f.end, f.name == "task_item") for f in block_scan.scan(text, _SCAN)]
    assert got == want
    for found, match in zip(block_scan.scan(text, _SCAN), TASK_REGEX.finditer(text), strict=True):
        if found.name == "task_item":
            assert found.match is not None
            assert found.match.group("checkbox", "label", "prefix") == match.group(
                "checkbox", "label", "prefix"
            )


@given(TEXTS)
def test_quick_action_skips_are_found_as_the_regex_finds_them(text: str) -> None:
    assert [(f.start, f.end) for f in block_scan.scan(text, _SKIP_SCAN)] == reference(_SKIP.finditer, text)


def test_known_shapes() -> None:
    text = "```\ncode\n```\n- [x] done\n<!--\n- [ ] hidden\n-->\n<!-- one -->\n- [ ] open\n```\n```\n"
    names = [f.name for f in block_scan.scan(text, _SCAN)]
    assert names == ["code", "task_item", "html_comment_block", "html_comment_line", "task_item"]
    html = "<details>\n/label ~x\n</details>\n/close\n"
    assert [(f.name, html[f.start : f.end]) for f in block_scan.scan(html, _SKIP_SCAN)] == [
        ("html", "<details>\n/label ~x\n</details>")
    ]


def test_unclosed_openers_cost_one_pass() -> None:
    """20,000 unclosed openers of each kind: the backtracking regex takes seconds on a tenth of this. The
    scan must finish, find nothing to skip and still count the one task item after them."""
    for opener in ("<!--\n", "```a\n", "<a>\n"):
        text = opener * 20_000 + "- [x] after\n"
        found = list(block_scan.scan(text, _SCAN))
        assert [f.name for f in found] == ["task_item"]
        assert list(block_scan.scan(text, _SKIP_SCAN)) == []
