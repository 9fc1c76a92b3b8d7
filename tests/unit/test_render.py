"""Rendering the rollout issue: built-in templates, value neutralising, custom templates, definitions."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt

from gl_rollout.core.checklist import parse_checklist
from gl_rollout.core.steps import STEP_IDS, recognise
from gl_rollout.errors import ExitCode, UsageError
from gl_rollout.render.issue import RenderOptions, render_issue
from gl_rollout.render.neutralise import neutralise, resolve_marks, resolve_slash_marks
from gl_rollout.render.option_values import normalise_group, parse_ramp, validate_flag_name

DATA = Path(__file__).resolve().parents[1] / "data"
TEMPLATES = DATA / "templates"
DEFINITIONS = DATA / "definitions" / "config" / "feature_flags"
SEED = Path(__file__).resolve().parents[3] / "shared" / "seed" / "feature-flag-rollout-issue.txt"
SEED_FLAG = "product_analytics_aggregated_metrics"
MARKER = re.compile(r"<!-- step:([a-z0-9-]+) -->")


def _render(**kwargs: Any) -> Any:
    kwargs.setdefault("flag", SEED_FLAG)
    return render_issue(RenderOptions(**kwargs))


def _step_line(description: str, step_id: str) -> str:
    lines = [line for line in description.splitlines() if line.endswith(f"<!-- step:{step_id} -->")]
    assert len(lines) == 1, step_id
    return lines[0]


def _code_spans(line: str) -> list[str]:
    return re.findall(r"`([^`]+)`", line)


# --- the default template ------------------------------------------------------------------------------


def test_seed_flag_renders_eleven_task_items_with_markers_in_order() -> None:
    issue = _render()
    assert issue.title == f"[Feature flag] Rollout of `{SEED_FLAG}`"
    items = [line for line in issue.description.splitlines() if line.startswith("- [ ] ")]
    assert [MARKER.search(line).group(1) for line in items] == list(STEP_IDS)  # type: ignore[union-attr]
    checklist = parse_checklist(issue.description)
    assert [s.id for s in checklist.steps] == list(STEP_IDS)
    assert (checklist.done, checklist.total) == (0, 11)
    assert {s.section for s in checklist.steps} == {"Roll Out Steps"}
    headings = [line for line in issue.description.splitlines() if line.startswith("## ")]
    assert headings == [
        "## What",
        "## Owners",
        "## Expectations",
        "## Beta groups/projects",
        "## Roll Out Steps",
    ]
    assert issue.labels == ("feature flag",)
    assert issue.description.rstrip("\n").splitlines()[-1] == '/label ~"feature flag"'


@pytest.mark.skipif(not SEED.exists(), reason="../shared/seed is not beside this clone")
def test_step_order_matches_the_seed_issue() -> None:
    lines = SEED.read_text(encoding="utf-8").splitlines()
    start = lines.index("Roll Out Steps")
    seed_texts = [lines[i + 1] for i in range(start, len(lines) - 1) if lines[i] == "- "]
    assert [recognise(text) for text in seed_texts] == list(STEP_IDS)
    texts = [s.text for s in parse_checklist(_render().description).steps]
    assert len(texts) == len(seed_texts) == 11


def test_enable_steps_carry_the_exact_chatops_commands() -> None:
    issue = _render(
        beta_projects=("gitlab-org/gitlab", "gitlab-org/gitlab-foss"), beta_groups=("gitlab-org",)
    )
    d = issue.description
    assert _code_spans(_step_line(d, "enable-staging")) == [
        f"/chatops run feature set {SEED_FLAG} true --staging"
    ]
    assert _code_spans(_step_line(d, "enable-beta")) == [
        f"/chatops run feature set {SEED_FLAG} true --project=gitlab-org/gitlab,gitlab-org/gitlab-foss",
        f"/chatops run feature set {SEED_FLAG} true --group=gitlab-org",
    ]
    assert f"`/chatops run feature set {SEED_FLAG} true`" in _step_line(d, "enable-production")
    assert (
        f"`/chatops run feature delete {SEED_FLAG} --dev --pre --staging --staging-ref --production`"
        in _step_line(d, "cleanup")
    )
    assert "- `gitlab-org/gitlab-foss` (project)" in d
    assert "- `gitlab-org` (group)" in d


def test_chatops_prefix_switches_every_command() -> None:
    d = _render(chatops_prefix="/chatops gitlab run", beta_groups=("gitlab-com",)).description
    commands = [span for line in d.splitlines() for span in _code_spans(line) if "feature " in span]
    assert len(commands) == 4
    assert all(c.startswith("/chatops gitlab run feature ") for c in commands)
    with pytest.raises(UsageError, match="invalid ChatOps prefix"):
        _render(chatops_prefix="chatops run")


def test_no_beta_projects_still_has_a_placeholder_free_enable_beta_step() -> None:
    issue = _render()
    line = _step_line(issue.description, "enable-beta")
    assert line.startswith("- [ ] Enable on GitLab.com")
    assert "`" not in line  # no command without actors to run
    for placeholder in ("<", "TODO", "NAME", "feature_name", "..."):
        assert placeholder not in line.replace("<!-- step:enable-beta -->", "")


def test_no_line_starts_with_a_slash_except_the_label_quick_actions() -> None:
    issue = _render(group="group::product analytics", beta_projects=("a/b",), beta_groups=("c",))
    slash_lines = [line for line in issue.description.splitlines() if line.lstrip().startswith("/")]
    assert slash_lines == ['/label ~"feature flag"', '/label ~"group::product analytics"']
    assert issue.labels == ("feature flag", "group::product analytics")


@pytest.mark.parametrize(
    ("given", "name", "label"),
    [
        ("product analytics", "product analytics", "group::product analytics"),
        ("group::product analytics", "product analytics", "group::product analytics"),
        ("  Group::Global   search ", "Global search", "group::Global search"),
        ("runner_core", "runner_core", "group::runner_core"),
    ],
)
def test_group_label_form(given: str, name: str, label: str) -> None:
    assert normalise_group(given) == (name, label)


@pytest.mark.parametrize("group", ['a" ~"evil', "group::", "a~b", "`g`", "a,b", "@all"])
def test_group_that_could_break_the_label_quick_action_is_refused(group: str) -> None:
    with pytest.raises(UsageError, match="invalid group"):
        _render(group=group)


def test_owners_team_and_slack() -> None:
    d = _render(
        group="product analytics",
        slack="g_product_analytics",
        owners=("jdoe", "@gitlab-org/growth/engineers", "Jane Doe"),
    ).description
    assert "- Team: Product analytics\n" in d
    assert "- Slack channel to reach the team: `#g_product_analytics`\n" in d
    assert "@jdoe, @gitlab-org/growth/engineers, Jane Doe" in d
    assert "`#g_product_analytics`" in _step_line(d, "cross-post")
    with pytest.raises(UsageError, match="invalid Slack channel"):
        _render(slack="#g product")


@pytest.mark.parametrize(
    ("given", "expected", "noted"),
    [
        ("product_analytics_aggregated_metrics", "product_analytics_aggregated_metrics", False),
        ("my-flag", "my_flag", True),
        ("My_Flag2", "my_flag2", True),
        ("  spaced_flag ", "spaced_flag", False),
        ("a1", "a1", False),
    ],
)
def test_flag_name_normalisation(given: str, expected: str, noted: bool) -> None:
    name, notes = validate_flag_name(given)
    assert name == expected
    assert bool(notes) is noted
    if noted:
        assert notes == [f"note: flag name normalised to '{expected}'"]


@pytest.mark.parametrize(
    "bad", ["my flag", "my__flag", "_flag", "flag_", "flag.name", "flag/../x", "", "ünïcode"]
)
def test_invalid_flag_names_are_refused(bad: str) -> None:
    with pytest.raises(UsageError) as caught:
        validate_flag_name(bad)
    assert caught.value.exit_code == ExitCode.USAGE
    assert "lowercase letters and digits" in caught.value.one_line()


def test_title_longer_than_gitlab_allows_is_refused() -> None:
    with pytest.raises(UsageError) as caught:
        _render(flag="a" * 240)
    assert "the title is 268 characters long. GitLab allows at most 255" in caught.value.one_line()


# --- rollout-detailed ----------------------------------------------------------------------------------

REQUIRED_DETAILED = {"enable-staging", "enable-beta", "enable-production", "announce-eta", "announce-enabled",
                     "remove-flag", "cleanup", "rollback-production"}  # fmt: skip


def test_detailed_template_marks_every_task_item() -> None:
    d = _render(template="rollout-detailed").description
    boxes = [line for line in d.splitlines() if line.startswith("- [ ] ")]
    ids = [s.id for s in parse_checklist(d).steps]
    assert len(boxes) == len(ids) == len(set(ids))
    assert all(MARKER.search(line) for line in boxes)
    assert set(ids) >= REQUIRED_DETAILED
    assert [i for i in ids if i.startswith("ramp-")] == ["ramp-1", "ramp-10", "ramp-25", "ramp-50", "ramp-75"]
    assert ids.index("ramp-75") < ids.index("enable-production") < ids.index("cleanup")
    sections = {s.id: s.section for s in parse_checklist(d).steps}
    assert sections["enable-staging"] == "Rollout on non-production environments"
    assert sections["enable-beta"] == "Specific rollout on production"
    assert sections["announce-eta"] == "Preparation before global rollout"
    assert sections["ramp-1"] == "Global rollout on production"
    assert sections["cleanup"] == "Release the feature"
    assert sections["rollback-production"] == "Rollback steps"


def test_detailed_ramp_follows_the_ramp_option() -> None:
    d = _render(template="rollout-detailed", ramp="5, 20,60,100").description
    ids = [s.id for s in parse_checklist(d).steps]
    assert [i for i in ids if i.startswith("ramp-")] == ["ramp-5", "ramp-20", "ramp-60"]
    assert _code_spans(_step_line(d, "ramp-20")) == [f"/chatops run feature set {SEED_FLAG} 20 --actors"]
    assert _code_spans(_step_line(d, "enable-production")) == [f"/chatops run feature set {SEED_FLAG} true"]
    assert _code_spans(_step_line(d, "rollback-production")) == [
        f"/chatops run feature set {SEED_FLAG} false"
    ]
    assert _code_spans(_step_line(d, "enable-staging")) == [
        f"/chatops run feature set {SEED_FLAG} true --dev --pre --staging --staging-ref"
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1,10,25,50,75,100", (1, 10, 25, 50, 75, 100)), ("5%, 50%", (5, 50)), ("100", (100,))],
)
def test_parse_ramp(text: str, expected: tuple[int, ...]) -> None:
    assert parse_ramp(text) == expected


@pytest.mark.parametrize("text", ["", "0,10", "10,5", "10,10", "1,101", "1,x", "1.5"])
def test_bad_ramp_is_refused(text: str) -> None:
    with pytest.raises(UsageError, match="ramp"):
        parse_ramp(text)


# --- neutralising values -------------------------------------------------------------------------------

# (value, the value as it reads when it is the whole text) - marks resolved
NEUTRALISE: list[tuple[str, str]] = [
    ("plain text", "plain text"),
    ("/close", "\\/close"),
    ("  /label ~x", "  \\/label ~x"),
    ("first\n/close\n  /reopen", "first\n\\/close\n  \\/reopen"),
    ("a/b and /c", "a/b and /c"),
    ("@all look", "`@all` look"),
    ("@ALL @here @channel", "`@ALL` `@here` `@channel`"),
    ("me@all.com @alliance @all.", "me@all.com @alliance `@all`."),
    ("a`b``c", "a\u02cbb\u02cb\u02cbc"),
    ("`@all`", "\u02cb`@all`\u02cb"),
    ("<!-- hide", "&lt;!-- hide"),
    ("<details><summary>x", "&lt;details>&lt;summary>x"),
    ("a < b -->", "a < b --&gt;"),
    ("- [ ] fake step", "- \\[ ] fake step"),
    ("x\n  1. [x] done\n> * [~] skipped", "x\n  1. \\[x] done\n> * \\[~] skipped"),
    ("~~~\ncode", "\\~~~\ncode"),
    ("crlf\r\n/close\rend", "crlf\n\\/close\nend"),
    ("\ue000\ue001 marks in input are dropped", " marks in input are dropped"),
    # issue 9: GitLab's mention rule runs on rendered text, `(?<!\w)@name`
    ("_@all_ *@here* .@all -@all +@all", "_`@all`_ *`@here`* .`@all` -`@all` +`@all`"),
    ("é@all (@here) @all_", "é`@all` (`@here`) `@all`_"),
    ("x@all @all_hands @all-hands", "x@all @all_hands @all-hands"),
    # issue 9: boxes as GitLab's renderer and counter see them
    ("- 1. [x] nested", "- 1. \\[x] nested"),
    ("> - > * [ ] deep", "> - > * \\[ ] deep"),
    ("\u3000- [ ] ideographic space", "\u3000- \\[ ] ideographic space"),
    ("- [\t] tab box", "- \\[\t] tab box"),
    ("[ ] alone is no box", "[ ] alone is no box"),
    (
        "&#91;x] &lbrack;x&rbrack; &#x5B; &#64;all",
        "&amp;#91;x] &amp;lbrack;x&amp;rbrack; &amp;#x5B; &amp;#64;all",
    ),
    ("&lt;b&gt; &amp; stay", "&lt;b&gt; &amp; stay"),
    # issue 9: control, separator and invisible characters made visible
    ("\f- [ ] form feed", "⟨U+000C⟩- [ ] form feed"),
    ("a\v- [x] b\x00", "a⟨U+000B⟩- [x] b⟨U+0000⟩"),
    ("line\u2028sep\x85nel", "line⟨U+2028⟩sep⟨U+0085⟩nel"),
    ("evil\u202egnp.exe \u2066x\u2069", "evil⟨U+202E⟩gnp.exe ⟨U+2066⟩x⟨U+2069⟩"),
    ("zero\u200bwidth\u200d\ufeff\u00ad", "zero⟨U+200B⟩width⟨U+200D⟩⟨U+FEFF⟩⟨U+00AD⟩"),
    ("tab\tstays", "tab\tstays"),
]


@pytest.mark.parametrize(("value", "expected"), NEUTRALISE)
def test_neutralise(value: str, expected: str) -> None:
    assert resolve_marks(neutralise(value)) == expected
    assert resolve_marks(neutralise(neutralise(value))) == expected  # printed twice: no piled-up escapes


@pytest.mark.parametrize(
    ("template_text", "expected"),
    [
        ("Text: {v}", "Text: `@all`"),
        ("Code: `{v}`", "Code: `@all`"),
        ("```\n{v}\n```", "```\n@all\n```"),
        ("<!-- {v} -->", "<!-- @all -->"),
        ("<details>\n{v}\n</details>", "<details>\n<code>@all</code>\n</details>"),
        ('<span title="{v}">{v}</span>', '<span title="@all">`@all`</span>'),
    ],
)
def test_mass_mentions_are_made_inert_where_they_land(template_text: str, expected: str) -> None:
    rendered = template_text.replace("{v}", neutralise("@all"))
    assert resolve_marks(rendered) == expected


@pytest.mark.parametrize(
    ("template_text", "value", "expected"),
    [
        ("- {v}", "[ ] evil", "- \\[ ] evil"),
        ("1. {v}", "[x] evil", "1. \\[x] evil"),
        ("> * {v}", "[x] evil", "> * \\[x] evil"),
        ("Text {v}", "[x] evil", "Text [x] evil"),
        ("- Code: `{v}`", "[x] evil", "- Code: `[x] evil`"),
        ("> {v}", "[x] evil", "> [x] evil"),
    ],
)
def test_a_value_cannot_complete_a_templates_list_marker_into_a_box(
    template_text: str, value: str, expected: str
) -> None:
    assert resolve_marks(template_text.replace("{v}", neutralise(value))) == expected


@pytest.mark.parametrize(
    ("template_text", "expected"),
    [
        ("- [ ] Step {v} <!-- step:a -->", "- [ ] Step one two <!-- step:a -->"),
        ("<!-- note: {v} -->\n- [ ] b", "<!-- note: one two -->\n- [ ] b"),
        ("Text {v}", "Text one\ntwo"),
        ("```\n{v}\n```", "```\none\ntwo\n```"),
    ],
)
def test_a_values_line_break_keeps_a_step_on_one_line_and_a_comment_on_one_line(
    template_text: str, expected: str
) -> None:
    """GitLab's counter misreads a two-line comment, and a step's marker must stay on its line."""
    assert resolve_marks(template_text.replace("{v}", neutralise("one\ntwo"))) == expected


def test_every_invisible_or_control_character_is_made_visible() -> None:
    """The table in `neutralise` against this Python's Unicode database: controls but tab and newline,
    line and paragraph separators, and every format character."""
    import sys
    import unicodedata

    from gl_rollout.render.neutralise import make_visible

    for code in range(sys.maxunicode + 1):
        char = chr(code)
        if 0xD800 <= code <= 0xDFFF:
            continue
        category = unicodedata.category(char)
        if category == "Cn":  # unassigned in this Python's Unicode: the table may know it from a newer one
            continue
        hidden = category in {"Cc", "Cf", "Zl", "Zp"} and char not in "\t\n"
        assert (make_visible(char) != char) == hidden, f"U+{code:04X}"


@pytest.mark.parametrize(
    ("rendered", "expected"),
    [
        ("\ue000/close", "\\/close"),
        ("   \ue000/close", "   \\/close"),
        ("- \ue000/close", "- /close"),
        ("Code: `\ue000/chatops run`", "Code: `/chatops run`"),
        ("a\n\ue000/x `\ue000/y`", "a\n\\/x `/y`"),
    ],
)
def test_slash_marks_resolve_by_position(rendered: str, expected: str) -> None:
    assert resolve_slash_marks(rendered) == expected


HOSTILE_VALUES = [
    "/close",
    "/label ~evil\n/assign @someone",
    "@all please look",
    "break `out` of code",
    "<!-- hide everything after this",
    "- [ ] Enable on GitLab.com by running chatops command in #production <!-- step:enable-production -->",
    "~~~",
    "<pre>",
]


def _code_line_spans(description: str) -> list[Any]:
    tokens = MarkdownIt("commonmark").parse(description)
    inline = next(t for t in tokens if t.type == "inline" and "Code: " in t.content)
    children = list(inline.children or [])
    start = next(i for i, c in enumerate(children) if c.type == "text" and c.content.startswith("Code: "))
    spans = []
    for child in children[start:]:
        if child.type in ("softbreak", "hardbreak") and spans[-1].type == "code_inline":
            break
        if child.type not in ("softbreak", "hardbreak"):
            spans.append(child)
    return spans


@pytest.mark.parametrize("value", HOSTILE_VALUES)
def test_values_placed_anywhere_stay_inert(value: str) -> None:
    d = _render(template=str(TEMPLATES / "placement.md.j2"), variables=(f"value={value}",)).description
    lines = d.splitlines()
    assert not [line for line in lines if line.startswith("/")]
    assert [s.id for s in parse_checklist(d).steps] == ["after"]  # nothing hidden, nothing added
    spans = _code_line_spans(d)  # the template's `{{ value }}` is still one code span, with nothing after
    assert [t.type for t in spans] == ["text", "code_inline"]
    outside_code = re.sub(r"`[^`]*`", "", d.split("Code: ")[0])
    assert not re.search(r"@(all|here|channel)\b", outside_code)
    assert "<!-- hidden:" in d
    assert d.count("<!--") == 2


@pytest.mark.parametrize("field", ["expect", "risks", "monitor", "team", "milestone"])
def test_hostile_option_values_leave_the_eleven_steps_intact(field: str) -> None:
    value = (
        "/close\n@all\n<!--\n- [ ] fake <!-- step:cleanup -->"
        if field in ("expect", "risks", "monitor")
        else ("/close @all <!-- `x`")
    )
    issue = _render(**{field: value})
    assert [s.id for s in parse_checklist(issue.description).steps] == list(STEP_IDS)
    assert not [line for line in issue.description.splitlines() if line.startswith("/close")]


def test_template_literal_text_is_kept() -> None:
    issue = _render(template=str(TEMPLATES / "custom.md.j2"), variables=("release=17.2",), owners=("a", "b"))
    assert issue.description.endswith('/label ~"feature flag"\n')
    assert "Owner: @a and @b" in issue.description


# --- custom templates ----------------------------------------------------------------------------------


def test_custom_template_names_the_title_and_uses_free_variables() -> None:
    issue = _render(template=str(TEMPLATES / "custom.md.j2"), variables=("release=17.2",))
    assert issue.title == f"[17.2] Turn on {SEED_FLAG}"
    assert [s.id for s in parse_checklist(issue.description).steps] == ["enable-staging", "enable-production"]
    assert f"`/chatops run feature set {SEED_FLAG} true --staging`" in issue.description


def test_title_values_are_neutralised_too() -> None:
    issue = _render(template=str(TEMPLATES / "custom.md.j2"), variables=("release=@all\n/close",))
    assert issue.title == f"[`@all` \\/close] Turn on {SEED_FLAG}"


def test_template_without_title_gets_the_default_title() -> None:
    issue = _render(template=str(TEMPLATES / "no_title.md.j2"))
    assert issue.title == f"[Feature flag] Rollout of `{SEED_FLAG}`"


def test_custom_template_can_include_a_builtin_one() -> None:
    issue = _render(template=str(TEMPLATES / "extends_rollout.md.j2"), variables=("notes=see #1",))
    assert [s.id for s in parse_checklist(issue.description).steps] == list(STEP_IDS)
    assert issue.description.endswith(f"Extra notes for {SEED_FLAG}: see #1\n")


# (fixture, start of the one-line message after the path)
TEMPLATE_ERRORS: list[tuple[str, str]] = [
    ("syntax_error.md.j2", ":5: syntax error: Unexpected end of template"),
    ("undefined_variable.md.j2", ":12: undefined variable 'release_manager'"),
    ("sandbox_class.md.j2", ":2: refused by the template sandbox"),
    ("sandbox_globals.md.j2", ":1: refused by the template sandbox"),
    ("sandbox_format.md.j2", ":1: refused by the template sandbox"),
    ("sandbox_mutate.md.j2", ":1: refused by the template sandbox"),
    ("include_missing.md.j2", ":2: template 'no_such_part.md.j2' not found"),
    ("latin1.md.j2", " is not UTF-8"),
]


@pytest.mark.parametrize(("fixture", "message"), TEMPLATE_ERRORS)
def test_template_errors_name_file_and_line(fixture: str, message: str) -> None:
    path = str(TEMPLATES / fixture)
    with pytest.raises(UsageError) as caught:
        _render(template=path, variables=("value=x",))
    line = caught.value.one_line()
    assert line.startswith(path + message)
    assert "\n" not in line


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("nope", "unknown template 'nope'"),
        ("missing/dir/x.md.j2", "no such template file"),
        (".", "is a directory"),
    ],
)
def test_unknown_templates(template: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        _render(template=template)


@pytest.mark.parametrize(
    ("var", "message"),
    [
        ("flag=x", "would hide the built-in variable"),
        ("no_equals", "invalid --var"),
        ("1x=y", "invalid --var"),
    ],
)
def test_bad_vars(var: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        _render(variables=(var,))


# --- definition pre-fill -------------------------------------------------------------------------------

SEED_DEFINITION = DEFINITIONS / "beta" / "product_analytics_aggregated_metrics.yml"


def test_definition_prefills_the_issue() -> None:
    issue = render_issue(RenderOptions(definition=SEED_DEFINITION))
    d = issue.description
    assert issue.flag == SEED_FLAG
    assert issue.labels == ("feature flag", "group::product analytics")
    assert "Count unions of events when collecting usage ping data" in d
    assert "- Feature issue: https://gitlab.com/gitlab-org/gitlab/-/issues/251010" in d
    assert "- Introduced by: https://gitlab.com/gitlab-org/gitlab/-/merge_requests/45371" in d
    assert "- Milestone: 13.6" in d
    assert "- Flag type: `beta`" in d
    assert "- Team: Product analytics" in d
    assert issue.notes == ()


def test_explicit_options_override_the_definition() -> None:
    issue = render_issue(
        RenderOptions(
            definition=SEED_DEFINITION, group="analytics instrumentation", milestone="17.1", team="PA"
        )
    )
    assert issue.labels == ("feature flag", "group::analytics instrumentation")
    assert "- Milestone: 17.1" in issue.description
    assert "13.6" not in issue.description
    assert "- Team: PA" in issue.description


def test_flag_argument_differing_from_the_definition_is_noted() -> None:
    issue = render_issue(RenderOptions(flag="other_flag", definition=SEED_DEFINITION))
    assert issue.flag == "other_flag"
    assert any("definition names 'product_analytics_aggregated_metrics'" in n for n in issue.notes)


def test_deprecated_type_from_definition_or_option_is_noted() -> None:
    issue = render_issue(RenderOptions(definition=DEFINITIONS / "development" / "legacy_widget.yml"))
    assert any("deprecated" in n for n in issue.notes)
    issue = _render(flag_type="development")
    assert any("deprecated" in n for n in issue.notes)
    with pytest.raises(UsageError, match="unknown feature flag type"):
        _render(flag_type="feature")


def test_no_flag_and_no_definition_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="no feature flag name"):
        render_issue(RenderOptions())


@pytest.mark.parametrize(
    ("field", "value"), [("feature_issue_url", "gitlab.com/x"), ("introduced_by_url", "x y")]
)
def test_bad_urls_are_refused(field: str, value: str) -> None:
    with pytest.raises(UsageError) as caught:
        _render(**{field: value})
    assert caught.value.one_line().endswith("give a full https:// URL")


# --- issue 9: rendering is bounded in size and time ------------------------------------------------------


def _limited(tmp_path: Path, body: str, time_limit: float) -> str:
    from gl_rollout.render.templating import render_template, resolve_template

    template = tmp_path / "loop.md.j2"
    template.write_text(body, encoding="utf-8")
    with pytest.raises(UsageError) as caught:
        render_template(resolve_template(str(template)), {"flag": "f"}, time_limit=time_limit)
    return caught.value.one_line()


def test_a_template_that_never_ends_is_stopped_naming_its_line(tmp_path: Path) -> None:
    """A loop that neither prints nor calls anything: only the CPU-time alarm can stop it."""
    body = "Steps\n{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}\n"
    line = _limited(tmp_path, body, 0.2)
    assert "loop.md.j2:2: refused: the template ran for more than 0.2 s" in line


def test_the_time_limit_holds_outside_the_main_thread_too(tmp_path: Path) -> None:
    """No signal there: the deadline is checked at every bounded operation."""
    import threading

    body = "{% for i in range(100000) %}{% for j in range(100000) %}{% if i + j %}{% endif %}{% endfor %}"
    body += "{% endfor %}"
    lines: list[str] = []
    worker = threading.Thread(target=lambda: lines.append(_limited(tmp_path, body, 0.2)))
    worker.start()
    worker.join(timeout=60)
    assert len(lines) == 1
    assert "ran for more than 0.2 s" in lines[0]


@pytest.mark.parametrize(
    "expression",
    [
        "9 ** 99999999",
        '"a" * 20000000000',
        "[1] * 20000000000",
        '"x" * 3000000 + "y" * 3000000',
        '"%999999999d" % 1',
        '"{:>999999999}".format(1)',
        '"{0:>{1}}".format(1, 999999999)',
        '("x" * 4000000).replace("x", "yy")',
        '"," .join(["x" * 3000000, "y" * 3000000])',
        '"a" | center(999999999)',
        '"a" | indent(999999999)',
        '"%999999999d" | format(1)',
        '("x" * 4000000) | replace("x", "yy")',
        '["x" * 3000000, "y" * 3000000] | join',
        "range(10) | slice(1000000000) | list",
        '"x" | wordwrap(1, wrapstring="y" * 5000000)',
        '("x" * 3000000) ~ ("y" * 3000000)',
    ],
)
def test_operations_that_would_build_a_huge_value_are_refused_before_they_run(
    tmp_path: Path, expression: str
) -> None:
    line = _limited(tmp_path, f"first line\n{{{{ {expression} }}}}\n", 60)
    assert "loop.md.j2:2: refused:" in line


def test_bounded_operations_still_work_as_jinja_does(tmp_path: Path) -> None:
    from gl_rollout.render.templating import render_template, resolve_template

    template = tmp_path / "bounded-ok.md.j2"
    template.write_text(
        '{{ 2 ** 10 }} {{ "ab" * 3 }} {{ [1, 2] * 2 }} {{ "%05d" % 42 }} {{ "{:>4}".format(7) }} '
        '{{ "a-b".replace("-", "+") }} {{ ", ".join(["x", "y"]) }} {{ "x" | center(5) }}| '
        '{{ ["p", "q"] | join("/") }} {{ "a" ~ 1 ~ "b" }} {{ range(3) | list }}',
        encoding="utf-8",
    )
    body, _ = render_template(resolve_template(str(template)), {"flag": "f"})
    assert body == "1024 ababab 1, 2, 1, 2 00042    7 a+b x, y   x  | p/q a1b 0, 1, 2"


# --- the rollout plan (issue 15) ------------------------------------------------------------------------


def test_the_default_template_shows_no_plan() -> None:
    d = _render().description
    assert "Rollout plan" not in d
    assert "gl-rollout:plan" not in d


def test_the_detailed_template_shows_the_plan_that_reads_back() -> None:
    from gl_rollout.core.chatops import ENVIRONMENTS
    from gl_rollout.core.plan_text import read_plan
    from gl_rollout.core.plans import build_plan

    d = _render(template="rollout-detailed").description
    reading = read_plan(d, ENVIRONMENTS)
    assert reading.plan == build_plan()
    assert not reading.stale
    # the plan comes before the steps, and adds no box
    assert d.index("## Rollout plan") < d.index("## Rollout steps")
    assert len(parse_checklist(d).steps) == 29


def test_plan_options_reach_the_plan() -> None:
    import datetime as dt

    from gl_rollout.core.plan_text import read_plan

    d = _render(
        template="rollout-detailed",
        ramp="5,30,60,100",
        wait="1h",
        hold="2d",
        max_jump="40",
        approvers=("alice", "production-on=bob"),
    ).description
    plan = read_plan(d).plan
    assert plan is not None
    assert [(s.id, s.wait, s.approvers) for s in plan.steps] == [
        ("staging-100", dt.timedelta(hours=1), ()),
        ("production-5", dt.timedelta(hours=1), ("alice",)),
        ("production-30", dt.timedelta(hours=1), ("alice",)),
        ("production-60", dt.timedelta(hours=1), ("alice",)),
        ("production-100", dt.timedelta(days=2), ("alice", "bob")),
    ]
    assert plan.max_jump == 40
    assert "| production | on | 2d | @alice, @bob |" in d


def test_a_custom_template_can_place_and_walk_the_plan(tmp_path: Path) -> None:
    from gl_rollout.core.plan_text import read_plan

    template = tmp_path / "plan.md.j2"
    template.write_text(
        "# Ours\n\n{{ plan.section }}\n## Steps\n\n"
        "{% for step in plan.steps %}- [ ] {{ step.environment }} {{ step.target }}, "
        "then wait {{ step.wait }} <!-- step:{{ step.id }} -->\n{% endfor %}",
        encoding="utf-8",
    )
    d = _render(template=str(template), ramp="50,100").description
    assert read_plan(d).plan is not None
    assert [s.id for s in parse_checklist(d).steps] == ["staging-100", "production-50", "production-100"]
    assert "- [ ] production on, then wait 1d <!-- step:production-100 -->" in d


def test_only_the_plan_section_itself_is_printed_as_is(tmp_path: Path) -> None:
    """A template cannot borrow the plan's pass: text it builds from the section is a value again."""
    template = tmp_path / "borrow.md.j2"
    template.write_text(
        '{{ "<!-- hidden\\n- [ ] injected" ~ plan.section }}\n'
        '{{ plan.section | replace("Rollout", "/close") }}\n',
        encoding="utf-8",
    )
    d = _render(template=str(template)).description
    assert "<!-- hidden" not in d
    assert "&lt;!-- hidden" in d
    assert not parse_checklist(d).steps
    assert "\n/close" not in d


def test_plan_options_a_template_does_not_use_are_noted() -> None:
    issue = _render(wait="1h", approvers=("alice",))
    assert issue.notes == (
        "note: --wait 1h --approver alice are not used: templates/rollout.md.j2 has no rollout plan "
        "(the rollout-detailed template has one)",
    )
    assert _render(template="rollout-detailed", wait="1h").notes == ()


def test_a_template_without_the_plan_is_not_held_to_its_rules() -> None:
    """`--ramp 1,100` with the default template is noted as unused, never refused for its jump."""
    issue = _render(ramp="1,100")
    assert issue.notes == (
        "note: --ramp 1,100 is not used: templates/rollout.md.j2 has no ramp steps "
        "(the rollout-detailed template has them)",
    )
    with pytest.raises(UsageError, match="more than the max jump of 50"):
        _render(template="rollout-detailed", ramp="1,100")
    assert (
        "| production | on |"
        in _render(template="rollout-detailed", ramp="1,100", max_jump="none").description
    )
