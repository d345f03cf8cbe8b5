"""The run note "pod settings cannot be applied" (issue 13) names only settings that change
a run and are really dropped here: not the pod labels of the example's `stack=local`."""

from __future__ import annotations

from pathlib import Path

import yaml

from dh_kfp_pulumi.build import build_workflow
from dh_kfp_pulumi.server import ir
from dh_kfp_pulumi.specs import parse_function, parse_task, parse_workflow

PARKING = Path(__file__).resolve().parents[2] / "examples" / "parking"


def parking(**task):
    functions = [parse_function({"name": n, "kind": "python", "code_src": f"src/{s}.py",
                                 "handler": s}, project="parking")
                 for n, s in (("downloader-funct", "download"), ("extract-parkings", "extract"))]
    workflow = parse_workflow({"name": "workflow", "kind": "kfp", "code_src": "pipeline.py",
                               "handler": "myhandler", "labels": ["stack=local"]},
                              project="parking")
    built = build_workflow(workflow, functions, base_dir=PARKING, task=parse_task({"action": "pipeline", **task}) if task else None)
    docs = list(yaml.safe_load_all(built.yaml))
    return ir.Spec(docs[0], docs[1] if len(docs) > 1 else None)


def test_pod_labels_alone_make_no_note():
    spec = parking()
    assert spec.platform_spec  # the label is there, as podMetadata
    assert "podMetadata" in str(spec.platform_spec)
    assert ir.platform_notes(spec) == []


def test_settings_really_dropped_are_named_and_the_labels_are_not():
    spec = parking(node_selector=[{"key": "disk", "value": "ssd"}],
                   envs=[{"name": "LOG_LEVEL", "value": "debug"}])
    notes = ir.platform_notes(spec)
    assert notes == ["exec-download: nodeSelector", "exec-extract-parking: nodeSelector"], notes
