"""One command, one table: the speed and request-budget numbers README shows, measured on this machine.

    python benchmarks/run.py [--quick] [--markdown]
        [--only startup,parsing,sandbox,requests,scale,demo,faults]

A benchmark reports; it never fails (exit 0 even when a target is missed: the table states the gap).
Comparisons are ratios of measurements taken side by side, interleaved, in the same run, because a
shared machine is noisy: the absolute numbers move from run to run, the ratios much less.

Sections:
- start-up: `gl-rollout --help` and `gl-rollout status --file seed.md` beside python-gitlab's `gitlab --help`
  (hyperfine when installed, in interleaved rounds; else our own interleaved loop), medians and ratios;
- parsing: `parse_checklist` on a 1 MiB rollout description beside a plain markdown-it-py parse of it;
- sandbox: issue GETs per second from one client sending one request at a time;
- requests: the HTTP requests each command makes against the sandbox (its request log), with the budget;
- scale: the sync engineer's `benchmarks/bench_sync.py` (1,000 and 10,000 issues, 50 ms latency);
- demo: the wall time of `gl-rollout demo --ramp` (a whole guarded ramp, the sandbox clock moved), per
  flag backend;
- faults: the fault matrix table written by `tests/e2e/test_fault_matrix.py` (`--run-fault-matrix` reruns it).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FAULT_MATRIX = ROOT / "benchmarks" / "fault_matrix.md"
BENCH_SYNC = ROOT / "benchmarks" / "bench_sync.py"
FAULT_MATRIX_TEST = "tests/e2e/test_fault_matrix.py"
SEED_FLAG = "product_analytics_aggregated_metrics"
CURRENT_DESCRIPTION = """## Rollout

```shell
/chatops gitlab run feature set bench_current true --dev --pre --staging --staging-ref
/chatops gitlab run feature set bench_current true
```

## Cleanup

```shell
/chatops gitlab run feature delete bench_current --dev --pre --staging --staging-ref --production
```
"""
CURRENT_LOG = """Changed by [@root](https://gitlab.com/root) at `2026-12-01 09:00:00` (UTC)

Host: https://staging.gitlab.com

Rollout issue: {url}

| User | Project | Group | Feature group | Namespace | Repository |
| ---- | ------- | ----- | ------------- | --------- | ---------- |
|  |  |  |  |  |  |
"""
MIB = 1_048_576  # GitLab's description limit, in characters
SECTIONS = ("startup", "parsing", "sandbox", "requests", "scale", "demo", "faults")
DEMO_RAMP_TARGET = 60.0  # issue 15: `demo --ramp` shows a full guarded rollout in under a minute
# Start-up against python-gitlab's `gitlab --help`, measured side by side (issue 14: only the command that
# runs is imported and built, and --help lists the commands from the command table).
STARTUP_TARGETS = {"gl-rollout --help": 0.15, "gl-rollout status --file seed.md": 0.20}


@dataclass(frozen=True)
class Row:
    """One line of the table: what was measured, what came out, the target and whether it was met."""

    benchmark: str
    result: str
    target: str = ""
    met: bool | None = None
    gap: str = ""

    def verdict(self) -> str:
        if self.met is None:
            return ""
        return "yes" if self.met else f"NO: {self.gap}" if self.gap else "NO"


@dataclass
class Section:
    title: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    verbatim: str = ""  # a Markdown table from elsewhere (the fault matrix), printed as is


# --- helpers ---------------------------------------------------------------------------------------------


def executable(name: str) -> str | None:
    """A console script of this interpreter's environment first (the venv), else from PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    return shutil.which(name)


def clean_env(**extra: str) -> dict[str, str]:
    """The environment minus anything that could point the CLI at a real GitLab or a config file."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("GITLAB_", "CI_", "PYTHON_GITLAB"))
    }
    env["NO_COLOR"] = "1"
    env.update(extra)
    return env


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def ratio_row(name: str, numerator: float, denominator: float, limit: float) -> Row:
    value = numerator / denominator
    met = value <= limit
    return Row(name, f"{value:.2f}", f"≤ {limit:g}", met, "" if met else f"{value:.2f} > {limit:g}")


def machine() -> list[str]:
    cpu = platform.processor() or "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    hyperfine = shutil.which("hyperfine")
    timer = "hyperfine" if hyperfine else "own timing loop (hyperfine not installed)"
    if hyperfine:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            timer = subprocess.run(
                [hyperfine, "--version"], capture_output=True, text=True, check=False, timeout=10
            ).stdout.strip()
    return [
        f"Machine: {os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), {cpu}",
        f"Python {platform.python_version()} ({platform.python_implementation()}), {platform.platform()}",
        f"Start-up timer: {timer}",
        f"Date: {time.strftime('%Y-%m-%d %H:%M %Z')}",
    ]


# --- start-up ---------------------------------------------------------------------------------------------


def time_commands_own(commands: Sequence[Sequence[str]], rounds: int, cwd: Path) -> list[list[float]]:
    """Wall times of each command, interleaved: every round runs each once, in a rotated order."""
    env = clean_env()
    for command in commands:  # warm the page cache and .pyc files once
        subprocess.run(
            command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False
        )
    times: list[list[float]] = [[] for _ in commands]
    for round_index in range(rounds):
        order = list(range(len(commands)))
        order = order[round_index % len(order) :] + order[: round_index % len(order)]
        for i in order:
            started = time.perf_counter()
            subprocess.run(
                commands[i],
                cwd=cwd,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=False,
            )
            times[i].append(time.perf_counter() - started)
    return times


def time_commands_hyperfine(
    hyperfine: str, commands: Sequence[Sequence[str]], rounds: int, runs: int, cwd: Path
) -> list[list[float]]:
    """hyperfine runs each command `runs` times per round; rounds rotate the order, so runs interleave."""
    times: list[list[float]] = [[] for _ in commands]
    with tempfile.TemporaryDirectory() as tmp:
        export = Path(tmp) / "hyperfine.json"
        for round_index in range(rounds):
            order = list(range(len(commands)))
            order = order[round_index % len(order) :] + order[: round_index % len(order)]
            argv = [hyperfine, "-N", "--style", "none", "--warmup", "1", "--runs", str(runs)]
            argv += ["--export-json", str(export)]
            argv += [shlex.join(commands[i]) for i in order]
            subprocess.run(argv, cwd=cwd, env=clean_env(), capture_output=True, check=True, timeout=600)
            results = json.loads(export.read_text(encoding="utf-8"))["results"]
            for i, result in zip(order, results, strict=True):
                times[i].extend(float(t) for t in result["times"])
    return times


def startup(quick: bool) -> Section:
    section = Section("Start-up (wall time, median of interleaved runs)")
    gl_rollout = executable("gl-rollout")
    gitlab = executable("gitlab")
    if gl_rollout is None:
        section.rows.append(Row("gl-rollout --help", "not measured: gl-rollout is not installed"))
        return section
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        rendered = subprocess.run(
            [gl_rollout, "render", SEED_FLAG],
            cwd=cwd,
            env=clean_env(),
            capture_output=True,
            text=True,
            check=False,
        )
        if rendered.returncode != 0:
            section.rows.append(
                Row("render", f"failed (exit {rendered.returncode}): {rendered.stderr.strip()}")
            )
            return section
        (cwd / "seed.md").write_text(rendered.stdout, encoding="utf-8")
        commands: dict[str, list[str]] = {
            "gl-rollout --help": [gl_rollout, "--help"],
            "gl-rollout status --file seed.md": [gl_rollout, "status", "--file", "seed.md"],
        }
        if gitlab is not None:
            commands["gitlab --help (python-gitlab)"] = [gitlab, "--help"]
        for name, command in list(commands.items()):
            check = subprocess.run(
                command, cwd=cwd, env=clean_env(), capture_output=True, text=True, check=False
            )
            if check.returncode != 0:
                first = (check.stderr.strip().splitlines() or [""])[0]
                section.rows.append(Row(name, f"not measured: exit {check.returncode} {first}"))
                del commands[name]
        names = list(commands)
        rounds, runs = (3, 3) if quick else (7, 5)
        hyperfine = shutil.which("hyperfine")
        times: list[list[float]] | None = None
        if hyperfine:
            try:
                times = time_commands_hyperfine(hyperfine, list(commands.values()), rounds, runs, cwd)
                section.notes.append(
                    f"hyperfine: {rounds} rounds × {runs} runs per command, order rotated each round"
                )
            except (subprocess.SubprocessError, OSError, KeyError, ValueError) as exc:
                section.notes.append(f"hyperfine failed ({type(exc).__name__}); own timing loop used")
        if times is None:
            times = time_commands_own(list(commands.values()), rounds * runs, cwd)
            section.notes.append(f"own loop: {rounds * runs} interleaved runs per command")
    medians = {name: statistics.median(t) for name, t in zip(names, times, strict=True)}
    for name in names:
        section.rows.append(Row(name, ms(medians[name])))
    reference = "gitlab --help (python-gitlab)"
    if reference in medians:
        for name, target in STARTUP_TARGETS.items():
            if name in medians:
                section.rows.append(
                    ratio_row(f"{name} ÷ gitlab --help", medians[name], medians[reference], target)
                )
    else:
        section.notes.append("python-gitlab's `gitlab` command not found: no ratio")
    return section


# --- parsing ----------------------------------------------------------------------------------------------


def one_mib_description() -> str:
    """A rollout description grown to exactly 1,048,576 characters with what real rollout issues accumulate.

    Both built-in templates rendered for a few flags, then status updates: headings, prose, nested task lists,
    ChatOps commands in code blocks, `<details>` blocks and tables, as long-running rollouts collect them.
    """
    from gl_rollout.render.issue import RenderOptions, render_issue

    parts: list[str] = []
    for template, flag in (("rollout", SEED_FLAG), ("rollout-detailed", "ci_pipeline_cache_v2")):
        parts.append(
            render_issue(
                RenderOptions(
                    flag=flag,
                    template=template,
                    group="product analytics",
                    owners=("@dev", "@alice"),
                    beta_projects=("gitlab-org/gitlab",),
                    milestone="17.3",
                )
            ).description
        )
    update = 0
    size = sum(len(p) for p in parts)
    while size < MIB:
        update += 1
        block = (
            f"\n## Status update {update}\n\n"  # noqa: S608  Markdown, not SQL
            f"Rolled out to {update % 100}% of actors on production; error rates flat, "
            f"p95 latency within 2% of the baseline (see dashboard {update}).\n\n"
            f"- [{'x' if update % 3 else ' '}] Check the error budget for update {update}\n"
            f"  - [ ] Ask @dev to confirm the Sidekiq queue depth, round {update}\n"
            f"  - [x] Review Sentry for new exceptions, round {update}\n"
            f"1. [ ] Post the summary in #g_product_analytics ({update})\n\n"
            "```shell\n"
            f"/chatops run feature set ci_pipeline_cache_v2 {update % 100} --actors\n"
            "```\n\n"
            "<details><summary>Graphs</summary>\n\n"
            f"> - [ ] quoted follow-up {update}\n\n"
            "</details>\n\n"
            "| metric | before | after |\n|---|---|---|\n"
            f"| apdex | 0.99{update % 10} | 0.99{(update + 3) % 10} |\n"
        )
        parts.append(block)
        size += len(block)
    text = "".join(parts)[:MIB]
    cut = text.rfind("\n") + 1  # end on a whole line, then pad the last paragraph to the exact size
    text = text[:cut] + "\nPadding paragraph. " + "x" * MIB
    return text[:MIB]


def parsing(quick: bool) -> Section:
    from markdown_it import MarkdownIt

    from gl_rollout.core.checklist import apply_step_states, parse_checklist

    section = Section("Parsing a 1 MiB description (median of interleaved runs)")
    text = one_mib_description()
    md = MarkdownIt()
    parse_checklist(text)  # load markdown-it's rules once for both sides
    md.parse(text)
    rounds = 5 if quick else 15
    ours: list[float] = []
    plain: list[float] = []
    for round_index in range(rounds):
        pair: list[tuple[Callable[[], Any], list[float]]] = [
            (lambda: parse_checklist(text), ours),
            (lambda: md.parse(text), plain),
        ]
        if round_index % 2:
            pair.reverse()
        for action, sink in pair:
            started = time.perf_counter()
            action()
            sink.append(time.perf_counter() - started)
    checklist = parse_checklist(text)
    started = time.perf_counter()
    apply_step_states(text, [checklist.steps[-1].id], "done")
    tick = time.perf_counter() - started
    section.rows.append(
        Row(
            f"parse_checklist ({len(text):,} chars, {len(checklist.steps):,} steps)",
            ms(statistics.median(ours)),
        )
    )
    section.rows.append(Row("markdown_it.MarkdownIt().parse(), same text", ms(statistics.median(plain))))
    section.rows.append(
        ratio_row(
            "parse_checklist ÷ markdown-it-py parse", statistics.median(ours), statistics.median(plain), 1.0
        )
    )
    section.rows.append(Row("tick the last step (parse + one-line edit)", ms(tick)))
    section.notes.append(f"{rounds} rounds, order alternating")
    return section


# --- sandbox ----------------------------------------------------------------------------------------------


def sandbox_speed(quick: bool) -> Section:
    import requests

    from gl_rollout.sandbox import Sandbox

    section = Section("Sandbox")
    sb = Sandbox()
    try:
        with sb.serve() as url:
            issue = sb.create_issue(title="Speed", description="- [ ] one\n- [x] two\n")
            target = f"{url}/api/v4/projects/{sb.project_id}/issues/{issue['iid']}"
            with requests.Session() as session:
                session.headers["PRIVATE-TOKEN"] = sb.tokens["developer"]
                for _ in range(20):
                    session.get(target, timeout=10).raise_for_status()
                duration = 1.0 if quick else 3.0
                count = 0
                latencies: list[float] = []
                started = time.perf_counter()
                while time.perf_counter() - started < duration:
                    before = time.perf_counter()
                    session.get(target, timeout=10).raise_for_status()
                    latencies.append(time.perf_counter() - before)
                    count += 1
                elapsed = time.perf_counter() - started
    finally:
        sb.close()
    section.rows.append(Row("issue GETs per second (one client, one at a time)", f"{count / elapsed:,.0f}/s"))
    section.rows.append(Row("one issue GET, median round trip", ms(statistics.median(latencies))))
    return section


# --- requests ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def sandbox_server() -> Iterator[tuple[Any, str]]:
    from gl_rollout.sandbox import Sandbox

    sb = Sandbox()
    try:
        with sb.serve() as url:
            yield sb, url
    finally:
        sb.close()


def run_json(args: Sequence[str], env: dict[str, str], cwd: Path) -> tuple[int, dict[str, Any] | None, str]:
    """Run `gl-rollout ARGS --json`; return the exit code, the envelope and the first stderr line."""
    exe = executable("gl-rollout") or "gl-rollout"
    done = subprocess.run(
        [exe, *args, "--json"], env=env, cwd=cwd, capture_output=True, text=True, check=False, timeout=600
    )
    try:
        envelope = json.loads(done.stdout)
    except ValueError:
        envelope = None
    message = ""
    if envelope and envelope.get("error"):
        message = str(envelope["error"].get("message", ""))
    elif done.returncode:
        message = (done.stderr.strip().splitlines() or [""])[-1]
    return done.returncode, envelope, message


MR_DEFINITIONS = (
    ("config/feature_flags/beta/bench_export_v2.yml", "bench_export_v2", "beta"),
    (
        "ee/config/feature_flags/gitlab_com_derisk/bench_export_cache.yml",
        "bench_export_cache",
        "gitlab_com_derisk",
    ),
)
MR_DEFINITION = "---\nname: {name}\ntype: {type}\ngroup: group::import and export\ndefault_enabled: false\n"


def requests_section(quick: bool) -> Section:
    from gl_rollout.render.issue import RenderOptions, render_issue

    section = Section("HTTP requests per command, counted in the sandbox's request log")
    with sandbox_server() as (sb, url), tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        # the admin token is read only by `advance --apply`, whose target is this same sandbox
        env = clean_env(GITLAB_TOKEN=sb.tokens["developer"], GITLAB_ADMIN_TOKEN=sb.tokens["admin"], HOME=tmp)
        project = sb.project_path
        common = ["--url", url, "--timeout", "10"]

        def measure(name: str, args: list[str], budget: int) -> dict[str, Any] | None:
            sb.clear_log()
            code, envelope, message = run_json([*args, *common], env, cwd)
            count = len(sb.request_log)
            if code != 0:
                section.rows.append(
                    Row(name, f"failed (exit {code}): {message[:70]}", f"≤ {budget}", False, "command failed")
                )
                return None
            met = count <= budget
            section.rows.append(
                Row(name, str(count), f"≤ {budget}", met, "" if met else f"{count} > {budget}")
            )
            return envelope

        created = measure("create", ["create", SEED_FLAG, "--project", project], 2)
        if created is None:
            section.notes.append("create failed: the other commands were not measured")
            return section
        data = created.get("data", {})
        ref = str(data.get("reference") or f"{project}#{data.get('iid')}")
        if "#" not in ref or ref.startswith("#"):
            ref = f"{project}#{data.get('iid')}"
        # In the order of a rollout, so each command does its whole work (posts and ticks).
        measure("status", ["status", ref], 1)
        measure("status --timeline (one more request)", ["status", ref, "--timeline"], 2)
        measure("announce --eta 'in 2h'", ["announce", ref, "--eta", "in 2h"], 5)
        measure("enable --env staging", ["enable", ref, "--env", "staging"], 5)
        # check reads the newest notes before writing (the floor of its edit's window: issue 9), so 4;
        # nothing to do is decided on the issue alone.
        measure("check test-staging", ["check", ref, "test-staging"], 4)
        measure("check test-staging again (nothing to do)", ["check", ref, "test-staging"], 1)
        measure("disable --env staging (mirrors enable)", ["disable", ref, "--env", "staging"], 5)
        measure(
            "create again (finds the issue, creates nothing)", ["create", SEED_FLAG, "--project", project], 2
        )

        # Today's process: an issue of ChatOps commands only, adopted; ChatOps' record (a log issue in the
        # log project, here the sandbox's second project, and its comment) then moves it in sync.
        current = sb.create_issue(title="Roll out `bench_current`", description=CURRENT_DESCRIPTION)
        current_ref = f"{project}#{current['iid']}"
        log = ["--chatops-log-project", sb.second_project_path]
        measure("adopt (an issue of ChatOps commands only)", ["adopt", current_ref, *log], 5)
        measure("adopt again (nothing to do)", ["adopt", current_ref, *log], 1)
        title = "Feature flag 'bench_current' has been set to 'true' on gstg"
        logged = sb.create_issue(
            project=sb.second_project_path,
            title=title,
            description=CURRENT_LOG.format(url=current["web_url"]),
            author="admin",
            state_event="close",
        )
        sb.add_note(
            project,
            current["iid"],
            f"{title}. Feature flag state change log issue: {logged['web_url']}",
            author="admin",
        )
        measure("sync with ChatOps' record (ticks one step)", ["sync", current_ref, *log], 6)
        measure("sync with ChatOps' record again (nothing to do)", ["sync", current_ref, *log], 3)

        count = 120 if quick else 250
        for n in range(count):
            rendered = render_issue(RenderOptions(flag=f"bench_flag_{n}"))
            sb.create_issue(
                title=rendered.title, description=rendered.description, labels=list(rendered.labels)
            )
        state = cwd / "sync-state.json"
        code, _, message = run_json(["sync", "--project", project, "--state", str(state), *common], env, cwd)
        if code not in (0,):
            section.notes.append(f"first sync exited {code}: {message[:160]}")
        measure(
            f"sync --state, {count + 1} unchanged issues",
            ["sync", "--project", project, "--state", str(state)],
            math.ceil((count + 1) / 100),
        )

        # Issue 12: an MR adding two flag definitions and closing an issue; then the same again.
        feature = sb.create_issue(title="Faster exports")
        merge_request = sb.create_merge_request(
            {path: MR_DEFINITION.format(name=name, type=kind) for path, name, kind in MR_DEFINITIONS},
            closes=[feature["iid"]],
        )
        mr_ref = f"{project}!{merge_request['iid']}"
        measure("create --from-mr (2 new definitions, closes an issue)", ["create", "--from-mr", mr_ref], 13)
        measure("create --from-mr again (nothing to do)", ["create", "--from-mr", mr_ref], 8)

        # A project-flag rollout (issue 11): each step is the instance backend's 5 requests plus at most
        # one GET of the flag and one PUT of it; a step already so is the issue, its notes and the flag.
        flagged = measure(
            "create --flag-backend project --create-flag",
            ["create", "new-checkout", "--project", project, "--flag-backend", "project", "--create-flag"],
            9,
        )
        if flagged is not None:
            data = flagged.get("data", {})
            flag_ref = f"{project}#{data.get('iid')}"
            measure("project flag: enable --env staging", ["enable", flag_ref, "--env", "staging"], 7)
            measure("project flag: enable --percentage 25", ["enable", flag_ref, "--percentage", "25"], 7)
            measure(
                "project flag: enable --percentage 25 again (nothing to do)",
                ["enable", flag_ref, "--percentage", "25"],
                3,
            )
            measure("project flag: disable --env staging", ["disable", flag_ref, "--env", "staging"], 7)
            measure("project flag: disable (the flag inactive)", ["disable", flag_ref], 7)

        # The ramp runner (issue 15): a step is the reads (issue, notes, flag, freeze periods), the notes
        # again right before the write, then a project-flag enable's GET, the comment (the step's claim),
        # the notes again (the claim held), the PUT, tick and check, and the stage label's PUT; waiting
        # for the step's wait is the 4 reads alone.
        ramp = measure(
            "create --flag-backend project --create-flag (a ramp)",
            ["create", "ramp-bench", "--project", project, "--flag-backend", "project", "--create-flag"],
            9,
        )
        if ramp is not None:
            ramp_ref = f"{project}#{ramp.get('data', {}).get('iid')}"
            measure("advance (takes a step of the plan)", ["advance", ramp_ref], 12)
            measure("advance again (waiting: nothing to do)", ["advance", ramp_ref], 4)

        # One of GitLab's own flags with a plan: `advance` comments the ChatOps command and reads the position
        # from the comments (waiting: 3 reads). With --apply (here for staging, the plan's first step) the
        # applied environment's gates are read too (waiting: 4), and its step adds the Features API's GET,
        # POST and GET to the instance backend's reads and writes, and the claim's re-list and the stage
        # label as every step has them (14). The Features API's first GET repeats the position's read on
        # purpose: "already so" is judged on the newest gates, right before the POST.
        instance = measure(
            "create --template rollout-detailed --ramp 10,50,100 (a GitLab flag's ramp)",
            ["create", "ramp_bench_instance", "--project", project, "--template", "rollout-detailed",
             "--ramp", "10,50,100"],
            2,
        )  # fmt: skip
        if instance is not None:
            instance_ref = f"{project}#{instance.get('data', {}).get('iid')}"
            apply = ["--apply", "--target-url", url, "--apply-env", "staging"]
            measure(
                "advance --apply (a GitLab flag's step: the Features API)",
                ["advance", instance_ref, *apply],
                14,
            )
            measure("advance --apply again (waiting: nothing to do)", ["advance", instance_ref, *apply], 4)
            measure("advance, a GitLab flag without --apply (waiting)", ["advance", instance_ref], 3)
    section.notes.append(
        "budgets from the workflow and sync issues; `create again` is the duplicate lookup alone; a "
        "project flag's step: at most one GET and one PUT of the flag beyond the instance backend's 5; "
        "`create --from-mr`: 3 reads of the MR, then per flag 2 (`create`) and 2 per closed issue (links "
        "read and POST), then the MR's notes and the comment"
    )
    return section


# --- scale ------------------------------------------------------------------------------------------------


def scale(quick: bool) -> Section:
    section = Section("Scale: sync with 50 ms added latency (benchmarks/bench_sync.py)")
    if not BENCH_SYNC.exists():
        section.rows.append(
            Row("sync 1,000 / 10,000 issues", "not measured: benchmarks/bench_sync.py is missing")
        )
        return section
    argv = [sys.executable, str(BENCH_SYNC), "--json"] + (["--quick"] if quick else [])
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False, timeout=3600)
    try:
        payload = json.loads(done.stdout)
        rows = payload["rows"]
        for row in rows:
            met = row.get("met")
            section.rows.append(
                Row(
                    str(row.get("benchmark", "")),
                    str(row.get("result", "")),
                    str(row.get("target", "")),
                    met if isinstance(met, bool) else None,
                    str(row.get("gap", "")),
                )
            )
        section.notes.extend(str(note) for note in payload.get("notes", []))
    except (ValueError, KeyError, TypeError, AttributeError):
        section.notes.append(f"bench_sync.py exited {done.returncode}; its output follows")
        section.verbatim = "```\n" + (done.stdout + done.stderr).strip() + "\n```"
    return section


# --- fault matrix -----------------------------------------------------------------------------------------


def faults(run_tests: bool) -> Section:
    section = Section("Fault matrix (from tests/e2e/test_fault_matrix.py)")
    if run_tests:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "tests/e2e/test_fault_matrix.py",
            ],
            cwd=ROOT,
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    if not FAULT_MATRIX.exists():
        section.notes.append(
            f"not run yet: `python -m pytest {FAULT_MATRIX_TEST}` writes benchmarks/fault_matrix.md "
            "(or pass --run-fault-matrix)"
        )
        return section
    stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime(FAULT_MATRIX.stat().st_mtime))
    section.notes.append(f"written by the test run of {stamp}")
    section.verbatim = FAULT_MATRIX.read_text(encoding="utf-8").strip()
    return section


# --- printing ---------------------------------------------------------------------------------------------


def render_markdown(header: list[str], sections: list[Section]) -> str:
    out = ["## Benchmarks", "", *[f"- {line}" for line in header], ""]
    for section in sections:
        out += [f"### {section.title}", ""]
        if section.rows:
            out += ["| Benchmark | Result | Target | Met |", "|---|---|---|---|"]
            for row in section.rows:
                cells = [row.benchmark, row.result, row.target, row.verdict()]
                out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
            out.append("")
        if section.verbatim:
            out += [section.verbatim, ""]
        out += [f"_{note}_  " for note in section.notes]
        if section.notes:
            out.append("")
    return "\n".join(out).rstrip() + "\n"


def render_text(header: list[str], sections: list[Section]) -> str:
    out = [*header, ""]
    for section in sections:
        out += [section.title, "=" * len(section.title)]
        if section.rows:
            table = [["Benchmark", "Result", "Target", "Met"]]
            table += [[r.benchmark, r.result, r.target, r.verdict()] for r in section.rows]
            widths = [max(len(row[i]) for row in table) for i in range(4)]
            for row in table:
                out.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        if section.verbatim:
            out.append(section.verbatim)
        out += [f"  note: {note}" for note in section.notes]
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def demo_ramp(quick: bool) -> Section:
    """`gl-rollout demo --ramp` end to end, as a new user runs it: the installed command, a new state file."""
    section = Section("demo --ramp (wall time, median of runs, each on a new sandbox state)")
    gl_rollout = executable("gl-rollout")
    if gl_rollout is None:
        section.rows.append(Row("gl-rollout demo --ramp", "not measured: gl-rollout is not installed"))
        return section
    runs = 1 if quick else 3
    for backend in ("instance", "project"):
        name = f"gl-rollout demo --ramp --flag-backend {backend}"
        times: list[float] = []
        for run in range(runs):
            with tempfile.TemporaryDirectory() as tmp:
                command = [gl_rollout, "demo", "--ramp", "--flag-backend", backend,
                           "--sandbox-db", f"{tmp}/s{run}.sqlite3", "-o", f"{tmp}/r.html"]  # fmt: skip
                start = time.perf_counter()
                done = subprocess.run(command, env=clean_env(), capture_output=True, text=True, check=False)
                elapsed = time.perf_counter() - start
            if done.returncode != 0:
                first = (done.stderr.strip().splitlines() or [""])[-1]
                section.rows.append(Row(name, f"failed (exit {done.returncode}): {first[:70]}"))
                break
            times.append(elapsed)
        else:
            median = statistics.median(times)
            met = median < DEMO_RAMP_TARGET
            gap = "" if met else f"{median:.1f} s > {DEMO_RAMP_TARGET:g} s"
            section.rows.append(Row(name, f"{median:.1f} s", f"< {DEMO_RAMP_TARGET:g} s", met, gap))
    section.notes.append(f"{runs} run(s) per backend")
    return section


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer rounds and smaller inputs")
    parser.add_argument("--markdown", action="store_true", help="print Markdown tables for README")
    parser.add_argument(
        "--only", default=",".join(SECTIONS), help=f"comma-separated subset of {', '.join(SECTIONS)}"
    )
    parser.add_argument(
        "--run-fault-matrix", action="store_true", help="rerun tests/e2e/test_fault_matrix.py first"
    )
    args = parser.parse_args(argv)
    wanted = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(wanted) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown section(s): {', '.join(unknown)}")

    runners: dict[str, Callable[[], Section]] = {
        "startup": lambda: startup(args.quick),
        "parsing": lambda: parsing(args.quick),
        "sandbox": lambda: sandbox_speed(args.quick),
        "requests": lambda: requests_section(args.quick),
        "scale": lambda: scale(args.quick),
        "demo": lambda: demo_ramp(args.quick),
        "faults": lambda: faults(args.run_fault_matrix),
    }
    sections: list[Section] = []
    for name in SECTIONS:
        if name not in wanted:
            continue
        print(f"measuring {name} ...", file=sys.stderr, flush=True)
        try:
            sections.append(runners[name]())
        except Exception as exc:  # a benchmark reports; a broken section becomes a row, not a failure
            sections.append(Section(name, [Row(name, f"not measured: {type(exc).__name__}: {exc}"[:200])]))
    header = machine()
    text = render_markdown(header, sections) if args.markdown else render_text(header, sections)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
