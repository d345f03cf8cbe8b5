"""Start, stop and find the embedded server; one server per data directory.

The data directory holds `server.db` (SQLite), `server.lock` (held with flock by the running
server: the one source of truth for "is a server running here"), `server.json` (its URL and
pid, written once it answers), `server.port` (the last port, reused when free), `server.log`
(output of a background server), `runs/<id>/`
(worker and step logs) and `pipeline_root/` (run outputs).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from dh_kfp_pulumi.errors import DhKfpError

ENV_DATA_DIR = "DH_KFP_DATA_DIR"
DEFAULT_MAX_CONCURRENT_RUNS = 4


class ServerError(DhKfpError):
    """The server cannot start, or another one already serves the data directory."""


@dataclass(frozen=True)
class ServerInfo:
    url: str
    pid: int
    data_dir: Path
    # About one `start`, not the server: not part of its identity (==).
    already_running: bool = field(default=False, compare=False)  # `start` found it running
    note: str = field(default="", compare=False)  # what to know (a port that changed)

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[-1].rstrip("/"))


PORT_FILE = "server.port"  # the port the data dir's server listened on last


def kept_port(data_dir: Path) -> int | None:
    """The port this data dir's server listened on last (reused when free), if any."""
    try:
        port = int((data_dir / PORT_FILE).read_text().strip())
    except (OSError, ValueError):
        return None
    return port if 0 < port < 65536 else None


def resolve_data_dir(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """The argument, else $DH_KFP_DATA_DIR, else the user's data dir (platformdirs)."""
    if data_dir:
        return Path(data_dir).expanduser().resolve()
    if os.environ.get(ENV_DATA_DIR):
        return Path(os.environ[ENV_DATA_DIR]).expanduser().resolve()
    import platformdirs
    return Path(platformdirs.user_data_dir("dh-kfp")).resolve()


# --- the lock ---------------------------------------------------------------------------------

def _try_lock(path: Path, wait: float = 0.0) -> int | None:
    """An fd holding the exclusive lock, or None when another process holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(fd)
                return None
            time.sleep(0.05)


def _lock_held(data_dir: Path) -> bool:
    path = data_dir / "server.lock"
    if not path.exists():
        return False
    fd = _try_lock(path)
    if fd is None:
        return True
    os.close(fd)  # closing releases it
    return False


def _read_info(data_dir: Path) -> ServerInfo | None:
    try:
        doc = json.loads((data_dir / "server.json").read_text())
        return ServerInfo(url=doc["url"], pid=int(doc["pid"]), data_dir=data_dir)
    except (OSError, ValueError, KeyError):
        return None


def status(data_dir: str | os.PathLike[str] | None = None) -> ServerInfo | None:
    """The server serving this data dir, or None (none runs, or it is not answering yet)."""
    directory = resolve_data_dir(data_dir)
    if not _lock_held(directory):
        return None
    return _read_info(directory)


# --- foreground -------------------------------------------------------------------------------

def _server_class() -> type:
    import uvicorn

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            # Shut down gracefully, without uvicorn re-raising the signal once it has stopped:
            # that would end the process before `serve` settles its runs and removes its files.
            if self.should_exit and sig == signal.SIGINT:
                self.force_exit = True
            else:
                self.should_exit = True

    return Server


def serve(data_dir: str | os.PathLike[str] | None = None, *, port: int = 0,
          host: str = "127.0.0.1", max_concurrent_runs: int = DEFAULT_MAX_CONCURRENT_RUNS,
          pipeline_root: str | os.PathLike[str] | None = None, log_level: str = "warning",
          quiet: bool = False) -> None:
    """Run the server in this process until SIGINT/SIGTERM."""
    from dh_kfp_pulumi.server import api
    from dh_kfp_pulumi.server.app import create_app
    from dh_kfp_pulumi.server.context import ServerContext
    from dh_kfp_pulumi.server.executor import Executor
    from dh_kfp_pulumi.server.scheduler import Scheduler
    from dh_kfp_pulumi.server.store import Store

    check_settings(port=port, max_concurrent_runs=max_concurrent_runs)
    directory = resolve_data_dir(data_dir)
    directory.mkdir(parents=True, exist_ok=True)
    lock_fd = _try_lock(directory / "server.lock", wait=1.0)
    if lock_fd is None:
        other = _read_info(directory)
        where = f" (pid {other.pid}, {other.url})" if other else ""
        raise ServerError(f"a dh-kfp server already serves data dir {directory}{where}; stop it "
                          f"with `dh-kfp server stop --data-dir {directory}` or use another "
                          "--data-dir")
    logging.basicConfig(level=getattr(logging, log_level.upper(), logging.WARNING),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    os.ftruncate(lock_fd, 0)
    os.write(lock_fd, str(os.getpid()).encode())
    info_path = directory / "server.json"
    info_path.unlink(missing_ok=True)
    store = Store(directory / "server.db")
    executor = Executor(store, directory, max_concurrent_runs=max_concurrent_runs,
                        pipeline_root=Path(pipeline_root or directory / "pipeline_root"))
    scheduler = Scheduler(store, on_run_created=executor.wake)
    executor.on_run_end = scheduler.wake
    from dh_kfp_pulumi.server import faults

    ctx = ServerContext(store=store, data_dir=directory, executor=executor, scheduler=scheduler,
                        faults=faults.Faults() if os.environ.get(faults.ENV) == "1" else None)
    api.ensure_default_experiment(ctx)
    executor.recover()

    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets that say so, and without
    # it a keep-alive client (kfp.Client) waits ~40 ms per response (Nagle + delayed ACK).
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM,
                         socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # No --port: the port of the last start, so stored URLs (a Run's `url` output) stay good;
    # a free one when another process holds it, saying so.
    kept = kept_port(directory) if port == 0 else None
    try:
        try:
            sock.bind((host, kept or port))
        except OSError as exc:
            if not kept:
                raise
            print(f"dh-kfp server: port {kept} (this data dir's last) is in use ({exc.strerror}); "
                  "listening on another one: URLs stored with the old port are stale",
                  file=sys.stderr, flush=True)
            sock.bind((host, 0))
    except OSError as exc:
        os.close(lock_fd)
        raise ServerError(f"cannot listen on {host}:{port}: {exc}") from None
    bound_port = sock.getsockname()[1]
    (directory / PORT_FILE).write_text(f"{bound_port}\n")
    url = f"http://{'[' + host + ']' if ':' in host else host}:{bound_port}"
    import uvicorn

    from dh_kfp_pulumi.server.guard import Guard, is_loopback, server_token

    # Beyond loopback, every request needs the server's token (the data dir's `token`, or
    # $DH_KFP_SERVER_TOKEN); on loopback, Host and Origin checks keep web pages out.
    token = None if is_loopback(host) else server_token(
        directory, os.environ.get("DH_KFP_SERVER_TOKEN"))
    app = Guard(create_app(ctx), bind_host=host, token=token)
    server = _server_class()(uvicorn.Config(app, log_level=log_level, access_log=False,
                                    lifespan="off"))

    def announce() -> None:
        while not server.started and not server.should_exit:
            time.sleep(0.01)
        if server.started:
            tmp = info_path.with_suffix(".tmp")
            tmp.write_text(json.dumps({"url": url, "pid": os.getpid(), "host": host,
                                       "port": bound_port, "started_at": int(time.time())}))
            tmp.replace(info_path)
            if not quiet:
                print(f"dh-kfp server listening on {url} (data dir {directory})", flush=True)

    executor.start()
    scheduler.start()
    threading.Thread(target=announce, name="dh-kfp-announce", daemon=True).start()
    try:
        server.run(sockets=[sock])
    finally:
        scheduler.stop()
        executor.stop()
        info_path.unlink(missing_ok=True)
        store.close()
        os.close(lock_fd)


# --- background -------------------------------------------------------------------------------

def check_settings(*, port: Any = 0, max_concurrent_runs: Any = 0) -> None:
    """Port and concurrency refused with what is valid, before anything starts."""
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ServerError(f"--port: {port!r} is not a TCP port; give 1..65535, or 0 for the "
                          "data dir's last port (else any free one)")
    if (isinstance(max_concurrent_runs, bool) or not isinstance(max_concurrent_runs, int)
            or max_concurrent_runs < 0):
        raise ServerError(f"--max-concurrent-runs: {max_concurrent_runs!r} is not a count of "
                          "runs; give 1 or more, or 0 to hold new runs PENDING without "
                          "executing them")


def _serve_args(data_dir: Path, port: int, host: str, settings: dict[str, Any]) -> list[str]:
    args = ["--data-dir", str(data_dir), "--port", str(port), "--host", host]
    for key, value in settings.items():
        if value is not None:
            args += [f"--{key.replace('_', '-')}", str(value)]
    return args


def start(data_dir: str | os.PathLike[str] | None = None, *, port: int = 0,
          host: str = "127.0.0.1", timeout: float = 30.0, **settings: Any) -> ServerInfo:
    """A background server for this data dir: the running one if any, else a new one."""
    check_settings(port=port, max_concurrent_runs=settings.get(
        "max_concurrent_runs", DEFAULT_MAX_CONCURRENT_RUNS))
    directory = resolve_data_dir(data_dir)
    running = status(directory)
    if running is not None:
        return replace(running, already_running=True)
    previous = kept_port(directory) if port == 0 else None
    unknown = set(settings) - {"max_concurrent_runs", "pipeline_root", "log_level"}
    if unknown:
        raise ServerError(f"unknown server setting(s) {sorted(unknown)}; valid: "
                          "max_concurrent_runs, pipeline_root, log_level")
    directory.mkdir(parents=True, exist_ok=True)
    log_path = directory / "server.log"
    with open(log_path, "ab") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "dh_kfp_pulumi.server",
             *_serve_args(directory, port, host, settings)],
            stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
            start_new_session=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = status(directory)
        if info is not None and (info.pid == proc.pid or proc.poll() is not None):
            if previous and info.port != previous and info.pid == proc.pid:
                info = replace(info, note=(
                    f"port {previous} (this data dir's last) is in use by another process; "
                    f"listening on {info.port} now: URLs stored with port {previous} (a Run's "
                    "`url` output) are stale until the next `up` or refresh"))
            return info
        if proc.poll() is not None and not _lock_held(directory):
            tail = log_path.read_text(errors="replace").strip().splitlines()[-5:]
            raise ServerError(f"the dh-kfp server did not start (exit status {proc.returncode}); "
                              f"{log_path}:\n  " + "\n  ".join(tail))
        time.sleep(0.05)
    proc.kill()
    raise ServerError(f"the dh-kfp server did not answer within {timeout:.0f}s; see {log_path}")


def stop(data_dir: str | os.PathLike[str] | None = None, *, timeout: float = 15.0) -> bool:
    """Stop the server of this data dir (SIGTERM, then SIGKILL); False if none was running."""
    directory = resolve_data_dir(data_dir)
    info = status(directory)
    pid = info.pid if info else _lock_pid(directory)
    if pid is None or not _lock_held(directory):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _lock_held(directory):
            return True
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    while _lock_held(directory):
        time.sleep(0.05)
    return True


def _lock_pid(directory: Path) -> int | None:
    try:
        return int((directory / "server.lock").read_text().strip())
    except (OSError, ValueError):
        return None


@contextlib.contextmanager
def running_server(data_dir: str | os.PathLike[str] | None = None,
                   **settings: Any) -> Iterator[ServerInfo]:
    """A server for the duration of a `with` block (stopped after, unless it ran before)."""
    was_running = status(data_dir) is not None
    info = start(data_dir, **settings)
    try:
        yield info
    finally:
        if not was_running:
            stop(info.data_dir)


# --- command line (also what `start` runs) ----------------------------------------------------

def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", default=None,
                        help=f"where the server keeps its data (default: ${ENV_DATA_DIR}, else the "
                             "user's data dir)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=0,
                        help="port to listen on (default 0: the data dir's last port when it "
                             "is free, else any free port)")
    parser.add_argument("--max-concurrent-runs", type=int, default=DEFAULT_MAX_CONCURRENT_RUNS,
                        help=f"runs executing at once (default {DEFAULT_MAX_CONCURRENT_RUNS}; 0 "
                             "holds new runs PENDING without executing them)")
    parser.add_argument("--pipeline-root", default=None,
                        help="where run outputs go (default: <data dir>/pipeline_root)")
    parser.add_argument("--log-level", default="warning",
                        choices=["debug", "info", "warning", "error"])


def serve_from_args(args: argparse.Namespace, quiet: bool = False) -> None:
    serve(args.data_dir, port=args.port, host=args.host,
          max_concurrent_runs=args.max_concurrent_runs, pipeline_root=args.pipeline_root,
          log_level=args.log_level, quiet=quiet)


def _main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m dh_kfp_pulumi.server")
    add_serve_arguments(parser)
    try:
        serve_from_args(parser.parse_args(argv))
    except ServerError as exc:
        print(f"dh-kfp server: {exc}", file=sys.stderr)
        return 2
    return 0
