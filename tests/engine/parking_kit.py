"""The parking example's deployment scenario, shared by the offline-engine test and the
real-CLI test: a copy of the project to deploy, and KFP as kfp.Client (and the embedded
server's write counter) sees it."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path
from typing import Any

import requests

REPO = Path(__file__).resolve().parents[2]
PIPELINE_NAME = "parking-workflow"  # <project>-<workflow>


def copy_project(dest: Path) -> Path:
    """Pulumi.yaml, the example program and the stacks, where tests may edit them."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "Pulumi.yaml", dest / "Pulumi.yaml")
    shutil.copytree(REPO / "examples" / "parking", dest / "examples" / "parking",
                    ignore=shutil.ignore_patterns("__pycache__", "*.yaml"))
    shutil.copytree(REPO / "stacks", dest / "stacks")
    return dest


def change_function_code(project: Path) -> None:
    """A real change to one function (`extract-parkings`): a new spec hash, same behaviour."""
    path = project / "examples" / "parking" / "src" / "extract.py"
    text = path.read_text()
    changed = text.replace('"type": row["type"],', '"type": row["type"].strip(),')
    assert changed != text, "the example's extract.py changed; update change_function_code"
    path.write_text(changed)


class Kfp:
    """What is in KFP, asked through the real kfp.Client; writes counted by the server."""

    def __init__(self, url: str):
        import kfp

        self.url = url
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            self.client = kfp.Client(host=url)

    def reset_writes(self) -> None:
        requests.post(f"{self.url}/dh-kfp/v1/stats:reset", timeout=10).raise_for_status()

    def writes(self) -> dict[str, int]:
        """The write calls (POST/PUT/PATCH/DELETE under /apis/) since the last reset."""
        stats = requests.get(f"{self.url}/dh-kfp/v1/stats", timeout=10).json()
        return {k: n for k, n in stats["requests"].items()
                if k.split(" ", 1)[0] in ("POST", "PUT", "PATCH", "DELETE")}

    def pipeline_id(self) -> str | None:
        return self.client.get_pipeline_id(PIPELINE_NAME)

    def versions(self, pipeline_id: str) -> list[Any]:
        return self.client.list_pipeline_versions(pipeline_id, page_size=100) \
            .pipeline_versions or []

    def recurring_runs(self) -> list[Any]:
        return self.client.list_recurring_runs(page_size=100).recurring_runs or []

    def run(self, run_id: str) -> Any:
        return self.client.get_run(run_id)

    def delete_recurring_run(self, recurring_run_id: str) -> None:
        self.client.delete_recurring_run(recurring_run_id)

    def delete_version(self, pipeline_id: str, version_id: str) -> None:
        self.client.delete_pipeline_version(pipeline_id, version_id)


def check_first_deployment(kfp: Kfp, exports: dict[str, Any]) -> None:
    """A pipeline, one version (named by the hash), an enabled schedule on it, a run that
    succeeded."""
    pipeline_id = kfp.pipeline_id()
    assert pipeline_id and pipeline_id == exports["pipeline_id"]
    versions = kfp.versions(pipeline_id)
    assert [v.pipeline_version_id for v in versions] == [exports["version_id"]]
    assert exports["spec_hash"].startswith(versions[0].display_name)  # named by the hash
    check_schedule(kfp, exports)
    run = kfp.run(exports["run_id"])
    assert run.state == "SUCCEEDED" and exports["run_state"] == "SUCCEEDED"
    assert run.pipeline_version_reference.pipeline_version_id == exports["version_id"]


def check_schedule(kfp: Kfp, exports: dict[str, Any]) -> None:
    """The one enabled recurring run is the stack's, on the current version, at 04:05."""
    enabled = [r for r in kfp.recurring_runs() if r.status == "ENABLED"]
    assert [r.recurring_run_id for r in enabled] == [exports["schedule_id"]]
    schedule = enabled[0]
    assert schedule.pipeline_version_reference.pipeline_version_id == exports["version_id"]
    assert schedule.trigger.cron_schedule.cron == "0 5 4 * * *"  # the seed's 5 4 * * *


def check_destroyed(kfp: Kfp) -> None:
    assert kfp.pipeline_id() is None
    assert kfp.recurring_runs() == []
