"""A workflow's props and its offline plan: its inputs and outputs, what a change of them
does (`plan`) and what an apply will give before it runs (`planned_outputs`, for engines
that hold the provider to a plan). No network; `workflow` re-exports all of it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dh_kfp_pulumi.naming import pipeline_name
from dh_kfp_pulumi.reconcile.common import UNKNOWN, Fields, Plan, is_unknown, short_hash
from dh_kfp_pulumi.reconcile.spec_fields import WORKFLOW_FIELDS

KIND = "workflow"
SPEC_FIELDS: tuple[str, ...] = WORKFLOW_FIELDS
EXTRA_FIELDS = ("functions", "adopt", "spec_hash", "owner")
INPUTS: tuple[str, ...] = (*SPEC_FIELDS, *EXTRA_FIELDS)
OUTPUTS = ("pipeline_id", "pipeline_name", "version_id", "version_name", "ir", "url")
REPLACES = ("project", "name", "kind")
DEFAULTS: dict[str, Any] = {"embedded": True, "labels": [], "functions": []}
FIELDS = Fields(INPUTS, OUTPUTS, DEFAULTS, REPLACES, replace_only_if_set=REPLACES)
CODE_GROUP = ("code_src", "code", "base64", "source_origin", "handler")



def plan(olds: Mapping[str, Any], news: Mapping[str, Any]) -> Plan:
    """project/name/kind replace (a new pipeline name); anything else updates in place.

    A new spec_hash makes a new version in the same pipeline. An imported workflow (no
    project/name/kind in its state) takes them from config without being replaced.
    """
    return FIELDS.plan(olds, news)


def planned_outputs(olds: Mapping[str, Any] | None, news: Mapping[str, Any]) -> dict[str, Any]:
    """The outputs an apply of `news` will give, as far as they are known before it runs.

    For engines that show (and hold the provider to) a plan, such as Terraform: each
    output key maps to its value, or UNKNOWN when only the apply can tell. `olds` are the
    previous outputs (None or empty: a create); `news` are checked inputs. Promised values
    are exactly what create/update return, so a dependent resource is not planned to
    change (or be replaced) when nothing it uses will change.
    """
    embedded = news.get("embedded", True) is not False
    spec_hash = news.get("spec_hash")
    named = short_hash(spec_hash) if isinstance(spec_hash, str) and spec_hash else UNKNOWN
    if not olds:
        known_name = news.get("adopt") is None and not is_unknown(
            [news.get("project"), news.get("name")]
        )
        return {
            "pipeline_id": UNKNOWN,
            "pipeline_name": pipeline_display_name(news) if known_name else UNKNOWN,
            "version_id": UNKNOWN,
            "version_name": named,
            "ir": UNKNOWN if embedded else None,
            "url": UNKNOWN,
        }
    out = {k: olds.get(k) for k in OUTPUTS}
    same = (
        not is_unknown(spec_hash)
        and olds.get("spec_hash")
        and olds.get("spec_hash") == spec_hash
        and olds.get("version_id")
    )
    if same:
        out["ir"] = (olds.get("ir") or UNKNOWN) if embedded else None
        return out
    out.update(version_id=UNKNOWN, version_name=named, url=UNKNOWN)
    out["ir"] = UNKNOWN if embedded else None
    return out


def pipeline_display_name(props: Mapping[str, Any]) -> str:
    return pipeline_name(str(props["project"]), str(props["name"]))
