"""Sync at scale against the sandbox: requests, wall time against its floor, the state file, peak memory.

    python benchmarks/bench_sync.py [--quick] [--json]

1. `gl-rollout sync --project P --state FILE` over N rollout issues (1,000; 300 with --quick), one in
   ten needing a tick (an `announce-eta` comment whose box is not ticked), with 50 ms added to every
   sandbox response and no rate limit on either side. Reported: the requests the sandbox saw, by
   kind, against what the issues need (ceil(N/100) list pages, one notes read per issue, and for
   each tick one description PUT plus one notes read to check no edit raced it), and the wall time
   against the floor that request count sets with 8 in flight: requests x 0.05 s / 8.
2. The same sync again after 10 issues got a new comment: only those 10 are read again.
3. 10,000 issues (2,000 with --quick), no added latency: the sync process's peak memory
   (VmHWM), and its size right after start-up for comparison.

The sandbox serves from this process; each sync runs in a child process (`--child`), so the server's
work and memory are not counted as the tool's. A benchmark reports, it never fails: exit 0 with the
gaps in the table. `--json` prints `{"rows": [...], "notes": [...]}` for `benchmarks/run.py`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from run import Row  # the table row of benchmarks/run.py (this folder is on sys.path when run as a script)

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

LATENCY = 0.05
IN_FLIGHT = 8
TARGET_RATIO = 1.25
MEMORY_TARGET_MIB = 150.0
CHANGED_ON_REPEAT = 10


# --- the child: one sync, measured from inside -----------------------------------------------------


def peak_kib() -> int:
    """This process's peak resident memory in KiB.

    Linux's VmHWM belongs to the process's own address space, so it starts afresh at exec; ru_maxrss
    does not (a child started by a large parent inherits the parent's high-water mark), so it is only
    the fallback where /proc is missing.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def child(argv: list[str]) -> None:
    """Run `gl-rollout ARGV` in this process and print wall time, exit code and peak memory as JSON."""
    import contextlib
    import io

    start_rss = peak_kib()
    from gl_rollout.cli import invoke

    loaded_rss = peak_kib()
    sink = io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        code = invoke(argv, env=dict(os.environ))
    wall = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    peak_rss = peak_kib()
    print(
        json.dumps(
            {
                "code": code,
                "wall": wall,
                "start_kib": start_rss,
                "loaded_kib": loaded_rss,
                "peak_kib": peak_rss,
                "cpu": usage.ru_utime + usage.ru_stime,
                "output_tail": sink.getvalue()[-400:],
            }
        )
    )


def run_child(url: str, token: str, args: list[str]) -> dict[str, Any]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),  # noqa: S108  only python-gitlab's config lookup reads it
        "GITLAB_URL": url,
        "GITLAB_TOKEN": token,
        "NO_COLOR": "1",
    }
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", "--", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=False,
        timeout=3600,
    )
    try:
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise SystemExit(
            f"the sync child failed (exit {done.returncode}):\n{done.stdout}\n{done.stderr}"
        ) from None
    return result


# --- seeding ---------------------------------------------------------------------------------------


def seed(sb: Any, count: int, *, needing_tick: int) -> list[dict[str, Any]]:
    """`count` rollout issues as `gl-rollout create` writes them, already labelled with their stage;
    the first `needing_tick` get an announce-eta comment whose box is not ticked yet."""
    from gl_rollout.render.issue import RenderOptions, render_issue

    template = render_issue(RenderOptions(flag="bench_flag_x"))
    issues = []
    for n in range(count):
        flag = f"bench_flag_{n}"
        issues.append(
            sb.create_issue(
                None,
                title=template.title.replace("bench_flag_x", flag),
                description=template.description.replace("bench_flag_x", flag),
                labels=["feature flag", "rollout::planned"],
            )
        )
    for issue in issues[:needing_tick]:
        announce(sb, issue)
    return issues


def announce(sb: Any, issue: dict[str, Any]) -> None:
    from gl_rollout.core.markers import NoteMarker

    flag = issue["title"].split("`")[1]
    marker = NoteMarker("announce-eta", flag, "announce-eta", {"eta": "2026-12-01T14:00:00Z"})
    sb.add_note(
        None,
        issue["iid"],
        f"Expected on GitLab.com on 2026-12-01.\n\n{marker.to_comment()}",
        author="developer",
    )


def kinds(log: list[Any]) -> dict[str, int]:
    """Requests by kind, from the sandbox's request log."""
    counts: dict[str, int] = {}
    for entry in log:
        if entry.method == "GET" and entry.path.endswith("/issues"):
            kind = "list pages"
        elif entry.method == "GET" and entry.path.endswith("/notes"):
            kind = "notes reads"
        elif entry.method == "PUT":
            kind = "issue PUTs"
        elif entry.method == "GET":
            kind = "issue GETs"
        else:
            kind = f"{entry.method} other"
        counts[kind] = counts.get(kind, 0) + 1
    return counts


def describe(counts: dict[str, int]) -> str:
    order = ["list pages", "notes reads", "issue GETs", "issue PUTs"]
    keys = order + sorted(k for k in counts if k not in order)
    return ", ".join(f"{counts[k]:,} {k}" for k in keys if counts.get(k))


# --- the benchmarks --------------------------------------------------------------------------------


def bench_latency(count: int, rows: list[Row], notes: list[str]) -> None:
    from gl_rollout.core.checklist import parse_checklist
    from gl_rollout.sandbox import Sandbox

    ticks = count // 10
    sb = Sandbox()
    url = sb.start()
    try:
        issues = seed(sb, count, needing_tick=ticks)
        sb.rate_limit(None)
        sb.faults.latency = LATENCY
        with tempfile.TemporaryDirectory() as folder:
            state = Path(folder) / "sync-state.json"
            args = [
                "sync",
                "--project",
                sb.project_path,
                "--state",
                str(state),
                "--max-requests-per-minute",
                "0",
            ]
            sb.clear_log()
            first = run_child(url, sb.tokens["developer"], args)
            log = sb.request_log
            counts = kinds(log)
            requests = len(log)
            needed = math.ceil(count / 100) + count + 2 * ticks
            floor = requests * LATENCY / IN_FLIGHT
            ratio = first["wall"] / floor
            ticked = sum(
                1
                for issue in issues
                if (
                    step := parse_checklist(sb.get_issue(None, issue["iid"])["description"]).find(
                        "announce-eta"
                    )
                )
                and step.state == "done"
            )
            rows.append(
                Row(
                    f"sync {count:,} issues ({ticks} need a tick): requests",
                    f"{requests:,} ({describe(counts)}); {ticked} ticked, exit {first['code']}",
                    f"{needed:,} = {math.ceil(count / 100)} pages + {count:,} notes + 2 x {ticks} ticks",
                    requests == needed and ticked == ticks and first["code"] == 0,
                    f"{requests - needed:+,} requests" if requests != needed else "",
                )
            )
            rows.append(
                Row(
                    f"sync {count:,} issues: wall time, 50 ms per response",
                    f"{first['wall']:.2f} s = {ratio:.2f} x the floor {floor:.2f} s "
                    f"({requests:,} x 0.05 s / 8)",
                    f"<= {TARGET_RATIO} x floor",
                    ratio <= TARGET_RATIO,
                    f"{ratio / TARGET_RATIO:.2f} x over" if ratio > TARGET_RATIO else "",
                )
            )

            for issue in issues[ticks : ticks + CHANGED_ON_REPEAT]:
                announce(sb, issue)
            sb.clear_log()
            second = run_child(url, sb.tokens["developer"], args)
            log = sb.request_log
            counts = kinds(log)
            read_again = {e.path for e in log if e.method == "GET" and e.path.endswith("/notes")}
            changed_paths = {
                f"/issues/{issue['iid']}/notes" for issue in issues[ticks : ticks + CHANGED_ON_REPEAT]
            }
            only_changed = {p[p.index("/issues/") :] for p in read_again} == changed_paths
            rows.append(
                Row(
                    f"repeat sync with --state, {CHANGED_ON_REPEAT} issues changed",
                    f"{len(log):,} requests ({describe(counts)}), {second['wall']:.2f} s, "
                    f"exit {second['code']}",
                    f"notes of the {CHANGED_ON_REPEAT} changed issues only",
                    only_changed and second["code"] == 0,
                    "" if only_changed else f"read {len(read_again)} issues' notes",
                )
            )
    finally:
        sb.close()
    notes.append(
        "Latency rows: the sandbox adds 50 ms to every response and neither side rate-limits "
        "(--max-requests-per-minute 0); the 90% of issues that need nothing were labelled with their stage "
        "when seeded, so they cost one notes read and no write."
    )


def bench_memory(count: int, rows: list[Row], notes: list[str]) -> None:
    from gl_rollout.sandbox import Sandbox

    sb = Sandbox()
    url = sb.start()
    try:
        seed(sb, count, needing_tick=count // 10)
        sb.rate_limit(None)
        sb.faults.latency = 0.0
        args = ["sync", "--project", sb.project_path, "--max-requests-per-minute", "0"]
        sb.clear_log()
        measured = run_child(url, sb.tokens["developer"], args)
        requests = len(sb.request_log)
    finally:
        sb.close()
    peak = measured["peak_kib"] / 1024
    loaded = measured["loaded_kib"] / 1024
    rows.append(
        Row(
            f"sync {count:,} issues: peak memory",
            f"{peak:.0f} MiB peak RSS ({loaded:.0f} MiB after start-up); {requests:,} requests in "
            f"{measured['wall']:.1f} s, exit {measured['code']}",
            f"<= {MEMORY_TARGET_MIB:.0f} MiB",
            peak <= MEMORY_TARGET_MIB and measured["code"] == 0,
            f"{peak - MEMORY_TARGET_MIB:+.0f} MiB" if peak > MEMORY_TARGET_MIB else "",
        )
    )
    notes.append(
        "Memory: peak RSS (VmHWM) of the sync's own process; the sandbox runs in the benchmark's process."
    )


def print_table(rows: list[Row], notes: list[str]) -> None:
    header = ["Benchmark", "Result", "Target", "Met"]
    table = [header] + [
        [
            r.benchmark,
            r.result,
            r.target,
            "" if r.met is None else ("yes" if r.met else f"NO {r.gap}".strip()),
        ]
        for r in rows
    ]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    for n, line in enumerate(table):
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(line)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))
    for note in notes:
        print(f"\n{note}")


def main() -> None:
    if "--child" in sys.argv:
        child(sys.argv[sys.argv.index("--") + 1 :])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--quick", action="store_true", help="300 and 2,000 issues instead of 1,000 and 10,000"
    )
    parser.add_argument("--json", action="store_true", help="print the rows as JSON (for benchmarks/run.py)")
    args = parser.parse_args()
    rows: list[Row] = []
    notes: list[str] = []
    bench_latency(300 if args.quick else 1000, rows, notes)
    bench_memory(2000 if args.quick else 10_000, rows, notes)
    notes.append(f"Machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}.")
    if args.json:
        print(json.dumps({"rows": [r.__dict__ for r in rows], "notes": notes}, indent=1))
    else:
        print_table(rows, notes)


if __name__ == "__main__":
    main()
