"""Build fixtures: the parking example's specs, and a PATH on which kfp.local steps find our venv."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from dh_kfp_pulumi.specs import parse_function, parse_workflow

REPO = Path(__file__).resolve().parents[2]
PARKING = REPO / "examples" / "parking"
PARKING_CSV = PARKING / "data" / "parkings.csv"


def parking_functions(**changes):
    """The example's two functions; `changes` maps a function name to extra fields."""
    base = {
        "downloader-funct": {
            "kind": "python",
            "code_src": "src/download.py",
            "handler": "download",
        },
        "extract-parkings": {"kind": "python", "code_src": "src/extract.py", "handler": "extract"},
    }
    return [
        parse_function({"name": name, **fields, **changes.get(name, {})}, project="parking")
        for name, fields in base.items()
    ]


def parking_workflow(**changes):
    fields = {"name": "workflow", "kind": "kfp", "code_src": "pipeline.py", "handler": "myhandler"}
    return parse_workflow({**fields, **changes}, project="parking")


def inline_workflow(code: str, handler: str = "pipe", **changes):
    return parse_workflow(
        {"name": "wf", "kind": "kfp", "code": code, "handler": handler, **changes}, project="demo"
    )


def inline_function(name: str, code: str, handler: str, **changes):
    return parse_function(
        {"name": name, "kind": "python", "code": code, "handler": handler, **changes},
        project="demo",
    )


@pytest.fixture
def local_python_path(monkeypatch):
    """kfp.local subprocess steps run `python3 -m pip install kfp==...`: make that our venv's."""
    monkeypatch.setenv("PATH", os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])


@pytest.fixture
def kit():
    """The helpers above, for test modules (importlib mode cannot import conftest by name)."""
    from types import SimpleNamespace

    return SimpleNamespace(
        REPO=REPO,
        PARKING=PARKING,
        PARKING_CSV=PARKING_CSV,
        parking_functions=parking_functions,
        parking_workflow=parking_workflow,
        inline_workflow=inline_workflow,
        inline_function=inline_function,
    )
