"""Pod settings through the real build: the seed's parking workflow with the seed's task."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from dh_kfp_pulumi.build import build_function_job, build_workflow
from dh_kfp_pulumi.errors import SpecError
from dh_kfp_pulumi.specs import parse_function, parse_task, parse_workflow

REPO = Path(__file__).resolve().parents[2]
PARKING = REPO / "examples" / "parking"
SEED = json.loads((Path(__file__).parent / "fixtures" / "seed_task_settings.json").read_text())
PROFILES = {
    "1xa100": {
        "resources": {"gpu_type": "nvidia.com/gpu"},
        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
    }
}


def build(task=None, profiles=PROFILES, labels=None, **kwargs):
    functions = [
        parse_function(
            {"name": "downloader-funct", "kind": "python", "code_src": "src/download.py",
             "handler": "download"}, project="parking"),
        parse_function(
            {"name": "extract-parkings", "kind": "python", "code_src": "src/extract.py",
             "handler": "extract"}, project="parking"),
    ]  # fmt: skip
    workflow = parse_workflow(
        {"name": "workflow", "kind": "kfp", "code_src": "pipeline.py", "handler": "myhandler",
         **({"labels": labels} if labels else {})},
        project="parking",
    )  # fmt: skip
    return build_workflow(workflow, functions, task, base_dir=PARKING, profiles=profiles, **kwargs)


def seed_task(**changes):
    return parse_task({"action": "pipeline", "schedule": "5 4 * * *", **SEED, **changes})


def test_seed_task_settings_reach_every_step_and_change_the_hash():
    plain = build()
    result = build(seed_task(), labels=["etl", "team=data"], image_pull_secrets=["regcred"])
    assert result.spec_hash != plain.spec_hash
    ir, platform = list(yaml.safe_load_all(result.yaml))
    executors = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert set(executors) == set(ir["deploymentSpec"]["executors"])  # every step
    assert len(executors) == 2
    for name, ex in executors.items():
        assert ex["nodeSelector"] == {"labels": {"node1": "value1"}}
        assert ex["emptyDirMounts"] == [{"volumeName": "volume1", "mountPath": "/volume1"}]
        assert [(m["constant"], m["mountPath"]) for m in ex["pvcMount"]] == [
            ("volume2", "/volume2")
        ]
        assert [(s["secretName"], s["mountPath"]) for s in ex["secretAsVolume"]] == [
            ("secret-key", "/etc/secrets/secret-key")
        ]
        assert ex["tolerations"] == [
            {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
        ]
        assert ex["podMetadata"] == {"labels": {"etl": "", "team": "data"}}
        assert [s["secretName"] for s in ex["imagePullSecret"]] == ["regcred"]
        container = ir["deploymentSpec"]["executors"][name]["container"]
        assert {"name": "USER", "value": "test"} in container["env"]
        res = container["resources"]
        assert (res["resourceCpuLimit"], res["resourceMemoryLimit"]) == ("1", "1Gi")
        assert res["accelerator"]["resourceType"] == "nvidia.com/gpu"
        assert res["accelerator"]["resourceCount"] == "1"


def test_same_settings_same_hash_and_a_profile_change_is_a_new_hash():
    first = build(seed_task())
    assert build(seed_task()).spec_hash == first.spec_hash
    other = {"1xa100": {**PROFILES["1xa100"], "resources": {"gpu_type": "amd.com/gpu"}}}
    assert build(seed_task(), profiles=other).spec_hash != first.spec_hash
    assert build(seed_task(caching=False)).spec_hash != first.spec_hash


def test_unknown_profile_fails_the_build_listing_the_defined_ones():
    with pytest.raises(SpecError, match=r"profile: unknown profile; defined: 1xa100"):
        build(seed_task(profile="2xh100"))


def test_function_labels_are_pod_labels_of_its_steps_and_win_over_the_workflows():
    def executors(result):
        platform = list(yaml.safe_load_all(result.yaml))[1]
        return platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]

    downloader, extractor = (
        parse_function(
            {"name": name, "kind": "python", "code_src": src, "handler": handler, **extra},
            project="parking",
        )
        for name, src, handler, extra in (
            ("downloader-funct", "src/download.py", "download",
             {"labels": ["net=egress", "team=ingest"]}),
            ("extract-parkings", "src/extract.py", "extract", {}),
        )
    )  # fmt: skip
    workflow = parse_workflow(
        {"name": "workflow", "kind": "kfp", "code_src": "pipeline.py", "handler": "myhandler",
         "labels": ["team=data"]},
        project="parking",
    )  # fmt: skip
    result = build_workflow(workflow, [downloader, extractor], base_dir=PARKING)
    labels = {k: v["podMetadata"]["labels"] for k, v in executors(result).items()}
    assert labels == {
        "exec-download": {"team": "ingest", "net": "egress"},
        "exec-extract-parking": {"team": "data"},
    }
    job = build_function_job(downloader, inputs={"url": "u"}, base_dir=PARKING)
    (job_executor,) = executors(job).values()
    assert job_executor["podMetadata"] == {"labels": {"net": "egress", "team": "ingest"}}
