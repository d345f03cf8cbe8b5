"""Pod settings of a Task (the seed's node_selector, volumes, resources, ...).

First cut: the fields and their shapes. Validation of each setting, the profile
merge and the mapping to KFP platform config arrive with the pod-settings work.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class PodSettings(BaseModel):
    """Kubernetes settings applied to every step pod of a workflow run."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    node_selector: list[dict[str, Any]] | None = None
    volumes: list[dict[str, Any]] | None = None
    resources: dict[str, Any] | None = None
    affinity: dict[str, Any] | None = None
    tolerations: list[dict[str, Any]] | None = None
    envs: list[dict[str, Any]] | None = None
    secrets: list[str] | None = None
    profile: str | None = None
    caching: bool | None = None
