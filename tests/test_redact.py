"""Credentials in URLs are never echoed or stored (issue 11, item 2): userinfo and query
tokens in the KFP `host` and in `code_src` URLs, in every message and in `source_origin`."""

from __future__ import annotations

import http.server
import threading

import pytest

from dh_kfp_pulumi import redact
from dh_kfp_pulumi.errors import FieldProblem, SourceError, SpecError

SECRET = "pw-5e1f0a9c"


@pytest.mark.parametrize("given,expected", [
    (f"https://alice:{SECRET}@kfp.example/pipeline", "https://kfp.example/pipeline"),
    (f"https://kfp.example/x.py?token={SECRET}&v=2", "https://kfp.example/x.py?token=***&v=2"),
    (f"https://b.s3.example/k.py?X-Amz-Signature={SECRET}&X-Amz-Credential=c&X-Amz-Date=d",
     "https://b.s3.example/k.py?X-Amz-Signature=***&X-Amz-Credential=***&X-Amz-Date=d"),
    (f"https://acct.blob.example/c/f.py?sv=1&sig={SECRET}", "https://acct.blob.example/c/f.py?sv=1&sig=***"),
    ("s3://bucket/path/file.py", "s3://bucket/path/file.py"),
    ("pipeline.py", "pipeline.py"),
])
def test_url_drops_credentials_and_keeps_the_rest(given, expected):
    assert redact.url(given) == expected


def test_every_url_in_a_message_is_masked_and_says_so():
    message = (f"cannot fetch 'http://bob:{SECRET}@127.0.0.1:9/a.py' nor "
               f"https://h/x?access_token={SECRET}: refused")
    masked = redact.text(message)
    assert SECRET not in masked and "bob" not in masked
    assert "http://***@127.0.0.1:9/a.py" in masked and "access_token=***" in masked


def test_errors_and_field_problems_never_carry_a_urls_credentials():
    url = f"http://carol:{SECRET}@kfp.example:8888"
    assert SECRET not in str(SourceError(f"cannot fetch {url}/x.py"))
    problem = FieldProblem("host", "is not reachable", url, True)
    assert SECRET not in str(problem) and "***@kfp.example:8888" in str(problem)
    assert SECRET not in str(SpecError("backend", [problem]))


def test_backend_errors_on_a_host_with_userinfo_hide_the_password():
    from dh_kfp_pulumi.backends import Backend, BackendConfig
    from dh_kfp_pulumi.errors import BackendError

    backend = Backend(BackendConfig(host=f"http://dave:{SECRET}@127.0.0.1:9"))
    with pytest.raises(BackendError) as caught:
        backend.healthz()
    assert SECRET not in str(caught.value) and "dave" not in str(caught.value)
    assert "127.0.0.1:9" in str(caught.value)
    assert SECRET not in backend.ui_url("runs/details/r")


class _Files(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        import base64

        expected = "Basic " + base64.b64encode(f"erin:{SECRET}".encode()).decode()
        if self.headers.get("Authorization") != expected:
            self.send_error(401)
        elif self.path.startswith("/handler.py"):
            body = b"def handler(x):\n    return x\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            self.send_error(404)

    def log_message(self, *args):
        pass


@pytest.fixture
def file_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Files)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_a_code_src_urls_credentials_reach_no_message_and_no_source_origin(file_server):
    from dh_kfp_pulumi import reconcile

    base = {"project": "p", "name": "w", "kind": "kfp", "handler": "handler"}
    good = f"http://erin:{SECRET}@{file_server}/handler.py?token={SECRET}"
    props = reconcile.resolve_sources(dict(base, code_src=good), ".")
    assert SECRET not in repr(props) and "erin" not in repr(props)
    assert props["source_origin"] == f"http://{file_server}/handler.py?token=***"

    missing = f"http://erin:{SECRET}@{file_server}/gone.py?sig={SECRET}"
    with pytest.raises(SpecError) as caught:
        reconcile.resolve_sources(dict(base, code_src=missing), ".")
    assert SECRET not in str(caught.value) and "erin" not in str(caught.value)
    assert "code_src" in str(caught.value) and "gone.py" in str(caught.value)

    misparsed = f"http://erin:{SECRET}@/no-host.py"
    with pytest.raises(SpecError) as caught:
        reconcile.resolve_sources(dict(base, code_src=misparsed), ".")
    assert SECRET not in str(caught.value)
