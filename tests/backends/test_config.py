"""BackendConfig from stack config, and what never leaks the token. No KFP server needed (a
loopback stand-in echoes the token back, as a proxy's error page may)."""

from __future__ import annotations

import json
import pickle
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from kfp_kit import answer_json

from dh_kfp_pulumi.backends import Backend, BackendConfig, BackendError, config_from_mapping
from dh_kfp_pulumi.errors import SpecError

TOKEN = "tok-3f9a-secret"


def test_pulumi_namespaced_config_with_json_strings():
    config = config_from_mapping(
        {
            "dh-kfp:host": "https://kfp.example.test/pipeline",
            "dh-kfp:namespace": "team-a",
            "dh-kfp:experiment": "nightly",
            "dh-kfp:token": TOKEN,
            "dh-kfp:verify_ssl": "false",
            "dh-kfp:pipeline_root": "s3://bucket/root",
            "dh-kfp:image": "python:3.11-slim",
            "dh-kfp:profiles": '{"gpu": {"resources": {"gpu": "1"}}}',
            "dh-kfp:image_pull_secrets": '["regcred"]',
            "aws:region": "eu-south-1",  # other namespaces are not ours
        }
    )
    assert config.host == "https://kfp.example.test/pipeline"
    assert config.namespace == "team-a" and config.experiment == "nightly"
    assert config.verify_ssl is False
    assert config.profiles == {"gpu": {"resources": {"gpu": "1"}}}
    assert config.image_pull_secrets == ("regcred",)
    assert config.token == TOKEN
    assert config.experiment_for("parking") == "nightly"


def test_plain_keys_and_defaults():
    config = config_from_mapping({"host": "", "verify_ssl": True})
    assert config.host is None  # the embedded server
    assert config.verify_ssl is True and config.profiles == {} and config.token is None
    assert config.experiment_for("parking") == "parking"
    assert config_from_mapping(None) == BackendConfig()


def test_bad_settings_name_the_key_and_hide_the_token():
    with pytest.raises(SpecError) as info:
        config_from_mapping(
            {
                "dh-kfp:hots": "http://x",
                "dh-kfp:verify_ssl": "maybe",
                "dh-kfp:host": "kfp.local:8888",
                "dh-kfp:profiles": "[1, 2]",
                "dh-kfp:token": 12345,
            }
        )
    text = str(info.value)
    for needle in (
        "dh-kfp:hots",
        "dh-kfp:verify_ssl",
        "dh-kfp:host",
        "dh-kfp:profiles",
        "dh-kfp:token",
    ):
        assert needle in text
    assert "12345" not in text
    assert "known" in text or "valid" in text


def test_destroy_settings_default_to_waiting_an_hour_and_name_field_value_and_choices():
    assert (BackendConfig().on_destroy_active_runs, BackendConfig().destroy_wait_timeout) == (
        "wait",
        3600.0,
    )
    config = config_from_mapping(
        {"dh-kfp:destroy_wait_timeout": "90", "dh-kfp:on_destroy_active_runs": "Cancel"}
    )
    assert (config.destroy_wait_timeout, config.on_destroy_active_runs) == (90.0, "cancel")
    assert config_from_mapping({"destroy_wait_timeout": 0}).destroy_wait_timeout == 0.0
    for key, value, valid in (
        ("destroy_wait_timeout", "-5", "0 or more"),
        ("destroy_wait_timeout", "soon", "a number of seconds"),
        ("destroy_wait_timeout", True, "a number of seconds"),
        ("on_destroy_active_runs", "kill", "'wait' (the default"),
        ("on_destroy_active_runs", 1, "or 'cancel'"),
    ):
        with pytest.raises(SpecError) as info:
            config_from_mapping({f"dh-kfp:{key}": value})
        (problem,) = info.value.problems
        assert problem.path == f"dh-kfp:{key}" and problem.value == value
        assert valid in problem.message


def test_token_never_in_repr_or_pickle_of_backend_state():
    config = BackendConfig(host="http://127.0.0.1:9", token=TOKEN)
    assert TOKEN not in repr(config) and "token=***" in repr(config)
    backend = Backend(config)
    assert TOKEN not in repr(backend)
    clone = pickle.loads(pickle.dumps(backend))
    assert clone.config == config and clone._client is None


def test_unreachable_host_is_a_clear_backend_error_without_the_token():
    backend = Backend(BackendConfig(host="http://127.0.0.1:9", token=TOKEN, request_timeout=5))
    with pytest.raises(BackendError) as info:
        backend.get_pipeline("p")
    text = str(info.value)
    assert "127.0.0.1:9" in text and TOKEN not in text
    assert info.value.__cause__ is None and info.value.__suppress_context__


class _EchoingProxy(BaseHTTPRequestHandler):
    """Healthy, then every API call refused with a body that repeats the request's headers
    (as a proxy's error page may); each request is recorded in `seen`."""

    seen: list[dict] = []

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.seen.append(
            {
                "path": self.path,
                "authorization": self.headers.get("Authorization", ""),
                "body": self.rfile.read(length).decode() if length else "",
            }
        )
        if self.path.endswith("/healthz"):
            status, body = 200, {"multi_user": False}
        else:
            status, body = 403, {"error": f"denied: {dict(self.headers)}", "code": 7}
        answer_json(self, status, body)

    do_GET = do_POST = _answer

    def log_message(self, *args):
        pass


@pytest.fixture
def echoing_kfp():
    """(the stand-in's URL, the requests it saw)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EchoingProxy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _EchoingProxy.seen = []
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", _EchoingProxy.seen
    finally:
        server.shutdown()
        server.server_close()


def test_token_is_sent_and_scrubbed_from_what_kfp_echoes(echoing_kfp):
    host, seen = echoing_kfp
    backend = Backend(BackendConfig(host=host, token=TOKEN, request_timeout=5))
    with pytest.raises(BackendError) as info:
        backend.get_pipeline("p")
    assert seen[-1]["authorization"] == f"Bearer {TOKEN}"  # the token is sent
    text = f"{info.value} {info.value!r}"
    assert "HTTP 403" in text and "denied" in text and "Bearer ***" in text
    assert TOKEN not in text


def test_namespace_and_verify_ssl_reach_kfp(echoing_kfp):
    host, seen = echoing_kfp
    config = BackendConfig(host=host, namespace="team-a", verify_ssl=False, request_timeout=5)
    backend = Backend(config)
    with pytest.raises(BackendError):
        backend.list_pipelines()
    assert "namespace=team-a" in seen[-1]["path"]
    with pytest.raises(BackendError):
        backend.create_pipeline("demo-p")
    assert json.loads(seen[-1]["body"])["namespace"] == "team-a"
    assert backend._api().client._existing_config.verify_ssl is False  # kfp.Client's TLS setting
