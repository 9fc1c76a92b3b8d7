"""Offline commands: render, status --file, check --file, templates. (Filled in by the foundation work.)"""

from __future__ import annotations
