"""The dynamic-provider server, started and called the way the Pulumi engine does.

One `python -u -m pulumi.dynamic` process (the program's interpreter, working directory
the program's, so providers pickled by reference import as they would under Pulumi),
spoken to over gRPC with the SDK's own stubs. It answers `acceptSecrets: false`, so, like
the engine, we send it plain values and give its answers back the secretness of what went
in. Its stderr, and the traceback of every failed call, go to a log file beside the state;
the lines `pulumi.log` writes there (`warning: ...`, `info: ...`: a provider server has no
engine connection) also go to `on_message`, as the Pulumi CLI shows a provider's output.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

from dh_kfp_pulumi.engine import props as P
from dh_kfp_pulumi.errors import DhKfpError
from dh_kfp_pulumi.pulumi_internals import grpc_channel_options

START_TIMEOUT = 60.0

# The provider server dies with the engine, even by kill -9: a watchdog thread in the child
# exits it once its parent is gone (reparented: getppid() changes). Not PR_SET_PDEATHSIG,
# which fires when the *thread* that started the child ends, and the engine starts it from
# whichever thread first needs it. Then it runs `python -m pulumi.dynamic` as usual.
_WATCHDOG_BOOT = """\
import os, runpy, sys, threading, time
parent = int(sys.argv.pop(1))
def watch():
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)
if os.getppid() != parent:
    sys.exit(1)
threading.Thread(target=watch, daemon=True).start()
runpy.run_module("pulumi.dynamic", run_name="__main__", alter_sys=True)
"""
DIFF_NONE, DIFF_SOME = provider_pb2.DiffResponse.DIFF_NONE, provider_pb2.DiffResponse.DIFF_SOME


class ProviderError(DhKfpError):
    """A provider call failed; `str()` is the provider's own message, `detail` its traceback."""

    def __init__(self, message: str, detail: str = ""):
        super().__init__(message)
        self.detail = detail


@dataclass(frozen=True)
class Diff:
    changes: bool | None  # None: the provider does not know (the engine compares inputs)
    replaces: tuple[str, ...]
    delete_before_replace: bool
    keys: tuple[str, ...]  # the provider's own list of changed keys, when it gives one


class ProviderProcess:
    """A running `pulumi.dynamic` provider server."""

    def __init__(self, cwd: Path, project: str, config: Mapping[str, str],
                 secret_keys: Sequence[str], log_path: Path,
                 on_message: Callable[[str, str], None] | None = None):
        self.log_path = log_path
        self._on_message = on_message
        log_path.parent.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env.update({
            "PULUMI_PROJECT": project,
            # What the engine gives dynamic providers since pulumi 3.136: the whole config.
            "PULUMI_CONFIG": json.dumps(dict(config)),
            "PULUMI_CONFIG_SECRET_KEYS": json.dumps(list(secret_keys)),
            "PYTHONUNBUFFERED": "1",
        })
        log_path.write_bytes(b"")  # one deployment's log; appended to by both processes
        self._log = open(log_path, "ab")  # noqa: SIM115 (closed in close())
        self._proc = subprocess.Popen(
            [sys.executable, "-u", "-c", _WATCHDOG_BOOT, str(os.getpid())], cwd=cwd, env=env,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert self._proc.stdout is not None and self._proc.stderr is not None  # the two PIPEs
        self._out, self._err = self._proc.stdout, self._proc.stderr
        self._stderr = threading.Thread(target=self._drain_stderr, daemon=True)
        self._stderr.start()
        port = self._read_port()
        self._channel = grpc.insecure_channel(f"127.0.0.1:{port}", options=grpc_channel_options())
        try:
            grpc.channel_ready_future(self._channel).result(timeout=START_TIMEOUT)
        except grpc.FutureTimeoutError:
            self.close()
            raise ProviderError(f"the dynamic provider server did not answer on port {port}; "
                                f"see {log_path}") from None
        self._stub = provider_pb2_grpc.ResourceProviderStub(self._channel)
        self.accept_secrets = False

    def _read_port(self) -> int:
        line: list[bytes] = []
        reader = threading.Thread(target=lambda: line.append(self._out.readline()),
                                  daemon=True)
        reader.start()
        reader.join(START_TIMEOUT)
        text = line[0].decode(errors="replace").strip() if line else ""
        if not text.isdigit():
            self.close()
            raise ProviderError(
                "the dynamic provider server (python -m pulumi.dynamic) did not start"
                f"{': it printed ' + repr(text) if text else ''}; its log: {self.log_path}\n"
                f"{self._log_tail()}")
        return int(text)

    def _drain_stderr(self) -> None:
        """The server's stderr to the log file; pulumi.log's lines to `on_message` too."""
        for raw in iter(self._err.readline, b""):
            with contextlib.suppress(ValueError, OSError):  # closed by close()
                self._log.write(raw)
                self._log.flush()
            text = raw.decode(errors="replace").rstrip("\n")
            severity, sep, message = text.partition(": ")
            if sep and severity in ("warning", "info") and self._on_message is not None:
                with contextlib.suppress(Exception):
                    self._on_message(severity, message)

    def _log_tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._channel.close()
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        with contextlib.suppress(Exception):
            self._out.close()
        self._stderr.join(timeout=10)  # the server has exited: its stderr ends
        with contextlib.suppress(Exception):
            self._err.close()
        self._log.close()

    # ---- the calls ------------------------------------------------------------------------

    def _call(self, method: str, request: Any, what: str) -> Any:
        try:
            return getattr(self._stub, method)(request)
        except grpc.RpcError as exc:
            if self._proc.poll() is not None:
                raise ProviderError(
                    f"{what}: the dynamic provider server exited (code {self._proc.returncode}); "
                    f"see {self.log_path}\n{self._log_tail()}") from None
            detail = exc.details() or str(exc)
            with contextlib.suppress(OSError), open(self.log_path, "a") as log:
                log.write(f"--- {what} failed:\n{detail.rstrip()}\n")
            raise ProviderError(f"{what}: {_message_of(detail)}", detail) from None

    def configure(self, config: Mapping[str, str], secret_keys: Sequence[str]) -> None:
        args = {k: (P.make_secret(v) if k in secret_keys else v) for k, v in config.items()}
        response = self._call("Configure", provider_pb2.ConfigureRequest(
            variables=dict(config), args=P.to_struct(args), acceptSecrets=True,
            acceptResources=False), "configure")
        self.accept_secrets = bool(response.acceptSecrets)

    def _send(self, value: P.Props) -> Any:
        return P.to_struct(value if self.accept_secrets else P.unwrap_secrets(value))

    def check(self, urn: str, name: str, type_: str, olds: P.Props, news: P.Props
              ) -> tuple[P.Props, list[tuple[str, str]]]:
        response = self._call("Check", provider_pb2.CheckRequest(
            urn=urn, name=name, type=type_, olds=self._send(olds), news=self._send(news),
            randomSeed=secrets.token_bytes(32)), f"check of {P.describe(urn)}")
        inputs = P.annotate_secrets(P.from_struct(response.inputs), news)
        return inputs, [(f.property, f.reason) for f in response.failures]

    def diff(self, urn: str, name: str, type_: str, id_: str, olds: P.Props, news: P.Props,
             old_inputs: P.Props, ignore_changes: Sequence[str] = ()) -> Diff:
        response = self._call("Diff", provider_pb2.DiffRequest(
            id=id_, urn=urn, name=name, type=type_, olds=self._send(olds), news=self._send(news),
            old_inputs=self._send(old_inputs), ignoreChanges=list(ignore_changes)),
            f"diff of {P.describe(urn)}")
        if response.changes == DIFF_NONE:
            changes: bool | None = False
        elif response.changes == DIFF_SOME:
            changes = True
        else:
            changes = None
        keys = tuple(response.diffs) or tuple(sorted(response.detailedDiff))
        return Diff(changes, tuple(response.replaces), bool(response.deleteBeforeReplace), keys)

    def create(self, urn: str, name: str, type_: str, inputs: P.Props,
               secret_outputs: Sequence[str] = ()) -> tuple[str, P.Props]:
        response = self._call("Create", provider_pb2.CreateRequest(
            urn=urn, name=name, type=type_, properties=self._send(inputs), preview=False),
            f"create of {P.describe(urn)}")
        if not response.id:
            raise ProviderError(f"create of {P.describe(urn)}: the provider returned an empty id")
        return response.id, P.annotate_secrets(P.from_struct(response.properties), inputs,
                                               secret_outputs)

    def update(self, urn: str, name: str, type_: str, id_: str, olds: P.Props, news: P.Props,
               old_inputs: P.Props, secret_outputs: Sequence[str] = (),
               ignore_changes: Sequence[str] = ()) -> P.Props:
        response = self._call("Update", provider_pb2.UpdateRequest(
            id=id_, urn=urn, name=name, type=type_, olds=self._send(olds), news=self._send(news),
            old_inputs=self._send(old_inputs), preview=False, ignoreChanges=list(ignore_changes)),
            f"update of {P.describe(urn)}")
        return P.annotate_secrets(P.from_struct(response.properties), news, secret_outputs)

    def delete(self, urn: str, name: str, type_: str, id_: str, outputs: P.Props,
               inputs: P.Props) -> None:
        self._call("Delete", provider_pb2.DeleteRequest(
            id=id_, urn=urn, name=name, type=type_, properties=self._send(outputs),
            old_inputs=self._send(inputs)), f"delete of {P.describe(urn)}")

    def read(self, urn: str, name: str, type_: str, id_: str, outputs: P.Props,
             inputs: P.Props) -> tuple[str, P.Props, P.Props | None]:
        response = self._call("Read", provider_pb2.ReadRequest(
            id=id_, urn=urn, name=name, type=type_, properties=self._send(outputs),
            inputs=self._send(inputs)), f"read of {P.describe(urn)}")
        new_outputs = P.annotate_secrets(P.from_struct(response.properties), outputs)
        new_inputs = None
        if response.HasField("inputs") and response.inputs.fields:
            new_inputs = P.annotate_secrets(P.from_struct(response.inputs), inputs)
        return response.id, new_outputs, new_inputs


def _message_of(detail: str) -> str:
    """The exception line(s) at the end of a provider's traceback, without the frames."""
    lines = detail.rstrip().splitlines()
    last_frame = max((i for i, line in enumerate(lines) if line.startswith('  File "')),
                     default=-1)
    if last_frame < 0:
        return detail.strip()
    rest = lines[last_frame + 1:]
    while rest and (rest[0].startswith("    ") or not rest[0].strip()):
        rest = rest[1:]
    message = "\n".join(rest).strip()
    # "dh_kfp_pulumi.errors.BackendError: ..." -> "BackendError: ..."
    head, sep, tail = message.partition(": ")
    if sep and "." in head and " " not in head:
        message = f"{head.rsplit('.', 1)[-1]}: {tail}"
    return message or detail.strip()
