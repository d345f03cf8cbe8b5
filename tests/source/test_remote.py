"""code_src over http(s) (loopback servers) and S3 (moto), plain and zipped."""

from __future__ import annotations

import io
import zipfile

import pytest

from dh_kfp_pulumi.errors import SourceError
from dh_kfp_pulumi.source import load_source

CODE = "def extract(di):\n    return di\n"


def zipped(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buf.getvalue()


# ---- http(s) -----------------------------------------------------------------------


def test_http(http_server):
    http_server.routes["/src/extract.py"] = (200, CODE.encode())
    url = f"{http_server.url}/src/extract.py"
    loaded = load_source(code_src=url, handler="extract")
    assert (loaded.text, loaded.filename, loaded.module) == (CODE, url, "extract")


def test_http_error_status(http_server):
    url = f"{http_server.url}/missing.py"
    with pytest.raises(SourceError) as exc:
        load_source(code_src=url, handler="f")
    assert str(exc.value) == f"code_src '{url}': HTTP 404 Not Found"


def test_http_connection_refused(closed_port):
    url = f"http://127.0.0.1:{closed_port}/a.py"
    with pytest.raises(SourceError) as exc:
        load_source(code_src=url, handler="f")
    assert str(exc.value) == f"code_src '{url}': cannot fetch: Connection refused"


def test_http_timeout(silent_port):
    url = f"http://127.0.0.1:{silent_port}/a.py"
    with pytest.raises(SourceError) as exc:
        load_source(code_src=url, handler="f", timeout=0.3)
    assert str(exc.value) == f"code_src '{url}': no answer within 0.3s"


def test_https_with_a_trusted_self_signed_certificate(https_server, monkeypatch):
    https_server.routes["/pipeline.py"] = (200, CODE.encode())
    monkeypatch.setenv("SSL_CERT_FILE", str(https_server.cert_file))
    loaded = load_source(code_src=f"{https_server.url}/pipeline.py", handler="extract")
    assert loaded.text == CODE and loaded.module == "pipeline"


def test_https_untrusted_certificate_is_refused(https_server, monkeypatch, tmp_path):
    https_server.routes["/pipeline.py"] = (200, CODE.encode())
    empty = tmp_path / "no-cas.pem"
    empty.write_text("")
    monkeypatch.setenv("SSL_CERT_FILE", str(empty))
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path))
    with pytest.raises(
        SourceError,
        match=r"^code_src 'https://127\.0\.0\.1:\d+/pipeline\.py': cannot fetch: .*certificate verify failed",
    ):
        load_source(code_src=f"{https_server.url}/pipeline.py", handler="extract")


def test_zip_over_https(https_server, monkeypatch):
    https_server.routes["/dist/steps.zip"] = (200, zipped({"etl/extract.py": CODE}))
    monkeypatch.setenv("SSL_CERT_FILE", str(https_server.cert_file))
    code_src = f"zip+{https_server.url}/dist/steps.zip"
    loaded = load_source(code_src=code_src, handler="etl.extract:extract")
    assert loaded.text == CODE and loaded.filename == f"{code_src}/etl/extract.py"


def test_zip_over_http_missing_module(http_server):
    http_server.routes["/steps.zip"] = (200, zipped({"other.py": ""}))
    with pytest.raises(
        SourceError,
        match=r"the archive has neither etl/extract\.py .*Python files in it: other\.py",
    ):
        load_source(code_src=f"zip+{http_server.url}/steps.zip", handler="etl.extract:extract")


def test_zip_over_http_error_status(http_server):
    url = f"zip+{http_server.url}/gone.zip"
    with pytest.raises(SourceError) as exc:
        load_source(code_src=url, handler="f")
    assert str(exc.value) == f"code_src '{url}': HTTP 404 Not Found"


# ---- S3 ----------------------------------------------------------------------------------


def test_s3(s3):
    s3.put_object(Bucket="code", Key="parking/extract.py", Body=CODE.encode())
    loaded = load_source(code_src="s3://code/parking/extract.py", handler="extract")
    assert (loaded.text, loaded.filename, loaded.module) == (
        CODE,
        "s3://code/parking/extract.py",
        "extract",
    )


def test_s3_without_boto3_names_the_extra(monkeypatch):
    """boto3 is the `s3` extra: without it, an s3:// source says which extra to install."""
    import builtins

    real_import = builtins.__import__

    def no_boto3(name, *args, **kwargs):
        if name == "boto3" or name.startswith(("boto3.", "botocore")):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_boto3)
    with pytest.raises(SourceError) as exc:
        load_source(code_src="s3://code/parking/extract.py", handler="extract")
    assert str(exc.value) == (
        "code_src 's3://code/parking/extract.py': s3:// sources need boto3, which comes with "
        "dh-kfp-pulumi's `s3` extra: pip install 'dh-kfp-pulumi[s3]' (in a checkout: "
        ".venv/bin/pip install -e '.[s3]')")


def test_s3_missing_key(s3):
    with pytest.raises(SourceError) as exc:
        load_source(code_src="s3://code/nope.py", handler="f")
    assert str(exc.value) == "code_src 's3://code/nope.py': no object 'nope.py' in bucket 'code'"


def test_s3_missing_bucket(s3):
    with pytest.raises(SourceError) as exc:
        load_source(code_src="s3://no-such-bucket/a.py", handler="f")
    assert str(exc.value) == "code_src 's3://no-such-bucket/a.py': no bucket 'no-such-bucket'"


def test_s3_without_credentials(aws_env):
    with pytest.raises(SourceError) as exc:
        load_source(code_src="s3://code/a.py", handler="f")
    assert str(exc.value).startswith("code_src 's3://code/a.py': no AWS credentials found")


def test_s3_honours_aws_endpoint_url(aws_env, monkeypatch, closed_port):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{closed_port}")
    with pytest.raises(SourceError) as exc:
        load_source(code_src="s3://code/a.py", handler="f", timeout=2)
    msg = str(exc.value)
    assert msg.startswith(
        "code_src 's3://code/a.py': S3 error: Could not connect to the endpoint URL"
    )
    assert f"127.0.0.1:{closed_port}" in msg


def test_zip_from_s3(s3):
    s3.put_object(
        Bucket="code",
        Key="releases/steps.zip",
        Body=zipped({"steps.py": CODE, "etl/__init__.py": "def go(): pass\n"}),
    )
    bare = load_source(code_src="zip+s3://code/releases/steps.zip", handler="extract")
    assert (bare.text, bare.module) == (CODE, "steps")
    assert bare.filename == "zip+s3://code/releases/steps.zip/steps.py"
    package = load_source(code_src="zip+s3://code/releases/steps.zip", handler="etl:go")
    assert package.filename.endswith("steps.zip/etl/__init__.py") and package.module == "etl"


def test_zip_from_s3_without_the_module(s3):
    s3.put_object(Bucket="code", Key="steps.zip", Body=zipped({"a.py": "", "b/c.py": ""}))
    with pytest.raises(SourceError) as exc:
        load_source(code_src="zip+s3://code/steps.zip", handler="extract:extract")
    assert str(exc.value) == (
        "code_src 'zip+s3://code/steps.zip': the archive has neither extract.py nor extract/__init__.py "
        "(handler module 'extract'); Python files in it: a.py, b/c.py. Name the module as handler='module:function'"
    )


def test_zip_from_s3_missing_key(s3):
    with pytest.raises(
        SourceError,
        match=r"^code_src 'zip\+s3://code/gone\.zip': no object 'gone\.zip' in bucket 'code'$",
    ):
        load_source(code_src="zip+s3://code/gone.zip", handler="f")
