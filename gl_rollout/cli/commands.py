"""The command table: each command's name, the module that defines it, its group in `--help`, its one-line
summary, its help and its examples, declared once.

`gl-rollout --help` lists the commands from this table alone, grouped by `KINDS`, and running a command
imports its module and builds that one command: start-up never imports or builds the others. A command
module takes its help from here (`help_of`), so the text is written once; the examples every `--help`
page ends with come from here too (`examples_of`). A new command is one row here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["offline", "gitlab", "sandbox"]

# The groups of the command list, in order, with their headings.
KINDS: tuple[tuple[Kind, str], ...] = (
    ("offline", "Offline commands (no network, no token)"),
    ("gitlab", "GitLab commands (a token, or --sandbox)"),
    ("sandbox", "Sandbox commands (no account needed)"),
)


@dataclass(frozen=True)
class Example:
    """One example of a `--help` page: what it does (a comment line), then the command line."""

    does: str
    line: str


@dataclass(frozen=True)
class Command:
    """A command (or, with `group`, a group of subcommands) and where it is defined."""

    name: str
    module: str  # defines `app` (a Typer app holding the command), or for a group `group_app`
    kind: Kind
    summary: str  # one whole sentence: the command list of `gl-rollout --help`
    help: str
    examples: tuple[Example, ...]
    group: bool = False


def _examples(*pairs: tuple[str, str]) -> tuple[Example, ...]:
    return tuple(Example(does, line) for does, line in pairs)


COMMANDS: tuple[Command, ...] = (
    Command(
        "render",
        "gl_rollout.cli.offline",
        "offline",
        "Print the rollout issue for a flag, from a template.",
        """Render the rollout issue for FLAG: the title, a blank line, then the description.

With --json: {title, description, labels, steps}. Nothing is sent to GitLab.""",
        _examples(
            (
                "Write the description to a file",
                'gl-rollout render my_flag --group "product analytics" -o rollout.md',
            ),
            (
                "The longer template, with a production ramp",
                "gl-rollout render my_flag -t rollout-detailed --ramp 1,10,50,100",
            ),
            (
                "Pre-fill from the flag's definition YAML",
                "gl-rollout render --definition config/feature_flags/beta/my_flag.yml",
            ),
        ),
    ),
    Command(
        "templates",
        "gl_rollout.cli.offline",
        "offline",
        "List the built-in templates and their step IDs.",
        """List the built-in rollout templates, their step IDs and the template variables.""",
        _examples(
            ("The templates and the IDs of their steps", "gl-rollout templates"),
            ("The same as JSON", "gl-rollout templates --json"),
        ),
    ),
    Command(
        "status",
        "gl_rollout.cli.steps_cmds",
        "gitlab",
        "Show the checklist of an issue, or of a file with --file.",
        """Show the checklist of a rollout issue (REF, one request; CI_JOB_TOKEN is enough on GitLab 18.3+)
or of a Markdown file (--file): each step's ID, state and text, then "N of M checklist items completed"
and the next step.

Counts follow GitLab: a skipped step ([~], inapplicable) is in neither number.
With --json: {steps: [{id, text, state, line, section, depth}], done, total, skipped, next}; with REF
also {iid, web_url, reference, title, state, task_completion_status}.""",
        _examples(
            ("The steps of an issue and the next one", "gl-rollout status group/project#42"),
            (
                "A pipeline gate: exit 6 until the step is done",
                "gl-rollout status group/project#42 --require enable-production",
            ),
            ("The steps of a local description", "gl-rollout status --file rollout.md"),
        ),
    ),
    Command(
        "check",
        "gl_rollout.cli.steps_cmds",
        "gitlab",
        "Tick, untick or skip steps of an issue, or of a file.",
        """Tick steps: set them done ([x]), or todo with --undo, or skipped with --skip.

With REF: a read of the issue and its notes, a one-line edit per step, a write of the description
only, and a check of what GitLab stored (4 requests); a box someone else ticked meanwhile is set
again, a text edit that would be lost is exit 4.
With --file: prints the new text, or rewrites the file with --in-place.
Only the bracket on each step's line changes. A step already in that state is left alone (exit 0).""",
        _examples(
            ("Tick a step on the issue", "gl-rollout check group/project#42 enable-staging"),
            (
                "Show what unticking would change, write nothing",
                "gl-rollout check group/project#42 test-staging --undo -n",
            ),
            ("Tick the first step of a local file", "gl-rollout check --file rollout.md 1 --in-place"),
        ),
    ),
    Command(
        "create",
        "gl_rollout.cli.workflow",
        "gitlab",
        "Create the rollout issue for a flag, unless one is open.",
        """Create the rollout issue for FLAG in --project, unless an open one exists (then report it, exit 0).

Labels: "feature flag" and the group's label, plus --label. --milestone also sets the issue's milestone
(it must exist). With --json: {iid, web_url, reference, created}.

With --flag-backend project --create-flag: also the project feature flag (inactive, no strategy) when
the project has none; a flag of that name made for something else is refused unless --adopt-flag.

With --from-mr MR (instead of FLAG): one issue per flag definition the merge request adds
(config/feature_flags/TYPE/NAME.yml, also under ee/), each linked to the issues the MR closes,
and one MR comment showing the rollout_issue_url line for each definition. Running it again writes
nothing; an MR with no new definition is exit 0.""",
        _examples(
            (
                "Create it in a project",
                'gl-rollout create my_flag -R group/project --group "product analytics"',
            ),
            ("Try it on the embedded sandbox", "gl-rollout --sandbox create my_flag"),
            (
                "An issue for each flag a merge request adds, and one MR comment",
                "gl-rollout create --from-mr group/project!12",
            ),
        ),
    ),
    Command(
        "announce",
        "gl_rollout.cli.workflow",
        "gitlab",
        "Comment when the flag will be enabled, or that it is.",
        """Comment on the rollout issue when the flag will be enabled (--eta) or that it is (--enabled),
then tick announce-eta / announce-enabled. Running it again posts nothing.""",
        _examples(
            ("Announce the production time", 'gl-rollout announce group/project#42 --eta "in 2h"'),
            ("At a given time", 'gl-rollout announce group/project#42 --eta "2027-01-12 14:00 UTC"'),
            (
                "Announce that it is on staging",
                "gl-rollout announce group/project#42 --enabled --env staging",
            ),
        ),
    ),
    Command(
        "enable",
        "gl_rollout.cli.workflow",
        "gitlab",
        "Comment the ChatOps command that enables the flag.",
        """Comment the exact ChatOps `feature set` command on the rollout issue and tick the step it
completes: enable-staging (staging), enable-beta (actors on production), enable-production (everyone on
production), ramp-N (N% of actors, when the issue has that step). --apply also sets it through the
Features API.

A project-flag rollout (created with --flag-backend project) sets its project feature flag through
GitLab's API instead, with the same token: --env E turns it on for everyone in E, --percentage N sets
a flexibleRollout of N% (in the last environment unless --env), --user-list NAME adds the list's
users; then the comment and the tick. One GET of the flag and at most one PUT.""",
        _examples(
            ("Enable on staging", "gl-rollout enable group/project#42 --env staging"),
            (
                "Enable for one project on production",
                "gl-rollout enable group/project#42 --project-actor gitlab-org/gitlab",
            ),
            (
                "Show a 25% ramp, write nothing",
                "gl-rollout enable group/project#42 --percentage 25 --actors -n",
            ),
        ),
    ),
    Command(
        "disable",
        "gl_rollout.cli.workflow",
        "gitlab",
        "Roll back: comment the command that disables the flag.",
        """Roll back: comment `feature set FLAG false ...` on the rollout issue and set the matching enable
step back to todo. --apply also sets it through the Features API.

A project-flag rollout: --env E takes E's scopes off the flag's strategies; without --env the flag is
set inactive (off everywhere).""",
        _examples(
            ("Roll back on staging", "gl-rollout disable group/project#42 --env staging"),
            (
                "Also through the Features API, shown and not sent",
                "gl-rollout disable group/project#42 --env staging --apply -n",
            ),
        ),
    ),
    Command(
        "sync",
        "gl_rollout.cli.sync_cmds",
        "gitlab",
        "Make rollout checklists tell the truth, from evidence.",
        """Make rollout checklists tell the truth, from evidence.

Evidence: gl-rollout's own comments (announce, enable, disable), GitLab's "marked the checklist item"
notes, and with --features-url the flag's gates on that instance (an admin token in GITLAB_ADMIN_TOKEN
or the variable --target-token-env names): fully on proves enable-production, or enable-staging with
--features-env staging; the output says which environment the gates were read as. A step proven done
is ticked; a ticked step without evidence is reported as unverified and left alone, or set back to
todo with --strict (so are ticked steps the latest evidence contradicts). The scoped label
rollout::STAGE is set with add_labels/remove_labels only.

With REF: that open issue (a closed one is refused). Without: every open issue of --project (default
CI_PROJECT_PATH) or --group carrying --label, 8 requests at a time at most. Exit 0 when every issue
synced; otherwise 3 if any issue failed with a GitLab error, else 4 if any hit a conflicting edit (1 for
an unexpected error).""",
        _examples(
            ("Show what one issue's evidence would change", "gl-rollout sync group/project#42 --dry-run"),
            (
                "Every rollout issue of a group, remembering the last run",
                "gl-rollout sync --group my-group --state .gl-rollout-sync.json",
            ),
            ("Also untick steps without evidence", "gl-rollout sync -R group/project --strict"),
        ),
    ),
    Command(
        "report",
        "gl_rollout.cli.sync_cmds",
        "gitlab",
        "Report every open rollout as Markdown, JSON or HTML.",
        """Report every open rollout issue: flag, stage, N of M done, next step, last activity, days since it
moved (stale after --stale-days), link. Markdown on standard output, or with -o the format the file name
says: .md, .json, or .html (one self-contained page for GitLab Pages; a rollout with a plan gets its step
chart, drawn from its comments). Only reads: CI_JOB_TOKEN will do for a project on GitLab 18.3 or later (no
version lets it read notes, so "moved" falls back to the issue's last activity, and no chart is drawn);
older GitLab needs GITLAB_TOKEN.""",
        _examples(
            ("Markdown on standard output", "gl-rollout report -R group/project > rollouts.md"),
            ("One HTML page for GitLab Pages", "gl-rollout report --group my-group -o public/index.html"),
            ("JSON, stale after a week", "gl-rollout report -R group/project --stale-days 7 -o report.json"),
        ),
    ),
    Command(
        "demo",
        "gl_rollout.cli.workflow",
        "sandbox",
        "Run the whole flow against the embedded sandbox.",
        """The main job, end to end, against the embedded sandbox (no account needed): create the rollout
issue for product_analytics_aggregated_metrics, status, announce --eta "in 2h", enable --env staging --apply,
check test-staging, status again, then print the issue. Safe to run again: it reports what exists.
State persists in the sandbox database (--sandbox-db FILE to choose).

With --flag-backend project: the project feature flag new-checkout instead, created with the issue,
turned on in staging, ramped to 10, 25, 50 and 100% of production, and then what an application's
Unleash client sees of it in each environment.

With --ramp: a guarded ramp walked by advance on a sandbox state of its own (a new file, or --sandbox-db
FILE), its clock moved forward instead of waiting: each wait, a step held by an incident, a probe that
turns unhealthy and rolls back and pauses, resume, the ramp to 100% and the hold; then the HTML report
with the rollout's step chart (-o FILE, else in a new temporary folder), whose path it prints.""",
        _examples(
            ("The whole flow, in the sandbox's usual state", "gl-rollout demo"),
            ("A project feature flag's rollout instead", "gl-rollout demo --flag-backend project"),
            (
                "A whole guarded ramp, its state and its report with the chart where you say",
                "gl-rollout demo --ramp --sandbox-db /tmp/ramp.sqlite3 -o /tmp/ramp.html",
            ),
        ),
    ),
    Command(
        "adopt",
        "gl_rollout.cli.adopt_cmd",
        "gitlab",
        "Give an existing rollout issue gl-rollout's status block.",
        """Give an existing rollout issue (any template, or one of ChatOps commands only) gl-rollout's status
block: a short task list between <!-- gl-rollout:status --> and <!-- /gl-rollout:status -->, after the
first heading. Its steps are those the issue's commands, sections and boxes show; boxes start from the
issue's own, gl-rollout's comments and ChatOps' record. status, check, sync, announce and enable then
work on the block. --repair rebuilds a damaged block. 5 requests; an adopted issue: 1, nothing written.""",
        _examples(
            ("Show the block it would insert, write nothing", "gl-rollout adopt group/project#42 -n"),
            ("Name the flag when the title does not", "gl-rollout adopt group/project#42 --flag my_flag"),
            ("Rebuild a block damaged by hand", "gl-rollout adopt group/project#42 --repair"),
        ),
    ),
    # --- the ramp runner (issue 15) ---
    Command(
        "advance",
        "gl_rollout.cli.ramp_cmds",
        "gitlab",
        "Take a rollout's next plan step when every guard holds.",
        """Take the next step of the rollout plan in the issue when every guard holds: the previous
step's wait is over by GitLab's clock, earlier environments come first, an announced ETA is reached, no
deploy freeze is active, no blocking incident is open (--incident-project), the step's approvers
approved it, and the rollout is not paused. Then it sets the flag as enable does (a project feature
flag through GitLab's API; GitLab's own flags: the ChatOps command in the comment, and with --apply
--target-url also the Features API for one environment, --apply-env, whose position is then read from
the gates), comments what changed, which guards held and when the next step may come, and ticks the
step. Otherwise it says which
guard holds it and until when. Exit 0 either way; 3 when a guard cannot be read, 4 when another runner
acted since the read or the flag was changed by hand (--adopt continues from it).

--probe CMD runs a health check first (no shell, at most 60 s, no tokens in its environment): a
non-zero exit holds the first step, and once a step is taken rolls the flag back one step and pauses the
rollout, quoting the probe's first lines. A probe that cannot run is exit 2 before any request.
--probe-url URL does the same by HTTP(S) GET: 2xx is healthy; no token is sent to it. With both, both
must be healthy. --settle DURATION probes again that long after taking a step, in the same run, and
rolls the step back if unhealthy (default 0: the next scheduled run's probe is the check).

Without REF, --project P or --group G advances every open rollout issue (--label) with a plan, one
after the other; one that fails does not stop the others (the exit code is the first failure's).

With --json: {position, next_step, next_at, blocked_by[], took}. Nothing to do: 4 requests.""",
        _examples(
            ("Take the next step if it is due", "gl-rollout advance group/project#42"),
            (
                "Every open rollout of a project (a scheduled job)",
                "gl-rollout advance --project group/project",
            ),
            (
                "Check health first and 5 minutes after a step; roll back if unhealthy",
                "gl-rollout advance group/project#42 --probe ./check.sh --settle 5m",
            ),
        ),
    ),
    Command(
        "pause",
        "gl_rollout.cli.ramp_cmds",
        "gitlab",
        "Stop advance from taking a rollout's next step.",
        """Comment that the rollout is paused, and why: advance takes no step until resume. The flag
stays where it is. Already paused: nothing to do.""",
        _examples(
            ("Pause the ramp", 'gl-rollout pause group/project#42 --reason "error rate up"'),
            ("Show the comment, write nothing", 'gl-rollout pause group/project#42 --reason "checking" -n'),
        ),
    ),
    Command(
        "resume",
        "gl_rollout.cli.ramp_cmds",
        "gitlab",
        "Let advance take a paused or rolled-back rollout's steps again.",
        """Comment that the rollout resumes, and take the rollout::rolled-back label off. Not paused:
nothing to do.""",
        _examples(
            ("Resume the ramp", "gl-rollout resume group/project#42"),
            ("Say what it would do, write nothing", "gl-rollout resume group/project#42 -n"),
        ),
    ),
    Command(
        "rollback",
        "gl_rollout.cli.ramp_cmds",
        "gitlab",
        "Take the flag back to an earlier plan step, and pause.",
        """Comment the rollback and why, set the rollout::rolled-back label, then take the flag back: to
the step before the position, to --to STEP, or --off everywhere. Each flag change is the enable or
disable of its environment, with its own comment. advance takes no step until resume. Run again, it
writes nothing.""",
        _examples(
            ("Back one step", 'gl-rollout rollback group/project#42 --reason "p99 latency"'),
            (
                "Back to a given step, write nothing",
                'gl-rollout rollback group/project#42 --reason "errors" --to production-10 -n',
            ),
            ("Off everywhere", 'gl-rollout rollback group/project#42 --reason "data loss" --off'),
        ),
    ),
    Command(
        "sandbox",
        "gl_rollout.cli.sandbox_cmd",
        "sandbox",
        "Serve the embedded GitLab sandbox on this machine.",
        """The embedded GitLab sandbox: a local GitLab REST emulator to try gl-rollout without an account.""",
        _examples(
            ("Serve the state --sandbox and demo use", "gl-rollout sandbox serve"),
            (
                "On a free port, from another state file",
                "gl-rollout sandbox serve --port 0 --db /tmp/sandbox.sqlite3",
            ),
        ),
        group=True,
    ),
)

# The subcommands of groups: their one-line summary and examples, by command path.
SUBCOMMANDS: dict[str, tuple[str, tuple[Example, ...]]] = {
    "sandbox serve": (
        "Serve the sandbox on 127.0.0.1 until Ctrl-C.",
        _examples(
            ("Serve the state --sandbox and demo use", "gl-rollout sandbox serve --port 8929"),
            ("With fault injection for another process", "gl-rollout sandbox serve --port 0 --control"),
        ),
    ),
}

ROOT_EXAMPLES: tuple[Example, ...] = _examples(
    ("Try the whole flow, no account needed", "gl-rollout demo"),
    ("The checklist of a rollout issue", "gl-rollout status group/project#42"),
    ("Complete commands, options and step IDs in bash", "gl-rollout --install-completion bash"),
)

BY_NAME: dict[str, Command] = {command.name: command for command in COMMANDS}


def help_of(name: str) -> str:
    """The help text of a command, as its module declares the command with it."""
    return BY_NAME[name].help


def examples_of(path: str) -> tuple[Example, ...]:
    """The examples of a command path (`status`, `sandbox serve`; empty for the root)."""
    if not path:
        return ROOT_EXAMPLES
    if path in BY_NAME:
        return BY_NAME[path].examples
    found = SUBCOMMANDS.get(path)
    return found[1] if found is not None else ()


def summary_of(path: str) -> str | None:
    """The one-sentence summary of a command path, for the list of commands of its group."""
    if path in BY_NAME:
        return BY_NAME[path].summary
    found = SUBCOMMANDS.get(path)
    return found[0] if found is not None else None
