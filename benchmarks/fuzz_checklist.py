"""Coverage-guided fuzzing (atheris) of the checklist parser and editor and of the reference parser.

Not part of the test suite (tests/unit/test_fuzz.py runs hypothesis there). Run it by hand for as long as you
like; a crash is any exception other than the tool's own `RolloutError`, or an edit round trip that does
not give back the same bytes:

    pip install atheris
    python benchmarks/fuzz_checklist.py -max_total_time=60 [corpus_dir]
"""

from __future__ import annotations

import contextlib
import sys

import atheris  # type: ignore[import-not-found]

with atheris.instrument_imports():
    from gl_rollout.core.checklist import parse_checklist, set_step_state, split_lines
    from gl_rollout.core.refs import parse_issue_ref
    from gl_rollout.errors import RolloutError

_CANONICAL = {"todo": " ", "done": "x", "skipped": "~"}
_OTHER = {"todo": "done", "done": "skipped", "skipped": "todo"}


def check_one(data: bytes) -> None:
    """One input: parse it as a description and as an issue reference; edit and undo every step."""
    fdp = atheris.FuzzedDataProvider(data)
    text = fdp.ConsumeUnicodeNoSurrogates(fdp.remaining_bytes())
    with contextlib.suppress(RolloutError):
        parse_issue_ref(text, "group/project")
    checklist = parse_checklist(text)
    lines = split_lines(text)
    for step in checklist.steps:
        line = lines[step.line - 1].rstrip("\r\n")
        if line != step.source:
            raise AssertionError(f"step {step.id} source differs from line {step.line}")
        edited = set_step_state(text, step, _OTHER[step.state])  # type: ignore[arg-type]
        if len(edited) != len(text):
            raise AssertionError("an edit changed the length of the description")
        moved = next((s for s in parse_checklist(edited).steps if s.line == step.line), None)
        if moved is None:
            continue  # `[x]: url` link definitions can turn the new bracket into a link, as in GitLab
        back = set_step_state(edited, moved, step.state)
        differing = [i for i, (a, b) in enumerate(zip(step.source, moved.source, strict=True)) if a != b]
        if len(differing) != 1:
            raise AssertionError("an edit changed more than the character inside the brackets")
        if step.source[differing[0]] == _CANONICAL[step.state] and back != text:
            raise AssertionError("edit and inverse did not give back identical bytes")


def main() -> None:
    atheris.Setup(sys.argv, check_one)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
