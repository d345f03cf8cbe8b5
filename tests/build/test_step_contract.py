"""The step contract, run for real: compiled IR -> kfp.local SubprocessRunner (no venv, no network).

The YAML that runs is the compiled IR itself (loaded with `load_component_from_text`),
so what is asserted here is what a KFP cluster would execute.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kfp import local
from kfp.components import load_component_from_text

from dh_kfp_pulumi.build import build_workflow

pytestmark = [
    pytest.mark.slow,
    # kfp.local ignores the step's display name (the seed's step name); KFP shows it.
    pytest.mark.filterwarnings("ignore:Task .* settings \\['display_name'\\] have no effect"),
]


def run_compiled(yaml_text: str, root: Path, **arguments):
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(root))
    load_component_from_text(yaml_text)(**arguments)
    (run_dir,) = [p for p in root.iterdir() if p.is_dir()]
    return run_dir


@pytest.mark.parametrize("as_url", [False, True])
def test_the_parking_example_runs(kit, tmp_path, local_python_path, as_url):
    result = build_workflow(kit.parking_workflow(), kit.parking_functions(), base_dir=kit.PARKING)
    url = kit.PARKING_CSV.as_uri() if as_url else str(kit.PARKING_CSV)
    run_dir = run_compiled(result.yaml, tmp_path, url=url)

    assert (run_dir / "download" / "dataset").read_bytes() == kit.PARKING_CSV.read_bytes()
    parkings = json.loads((run_dir / "extract-parking" / "parkings").read_text())
    assert len(parkings) == 10
    assert parkings[0]["id"] == "P01" and parkings[0]["slots"] == 120
    assert parkings[8]["free_slots"] is None  # the blank cell of P09
    executor_output = json.loads((run_dir / "extract-parking" / "executor_output.json").read_text())
    published = executor_output["artifacts"]["parkings"]["artifacts"][0]["metadata"]
    assert published == {"display_name": "parkings"}


PIPELINE = """
from dh_kfp_pulumi.dsl import pipeline_context

def pipe(url: str, limit: int = 2):
    with pipeline_context() as pc:
        made = pc.step(name="produce", function="produce",
                       inputs={"url": url, "limit": limit},
                       parameters={"opts": {"n": 1, "tags": ["a"]}, "nothing": None},
                       outputs={"raw": "raw-data", "folder": "folder", "meta": "meta"},
                       values=["rows", "label"])
        pc.step(name="consume", function="consume",
                inputs={"data": made.outputs["raw"], "folder": made.outputs["folder"],
                        "meta": made.outputs["meta"], "rows": made.outputs["rows"],
                        "label": made.outputs["label"]},
                parameters={"flag": True, "ratio": 0.5},
                outputs={"report": "report"})
"""

PRODUCE = """
import pathlib, tempfile

def produce(url, limit, opts, nothing):
    folder = pathlib.Path(tempfile.mkdtemp())
    (folder / "a.txt").write_text("A")
    (folder / "sub").mkdir()
    (folder / "sub" / "b.txt").write_text("B")
    return {
        "raw": ("%s|%d" % (url, limit)).encode(),
        "folder": folder,
        "meta": {"opts": opts, "nothing": nothing},
        "rows": limit + 1,
        "label": "ok",
        "extra": "ignored",
    }
"""

CONSUME = """
import json, pathlib

def consume(data, folder, meta, rows, label, flag, ratio):
    assert isinstance(data, pathlib.Path) and isinstance(folder, pathlib.Path)
    return json.dumps({
        "data": data.read_text(),
        "files": sorted(str(p.relative_to(folder)) for p in folder.rglob("*.txt")),
        "meta": json.loads(meta.read_text()),
        "rows": rows, "rows_type": type(rows).__name__, "label": label,
        "flag": flag, "ratio": ratio,
    })
"""


def test_artifacts_parameters_and_values_flow(kit, tmp_path, local_python_path):
    functions = [
        kit.inline_function("produce", PRODUCE, "produce"),
        kit.inline_function("consume", CONSUME, "consume"),
    ]
    result = build_workflow(kit.inline_workflow(PIPELINE), functions)
    run_dir = run_compiled(result.yaml, tmp_path, url="file:///data.csv")

    report = json.loads((run_dir / "consume" / "report").read_text())
    assert report == {
        "data": "file:///data.csv|2",  # bytes written, read back through a Path
        "files": ["a.txt", "sub/b.txt"],  # a returned folder is copied whole
        "meta": {"opts": {"n": 1, "tags": ["a"]}, "nothing": None},  # dict literal exact, as JSON
        "rows": "3",
        "rows_type": "str",  # values are string output parameters
        "label": "ok",
        "flag": True,
        "ratio": 0.5,
    }
    produced = json.loads((run_dir / "produce" / "executor_output.json").read_text())
    assert produced["artifacts"]["raw"]["artifacts"][0]["metadata"] == {"display_name": "raw-data"}


FORGETFUL = """
def produce(url, limit, opts, nothing):
    return {"raw": b"x", "folder": None, "rows": 1}
"""


def test_a_missing_declared_output_fails_the_step_naming_it(
    kit, tmp_path, local_python_path, capfd
):
    functions = [
        kit.inline_function("produce", FORGETFUL, "produce"),
        kit.inline_function("consume", CONSUME, "consume"),
    ]
    result = build_workflow(kit.inline_workflow(PIPELINE), functions)
    with pytest.raises(RuntimeError, match="FAILURE"):
        run_compiled(result.yaml, tmp_path, url="x")
    logs = capfd.readouterr()
    text = logs.out + logs.err
    assert (
        "step 'produce': function 'produce' did not return declared output(s) "
        "'folder', 'label', 'meta' (it returned keys: ['folder', 'raw', 'rows'])"
    ) in text
    assert list(tmp_path.rglob("produce")) and not list(tmp_path.rglob("consume"))


def test_run_local_script_prints_the_result(kit, tmp_path, local_python_path):
    """examples/parking/run_local.py, as README's `dh-kfp compile` section runs it."""
    import subprocess
    import sys

    result = build_workflow(kit.parking_workflow(), kit.parking_functions(), base_dir=kit.PARKING)
    compiled = tmp_path / "parking.yaml"
    compiled.write_text(result.yaml)
    out = subprocess.run(
        [
            sys.executable,
            str(kit.PARKING / "run_local.py"),
            str(compiled),
            "--root",
            str(tmp_path / "runs"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "10 parkings, 518 free of 1225 slots" in out.stdout
    assert "P08 Palazzetto        212 free of 300" in out.stdout
