"""Talking to GitLab: the `GitLabAPI` Protocol (`api`), its python-gitlab client (`client`, the only
importer of python-gitlab), transport, errors, JSON decoding, retry and pacing, and where the URL and
token come from (`connection`, `config_file`, `tokens`). Imports `gl_rollout.core` and below."""
