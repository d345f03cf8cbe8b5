"""load_source: local paths, inline code and base64, with the names they go by."""

from __future__ import annotations

import base64
import zipfile
from pathlib import Path

import pytest

from dh_kfp_pulumi.errors import SourceError
from dh_kfp_pulumi.source import LoadedSource, load_source

CODE = "def download(url):\n    return url\n"


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def test_local_path_is_relative_to_base_dir_not_cwd(tmp_path, monkeypatch):
    write(tmp_path / "prog" / "src" / "download.py", CODE)
    write(tmp_path / "src" / "download.py", "def download(): return 'wrong file'\n")
    monkeypatch.chdir(tmp_path)
    loaded = load_source(code_src="src/download.py", handler="download", base_dir=tmp_path / "prog")
    assert loaded == LoadedSource(
        text=CODE, filename="src/download.py", module="download", function="download"
    )


def test_absolute_path_and_file_url(tmp_path):
    path = write(tmp_path / "flows" / "my-flow.py", CODE)
    by_path = load_source(code_src=str(path), handler="download", base_dir="/nonexistent")
    assert by_path.text == CODE and by_path.module == "my_flow"  # made an identifier
    by_url = load_source(code_src=path.as_uri(), handler="download")
    assert by_url.text == CODE and by_url.filename == path.as_uri() and by_url.module == "my_flow"


def test_handler_module_wins_and_package_init_names_its_folder(tmp_path):
    write(tmp_path / "pkg" / "__init__.py", CODE)
    loaded = load_source(code_src="pkg/__init__.py", handler="download", base_dir=tmp_path)
    assert loaded.module == "pkg"
    loaded = load_source(
        code_src="pkg/__init__.py", handler="etl.steps:download", base_dir=tmp_path
    )
    assert (loaded.module, loaded.function) == ("etl.steps", "download")


def test_missing_file_names_field_value_and_full_path(tmp_path):
    with pytest.raises(SourceError) as exc:
        load_source(code_src="src/nope.py", handler="f", base_dir=tmp_path)
    assert (
        str(exc.value) == f"code_src 'src/nope.py': file not found: {tmp_path / 'src' / 'nope.py'}"
    )


def test_directory_is_not_a_file(tmp_path):
    (tmp_path / "src").mkdir()
    with pytest.raises(SourceError, match=r"code_src 'src': is a directory"):
        load_source(code_src="src", handler="f", base_dir=tmp_path)


def test_non_utf8_file(tmp_path):
    write(tmp_path / "latin.py", "# caf\xe9\n".encode("latin-1"))
    with pytest.raises(SourceError, match=r"code_src 'latin.py': not UTF-8 text \(byte 5"):
        load_source(code_src="latin.py", handler="f", base_dir=tmp_path)


def test_utf8_bom_is_dropped(tmp_path):
    write(tmp_path / "bom.py", b"\xef\xbb\xbf" + CODE.encode())
    assert load_source(code_src="bom.py", handler="download", base_dir=tmp_path).text == CODE


def test_inline_code_and_base64_agree():
    by_code = load_source(code=CODE, handler="download")
    wrapped = base64.encodebytes(CODE.encode()).decode()  # with line breaks, as tools write it
    by_b64 = load_source(base64=wrapped, handler="download")
    assert by_code == by_b64
    assert by_code.module == "handler"
    assert by_code.filename.startswith("<inline ") and by_code.filename.endswith(">")
    assert load_source(code="x = 1\n", handler="f").filename != by_code.filename


def test_source_origin_names_inline_text():
    loaded = load_source(code=CODE, handler="download", source_origin="main.py")
    assert (loaded.filename, loaded.module) == ("main.py", "main")


def test_bad_base64():
    with pytest.raises(SourceError, match=r"^base64 'not base64!': not valid base64"):
        load_source(base64="not base64!", handler="f")


def test_base64_of_binary_is_not_text():
    value = base64.b64encode(b"\xff\xfe\x00binary").decode()
    with pytest.raises(SourceError, match=rf"^base64 '{value}': not UTF-8 text"):
        load_source(base64=value, handler="f")


def test_long_values_are_cut_in_messages():
    value = base64.b64encode(b"\xff" * 300).decode()
    with pytest.raises(SourceError) as exc:
        load_source(base64=value, handler="f")
    assert "(400 characters)" in str(exc.value) and len(str(exc.value)) < 200


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"code": "x", "base64": "eA=="}, {"code_src": "a.py", "code": "x"}],
)
def test_exactly_one_source(kwargs):
    with pytest.raises(SourceError, match="exactly one of code_src, code, base64"):
        load_source(handler="f", **kwargs)


@pytest.mark.parametrize("handler", ["", "a:b:c", "1st", "mod:", "pkg..mod:f", "class"])
def test_bad_handler(handler):
    with pytest.raises(SourceError) as exc:
        load_source(code=CODE, handler=handler)
    assert str(exc.value).startswith(
        f"handler {handler!r}: must be 'function' or 'module:function'"
    )


def _zip(path: Path, files: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return path


def test_local_zip_and_zip_file_url(tmp_path):
    archive = _zip(tmp_path / "src.zip", {"src.py": CODE, "etl/steps.py": "def run(): pass\n"})
    bare = load_source(code_src="src.zip", handler="download", base_dir=tmp_path)
    assert (bare.text, bare.module, bare.filename) == (CODE, "src", "src.zip/src.py")
    dotted = load_source(code_src="zip+" + archive.as_uri(), handler="etl.steps:run")
    assert (
        dotted.module == "etl.steps" and dotted.filename == f"zip+{archive.as_uri()}/etl/steps.py"
    )


def test_zip_without_the_module_lists_its_python_files(tmp_path):
    _zip(
        tmp_path / "bundle.zip",
        {"a.py": "", "pkg/__init__.py": "", "pkg/b.py": "", "data.csv": "x"},
    )
    with pytest.raises(SourceError) as exc:
        load_source(code_src="bundle.zip", handler="pkg.c:main", base_dir=tmp_path)
    msg = str(exc.value)
    assert msg.startswith(
        "code_src 'bundle.zip': the archive has neither pkg/c.py nor pkg/c/__init__.py"
    )
    assert "Python files in it: a.py, pkg/__init__.py, pkg/b.py." in msg and "data.csv" not in msg
    with pytest.raises(SourceError, match="named like the archive, 'bundle'"):
        load_source(code_src="bundle.zip", handler="main", base_dir=tmp_path)


def test_not_a_zip(tmp_path):
    write(tmp_path / "fake.zip", "def f(): pass\n")
    with pytest.raises(SourceError, match=r"^code_src 'fake.zip': not a zip archive"):
        load_source(code_src="fake.zip", handler="f", base_dir=tmp_path)
