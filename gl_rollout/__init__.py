"""gl-rollout: GitLab feature-flag rollout issues, from template to production."""

from __future__ import annotations

__version__ = "0.1.0"
