"""The flag definition YAML: validated as GitLab does, and rollout_issue_url written back byte for byte."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gl_rollout.errors import ExitCode, UsageError
from gl_rollout.render.definition import load_definition, write_rollout_issue_url
from tests.helpers import run_cli

DATA = Path(__file__).resolve().parents[1] / "data" / "definitions"
FLAGS = DATA / "config" / "feature_flags"
INVALID = DATA / "invalid"
NEW_URL = "https://gitlab.com/gitlab-org/gitlab/-/issues/777001"


def _copy(tmp_path: Path, relative: str) -> Path:
    """Copy a fixture into tmp_path keeping its feature_flags/<type>/ layout."""
    source = FLAGS / relative
    target = tmp_path / "config" / "feature_flags" / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    return target


@pytest.mark.parametrize(
    ("relative", "expected"),
    [
        (
            "beta/product_analytics_aggregated_metrics.yml",
            {
                "name": "product_analytics_aggregated_metrics",
                "type": "beta",
                "milestone": "13.6",
                "group": "group::product analytics",
                "default_enabled": False,
                "rollout_issue_url": None,
                "description": "Count unions of events when collecting usage ping data",
                "introduced_by_url": "https://gitlab.com/gitlab-org/gitlab/-/merge_requests/45371",
            },
        ),
        (
            "gitlab_com_derisk/search_cache_warmup.yml",
            {
                "name": "search_cache_warmup",
                "type": "gitlab_com_derisk",
                "milestone": "17.0",
                "feature_issue_url": None,
                "rollout_issue_url": "https://gitlab.com/gitlab-org/gitlab/-/issues/450001",
            },
        ),
        (
            "ops/ops_kill_switch.yml",
            {"name": "ops_kill_switch", "default_enabled": True, "rollout_issue_url": None},
        ),
    ],
)
def test_load_valid_definitions(relative: str, expected: dict[str, object]) -> None:
    definition = load_definition(FLAGS / relative)
    for key, value in expected.items():
        assert getattr(definition, key) == value, key
    assert definition.notes == ()


def test_deprecated_development_type_is_accepted_with_a_note() -> None:
    definition = load_definition(FLAGS / "development" / "legacy_widget.yml")
    assert definition.type == "development"
    assert any("deprecated" in note for note in definition.notes)


# (fixture under invalid/, line the error names, words of the reason)
INVALID_CASES: list[tuple[str, int | None, str]] = [
    ("unquoted_milestone.yml", 4, "milestone must be a quoted string"),
    ("unknown_type.yml", 4, "unknown feature flag type 'feature'"),
    ("string_default.yml", 6, "default_enabled must be true or false, not a string"),
    ("list_description.yml", 4, "description must be a string, not a list"),
    ("malformed.yml", 4, "malformed YAML"),
    ("bad_name.yml", 2, "invalid feature flag name 'Bad-Name'"),
    ("missing_default.yml", None, "missing 'default_enabled'"),
    ("derisk_default_on.yml", 4, "default_enabled: true is not allowed for type 'gitlab_com_derisk'"),
    ("duplicate_key.yml", 4, 'duplicate key "type"'),
    ("top_level_list.yml", 1, "must be a YAML mapping"),
    ("empty.yml", None, "is empty"),
    ("config/feature_flags/beta/file_name_mismatch.yml", 2, "does not match the file name"),
    ("config/feature_flags/ops/folder_mismatch.yml", 3, "does not match the folder 'ops'"),
]


@pytest.mark.parametrize(("fixture", "line", "reason"), INVALID_CASES)
def test_invalid_definitions_are_one_line_usage_errors(fixture: str, line: int | None, reason: str) -> None:
    path = INVALID / fixture
    with pytest.raises(UsageError) as caught:
        load_definition(path)
    message = caught.value.one_line()
    assert reason in message
    assert "\n" not in message
    prefix = f"{path}:{line}: " if line is not None else f"{path}"
    assert message.startswith(prefix)


@pytest.mark.parametrize(("fixture", "line", "reason"), INVALID_CASES)
def test_render_with_invalid_definition_exits_2(fixture: str, line: int | None, reason: str) -> None:
    result = run_cli(["render", "--definition", str(INVALID / fixture)])
    assert result.code == ExitCode.USAGE
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: ")
    assert reason in lines[0]


def test_non_utf8_and_missing_definitions(tmp_path: Path) -> None:
    latin1 = tmp_path / "latin1_flag.yml"
    latin1.write_bytes(b"---\nname: latin1_flag\ndescription: caf\xe9\ntype: beta\ndefault_enabled: false\n")
    with pytest.raises(UsageError, match="is not UTF-8"):
        load_definition(latin1)
    result = run_cli(["render", "--definition", str(latin1)])
    assert result.code == 2
    assert "not UTF-8" in result.stderr
    result = run_cli(["render", "--definition", str(tmp_path / "absent.yml")])
    assert result.code == 2
    assert "no such file" in result.stderr


def test_layout_checks_only_apply_inside_feature_flags_folders(tmp_path: Path) -> None:
    loose = tmp_path / "copy.yml"
    loose.write_text("name: some_flag\ntype: beta\ndefault_enabled: false\n", encoding="utf-8")
    assert load_definition(loose).name == "some_flag"


# --- writing rollout_issue_url -------------------------------------------------------------------------


def _expected_insert(original: str, after_prefix: str, new_line: str) -> str:
    lines = original.splitlines(keepends=True)
    index = next(i for i, line in enumerate(lines) if line.startswith(after_prefix))
    return "".join([*lines[: index + 1], new_line, *lines[index + 1 :]])


def test_insert_after_introduced_by_url_keeps_every_other_byte(tmp_path: Path) -> None:
    path = _copy(tmp_path, "beta/product_analytics_aggregated_metrics.yml")
    before = path.read_text(encoding="utf-8")
    result = write_rollout_issue_url(path, NEW_URL)
    after = path.read_text(encoding="utf-8")
    assert result.changed
    assert result.written
    assert result.old_url is None
    assert after == _expected_insert(before, "introduced_by_url:", f"rollout_issue_url: {NEW_URL}\n")
    assert load_definition(path).rollout_issue_url == NEW_URL


@pytest.mark.parametrize(
    ("relative", "old_line", "new_line"),
    [
        (
            "gitlab_com_derisk/search_cache_warmup.yml",
            "rollout_issue_url: 'https://gitlab.com/gitlab-org/gitlab/-/issues/450001'"
            "  # old issue, closed\n",
            f"rollout_issue_url: '{NEW_URL}'  # old issue, closed\n",
        ),
        ("ops/ops_kill_switch.yml", "rollout_issue_url:\n", f"rollout_issue_url: {NEW_URL}\n"),
        (
            "development/legacy_widget.yml",
            'rollout_issue_url: "https://gitlab.com/gitlab-org/gitlab/-/issues/300003"\n',
            f'rollout_issue_url: "{NEW_URL}"\n',
        ),
    ],
)
def test_replace_keeps_quoting_and_comment(
    tmp_path: Path, relative: str, old_line: str, new_line: str
) -> None:
    path = _copy(tmp_path, relative)
    before = path.read_text(encoding="utf-8")
    assert old_line in before
    write_rollout_issue_url(path, NEW_URL)
    assert path.read_text(encoding="utf-8") == before.replace(old_line, new_line)


def test_same_value_writes_nothing(tmp_path: Path) -> None:
    path = _copy(tmp_path, "gitlab_com_derisk/search_cache_warmup.yml")
    inode = path.stat().st_ino
    result = write_rollout_issue_url(path, "https://gitlab.com/gitlab-org/gitlab/-/issues/450001")
    assert not result.changed
    assert not result.written
    assert path.stat().st_ino == inode  # an atomic write would have replaced the file


def test_dry_run_shows_the_change_without_writing(tmp_path: Path) -> None:
    path = _copy(tmp_path, "beta/product_analytics_aggregated_metrics.yml")
    before = path.read_bytes()
    result = write_rollout_issue_url(path, NEW_URL, dry_run=True)
    assert result.changed
    assert not result.written
    assert path.read_bytes() == before
    assert f"rollout_issue_url: {NEW_URL}\n" in result.new_text


def test_crlf_definition_stays_crlf(tmp_path: Path) -> None:
    path = tmp_path / "crlf_flag.yml"
    original = (
        "---\r\nname: crlf_flag\r\nintroduced_by_url: https://x.test/mr/1\r\ntype: beta\r\n"
        "default_enabled: false\r\n"
    )
    path.write_bytes(original.encode())
    write_rollout_issue_url(path, NEW_URL)
    assert path.read_bytes().decode() == _expected_insert(
        original, "introduced_by_url:", f"rollout_issue_url: {NEW_URL}\r\n"
    )


def test_without_introduced_by_the_key_follows_the_nearest_earlier_param(tmp_path: Path) -> None:
    path = tmp_path / "short_flag.yml"
    original = "name: short_flag\n# the type decides the folder\ntype: wip\ndefault_enabled: false"
    path.write_text(original, encoding="utf-8")
    write_rollout_issue_url(path, NEW_URL)
    assert path.read_text(encoding="utf-8") == (
        f"name: short_flag\nrollout_issue_url: {NEW_URL}\n"
        "# the type decides the folder\ntype: wip\ndefault_enabled: false"
    )


def test_url_needing_quotes_is_quoted_and_reads_back(tmp_path: Path) -> None:
    path = _copy(tmp_path, "ops/ops_kill_switch.yml")
    url = "https://gitlab.example/it's/-/issues/5#note_1"
    write_rollout_issue_url(path, url)
    assert load_definition(path).rollout_issue_url == url


def test_unusual_layout_falls_back_to_a_verified_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "flow_flag.yml"
    path.write_text("{name: flow_flag, type: beta, default_enabled: false}\n", encoding="utf-8")
    write_rollout_issue_url(path, NEW_URL)
    definition = load_definition(path)
    assert (definition.name, definition.type, definition.rollout_issue_url) == ("flow_flag", "beta", NEW_URL)


def test_write_refuses_bad_url_and_invalid_definition(tmp_path: Path) -> None:
    path = _copy(tmp_path, "beta/product_analytics_aggregated_metrics.yml")
    before = path.read_bytes()
    with pytest.raises(UsageError, match="invalid rollout issue URL"):
        write_rollout_issue_url(path, "not a url")
    broken = tmp_path / "broken.yml"
    broken.write_text("name: broken\ntype: beta\ndefault_enabled: false\nmilestone: 16.9\n", encoding="utf-8")
    with pytest.raises(UsageError, match="milestone must be a quoted string"):
        write_rollout_issue_url(broken, NEW_URL)
    assert path.read_bytes() == before
    assert "rollout_issue_url" not in broken.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("written", "quoted"),
    [
        ("17.10", "'17.10'"),  # YAML reads 17.1: the hint must not name another milestone
        ("17.10   # the next one", "'17.10'"),
        ("17.0", "'17.0'"),
        ("18", "'18'"),
        ("2024-01-02", "'2024-01-02'"),
    ],
)
def test_unquoted_milestone_hint_quotes_it_as_written(tmp_path: Path, written: str, quoted: str) -> None:
    path = tmp_path / "my_flag.yml"
    path.write_text(
        f"name: my_flag\nmilestone: {written}\ntype: beta\ndefault_enabled: false\n", encoding="utf-8"
    )
    done = run_cli(["render", "my_flag", "--definition", str(path)])
    assert done.code == ExitCode.USAGE
    assert done.stderr.strip().splitlines() == [
        f"error: {path}:2: milestone must be a quoted string, not "
        f"{'a date' if '-' in written else 'a number'}. write milestone: {quoted} so YAML keeps it as text"
    ]
