"""Function job (the seed's function.run(action="job")): a one-step pipeline, then a Run of it."""

from __future__ import annotations

from kfp_kit import ADDER

from dh_kfp_pulumi.backends import Backend
from dh_kfp_pulumi.reconcile import UNKNOWN, job, run

FUNCTION = {"name": "adder", "kind": "python", "code": ADDER, "handler": "add"}


def job_props(**extra):
    props = {
        "project": "demo",
        "name": "adder-job",
        "function": dict(FUNCTION),
        "inputs": {"x": 1, "word": "w"},
        "values": ["y"],
    }
    props.update(extra)
    return props


def test_job_check_and_plan(offline_config):
    inputs, problems = job.check(job_props(), offline_config)
    assert problems == [] and len(inputs["spec_hash"]) == 64
    other, _ = job.check(job_props(inputs={"x": 2, "word": "w"}), offline_config)
    assert other["spec_hash"] != inputs["spec_hash"]  # the inputs are the parameters' defaults
    plan = job.plan({**inputs, "pipeline_id": "p"}, other)
    assert plan.changes == ["inputs", "spec_hash"] and plan.replaces == []

    bad = job_props(function={**FUNCTION, "kind": "java"}, values="y", volumes=[{"name": "v"}])
    _, problems = job.check(bad, offline_config)
    got = {p.path for p in problems}
    assert "function.kind" in got and "values" in got and any(p.startswith("volumes") for p in got)

    unknown, problems = job.check(job_props(inputs={"x": UNKNOWN}), offline_config)
    assert problems == [] and unknown["spec_hash"] is UNKNOWN


def test_job_runs(config):
    inputs, _ = job.check(job_props(), config)
    pid, out = job.create(inputs, Backend(config))
    assert (
        out["pipeline_name"] == "demo-adder-job" and out["version_name"] == inputs["spec_hash"][:16]
    )
    assert job.create(inputs, Backend(config))[0] == pid  # a retry converges
    run_inputs, _ = run.check(
        {
            "project": "demo",
            "name": "adder-once",
            "pipeline_id": pid,
            "version_id": out["version_id"],
            "inputs": {"x": 4, "word": "sum"},
            "wait": True,
            "wait_timeout": 120,
        },
        config,
    )
    rid, run_out = run.create(run_inputs, Backend(config))
    assert run_out["state"] == "SUCCEEDED"
    assert job.read(pid, out, Backend(config))[0] == pid
    job.delete(pid, out, Backend(config))
    assert job.read(pid, out, Backend(config)) == ("", {}, {})


def test_function_description_describes_the_job_pipeline(offline_config):
    described = job_props(function={**FUNCTION, "description": "Adds one."})
    inputs, problems = job.check(described, offline_config)
    assert problems == []
    assert "\n  description: Adds one.\n" in job.build(inputs, offline_config).yaml
