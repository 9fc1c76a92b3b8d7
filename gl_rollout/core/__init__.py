"""The domain, pure: text and values in, values out. No I/O, no environment, no printing.

Imports only `gl_rollout.errors`, `gl_rollout.result` and `gl_rollout.files` from the rest of the package.
"""
