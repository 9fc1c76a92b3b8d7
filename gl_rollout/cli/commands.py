"""The command table: each command's name, the module that defines it, and its help, declared once.

`gl-rollout --help` lists the commands from this table alone, and running a command imports its module
and builds that one command: start-up never imports or builds the others. A command module takes its
help from here (`help_of`), so the text is written once.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Command:
    """A command (or, with `group`, a group of subcommands) and where it is defined."""

    name: str
    module: str  # defines `app` (a Typer app holding the command), or for a group `group_app`
    help: str
    group: bool = False


COMMANDS: tuple[Command, ...] = (
    Command(
        "render",
        "gl_rollout.cli.offline",
        """Render the rollout issue for FLAG: the title, a blank line, then the description.

With --json: {title, description, labels, steps}. Nothing is sent to GitLab.""",
    ),
    Command(
        "templates",
        "gl_rollout.cli.offline",
        """List the built-in rollout templates, their step IDs and the template variables.""",
    ),
    Command(
        "status",
        "gl_rollout.cli.steps_cmds",
        """Show the checklist of a rollout issue (REF, one request; CI_JOB_TOKEN is enough on GitLab 18.3+)
or of a Markdown file (--file): each step's ID, state and text, then "N of M checklist items completed"
and the next step.

Counts follow GitLab: a skipped step ([~], inapplicable) is in neither number.
With --json: {steps: [{id, text, state, line, section, depth}], done, total, skipped, next}; with REF
also {iid, web_url, reference, title, state, task_completion_status}.""",
    ),
    Command(
        "check",
        "gl_rollout.cli.steps_cmds",
        """Tick steps: set them done ([x]), or todo with --undo, or skipped with --skip.

With REF: a read of the issue and its notes, a one-line edit per step, a write of the description
only, and a check of what GitLab stored (4 requests); a box someone else ticked meanwhile is set
again, a text edit that would be lost is exit 4.
With --file: prints the new text, or rewrites the file with --in-place.
Only the bracket on each step's line changes. A step already in that state is left alone (exit 0).""",
    ),
    Command(
        "create",
        "gl_rollout.cli.workflow",
        """Create the rollout issue for FLAG in --project, unless an open one exists (then report it, exit 0).

Labels: "feature flag" and the group's label, plus --label. --milestone also sets the issue's milestone
(it must exist). With --json: {iid, web_url, reference, created}.

With --flag-backend project --create-flag: also the project feature flag (inactive, no strategy) when
the project has none; a flag of that name made for something else is refused unless --adopt-flag.""",
    ),
    Command(
        "announce",
        "gl_rollout.cli.workflow",
        """Comment on the rollout issue when the flag will be enabled (--eta) or that it is (--enabled),
then tick announce-eta / announce-enabled. Running it again posts nothing.""",
    ),
    Command(
        "enable",
        "gl_rollout.cli.workflow",
        """Comment the exact ChatOps `feature set` command on the rollout issue and tick the step it
completes: enable-staging (staging), enable-beta (actors on production), enable-production (everyone on
production), ramp-N (N% of actors, when the issue has that step). --apply also sets it through the
Features API.

A project-flag rollout (created with --flag-backend project) sets its project feature flag through
GitLab's API instead, with the same token: --env E turns it on for everyone in E, --percentage N sets
a flexibleRollout of N% (in the last environment unless --env), --user-list NAME adds the list's
users; then the comment and the tick. One GET of the flag and at most one PUT.""",
    ),
    Command(
        "disable",
        "gl_rollout.cli.workflow",
        """Roll back: comment `feature set FLAG false ...` on the rollout issue and set the matching enable
step back to todo. --apply also sets it through the Features API.

A project-flag rollout: --env E takes E's scopes off the flag's strategies; without --env the flag is
set inactive (off everywhere).""",
    ),
    Command(
        "demo",
        "gl_rollout.cli.workflow",
        """The main job, end to end, against the embedded sandbox (no account needed): create the rollout
issue for product_analytics_aggregated_metrics, status, announce --eta "in 2h", enable --env staging --apply,
check test-staging, status again, then print the issue. Safe to run again: it reports what exists.
State persists in the sandbox database (--sandbox-db FILE to choose).

With --flag-backend project: the project feature flag new-checkout instead, created with the issue,
turned on in staging, ramped to 10, 25, 50 and 100% of production, and then what an application's
Unleash client sees of it in each environment.""",
    ),
    Command(
        "adopt",
        "gl_rollout.cli.adopt_cmd",
        """Give an existing rollout issue (any template, or one of ChatOps commands only) gl-rollout's status
block: a short task list between <!-- gl-rollout:status --> and <!-- /gl-rollout:status -->, after the
first heading. Its steps are those the issue's commands, sections and boxes show; boxes start from the
issue's own, gl-rollout's comments and ChatOps' record. status, check, sync, announce and enable then
work on the block. --repair rebuilds a damaged block. 5 requests; an adopted issue: 1, nothing written.""",
    ),
    Command(
        "sync",
        "gl_rollout.cli.sync_cmds",
        """Make rollout checklists tell the truth, from evidence.

Evidence: gl-rollout's own comments (announce, enable, disable), GitLab's "marked the checklist item"
notes, and with --features-url the flag's gates on that instance (an admin token in GITLAB_ADMIN_TOKEN
or the variable --target-token-env names): fully on proves enable-production, or enable-staging with
--features-env staging; the output says which environment the gates were read as. A step proven done
is ticked; a ticked step without evidence is reported as unverified and left alone, or set back to
todo with --strict (so are ticked steps the latest evidence contradicts). The scoped label
rollout::<stage> is set with add_labels/remove_labels only.

With REF: that open issue (a closed one is refused). Without: every open issue of --project (default
CI_PROJECT_PATH) or --group carrying --label, 8 requests at a time at most. Exit 0 when every issue
synced; otherwise 3 if any issue failed with a GitLab error, else 4 if any hit a conflicting edit (1 for
an unexpected error).""",
    ),
    Command(
        "report",
        "gl_rollout.cli.sync_cmds",
        """Write a report of every open rollout issue: flag, stage, N of M done, next step, last
activity, days since it moved (stale after --stale-days), link. The format follows the file name:
.md, .json, or .html (one self-contained page for GitLab Pages). Only reads: CI_JOB_TOKEN will do for
a project on GitLab 18.3 or later (no version lets it read notes, so "moved" falls back to the issue's
last activity); older GitLab needs GITLAB_TOKEN.""",
    ),
    Command(
        "sandbox",
        "gl_rollout.cli.sandbox_cmd",
        """The embedded GitLab sandbox: a local GitLab REST emulator to try gl-rollout without an account.""",
        group=True,
    ),
)

BY_NAME: dict[str, Command] = {command.name: command for command in COMMANDS}


def help_of(name: str) -> str:
    """The help text of a command, as its module declares the command with it."""
    return BY_NAME[name].help
