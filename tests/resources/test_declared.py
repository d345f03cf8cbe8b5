"""A declaration's spec is parsed once when the program makes it: the source is read into
that parsed spec (no second parse of its props), and a source that cannot be read names
its field."""

from __future__ import annotations

from pathlib import Path

import pytest

from dh_kfp_pulumi.errors import SpecError
from dh_kfp_pulumi.reconcile import sources
from dh_kfp_pulumi.resources.declared import resolved_props
from dh_kfp_pulumi.specs import parse_workflow

HANDLER = "def flow(x: int = 1):\n    pass\n"


def test_the_spec_is_parsed_once_and_its_code_src_read_into_it(tmp_path: Path, monkeypatch):
    (tmp_path / "flow.py").write_text(HANDLER)
    calls = []

    def counting(data, *, project=None):
        calls.append(dict(data))
        return parse_workflow(data, project=project)

    def no_second_parse(*args, **kwargs):
        raise AssertionError("the props were parsed again to read the source")

    monkeypatch.setattr(sources, "_resolve_one", no_second_parse)
    data = {"name": "flow", "kind": "kfp", "code_src": "flow.py", "handler": "flow"}
    props = resolved_props(counting, data, "demo", tmp_path, "workflow")
    assert len(calls) == 1
    assert props["code"] == HANDLER and "code_src" not in props
    assert props["source_origin"] == "flow.py" and props["project"] == "demo"


def test_a_source_that_cannot_be_read_names_its_field(tmp_path: Path):
    data = {"name": "flow", "kind": "kfp", "code_src": "missing.py", "handler": "flow"}
    with pytest.raises(SpecError) as info:
        resolved_props(parse_workflow, data, "demo", tmp_path, "workflow")
    assert info.value.subject == "workflow 'flow'"
    [problem] = info.value.problems
    assert problem.path == "code_src" and "file not found" in problem.message
