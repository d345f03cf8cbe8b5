"""apply_pod_settings against the real KFP compiler.

The reference for "correct" is a KFP user's own code: the same pipeline with the same
settings applied by hand through kfp-kubernetes must compile to identical IR.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kfp import kubernetes

from dh_kfp_pulumi.errors import SpecError
from dh_kfp_pulumi.platform import apply_pod_settings
from dh_kfp_pulumi.specs.pod import PodSettings
from dh_kfp_pulumi.specs.profiles import resolve_profile

FIXTURES = Path(__file__).parent / "fixtures"

EVERY_SETTING = {
    "node_selector": [
        {"key": "node.kubernetes.io/pool", "value": "gpu"},
        {"key": "zone", "value": "a"},
    ],
    "volumes": [
        {"name": "data", "volume_type": "persistent_volume_claim", "mount_path": "/data",
         "spec": {"sub_path": "parking"}},
        {"name": "scratch", "volume_type": "empty_dir", "mount_path": "/scratch",
         "spec": {"medium": "Memory", "size_limit": "1Gi"}},
        {"name": "settings", "volume_type": "config_map", "mount_path": "/etc/settings",
         "spec": {"optional": True}},
        {"name": "tls", "volume_type": "secret", "mount_path": "/etc/tls"},
        {"name": "work", "volume_type": "ephemeral", "mount_path": "/work",
         "spec": {"size": "5Gi", "access_modes": ["ReadWriteOnce"], "storage_class_name": "fast",
                  "labels": {"app": "parking"}, "annotations": {"note": "scratch space"}}},
    ],
    "resources": {
        "cpu": {"requests": "500m", "limits": "2"},
        "mem": "1Gi",
        "gpu": "2",
        "gpu_type": "nvidia.com/gpu",
    },
    "affinity": {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [
                        {"key": "gpu-model", "operator": "In", "values": ["a100", "h100"]},
                        {"key": "spot", "operator": "DoesNotExist"},
                    ]},
                    {"matchFields": [
                        {"key": "metadata.name", "operator": "In", "values": ["node-7"]},
                    ]},
                ]
            },
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 20, "preference": {"matchExpressions": [
                    {"key": "disk", "operator": "In", "values": ["ssd"]}]}},
            ],
        }
    },
    "tolerations": [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
        {"key": "maintenance", "operator": "Equal", "value": "soon", "effect": "NoExecute",
         "tolerationSeconds": 300},
    ],
    "envs": [{"name": "USER", "value": "test"}, {"name": "LOG_LEVEL", "value": "debug"}],
    "secrets": ["creds", "db:PASSWORD", "aws:access-key=AWS_ACCESS_KEY_ID"],
    "caching": False,
    "run_as_user": 1000,
    "run_as_group": 100,
}  # fmt: skip
LABELS = ["team=data", "etl"]
PULL_SECRETS = ["regcred"]


def by_hand(task) -> None:
    """EVERY_SETTING as a KFP user writes it with kfp-kubernetes and PipelineTask calls."""
    kubernetes.add_node_selector(task, "node.kubernetes.io/pool", "gpu")
    kubernetes.add_node_selector(task, "zone", "a")
    kubernetes.mount_pvc(task, pvc_name="data", mount_path="/data", sub_path="parking")
    kubernetes.empty_dir_mount(task, "scratch", "/scratch", medium="Memory", size_limit="1Gi")
    kubernetes.use_config_map_as_volume(task, "settings", "/etc/settings", optional=True)
    kubernetes.use_secret_as_volume(task, "tls", "/etc/tls")
    kubernetes.add_ephemeral_volume(
        task, "work", "/work", access_modes=["ReadWriteOnce"], size="5Gi",
        storage_class_name="fast", labels={"app": "parking"}, annotations={"note": "scratch space"},
    )  # fmt: skip
    task.set_cpu_request("500m")
    task.set_cpu_limit("2")
    task.set_memory_request("1Gi")
    task.set_memory_limit("1Gi")
    task.set_accelerator_type("nvidia.com/gpu")
    task.set_accelerator_limit("2")
    kubernetes.add_node_affinity(
        task,
        match_expressions=[
            {"key": "gpu-model", "operator": "In", "values": ["a100", "h100"]},
            {"key": "spot", "operator": "DoesNotExist"},
        ],
    )
    kubernetes.add_node_affinity(
        task, match_fields=[{"key": "metadata.name", "operator": "In", "values": ["node-7"]}]
    )
    kubernetes.add_node_affinity(
        task, match_expressions=[{"key": "disk", "operator": "In", "values": ["ssd"]}], weight=20
    )
    kubernetes.add_toleration(task, key="nvidia.com/gpu", operator="Exists", effect="NoSchedule")
    kubernetes.add_toleration(
        task, key="maintenance", operator="Equal", value="soon", effect="NoExecute",
        toleration_seconds=300,
    )  # fmt: skip
    task.set_env_variable("USER", "test")
    task.set_env_variable("LOG_LEVEL", "debug")
    kubernetes.use_secret_as_volume(task, "creds", mount_path="/etc/secrets/creds")
    kubernetes.use_secret_as_env(task, "db", {"PASSWORD": "PASSWORD"})
    kubernetes.use_secret_as_env(task, "aws", {"access-key": "AWS_ACCESS_KEY_ID"})
    kubernetes.set_security_context(task, run_as_user=1000, run_as_group=100)
    task.set_caching_options(enable_caching=False)
    kubernetes.add_pod_label(task, "team", "data")
    kubernetes.add_pod_label(task, "etl", "")
    kubernetes.set_image_pull_secrets(task, ["regcred"])


def ours(settings: PodSettings, **kwargs):
    return lambda task: apply_pod_settings(task, settings, **kwargs)


def test_every_setting_compiles_to_the_same_ir_as_by_hand(compile_with):
    settings = PodSettings.model_validate(EVERY_SETTING)
    got = compile_with(ours(settings, labels=LABELS, image_pull_secrets=PULL_SECRETS))
    want = compile_with(by_hand)
    assert got.platform == want.platform
    assert got.text == want.text


def test_every_setting_platform_spec_field_by_field(compile_with):
    settings = PodSettings.model_validate(EVERY_SETTING)
    ir = compile_with(ours(settings, labels=LABELS, image_pull_secrets=PULL_SECRETS))
    for step in ("exec-produce", "exec-consume"):
        ex = ir.executor(step)
        assert ex["nodeSelector"] == {"labels": {"node.kubernetes.io/pool": "gpu", "zone": "a"}}
        assert [(m["constant"], m["mountPath"], m["subPath"]) for m in ex["pvcMount"]] == [
            ("data", "/data", "parking")
        ]
        assert ex["pvcMount"][0]["pvcNameParameter"] == {"runtimeValue": {"constant": "data"}}
        assert ex["emptyDirMounts"] == [
            {"volumeName": "scratch", "mountPath": "/scratch", "medium": "Memory",
             "sizeLimit": "1Gi"}
        ]  # fmt: skip
        assert [(c["configMapName"], c["mountPath"], c["optional"])
                for c in ex["configMapAsVolume"]] == [("settings", "/etc/settings", True)]  # fmt: skip
        assert [(s["secretName"], s["mountPath"], s["optional"]) for s in ex["secretAsVolume"]] == [
            ("tls", "/etc/tls", False),
            ("creds", "/etc/secrets/creds", False),
        ]
        assert ex["genericEphemeralVolume"] == [
            {"volumeName": "work", "mountPath": "/work", "accessModes": ["ReadWriteOnce"],
             "size": "5Gi", "storageClassName": "fast",
             "metadata": {"labels": {"app": "parking"}, "annotations": {"note": "scratch space"}}}
        ]  # fmt: skip
        assert ex["nodeAffinity"] == [
            {"matchExpressions": [
                {"key": "gpu-model", "operator": "In", "values": ["a100", "h100"]},
                {"key": "spot", "operator": "DoesNotExist"}]},
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["node-7"]}]},
            {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}],
             "weight": 20},
        ]  # fmt: skip
        assert ex["tolerations"] == [
            {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
            {"key": "maintenance", "operator": "Equal", "value": "soon", "effect": "NoExecute",
             "tolerationSeconds": "300"},
        ]  # fmt: skip
        assert [(s["secretName"], s["keyToEnv"]) for s in ex["secretAsEnv"]] == [
            ("db", [{"secretKey": "PASSWORD", "envVar": "PASSWORD"}]),
            ("aws", [{"secretKey": "access-key", "envVar": "AWS_ACCESS_KEY_ID"}]),
        ]
        assert ex["podMetadata"] == {"labels": {"team": "data", "etl": ""}}
        assert [s["secretName"] for s in ex["imagePullSecret"]] == ["regcred"]
        assert ex["securityContext"] == {"runAsUser": "1000", "runAsGroup": "100"}

        container = ir.container(step)
        assert container["env"] == [
            {"name": "USER", "value": "test"},
            {"name": "LOG_LEVEL", "value": "debug"},
        ]
        res = container["resources"]
        assert (res["resourceCpuRequest"], res["resourceCpuLimit"]) == ("500m", "2")
        assert (res["resourceMemoryRequest"], res["resourceMemoryLimit"]) == ("1Gi", "1Gi")
        assert res["accelerator"]["resourceType"] == "nvidia.com/gpu"
        assert res["accelerator"]["resourceCount"] == "2"
    for task in ("produce", "consume"):
        assert ir.task(task)["cachingOptions"] == {}  # enable_caching False: proto default


def test_no_settings_leave_the_ir_untouched(compile_with):
    plain = compile_with(lambda task: None)
    got = compile_with(ours(PodSettings()))
    assert plain.platform is None
    assert got.text == plain.text


def test_caching_none_keeps_kfp_default_and_true_is_explicit(compile_with):
    default = compile_with(lambda task: None)
    assert default.task("produce")["cachingOptions"] == {"enableCache": True}
    on = compile_with(ours(PodSettings(caching=True)))
    off = compile_with(ours(PodSettings(caching=False)))
    assert on.text == default.text
    assert off.task("produce")["cachingOptions"] == {}


@pytest.mark.parametrize(
    ("given", "call"),
    [
        ({"run_as_user": 1000}, {"run_as_user": 1000}),
        ({"run_as_group": 0}, {"run_as_group": 0}),
        ({"run_as_user": 0, "run_as_group": 2000}, {"run_as_user": 0, "run_as_group": 2000}),
        ({"run_as_user": 1000.0}, {"run_as_user": 1000}),  # how Pulumi carries numbers
    ],
)
def test_run_as_user_and_group_compile_as_set_security_context_by_hand(compile_with, given, call):
    got = compile_with(ours(PodSettings.model_validate(given)))
    want = compile_with(lambda task: kubernetes.set_security_context(task, **call))
    assert got.text == want.text
    expected = {
        {"run_as_user": "runAsUser", "run_as_group": "runAsGroup"}[k]: str(v)
        for k, v in call.items()
    }
    for step in ("exec-produce", "exec-consume"):
        assert got.executor(step)["securityContext"] == expected


def test_no_user_or_group_means_no_security_context(compile_with):
    ir = compile_with(ours(PodSettings.model_validate({"envs": [{"name": "A", "value": "1"}]})))
    assert ir.platform is None or "securityContext" not in ir.executor("exec-produce")


def test_quantities_kfp_rejects_are_normalised(compile_with):
    settings = PodSettings.model_validate(
        {"resources": {"cpu": {"requests": "1e0", "limits": "2k"},
                       "mem": {"requests": "0.5Gi", "limits": "1e9"}}}
    )  # fmt: skip
    got = compile_with(ours(settings))

    def hand(task):
        task.set_cpu_request("1")
        task.set_cpu_limit("2000")
        task.set_memory_request("536870912")
        task.set_memory_limit("1000000000")

    assert got.text == compile_with(hand).text


def test_plain_quantity_sets_request_and_limit_numbers_accepted(compile_with):
    settings = PodSettings.model_validate({"resources": {"cpu": 0.5, "mem": "512Mi"}})
    res = compile_with(ours(settings)).container("exec-produce")["resources"]
    assert (res["resourceCpuRequest"], res["resourceCpuLimit"]) == ("0.5", "0.5")
    assert (res["resourceMemoryRequest"], res["resourceMemoryLimit"]) == ("512Mi", "512Mi")
    assert "accelerator" not in res


def test_gpu_type_alone_is_one_accelerator_and_gpu_zero_is_none(compile_with):
    alone = compile_with(
        ours(PodSettings.model_validate({"resources": {"gpu_type": "amd.com/gpu"}}))
    )
    acc = alone.container("exec-produce")["resources"]["accelerator"]
    assert (acc["resourceType"], acc["resourceCount"]) == ("amd.com/gpu", "1")

    zero = PodSettings.model_validate({"resources": {"gpu": "0", "gpu_type": "amd.com/gpu"}})
    assert compile_with(ours(zero)).text == compile_with(lambda task: None).text

    default_type = PodSettings.model_validate({"resources": {"gpu": {"limits": "1"}}})
    acc = compile_with(ours(default_type)).container("exec-consume")["resources"]["accelerator"]
    assert (acc["resourceType"], acc["resourceCount"]) == ("nvidia.com/gpu", "1")


def test_seed_task_fixture_validates_resolves_and_applies(compile_with):
    spec = json.loads((FIXTURES / "seed_task_settings.json").read_text())
    profiles = {
        "1xa100": {
            "resources": {"gpu_type": "nvidia.com/gpu"},
            "node_selector": [{"key": "nvidia.com/gpu.product", "value": "NVIDIA-A100-SXM4-40GB"}],
            "tolerations": [
                {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
            ],
        }
    }
    settings = resolve_profile(PodSettings.model_validate(spec), profiles)
    ir = compile_with(ours(settings))
    ex = ir.executor("exec-produce")
    assert ex["nodeSelector"]["labels"] == {
        "nvidia.com/gpu.product": "NVIDIA-A100-SXM4-40GB",
        "node1": "value1",
    }
    assert ex["emptyDirMounts"] == [{"volumeName": "volume1", "mountPath": "/volume1"}]
    assert [(m["constant"], m["mountPath"]) for m in ex["pvcMount"]] == [("volume2", "/volume2")]
    assert [(s["secretName"], s["mountPath"]) for s in ex["secretAsVolume"]] == [
        ("secret-key", "/etc/secrets/secret-key")
    ]
    assert ex["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    ]
    assert "nodeAffinity" not in ex  # the seed's affinity is {}
    container = ir.container("exec-produce")
    assert container["env"] == [{"name": "USER", "value": "test"}]
    res = container["resources"]
    assert (res["resourceCpuRequest"], res["resourceCpuLimit"]) == ("1", "1")
    assert (res["resourceMemoryRequest"], res["resourceMemoryLimit"]) == ("1Gi", "1Gi")
    assert (res["accelerator"]["resourceType"], res["accelerator"]["resourceCount"]) == (
        "nvidia.com/gpu",
        "1",
    )


def test_unresolved_profile_is_refused(compile_with):
    settings = PodSettings(profile="1xa100")
    with pytest.raises(ValueError, match=r"profile '1xa100' is not resolved: call resolve_profile"):
        compile_with(ours(settings))


@pytest.mark.parametrize(
    ("labels", "path", "fragment"),
    [
        (["ok", "bad label"], "labels[1]", "label key name"),
        (["team=data", "team=ml"], "labels[1]", "label team already has the value 'data'"),
        (["pipelines.kubeflow.org/x=1"], "labels[0]", "set by KFP itself"),
        (["k=" + "v" * 64], "labels[0]", "at most 63"),
    ],
)
def test_bad_workflow_labels_name_the_label(compile_with, labels, path, fragment):
    with pytest.raises(SpecError) as info:
        compile_with(ours(PodSettings(), labels=labels))
    (problem,) = info.value.problems
    assert problem.path == path
    assert problem.value == labels[int(path[-2])]
    assert fragment in problem.message


def test_same_label_twice_is_applied_once(compile_with):
    ir = compile_with(ours(PodSettings(), labels=["etl", "etl", "team=data"]))
    assert ir.executor("exec-produce")["podMetadata"] == {"labels": {"etl": "", "team": "data"}}


def test_bad_image_pull_secret_names_it(compile_with):
    with pytest.raises(SpecError) as info:
        compile_with(ours(PodSettings(), image_pull_secrets=["regcred", "Not_A_Name"]))
    (problem,) = info.value.problems
    assert (problem.path, problem.value) == ("image_pull_secrets[1]", "Not_A_Name")
    assert "Kubernetes object name" in problem.message
