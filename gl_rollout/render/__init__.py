"""Rendering text from values: the rollout issue (Jinja, sandboxed and bounded), neutralised values, option
values, the flag definition and its YAML editing, the report files. Imports `gl_rollout.core` and below."""
