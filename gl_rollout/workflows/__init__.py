"""The use cases, one module per use case, written against `gl_rollout.gitlab.api.GitLabAPI`: they return
results and never print. Imports `gl_rollout.render`, `gl_rollout.gitlab`, `gl_rollout.core` and below."""
