"""Helpers for tests against the embedded KFP server, shared by every area's tests.

Importable as `kfp_kit` (tests/conftest.py puts this directory on sys.path): the sample
workflow's sources, the server's request counters and a quiet kfp.Client.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

VENV_BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[1]
ENGINES_BIN = REPO / ".engines" / "bin"


def engine_bin(name: str) -> str | None:
    """A real engine's executable: the one scripts/engines.sh built, else one on PATH."""
    import shutil

    built = ENGINES_BIN / name
    if built.exists() and built.stat().st_mode & 0o111:
        return str(built)
    return shutil.which(name)

PIPELINE = """\
from dh_kfp_pulumi.dsl import pipeline_context


def pipe(x: int = 1, word: str = "hi"):
    with pipeline_context() as pc:
        pc.step(name="add", function="adder", action="job",
                inputs={"x": x, "word": word}, values=["y"])
"""

ADDER = """\
def add(x, word):
    return {"y": f"{word}:{int(x) + 1}"}
"""


def stats(url: str) -> dict[str, Any]:
    """The embedded server's request counters (test-only endpoint)."""
    import json
    import urllib.request

    with urllib.request.urlopen(f"{url}/dh-kfp/v1/stats", timeout=10) as response:
        return json.load(response)


def writes(url: str) -> int:
    return int(stats(url)["writes"])


def kfp_client(url: str) -> Any:
    import warnings

    import kfp

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return kfp.Client(host=url)


def until(what: str, fn: Any, timeout: float = 60.0) -> Any:
    """fn()'s first truthy value, polled (the bound only stops a broken test)."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.2)


def files_without(value: str, *roots: Any) -> int:
    """Assert that no file under `roots` holds `value`; how many files were read."""
    from pathlib import Path

    searched = 0
    for root in roots:
        for path in Path(root).rglob("*"):
            if path.is_file():
                searched += 1
                assert value.encode() not in path.read_bytes(), path
    return searched


def answer_json(handler: Any, status: int, body: Any) -> None:
    """Send `body` as a JSON answer from an http.server handler (a test's stand-in KFP)."""
    import json

    data = json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)
