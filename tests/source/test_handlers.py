"""parse_source, check_handler_defined (no execution), load_handler, resolve_spec."""

from __future__ import annotations

import inspect
import json
import sys
import traceback
import zipfile
from pathlib import Path

import pytest

from dh_kfp_pulumi.errors import SourceError
from dh_kfp_pulumi.source import (
    LoadedSource,
    check_handler_defined,
    load_handler,
    load_source,
    load_spec_source,
    parse_source,
    resolve_spec,
)
from dh_kfp_pulumi.specs import from_entity, parse_function, parse_workflow

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def loaded(
    text: str, function: str = "main", filename: str = "src/steps.py", module: str = "steps"
) -> LoadedSource:
    return LoadedSource(text=text, filename=filename, module=module, function=function)


# ---- parse_source ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("def main(:\n    pass\n", "file src/steps.py, line 1: invalid syntax: 'def main(:'"),
        ("x = 1\n  y = 2\n", "file src/steps.py, line 2: unexpected indent: 'y = 2'"),
        (
            "import os\nfrom __future__ import annotations\n",
            "file src/steps.py, line 2: from __future__ imports must occur at the beginning of the file: 'from __future__ import annotations'",
        ),
        (
            "def main():\n    pass\nreturn 3\n",
            "file src/steps.py, line 3: 'return' outside function: 'return 3'",
        ),
    ],
)
def test_parse_errors_show_file_and_line(text, expected):
    with pytest.raises(SourceError) as exc:
        parse_source(loaded(text))
    assert str(exc.value) == expected


def test_parse_ok():
    assert parse_source(loaded("def main():\n    return 1\n")).body[0].name == "main"


# ---- check_handler_defined ---------------------------------------------------------------


def test_step_module_is_checked_without_running_it():
    text = "import package_only_in_the_step_image\nraise SystemExit('never run here')\n\ndef main(url):\n    return url\n"
    node = check_handler_defined(loaded(text))
    assert node.name == "main" and [a.arg for a in node.args.args] == ["url"]


def test_def_inside_top_level_blocks_counts():
    text = "try:\n    import fast\nexcept ImportError:\n    def main():\n        pass\n"
    assert check_handler_defined(loaded(text)).lineno == 4


def test_missing_handler_lists_the_functions():
    with pytest.raises(SourceError) as exc:
        check_handler_defined(
            loaded("def download():\n    pass\ndef extract():\n    pass\n", function="dowload")
        )
    assert str(exc.value) == (
        "handler 'dowload': no top-level function of that name in file src/steps.py; "
        "functions defined there: download, extract"
    )
    with pytest.raises(SourceError, match="functions defined there: none$"):
        check_handler_defined(loaded("x = 1\n"))


def test_nested_function_is_not_a_handler():
    with pytest.raises(
        SourceError, match="no top-level function of that name.*functions defined there: outer"
    ):
        check_handler_defined(loaded("def outer():\n    def main():\n        pass\n"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "async def main():\n    pass\n",
            "handler 'main' (file src/steps.py, line 1) is an 'async def'",
        ),
        (
            "def other():\n    pass\nmain = other\n",
            "handler 'main' (file src/steps.py, line 3) is bound by an assignment, not a 'def'",
        ),
        ("from os import getcwd as main\n", "is bound by an import, not a 'def'"),
        ("class main:\n    pass\n", "is bound by a class, not a 'def'"),
        (
            "def main():\n    pass\nmain = 3\n",
            "line 3) is bound by an assignment",
        ),  # the last binding counts
    ],
)
def test_handler_that_is_not_a_plain_def(text, expected):
    with pytest.raises(SourceError) as exc:
        check_handler_defined(loaded(text))
    assert expected in str(exc.value)


def test_annotation_alone_binds_nothing():
    with pytest.raises(SourceError, match="no top-level function"):
        check_handler_defined(loaded("main: int\n"))


def test_check_handler_reports_syntax_errors_too():
    with pytest.raises(SourceError, match=r"^file src/steps.py, line 1: "):
        check_handler_defined(loaded("def main(\n"))


# ---- load_handler --------------------------------------------------------------------------

PIPELINE = '''\
from __future__ import annotations

import dataclasses
from typing import ClassVar


@dataclasses.dataclass
class Options:
    kind: ClassVar[str] = "nightly"
    retries: int = 2


def myhandler(url):
    """Build the pipeline."""
    return helper(url)


def helper(url):
    raise RuntimeError(f"boom {url}")


not_callable = 42
'''


def test_load_handler_runs_the_module_in_isolation():
    source = loaded(
        PIPELINE,
        function="myhandler",
        filename="https://code.example/flows/pipeline.py",
        module="pipeline",
    )
    before = set(sys.modules)
    handler = load_handler(source)
    assert set(sys.modules) == before and "pipeline" not in sys.modules
    assert handler.__name__ == "myhandler" and handler.__module__ == "pipeline"
    assert handler.__globals__["Options"]().retries == 2  # dataclass with string annotations works
    # the real lines in inspect and tracebacks, though the file is a URL
    assert inspect.getsource(handler).startswith(
        'def myhandler(url):\n    """Build the pipeline."""'
    )
    with pytest.raises(RuntimeError) as exc:
        handler("x")
    text = "".join(traceback.format_exception(exc.value))
    assert 'File "https://code.example/flows/pipeline.py", line 19, in helper' in text
    assert 'raise RuntimeError(f"boom {url}")' in text


def test_load_handler_keeps_an_existing_module_of_the_same_name():
    source = loaded(
        "import json\ndef main():\n    return json.dumps([1])\n", filename="json.py", module="json"
    )
    handler = load_handler(source)
    assert sys.modules["json"] is json and handler() == "[1]"


def test_load_handler_missing_and_not_callable():
    with pytest.raises(SourceError) as exc:
        load_handler(
            loaded(PIPELINE, function="my_handler", filename="pipeline.py", module="pipeline")
        )
    assert (
        str(exc.value)
        == "handler 'my_handler': not defined in file pipeline.py; functions defined there: helper, myhandler"
    )
    with pytest.raises(SourceError) as exc:
        load_handler(
            loaded(PIPELINE, function="not_callable", filename="pipeline.py", module="pipeline")
        )
    assert (
        str(exc.value) == "handler 'not_callable' in file pipeline.py is not callable (a int value)"
    )


def test_load_handler_import_failure_shows_file_and_line():
    text = "import os\n\nCONFIG = os.environ['DH_KFP_TEST_SURELY_UNSET']\n\ndef main():\n    pass\n"
    with pytest.raises(SourceError) as exc:
        load_handler(loaded(text, filename="pipeline.py", module="pipeline"))
    assert (
        str(exc.value)
        == "file pipeline.py, line 3: importing it raised KeyError: 'DH_KFP_TEST_SURELY_UNSET'"
    )
    with pytest.raises(
        SourceError,
        match=r"^file pipeline.py, line 1: importing it raised ModuleNotFoundError: No module named 'surely_not_installed_pkg'$",
    ):
        load_handler(
            loaded("import surely_not_installed_pkg\n", filename="pipeline.py", module="pipeline")
        )
    with pytest.raises(
        SourceError, match=r"^file pipeline.py, line 1: importing it raised SystemExit: 3$"
    ):
        load_handler(loaded("raise SystemExit(3)\n", filename="pipeline.py", module="pipeline"))


# ---- specs: load_spec_source and resolve_spec --------------------------------------------------


def test_resolve_local_workflow(tmp_path):
    (tmp_path / "pipeline.py").write_text(PIPELINE)
    spec = parse_workflow(
        {"name": "workflow", "kind": "kfp", "code_src": "pipeline.py", "handler": "myhandler"},
        project="parking",
    )
    resolved = resolve_spec(spec, tmp_path)
    assert (resolved.code, resolved.code_src, resolved.base64, resolved.source_origin) == (
        PIPELINE,
        None,
        None,
        "pipeline.py",
    )
    assert resolved.handler == spec.handler and resolved.name == spec.name
    # the copy loads the same (names included) anywhere, without the file
    assert load_spec_source(resolved, "/elsewhere") == load_spec_source(spec, tmp_path)
    assert resolve_spec(resolved, "/elsewhere") == resolved


def test_resolve_zip_function_keeps_the_archive_module(tmp_path):
    with zipfile.ZipFile(tmp_path / "steps.zip", "w") as archive:
        archive.writestr("steps.py", "def extract(di):\n    return di\n")
    spec = parse_function(
        {"name": "extract", "kind": "python", "code_src": "steps.zip", "handler": "extract"},
        project="p",
    )
    resolved = resolve_spec(spec, tmp_path)
    assert resolved.source_origin == "steps.zip/steps.py"
    assert load_spec_source(resolved) == load_spec_source(spec, tmp_path)
    assert load_spec_source(resolved).module == "steps"


def test_resolve_inline_and_container_specs():
    import base64

    text = "def main():\n    pass\n"
    spec = parse_workflow(
        {
            "name": "w",
            "kind": "kfp",
            "base64": base64.b64encode(text.encode()).decode(),
            "handler": "main",
        },
        project="p",
    )
    resolved = resolve_spec(spec)
    assert (resolved.code, resolved.base64, resolved.source_origin) == (text, None, None)
    assert load_spec_source(resolved) == load_spec_source(spec)
    container = parse_function({"name": "c", "kind": "container", "image": "alpine"}, project="p")
    assert resolve_spec(container) is container
    with pytest.raises(SourceError, match="function 'c' has no source"):
        load_spec_source(container)


def test_resolve_reports_unreachable_sources(tmp_path):
    spec = parse_workflow(
        {"name": "w", "kind": "kfp", "code_src": "missing.py", "handler": "main"}, project="p"
    )
    with pytest.raises(SourceError, match=r"^code_src 'missing.py': file not found"):
        resolve_spec(spec, tmp_path)


def test_fixture_workflow_source_loads_under_its_file_name():
    spec, _ = from_entity(json.loads((FIXTURES / "workflow-kfp.json").read_text()))
    source = load_spec_source(spec)
    assert (source.filename, source.module, source.function) == ("main.py", "main", "pipeline")
    assert check_handler_defined(source).name == "pipeline"
    assert resolve_spec(spec).code == source.text


def test_load_source_from_a_base_dir_string(tmp_path):
    (tmp_path / "a.py").write_text("def main():\n    pass\n")
    assert load_source(code_src="a.py", handler="main", base_dir=str(tmp_path)).module == "a"
