"""Why kfp is pinned exactly (docs/decisions.md, "Dependency pins"): the IR kfp compiles is
what a workflow's spec hash (its KFP version name) is made of (its content, written by
libyaml: "Build speed"). A kfp upgrade that changes that IR, or merely its version (the IR
carries `sdkVersion`), makes every workflow a new version on the next `up`: these tests
fail first, so the pin is moved on purpose. OURS_SPEC_HASH does the same for our side:
the step runtime, the generated components and how the hash is computed.

The kfp internals we call are caught by the tests named in that list (the backend against
the embedded server, the build, kfp.local's executor in the server's runs)."""


import hashlib

import kfp
from kfp import compiler, dsl

from dh_kfp_pulumi.build import build_workflow, spec_hash_of

# sha256 of the YAML kfp 2.17.3 compiles for `probe` below.
PROBE_SHA256 = "e6d662a30bf7a34bab749bfbcc756abdc89b0f221017c5b028c79f8a436cafa1"
# spec_hash of OURS below (kfp 2.17.3; content hash since issue 12 item 2).
OURS_SPEC_HASH = "a84c66f6ffced0811210d6cb16a581c3c750e0d470ea14190d39e970018b2f14"

OURS_PIPELINE = """
from dh_kfp_pulumi.dsl import pipeline_context

def pipe(url: str = "x"):
    with pipeline_context() as pc:
        pc.step(name="say", function="say", inputs={"url": url}, values=["text"])
"""
OURS_FUNCTION = "def say(url):\n    return url\n"


@dsl.container_component
def hello(name: str, greeting: dsl.OutputPath(str)):
    return dsl.ContainerSpec(image="alpine:3", command=["sh", "-c"],
                             args=["echo hello $0 > $1", name, greeting])


@dsl.pipeline(name="pin-probe")
def probe(name: str = "kfp"):
    hello(name=name)


def test_kfp_is_the_pinned_version():
    assert kfp.__version__ == "2.17.3", (
        "kfp moved: every workflow's spec hash changes with it (a new version on the next up); "
        "check docs/decisions.md 'Dependency pins' and update the pin and PROBE_SHA256 together")


def test_kfp_compiles_the_probe_to_the_same_bytes(tmp_path):
    path = tmp_path / "probe.yaml"
    compiler.Compiler().compile(probe, str(path))
    text = path.read_text()
    assert f"sdkVersion: kfp-{kfp.__version__}" in text
    assert hashlib.sha256(text.encode()).hexdigest() == PROBE_SHA256, (
        "kfp compiles a fixed pipeline to other bytes: spec hashes of unchanged workflows "
        "would change (a new KFP version each on the next up)")


def test_our_ir_carries_kfps_version_so_the_hash_follows_it(kit):
    built = build_workflow(kit.parking_workflow(), kit.parking_functions(), base_dir=kit.PARKING)
    assert f"\nsdkVersion: kfp-{kfp.__version__}\n" in built.yaml
    assert built.spec_hash == spec_hash_of(built.yaml)


def test_a_fixed_pipeline_keeps_its_spec_hash(kit):
    built = build_workflow(
        kit.inline_workflow(OURS_PIPELINE), [kit.inline_function("say", OURS_FUNCTION, "say")]
    )
    assert built.spec_hash == OURS_SPEC_HASH, (
        "a fixed pipeline has a new spec hash: every workflow would be a new version on the "
        "next up; if that is meant (runtime, components or hash changed), update the pin")
