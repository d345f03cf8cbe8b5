"""Server test kit: a server per module, kfp.Client on it, pipelines compiled with kfp, and a
check that every response kfp.Client receives validates against the official swagger schema.

A module sets `SERVER_SETTINGS = {...}` to start its server with other settings. (No
`from __future__ import annotations` here: kfp reads the components' annotations.)
"""

import copy
import functools
import json
import re
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlparse

import jsonschema
import kfp
import kfp_server_api
import pytest
from kfp import compiler, dsl

from dh_kfp_pulumi.server import wire

# --- swagger validation -------------------------------------------------------------------------

_RFC3339_SECONDS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
_UPLOAD_ERROR = {
    "type": "object",
    "required": ["error_message"],
    "additionalProperties": False,
    "properties": {"error_message": {"type": "string"}, "error_details": {"type": "string"}},
}
# Messages whose wire form is wider than their swagger properties (API-NOTES §0, §2).
_OPEN = {"v2beta1GetHealthzResponse", "protobufAny"}


@functools.cache
def _definitions() -> dict[str, Any]:
    """Swagger definitions made strict: a field the schema does not declare is an error."""
    defs = copy.deepcopy(wire.swagger()["definitions"])
    for name, schema in defs.items():
        if "properties" in schema and "additionalProperties" not in schema and name not in _OPEN:
            schema["additionalProperties"] = False
    return defs


_FORMATS = jsonschema.FormatChecker(formats=())


@_FORMATS.checks("date-time")
def _is_kfp_time(value: object) -> bool:
    return not isinstance(value, str) or bool(_RFC3339_SECONDS.match(value))


@_FORMATS.checks("int64")
def _is_int64(value: object) -> bool:
    return not isinstance(value, str) or bool(re.fullmatch(r"-?\d+", value))


def _operations() -> list[tuple[str, re.Pattern, dict[str, Any], bool]]:
    out = []
    for path, ops in wire.swagger()["paths"].items():
        regex = re.sub(r"\\\{[\w.]+\\\}", "[^/:]+", re.escape(path))
        for method, op in ops.items():
            upload = "multipart/form-data" in op.get("consumes", [])
            out.append((method.upper(), re.compile(f"^{regex}$"), op["responses"], upload))
    return out


def response_schema(method: str, path: str, status: int) -> dict[str, Any]:
    """The swagger schema of this operation's answer (upload errors: the real KFP shape)."""
    for op_method, pattern, responses, upload in _operations():
        if op_method == method and pattern.match(path):
            if 200 <= status < 300:
                return responses["200"]["schema"]
            return _UPLOAD_ERROR if upload else responses["default"]["schema"]
    raise AssertionError(f"no swagger operation for {method} {path}")


def validate_response(method: str, path: str, status: int, body: bytes | str) -> Any:
    """Parse a response body and check it against the operation's swagger schema."""
    doc = json.loads(body)
    schema = dict(response_schema(method, path, status), definitions=_definitions())
    jsonschema.Draft4Validator(schema, format_checker=_FORMATS).validate(doc)
    if not 200 <= status < 300 and "code" in doc:
        assert "Traceback" not in json.dumps(doc)
        assert doc["code"] and doc["message"], doc
    return doc


@pytest.fixture(autouse=True)
def swagger_checked(monkeypatch):
    """Record every response kfp.Client gets in a test; each must validate against swagger."""
    seen: list[tuple[str, str, int, bytes]] = []
    original = kfp_server_api.rest.RESTClientObject.request

    def recording(self, method, url, *args, **kwargs):
        try:
            resp = original(self, method, url, *args, **kwargs)
        except kfp_server_api.ApiException as exc:
            seen.append((method, urlparse(url).path, exc.status, exc.body))
            raise
        seen.append((method, urlparse(url).path, resp.status, resp.data))
        return resp

    monkeypatch.setattr(kfp_server_api.rest.RESTClientObject, "request", recording)
    yield seen
    for method, path, status, body in seen:
        try:
            validate_response(method, path, status, body)
        except jsonschema.ValidationError as exc:
            raise AssertionError(
                f"{method} {path} -> {status}: response does not match the "
                f"swagger schema: {exc.message}\n{body[:500]!r}"
            ) from None


# --- servers and clients ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(kfp_server):
    """tests/conftest.py's `kfp_server`, with the module's SERVER_SETTINGS."""
    return kfp_server


@pytest.fixture(scope="module")
def client(server):
    return kfp.Client(host=server.url)


def http(
    method: str,
    url: str,
    body: Any = None,
    *,
    headers: dict[str, str] | None = None,
    data: bytes | None = None,
) -> tuple[int, Any, str]:
    """Plain HTTP: (status, parsed JSON or text, content type)."""
    if body is not None:
        data = json.dumps(body).encode()
    req = urllib.request.Request(
        url,
        data=data,
        method=method,
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            status, raw, ctype = resp.status, resp.read(), resp.headers.get("Content-Type", "")
    except urllib.error.HTTPError as exc:
        status, raw, ctype = exc.code, exc.read(), exc.headers.get("Content-Type", "")
    if "json" in ctype:
        return status, json.loads(raw), ctype
    return status, raw.decode(errors="replace"), ctype


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.1, what: str = "condition"):
    """Poll until `predicate()` is truthy; return its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def wait_state(client: kfp.Client, run_id: str, states: set[str], timeout: float = 60.0):
    return wait_for(
        lambda: (r := client.get_run(run_id)).state in states and r,
        timeout=timeout,
        interval=0.15,
        what=f"run {run_id} to reach {states}",
    )


# --- pipelines ----------------------------------------------------------------------------------


@dsl.component(base_image="python:3.11")
def make_text(n: int, out: dsl.Output[dsl.Dataset]) -> str:
    print(f"making {n} characters")
    with open(out.path, "w") as handle:
        handle.write("x" * n)
    return "made"


@dsl.component(base_image="python:3.11")
def count_text(data: dsl.Input[dsl.Dataset], fail: bool) -> int:
    print("counting")
    if fail:
        raise ValueError("the count step failed on purpose")
    with open(data.path) as handle:
        return len(handle.read())


@dsl.pipeline(name="two-step")
def two_step(n: int = 3, fail: bool = False):
    made = make_text(n=n)
    count_text(data=made.outputs["out"], fail=fail)


@dsl.component(base_image="python:3.11")
def sleeper(seconds: float, pid_file: str) -> str:
    import os
    import time

    if pid_file:
        with open(pid_file, "w") as handle:
            handle.write(str(os.getpid()))
    time.sleep(seconds)
    return "slept"


@dsl.pipeline(name="sleepy")
def sleepy(seconds: float = 60.0, pid_file: str = ""):
    sleeper(seconds=seconds, pid_file=pid_file)


@dsl.container_component
def shell_echo():
    return dsl.ContainerSpec(image="alpine:3", command=["echo"], args=["hello"])


@dsl.pipeline(name="container-step")
def container_pipeline():
    shell_echo()


@dsl.pipeline(name="pod-settings")
def pod_settings(n: int = 2):
    from kfp import kubernetes

    task = make_text(n=n)
    kubernetes.add_node_selector(task, label_key="disk", label_value="ssd")
    kubernetes.set_image_pull_policy(task, "Always")


@pytest.fixture(scope="session")
def pipelines(tmp_path_factory) -> dict[str, str]:
    """Compiled pipeline files by name."""
    root = tmp_path_factory.mktemp("pipelines")
    out = {}
    for name, func in (
        ("two_step", two_step),
        ("sleepy", sleepy),
        ("container", container_pipeline),
        ("pod_settings", pod_settings),
    ):
        path = root / f"{name}.yaml"
        compiler.Compiler().compile(func, str(path))
        out[name] = str(path)
    return out


@pytest.fixture(scope="session")
def kit():
    """The helpers above, for test modules (conftest is not importable by name)."""
    import types

    return types.SimpleNamespace(
        http=http, wait_for=wait_for, wait_state=wait_state, validate_response=validate_response
    )
