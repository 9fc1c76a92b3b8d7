"""The command line before Typer reads it: which global options there are, and moving those written after
the command in front of it. Shared by the app and by shell completion, which reads the words as the app
does."""

from __future__ import annotations

# Global options, hoisted by `main`: name -> takes a value.
GLOBAL_OPTIONS: dict[str, bool] = {
    "--json": False,
    "--json-file": True,
    "--debug": False,
    "--debug-body": False,
    "--sandbox": False,
    "--sandbox-db": True,
    "--url": True,
    "--gitlab": True,
    "--ca-bundle": True,
    "--timeout": True,
    "--allow-http": False,
}


def hoist_global_options(argv: list[str]) -> list[str]:
    """Move global options written after the command in front of it, so they apply anywhere."""
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(argv):
        token = argv[i]
        if token == "--":
            rest.extend(argv[i:])
            break
        name = token.split("=", 1)[0]
        if token == "--debug=body":  # --debug alone stays a flag: it never takes the next word
            front.append("--debug-body")
        elif name in GLOBAL_OPTIONS:
            front.append(token)
            if GLOBAL_OPTIONS[name] and "=" not in token and i + 1 < len(argv):
                front.append(argv[i + 1])
                i += 1
        else:
            rest.append(token)
        i += 1
    return front + rest
