"""HTTP: KFP's routes (and ours under /dh-kfp/v1/) on a Starlette app served by uvicorn.

Routing is done here rather than with Starlette's router so that unmatched paths and wrong
methods answer exactly as grpc-gateway does (404 `{"code":5,"message":"Not Found"}`, 501
`{"code":12,"message":"Method Not Allowed"}`), and so that each request is counted under its
path template for `/dh-kfp/v1/stats`. Handlers are synchronous (SQLite) and run in the thread
pool. No response ever carries a traceback: unexpected errors are logged and answered as KFP's
code 13.

Other routes are added with `extra_routes` of `create_app`; by default they are the read-only
web pages of `web` (`/` and `/runs/{run_id}`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from dh_kfp_pulumi.server import api, api_runs, ir
from dh_kfp_pulumi.server.context import ServerContext
from dh_kfp_pulumi.server.wire import ApiError, invalid

log = logging.getLogger("dh_kfp_pulumi.server")

MAX_BODY_BYTES = ir.MAX_FILE_BYTES + (64 << 10)  # the 32 MiB file plus multipart framing
PREFIX = "/apis/v2beta1"


@dataclass(frozen=True)
class _Route:
    method: str
    template: str
    pattern: re.Pattern
    handler: Callable[..., Any]
    kind: str  # "grpc" (google.rpc.Status errors), "upload" (upload errors), "text" (plain text)


def _route(method: str, template: str, handler: Callable[..., Any], kind: str = "grpc") -> _Route:
    regex = re.sub(r"\{(\w+)\}", lambda m: f"(?P<{m.group(1)}>[^/:]+)", re.escape(template)
                   .replace(r"\{", "{").replace(r"\}", "}"))
    return _Route(method, template, re.compile(f"^{regex}$"), handler, kind)


def _stats(ctx: ServerContext, call: api.Call) -> dict[str, Any]:
    return ctx.stats.snapshot()


def _stats_reset(ctx: ServerContext, call: api.Call) -> dict[str, Any]:
    ctx.stats.reset()
    return {}


def _fault_list(ctx: ServerContext) -> Any:
    if ctx.faults is None:  # the server was not started for fault injection
        raise ApiError(5, "Not Found", "Not Found")
    return ctx.faults


def _faults(ctx: ServerContext, call: api.Call) -> dict[str, Any]:
    return dict(_fault_list(ctx).snapshot())


def _faults_set(ctx: ServerContext, call: api.Call) -> dict[str, Any]:
    faults = _fault_list(ctx)
    items = json.loads(call.body or b"{}").get("faults", [])
    faults.set(items if isinstance(items, list) else [items])
    return dict(faults.snapshot())


def _faults_clear(ctx: ServerContext, call: api.Call) -> dict[str, Any]:
    faults = _fault_list(ctx)
    faults.clear()
    return dict(faults.snapshot())


def _info(ctx: ServerContext, call: api.Call) -> dict[str, Any]:
    from dh_kfp_pulumi import __version__
    return {"version": __version__, "data_dir": str(ctx.data_dir),
            "max_concurrent_runs": ctx.executor.max_concurrent_runs,
            "running_workers": ctx.executor.running(),
            "pipeline_root": str(ctx.executor.pipeline_root)}


P = PREFIX
ROUTES: list[_Route] = [
    _route("GET", f"{P}/healthz", api.healthz),
    _route("GET", f"{P}/experiments", api.list_experiments),
    _route("POST", f"{P}/experiments", api.create_experiment),
    _route("POST", f"{P}/experiments/{{experiment_id}}:archive", api.archive_experiment),
    _route("POST", f"{P}/experiments/{{experiment_id}}:unarchive", api.unarchive_experiment),
    _route("GET", f"{P}/experiments/{{experiment_id}}", api.get_experiment),
    _route("DELETE", f"{P}/experiments/{{experiment_id}}", api.delete_experiment),
    _route("POST", f"{P}/pipelines/upload", api.upload_pipeline, "upload"),
    _route("POST", f"{P}/pipelines/upload_version", api.upload_pipeline_version, "upload"),
    _route("POST", f"{P}/pipelines/create", api.create_pipeline_and_version),
    _route("GET", f"{P}/pipelines", api.list_pipelines),
    _route("POST", f"{P}/pipelines", api.create_pipeline),
    _route("GET", f"{P}/pipelines/names/{{name}}", api.get_pipeline_by_name),
    _route("GET", f"{P}/pipelines/{{pipeline_id}}", api.get_pipeline),
    _route("DELETE", f"{P}/pipelines/{{pipeline_id}}", api.delete_pipeline),
    _route("GET", f"{P}/pipelines/{{pipeline_id}}/versions", api.list_pipeline_versions),
    _route("POST", f"{P}/pipelines/{{pipeline_id}}/versions", api.create_pipeline_version),
    _route("GET", f"{P}/pipelines/{{pipeline_id}}/versions/{{pipeline_version_id}}",
           api.get_pipeline_version),
    _route("DELETE", f"{P}/pipelines/{{pipeline_id}}/versions/{{pipeline_version_id}}",
           api.delete_pipeline_version),
    _route("GET", f"{P}/runs", api_runs.list_runs),
    _route("POST", f"{P}/runs", api_runs.create_run),
    _route("POST", f"{P}/runs/{{run_id}}:terminate", api_runs.terminate_run),
    _route("POST", f"{P}/runs/{{run_id}}:archive", api_runs.archive_run),
    _route("POST", f"{P}/runs/{{run_id}}:unarchive", api_runs.unarchive_run),
    _route("POST", f"{P}/runs/{{run_id}}:retry", api_runs.retry_run),
    _route("GET", f"{P}/runs/{{run_id}}", api_runs.get_run),
    _route("DELETE", f"{P}/runs/{{run_id}}", api_runs.delete_run),
    _route("GET", f"{P}/recurringruns", api_runs.list_recurring_runs),
    _route("POST", f"{P}/recurringruns", api_runs.create_recurring_run),
    _route("POST", f"{P}/recurringruns/{{recurring_run_id}}:enable", api_runs.enable_recurring_run),
    _route("POST", f"{P}/recurringruns/{{recurring_run_id}}:disable", api_runs.disable_recurring_run),
    _route("GET", f"{P}/recurringruns/{{recurring_run_id}}", api_runs.get_recurring_run),
    _route("DELETE", f"{P}/recurringruns/{{recurring_run_id}}", api_runs.delete_recurring_run),
    # Beyond KFP (never needed by the product; see the package docstring).
    _route("GET", "/dh-kfp/v1/stats", _stats),
    _route("POST", "/dh-kfp/v1/stats:reset", _stats_reset),
    _route("GET", "/dh-kfp/v1/info", _info),
    _route("GET", "/dh-kfp/v1/faults", _faults),
    _route("POST", "/dh-kfp/v1/faults", _faults_set),
    _route("DELETE", "/dh-kfp/v1/faults", _faults_clear),
    _route("GET", "/dh-kfp/v1/runs/{run_id}/tasks", api_runs.run_tasks),
    _route("GET", "/dh-kfp/v1/runs/{run_id}/logs", api_runs.run_logs, "text"),
]
# Paths of KFP's API that exist but that this server does not serve: 501 with a clear message.
UNSUPPORTED = [
    re.compile(f"^{P}/(auth|filters|scheduledworkflows|workflows|visualizations/[^/]+)$"),
]


def _json(status: int, body: Any) -> Response:
    return Response(json.dumps(body, separators=(",", ":")), status_code=status,
                    media_type="application/json")


def _not_found() -> Response:
    return _json(404, {"code": 5, "message": "Not Found"})


def _method_not_allowed() -> Response:
    return _json(501, {"code": 12, "message": "Method Not Allowed"})


async def _read_body(request: Request) -> tuple[bytes, bool]:
    """The body, or (b"", True) when it exceeds the limit (read to the end all the same, so the
    client gets the 4xx answer instead of a broken pipe)."""
    chunks: list[bytes] = []
    size, too_big = 0, False
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            too_big = True
            chunks = []
        elif not too_big:
            chunks.append(chunk)
    return (b"" if too_big else b"".join(chunks)), too_big


def parse_multipart(content_type: str, body: bytes) -> dict[str, tuple[str, bytes]]:
    """multipart/form-data -> {field: (filename, bytes)}, byte-exact."""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not match:
        raise invalid("Failed to read pipeline from file: the request is not multipart/form-data "
                      "with a boundary", "Failed to read pipeline from file")
    delimiter = b"--" + match.group(1).encode("latin-1")
    out: dict[str, tuple[str, bytes]] = {}
    for part in body.split(delimiter)[1:]:
        if part.startswith(b"--"):
            break
        part = part[2:] if part.startswith(b"\r\n") else part
        head, sep, content = part.partition(b"\r\n\r\n")
        if not sep:
            continue
        if content.endswith(b"\r\n"):
            content = content[:-2]
        headers = head.decode("latin-1")
        name = re.search(r'name="([^"]*)"', headers)
        filename = re.search(r'filename="([^"]*)"', headers)
        if name:
            out[name.group(1)] = (filename.group(1) if filename else "", content)
    return out


class _DroppedAnswer(Response):
    """An answer cut off mid-way (a fault's `after_commit`): headers promising a body, part of
    it, then the connection closes."""

    def __init__(self) -> None:
        super().__init__(b"", status_code=200)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", b"1000")]})
        await send({"type": "http.response.body", "body": b'{"', "more_body": True})
        raise ConnectionAbortedError("injected fault: answer dropped after commit")


def create_app(ctx: ServerContext, extra_routes: list[BaseRoute] | None = None) -> Starlette:
    async def dispatch(request: Request) -> Response:
        path, method = request.url.path, request.method
        matched = [(r, m) for r in ROUTES if (m := r.pattern.match(path))]
        chosen = next(((r, m) for r, m in matched if r.method == method), None)
        if path.startswith(PREFIX):
            ctx.stats.count(method, chosen[0].template if chosen else "<unmatched>")
        if chosen is None:
            if matched:
                return _method_not_allowed()
            if any(p.match(path) for p in UNSUPPORTED):
                err = ApiError(12, f"{path} is not served by the dh-kfp embedded server",
                               f"{path} is not served by the dh-kfp embedded server")
                return _json(err.http_status, err.body())
            return _not_found()
        route, match = chosen
        fault = None
        if ctx.faults is not None and path.startswith(PREFIX):
            fault = ctx.faults.on_call(f"{method} {route.template}")
            if fault is not None and fault.delay:
                await asyncio.sleep(fault.delay)
            if fault is not None and fault.status:
                return _json(fault.status, fault.error().body())
        body, too_big = await _read_body(request)
        try:
            if too_big:
                raise invalid(f"File size too large. Maximum supported size: "
                              f"{ir.MAX_FILE_BYTES} bytes", "File size too large. Maximum "
                              f"supported size: {ir.MAX_FILE_BYTES} bytes")
            call = api.Call(params=match.groupdict(), query=request.query_params, body=body,
                            content_type=request.headers.get("content-type", ""))
            if route.kind == "upload":
                call.files = parse_multipart(call.content_type, body)
            result = await run_in_threadpool(route.handler, ctx, call)
        except ApiError as err:
            if route.kind == "upload":
                return _json(err.http_status, err.upload_body())
            return _json(err.http_status, err.body())
        except Exception as exc:  # never a traceback on the wire
            log.exception("%s %s failed", method, path)
            internal = ApiError(13, f"Internal error: {type(exc).__name__}: {exc}",
                                f"Internal error: {type(exc).__name__}")
            if route.kind == "upload":
                return _json(internal.http_status, internal.upload_body())
            return _json(internal.http_status, internal.body())
        if fault is not None and fault.after_commit:
            return _DroppedAnswer()  # carried out; the answer is lost on the way
        if route.kind == "text":
            return PlainTextResponse(result)
        return _json(200, result)

    async def on_http_error(request: Request, exc: Exception) -> Response:
        return _not_found()

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
    if extra_routes is None:  # the read-only web pages at / and /runs/{run_id}
        from dh_kfp_pulumi.server import web
        extra_routes = web.routes(ctx)
    routes: list[BaseRoute] = [*extra_routes,
                               Route("/{path:path}", dispatch, methods=methods)]
    return Starlette(routes=routes, exception_handlers={404: on_http_error})
