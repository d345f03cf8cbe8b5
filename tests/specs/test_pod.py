"""Pod settings: what is accepted, what is refused and how the refusal reads, profiles."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pydantic
import pytest

from dh_kfp_pulumi.errors import FieldProblem, SpecError
from dh_kfp_pulumi.specs import TaskSpec, parse_model, parse_task
from dh_kfp_pulumi.specs.pod import (
    PodSettings,
    SecretRef,
    kfp_accelerator_count,
    kfp_cpu,
    kfp_memory,
    parse_label,
    parse_quantity,
    parse_secret,
)
from dh_kfp_pulumi.specs.profiles import resolve_profile

SEED = json.loads(
    (Path(__file__).parents[1] / "platform" / "fixtures" / "seed_task_settings.json").read_text()
)


def problems(data: dict) -> dict[str, FieldProblem]:
    with pytest.raises(SpecError) as info:
        parse_model(PodSettings, data, "task")
    return {p.path: p for p in info.value.problems}


def only(data: dict) -> FieldProblem:
    found = problems(data)
    assert len(found) == 1, found
    return next(iter(found.values()))


# --- the seed's task -------------------------------------------------------------------


def test_seed_task_settings_validate_as_pod_settings_and_as_a_task():
    settings = parse_model(PodSettings, SEED, "task")
    assert settings.resources.cpu == "1" and settings.resources.gpu == "1"
    assert [v.volume_type for v in settings.volumes] == ["empty_dir", "persistent_volume_claim"]
    assert settings.secret_refs() == [SecretRef(secret="secret-key")]
    task = parse_task({"action": "pipeline", "schedule": "5 4 * * *", **SEED})
    assert isinstance(task, TaskSpec) and task.envs[0].value == "test"


def test_settings_are_frozen_and_round_trip_through_json():
    settings = parse_model(PodSettings, SEED, "task")
    with pytest.raises(pydantic.ValidationError):
        settings.profile = "other"
    again = PodSettings.model_validate(json.loads(json.dumps(settings.model_dump(mode="json"))))
    assert again == settings


# --- quantities ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("500m", Decimal("0.5")),
        ("1", Decimal(1)),
        ("0.5", Decimal("0.5")),
        (".5", Decimal("0.5")),
        ("1e3", Decimal(1000)),
        ("1E-3", Decimal("0.001")),
        ("1Gi", Decimal(2**30)),
        ("512Mi", Decimal(512 * 2**20)),
        ("1k", Decimal(1000)),
        ("2M", Decimal(2 * 10**6)),
        ("+3", Decimal(3)),
        (2, Decimal(2)),
        (0.25, Decimal("0.25")),
    ],
)
def test_kubernetes_quantities_parse(text, value):
    assert parse_quantity(text) == value


@pytest.mark.parametrize("text", ["1K", "abc", "1.2.3", "1e3m", "5 Gi", "", "1e", "Gi", "1gi"])
def test_non_quantities_are_refused_with_the_grammar(text):
    with pytest.raises(ValueError, match="Kubernetes quantity") as info:
        parse_quantity(text)
    if text == "1K":
        assert "lowercase k" in str(info.value)


@pytest.mark.parametrize(
    ("given", "cpu"),
    [("500m", "500m"), ("0.5", "0.5"), ("1e3", "1000"), ("2k", "2000"), ("1E-3", "0.001"),
     ("+1", "1"), ("1.", "1"), (2, "2"), (0.5, "0.5")],
)  # fmt: skip
def test_kfp_cpu_keeps_what_kfp_accepts_and_rewrites_the_rest(given, cpu):
    assert kfp_cpu(given) == cpu


@pytest.mark.parametrize(
    ("given", "mem"),
    [("1Gi", "1Gi"), ("512Mi", "512Mi"), ("1e3", "1000"), ("1k", "1000"),
     ("0.5Gi", "536870912"), ("1.5G", "1500000000"), (1024, "1024")],
)  # fmt: skip
def test_kfp_memory_keeps_what_kfp_accepts_and_rewrites_the_rest(given, mem):
    assert kfp_memory(given) == mem


def test_accelerator_count_is_a_whole_number():
    assert kfp_accelerator_count("2") == "2"
    assert kfp_accelerator_count("1e1") == "10"
    with pytest.raises(ValueError, match="whole number"):
        kfp_accelerator_count("0.5")


# --- resources -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resources", "path", "value", "fragment"),
    [
        ({"cpu": "lots"}, "resources.cpu", "lots", "Kubernetes quantity"),
        ({"mem": "1K"}, "resources.mem", "1K", "lowercase k"),
        ({"cpu": "-1"}, "resources.cpu", "-1", "must not be negative"),
        ({"cpu": True}, "resources.cpu", True, "Kubernetes quantity"),
        ({"mem": "1500m"}, "resources.mem", "1500m", "whole number of bytes"),
        ({"cpu": {"requests": "2", "limits": "1"}}, "resources.cpu.requests", "2",
         "must not exceed limits ('1')"),
        ({"mem": {"requests": "1Gb"}}, "resources.mem.requests", "1Gb", "Kubernetes quantity"),
        ({"cpu": {"request": "1"}}, "resources.cpu.request", None, "known fields: requests, limits"),
        ({"cpu": {}}, "resources.cpu", {}, "give requests, limits or both"),
        ({"gpu": "0.5"}, "resources.gpu", "0.5", "whole number"),
        ({"gpu": {"requests": "1"}}, "resources.gpu.limits", None, "GPU count as a limit"),
        ({"gpu": {"requests": "1", "limits": "2"}}, "resources.gpu.requests", "1",
         "must equal limits"),
        ({"gpu_type": "nvidia gpu"}, "resources.gpu_type", "nvidia gpu", "nvidia.com/gpu"),
        ({"memory": "1Gi"}, "resources.memory", "1Gi", "cpu, mem, gpu, gpu_type"),
    ],
)  # fmt: skip
def test_bad_resources_name_field_value_and_what_is_valid(resources, path, value, fragment):
    problem = only({"resources": resources})
    assert problem.path == path
    if value is not None:
        assert problem.has_value and problem.value == value
    assert fragment in problem.message


def test_resources_accept_the_seed_form_the_mapping_form_and_numbers():
    settings = parse_model(
        PodSettings,
        {"resources": {"cpu": {"requests": "250m", "limits": 1}, "mem": "1e9", "gpu": 2,
                       "gpu_type": "amd.com/gpu"}},
        "task",
    )  # fmt: skip
    assert settings.resources.cpu.requests == "250m" and settings.resources.cpu.limits == 1
    assert settings.resources.mem == "1e9" and settings.resources.gpu == 2


# --- volumes ---------------------------------------------------------------------------


def vol(**kw) -> dict:
    return {"name": "v", "volume_type": "empty_dir", "mount_path": "/v", **kw}


@pytest.mark.parametrize(
    ("volumes", "path", "value", "fragment"),
    [
        ([vol(volume_type="nfs")], "volumes[0].volume_type", "nfs",
         "allowed: persistent_volume_claim, empty_dir, config_map, secret, ephemeral"),
        ([vol(mount_path="data")], "volumes[0].mount_path", "data", "absolute path"),
        ([vol(name="My_Volume")], "volumes[0].name", "My_Volume", "DNS label"),
        ([vol(spec={"size": "1Gi"})], "volumes[0].spec.size", None,
         "not a setting of a empty_dir volume; allowed: medium, size_limit"),
        ([vol(volume_type="persistent_volume_claim", spec={"medium": "Memory"})],
         "volumes[0].spec.medium", None, "allowed: sub_path"),
        ([vol(volume_type="ephemeral")], "volumes[0].spec.size", None, "required"),
        ([vol(volume_type="ephemeral", spec={"size": "0"})], "volumes[0].spec.size", "0",
         "greater than zero"),
        ([vol(volume_type="ephemeral", spec={"size": "1Gi", "access_modes": ["RWX"]})],
         "volumes[0].spec.access_modes[0]", "RWX", "ReadWriteOnce, ReadOnlyMany"),
        ([vol(spec={"medium": "Disk"})], "volumes[0].spec.medium", "Disk", "'Memory'"),
        ([vol(spec={"size_limit": "big"})], "volumes[0].spec.size_limit", "big",
         "Kubernetes quantity"),
        ([vol(spec={"claim": "x"})], "volumes[0].spec.claim", "x", "known fields: sub_path"),
        ([vol(volume_type="ephemeral", spec={"size": "1Gi", "labels": {"a b": "c"}})],
         "volumes[0].spec.labels.a b", "c", "label key name"),
        ([vol(), vol(mount_path="/w")], "volumes[1].name", "v", "duplicate volume name"),
        ([vol(), vol(name="w")], "volumes[1].mount_path", "/v", "duplicate mount path"),
    ],
)  # fmt: skip
def test_bad_volumes_name_field_value_and_what_is_valid(volumes, path, value, fragment):
    problem = only({"volumes": volumes})
    assert problem.path == path
    if value is not None:
        assert problem.value == value
    assert fragment in problem.message


# --- envs, node selector ---------------------------------------------------------------


@pytest.mark.parametrize("value", [5, 1.5, True, None, ["a"]])
def test_non_string_env_values_are_refused_saying_why(value):
    problem = only({"envs": [{"name": "N", "value": value}]})
    assert problem.path == "envs[0].value"
    assert problem.value == value
    assert "Kubernetes env values are strings" in problem.message


def test_duplicate_env_names_and_bad_env_names():
    problem = only({"envs": [{"name": "A", "value": "1"}, {"name": "A", "value": "2"}]})
    assert (problem.path, problem.value) == ("envs[1].name", "A")
    assert "duplicate env name: already in entry 0" in problem.message
    problem = only({"envs": [{"name": "1A", "value": "1"}]})
    assert (problem.path, problem.value) == ("envs[0].name", "1A")


def test_node_selector_entries_are_labels_and_keys_unique():
    found = problems({"node_selector": [{"key": "a", "value": "x"}, {"key": "a", "value": "y"}]})
    assert "duplicate node selector key" in found["node_selector[1].key"].message
    problem = only({"node_selector": [{"key": "gpu", "value": True}]})
    assert problem.path == "node_selector[0].value" and "quote" in problem.message
    problem = only({"node_selector": [{"key": "bad key", "value": "x"}]})
    assert (problem.path, problem.value) == ("node_selector[0].key", "bad key")


# --- tolerations -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("toleration", "path", "fragment"),
    [
        ({"key": "k", "effect": "NoRun"}, "tolerations[0].effect",
         "NoSchedule, PreferNoSchedule, NoExecute"),
        ({"key": "k", "operator": "Is"}, "tolerations[0].operator", "Equal, Exists"),
        ({"key": "k", "operator": "Exists", "value": "v"}, "tolerations[0].value",
         "must be empty when operator is Exists"),
        ({"value": "v"}, "tolerations[0].operator", "must be Exists when key is empty"),
        ({"key": "k", "effect": "NoSchedule", "tolerationSeconds": 5},
         "tolerations[0].tolerationSeconds", "only allowed with effect NoExecute"),
        ({"key": "k", "toleration_seconds": 5}, "tolerations[0].toleration_seconds",
         "Kubernetes spells it tolerationSeconds"),
        ({"key": "k", "colour": "red"}, "tolerations[0].colour", "known fields: key, operator"),
    ],
)  # fmt: skip
def test_bad_tolerations_name_the_field(toleration, path, fragment):
    problem = only({"tolerations": [toleration]})
    assert problem.path == path
    assert fragment in problem.message


def test_second_toleration_is_named_by_index():
    problem = only({"tolerations": [{"operator": "Exists"}, {"key": "k", "effect": "Never"}]})
    assert (problem.path, problem.value) == ("tolerations[1].effect", "Never")


# --- affinity --------------------------------------------------------------------------


def required(*terms) -> dict:
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": list(terms)}}}  # fmt: skip


REQ = "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms"


@pytest.mark.parametrize(
    ("affinity", "path", "fragment"),
    [
        ({"podAffinity": {}}, "affinity.podAffinity", "KFP cannot express pod affinity"),
        ({"podAntiAffinity": {"x": 1}}, "affinity.podAntiAffinity",
         "KFP cannot express pod anti-affinity"),
        ({"nodeAfinity": {}}, "affinity.nodeAfinity", "known fields: nodeAffinity"),
        (required({}), f"{REQ}[0]", "empty term matches no node"),
        (required(), REQ, "at least one term"),
        (required({"matchExpressions": [{"key": "a", "operator": "Has"}]}),
         f"{REQ}[0].matchExpressions[0].operator", "In, NotIn, Exists, DoesNotExist, Gt, Lt"),
        (required({"matchExpressions": [{"key": "a", "operator": "In"}]}),
         f"{REQ}[0].matchExpressions[0].values", "required with operator In"),
        (required({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}),
         f"{REQ}[0].matchExpressions[0].values", "must be empty"),
        (required({"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["x"]}]}),
         f"{REQ}[0].matchExpressions[0].values", "exactly one integer"),
        (required({"matchFields": [{"key": "zone", "operator": "In", "values": ["x"]}]}),
         f"{REQ}[0].matchFields[0].key", "only supports metadata.name"),
        (required({"match_expressions": []}), f"{REQ}[0].match_expressions",
         "Kubernetes spells it matchExpressions"),
        ({"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 0, "preference": {"matchExpressions": [
                {"key": "a", "operator": "Exists"}]}}]}},
         "affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight",
         "between 1 and 100"),
    ],
)  # fmt: skip
def test_affinity_kfp_cannot_express_or_kubernetes_refuses_is_named(affinity, path, fragment):
    problem = only({"affinity": affinity})
    assert problem.path == path
    assert fragment in problem.message


def test_both_pod_affinity_parts_are_reported_at_once():
    found = problems({"affinity": {"podAffinity": {}, "podAntiAffinity": {}, "nodeAffinity": {}}})
    assert set(found) == {"affinity.podAffinity", "affinity.podAntiAffinity"}


# --- security context and what KFP cannot express ------------------------------------


@pytest.mark.parametrize(
    ("given", "user"),
    [(0, 0), (1000, 1000), (2**31 - 1, 2**31 - 1), (1000.0, 1000)],  # 1000.0: Pulumi's numbers
)
def test_run_as_user_and_group_take_whole_numbers_in_kubernetes_range(given, user):
    settings = parse_model(PodSettings, {"run_as_user": given, "run_as_group": given}, "task")
    assert (settings.run_as_user, settings.run_as_group) == (user, user)
    assert type(settings.run_as_user) is int


@pytest.mark.parametrize("field", ["run_as_user", "run_as_group"])
@pytest.mark.parametrize("value", [-1, 2**31, 1.5, "1000", "root", True, False, [1000], {}])
def test_bad_run_as_user_or_group_names_field_value_and_range(field, value):
    problem = only({field: value})
    assert problem.path == field
    assert problem.has_value and problem.value == value and type(problem.value) is type(value)
    what = "user" if field == "run_as_user" else "group"
    assert f"must be a whole number from 0 to 2147483647 (the {what} id" in problem.message
    assert "not a string or a boolean" in problem.message


PRIORITY_HINT = "PriorityClass with globalDefault: true"
ADMISSION_HINT = "mutating admission policy"


@pytest.mark.parametrize(
    ("field", "words"),
    [
        ("priority_class", ["priorityClassName", PRIORITY_HINT, ADMISSION_HINT]),
        ("runtime_class", ["runtimeClassName", ADMISSION_HINT]),
    ],
)
def test_priority_and_runtime_class_are_refused_saying_kfp_cannot_express_them(field, words):
    problem = only({field: "high"})
    assert (problem.path, problem.value) == (field, "high")
    assert problem.message.startswith("KFP cannot express a pod's ")
    assert "kfp-kubernetes has no call" in problem.message
    for word in words:
        assert word in problem.message
    assert problem.message.endswith(f"then remove {field}")


def test_refused_fields_are_reported_with_every_other_problem():
    with pytest.raises(SpecError) as info:
        parse_task(
            {
                "action": "pipeline",
                "priority_class": "test",
                "runtime_class": "gvisor",
                "run_as_user": "1000",
                "schedul": "5 4 * * *",
            }
        )
    found = {p.path: p for p in info.value.problems}
    assert set(found) == {"priority_class", "runtime_class", "run_as_user", "schedul"}
    assert "known fields:" in found["schedul"].message
    assert "run_as_user, run_as_group" in found["schedul"].message
    assert "priority_class" not in found["schedul"].message  # refused, not a field
    assert (found["runtime_class"].value, found["run_as_user"].value) == ("gvisor", "1000")


def test_a_null_priority_or_runtime_class_is_no_setting():
    settings = parse_model(PodSettings, {"priority_class": None, "runtime_class": None}, "task")
    assert settings == PodSettings()


# --- secrets ---------------------------------------------------------------------------


def test_secret_forms():
    assert parse_secret("creds") == SecretRef(secret="creds")
    assert parse_secret("creds").mount_path == "/etc/secrets/creds"
    assert parse_secret("db:PASSWORD") == SecretRef(secret="db", key="PASSWORD", env="PASSWORD")
    assert parse_secret("aws.keys:access-key=AWS_KEY") == SecretRef(
        secret="aws.keys", key="access-key", env="AWS_KEY"
    )


@pytest.mark.parametrize(
    ("secrets", "extra", "path", "fragment"),
    [
        (["Creds"], {}, "secrets[0]", "DNS label"),
        (["a.b"], {}, "secrets[0]", "DNS label"),  # KFP names the pod volume after it
        (["db:"], {}, "secrets[0]", "'name:KEY'"),
        (["db:1KEY"], {}, "secrets[0]", "name it with 'name:key=ENV'"),
        (["db:KEY=1X"], {}, "secrets[0]", "not a valid env var name"),
        ([5], {}, "secrets[0]", "must be a string"),
        (["db:A", "other:A"], {}, "secrets[1]", "env var A is also set by secrets[0]"),
        (["db:USER"], {"envs": [{"name": "USER", "value": "x"}]}, "secrets[0]",
         "env var USER is also set by envs[0]"),
        (["creds", "creds"], {}, "secrets[1]", "already mounted by secrets[0]"),
        (["data"], {"volumes": [vol(name="data")]}, "secrets[0]",
         "KFP names the pod volume after the Secret"),
        (["creds"], {"volumes": [vol(mount_path="/etc/secrets/creds")]}, "secrets[0]",
         "mount path /etc/secrets/creds is used by volumes[0]"),
    ],
)  # fmt: skip
def test_bad_secrets_name_the_entry(secrets, extra, path, fragment):
    problem = only({"secrets": secrets, **extra})
    assert problem.path == path
    assert problem.value == secrets[int(path[-2])]
    assert fragment in problem.message


# --- labels ----------------------------------------------------------------------------


def test_labels_forms():
    assert parse_label("team=data") == ("team", "data")
    assert parse_label("etl") == ("etl", "")
    assert parse_label("example.org/team=a.b-c") == ("example.org/team", "a.b-c")
    for bad in ("", "a b", "k=v v", "Example.ORG/x", "workflows.argoproj.io/x"):
        with pytest.raises(ValueError):
            parse_label(bad)


# --- profiles --------------------------------------------------------------------------

PROFILES = {
    "1xa100": {
        "node_selector": [{"key": "pool", "value": "gpu"}, {"key": "zone", "value": "a"}],
        "resources": {"gpu": "1", "gpu_type": "nvidia.com/gpu", "mem": "16Gi"},
        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        "envs": [{"name": "CUDA", "value": "12"}, {"name": "MODE", "value": "gpu"}],
        "volumes": [{"name": "cache", "volume_type": "empty_dir", "mount_path": "/cache"}],
        "secrets": ["hf:TOKEN"],
        "affinity": required({"matchExpressions": [{"key": "gpu", "operator": "Exists"}]}),
        "caching": False,
    },
    "small": {"resources": {"cpu": "250m"}},
}


def test_profile_merges_under_the_task_field_by_field():
    task = parse_task(
        {
            "action": "pipeline",
            "schedule": "5 4 * * *",
            "profile": "1xa100",
            "node_selector": [{"key": "zone", "value": "b"}, {"key": "disk", "value": "ssd"}],
            "resources": {"mem": "32Gi", "cpu": "4"},
            "tolerations": [
                {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
                {"key": "spot", "operator": "Exists"},
            ],
            "envs": [{"name": "MODE", "value": "cpu"}],
            "volumes": [{"name": "cache", "volume_type": "empty_dir", "mount_path": "/tmp/c"}],
            "secrets": ["hf:TOKEN", "db:PASSWORD"],
            "caching": True,
        }
    )
    got = resolve_profile(task, PROFILES)
    assert isinstance(got, TaskSpec) and got.schedule == "5 4 * * *"  # the rest is kept
    assert got.profile is None  # resolved
    assert [(e.key, e.value) for e in got.node_selector] == [
        ("pool", "gpu"), ("zone", "b"), ("disk", "ssd")
    ]  # fmt: skip
    assert got.resources.model_dump(exclude_none=True) == {
        "cpu": "4", "mem": "32Gi", "gpu": "1", "gpu_type": "nvidia.com/gpu"
    }  # fmt: skip
    assert [t.key for t in got.tolerations] == ["nvidia.com/gpu", "spot"]
    assert [(e.name, e.value) for e in got.envs] == [("CUDA", "12"), ("MODE", "cpu")]
    assert [(v.name, v.mount_path) for v in got.volumes] == [("cache", "/tmp/c")]
    assert got.secrets == ["hf:TOKEN", "db:PASSWORD"]
    assert (
        got.affinity
        == PodSettings.model_validate({"affinity": PROFILES["1xa100"]["affinity"]}).affinity
    )
    assert got.caching is True


def test_profile_fills_what_the_task_leaves_unset():
    got = resolve_profile(PodSettings(profile="small", caching=False), PROFILES)
    assert got == PodSettings.model_validate({"resources": {"cpu": "250m"}, "caching": False})


def test_run_as_user_and_group_come_from_the_profile_unless_the_task_sets_them():
    profiles = {"nonroot": {"run_as_user": 1000, "run_as_group": 1000}}
    got = resolve_profile(PodSettings(profile="nonroot", run_as_group=2000), profiles)
    assert (got.run_as_user, got.run_as_group) == (1000, 2000)
    got = resolve_profile(PodSettings(profile="nonroot", run_as_user=0), profiles)
    assert (got.run_as_user, got.run_as_group) == (0, 1000)  # 0 (root) is a setting, not unset


def test_no_profile_returns_the_settings_unchanged():
    settings = PodSettings(caching=True)
    assert resolve_profile(settings, None) is settings


def test_unknown_profile_lists_the_defined_ones():
    with pytest.raises(SpecError) as info:
        resolve_profile(PodSettings(profile="2xh100"), PROFILES)
    (problem,) = info.value.problems
    assert (problem.path, problem.value) == ("profile", "2xh100")
    assert "unknown profile; defined: 1xa100, small" in problem.message
    with pytest.raises(SpecError, match="set dh-kfp:profiles in the stack config"):
        resolve_profile(PodSettings(profile="x"), {})


@pytest.mark.parametrize(
    ("body", "path", "fragment"),
    [
        ({"resources": {"cpu": "lots"}}, "profiles.gpu.resources.cpu", "Kubernetes quantity"),
        ({"tolerations": [{"key": "k", "effect": "Sometimes"}]},
         "profiles.gpu.tolerations[0].effect", "NoSchedule"),
        ({"volume": []}, "profiles.gpu.volume", "known fields: node_selector, volumes"),
        ({"profile": "other"}, "profiles.gpu.profile", "profiles do not nest"),
        ({"run_as_user": -5}, "profiles.gpu.run_as_user", "from 0 to 2147483647"),
        ({"priority_class": "high"}, "profiles.gpu.priority_class",
         "KFP cannot express a pod's priority class"),
        ("nvidia", "profiles.gpu", "must be a mapping of pod settings"),
    ],
)  # fmt: skip
def test_bad_profile_body_names_profiles_name_field(body, path, fragment):
    with pytest.raises(SpecError) as info:
        resolve_profile(PodSettings(profile="gpu"), {"gpu": body})
    assert info.value.subject == "stack config dh-kfp:profiles"
    (problem,) = info.value.problems
    assert problem.path == path
    assert fragment in problem.message


def test_conflict_between_profile_and_task_is_reported_against_the_merge():
    with pytest.raises(SpecError) as info:
        resolve_profile(
            PodSettings.model_validate(
                {"profile": "1xa100", "envs": [{"name": "TOKEN", "value": "x"}]}
            ),
            PROFILES,
        )
    assert info.value.subject == "task (with profile '1xa100')"
    (problem,) = info.value.problems
    assert problem.path == "secrets[0]"
    assert "env var TOKEN is also set by envs" in problem.message
