"""`RestBackend`: a `Backend` whose reads are plain HTTP GETs, so reading never imports kfp.

Terraform starts the provider's plugin process 3 times per command, and importing kfp
costs 0.24 s each time; most of what a plan does is reads. The reads here go over urllib3
and json with the same paths, query parameters, retries, token header and error words as
`Backend`'s kfp.Client, and come out through convert.py's own converters (given an
attribute view of KFP's JSON), so their results are equal. Every write stays `Backend`'s,
over a kfp.Client made on first use.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

import urllib3

from dh_kfp_pulumi.backends import client, connect, convert, paging
from dh_kfp_pulumi.backends.client import Backend
from dh_kfp_pulumi.backends.models import (
    Experiment,
    Pipeline,
    PipelineVersion,
    RecurringRun,
    Run,
)
from dh_kfp_pulumi.backends.snapshot import SnapshotBackend
from dh_kfp_pulumi.errors import BackendError

_API = "/apis/v2beta1"

# kfp_server_api's models: JSON names that are not the attribute's own, fields kept as the
# raw JSON (typed `object`/`dict` there), and the timestamps it parses into datetimes.
_WIRE_NAMES = {"recurring_runs": "recurringRuns"}
_RAW = frozenset({"pipeline_spec", "parameters", "tags", "plugins_input", "plugins_output"})
_TIMES = frozenset({
    "created_at", "finished_at", "scheduled_at", "updated_at", "start_time", "end_time",
    "last_run_created_at", "create_time", "update_time", "timestamp_value",
})  # fmt: skip
_RFC3339 = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|z|[+-]\d\d:?\d\d)?")


class View:
    """Attribute access to a JSON object, as kfp_server_api's model of it would give:
    None for what is absent, nested objects wrapped, timestamps as datetimes."""

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, Any]):
        self._data = data

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):  # no model field does (copy and pickle ask for dunders)
            raise AttributeError(name)
        value = self._data.get(_WIRE_NAMES.get(name, name))
        if value is None or name in _RAW:
            return value
        if name in _TIMES and isinstance(value, str):
            return timestamp(value)
        return _wrap(value)

    def __repr__(self) -> str:
        return f"View({self._data!r})"


def _wrap(value: Any) -> Any:
    if isinstance(value, Mapping):
        return View(value)
    if isinstance(value, list):
        return [_wrap(item) for item in value]
    return value


def timestamp(text: str) -> datetime | str:
    """An RFC 3339 time as the datetime dateutil makes of it (fraction cut to microseconds),
    or the text itself when it is none."""
    found = _RFC3339.fullmatch(text.strip())
    if found is None:
        return text
    moment, fraction, zone = found.groups()
    if fraction:
        moment += "." + fraction[:6].ljust(6, "0")
    if zone:
        zone = "+00:00" if zone in ("Z", "z") else zone
        moment += zone if ":" in zone else f"{zone[:3]}:{zone[3:]}"
    try:
        return datetime.fromisoformat(moment)
    except ValueError:
        return text


class _HttpFailure(Exception):
    """A non-2xx answer (status 0: kfp_server_api's form of a bare TLS failure)."""

    def __init__(self, status: int, reason: str | None, body: bytes | None):
        super().__init__(status, reason)
        self.status = status
        self.reason = reason
        self.body = body


@dataclass
class Session:
    """One urllib3 pool to a KFP with its headers and timeout; shared by a process."""

    base: str
    pool: urllib3.PoolManager
    headers: dict[str, str]
    timeout: urllib3.Timeout
    checked: bool = False  # its health check passed (kfp.Client's constructor makes one)

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> View:
        """GET `path` with the parameters that are not None (empty strings are sent, as
        kfp_server_api sends them); the answer's JSON object."""
        fields = [(k, v) for k, v in (params or {}).items() if v is not None]
        try:
            response = self.pool.request(
                "GET", self.base + path, fields=fields or None, headers=self.headers,
                timeout=self.timeout,
            )  # fmt: skip
        except urllib3.exceptions.SSLError as exc:
            raise _HttpFailure(0, f"{type(exc).__name__}\n{exc}", None) from None
        if not 200 <= response.status <= 299:
            raise _HttpFailure(response.status, response.reason, response.data)
        data = json.loads(response.data or b"{}")
        return View(data if isinstance(data, Mapping) else {})


# One pool per KFP and settings in a process, like connect's kfp.Clients.
_SESSIONS: dict[tuple[Any, ...], Session] = {}
_SESSIONS_LOCK = threading.Lock()


def session(host: str, token: str | None, verify_ssl: bool, timeout: float) -> Session:
    key = (host, token, verify_ssl, timeout)
    with _SESSIONS_LOCK:
        found = _SESSIONS.get(key)
        if found is None:
            found = _SESSIONS[key] = _new_session(host, token, verify_ssl, timeout)
        return found


def forget_sessions() -> None:
    with _SESSIONS_LOCK:
        _SESSIONS.clear()


def _new_session(host: str, token: str | None, verify_ssl: bool, timeout: float) -> Session:
    """A pool as kfp_server_api's RESTClientObject makes it (certifi's CAs, connect's
    retry policy); urllib3's InsecureRequestWarning stays on, as it does there."""
    import multiprocessing

    pool_args: dict[str, Any] = {"cert_reqs": "CERT_REQUIRED" if verify_ssl else "CERT_NONE"}
    with contextlib.suppress(ImportError):
        import certifi

        pool_args["ca_certs"] = certifi.where()
    pool = urllib3.PoolManager(
        num_pools=4, maxsize=multiprocessing.cpu_count() * 5,
        retries=connect.retry_policy(), **pool_args,
    )  # fmt: skip
    headers = {"Accept": "application/json", "Content-Type": "application/json",
               "User-Agent": "dh-kfp-pulumi/rest"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return Session(host, pool, headers, urllib3.Timeout(connect=timeout, read=timeout))


def _id(value: str) -> str:
    return quote(str(value), safe="")


class RestBackend(Backend):
    """`Backend` with its reads over plain HTTP (no kfp import); its writes are Backend's."""

    def __repr__(self) -> str:
        return f"RestBackend(host={self.config.host or '<embedded>'!r})"

    # -- connection --

    def _session(self) -> Session:
        host = self.host  # first: the embedded server's token is picked up here
        config = self.config
        found = session(host, config.token, config.verify_ssl, config.request_timeout)
        # kfp.Client's constructor checks health when no namespace is given ("kubeflow"
        # is its "not given"); connect's FastClient makes that one fail-fast try.
        if not found.checked and config.namespace in ("", "kubeflow"):
            try:
                found.get(f"{_API}/healthz")
            except Exception as exc:  # noqa: BLE001 - every failure becomes a BackendError
                raise self._rest_error(exc, "health check") from None
            found.checked = True
        return found

    def _rest_call(self, operation: str, fn: Callable[[Session], View]) -> View:
        """`fn` on this KFP's session; every failure a BackendError (Backend._call's twin)."""
        http = self._session()
        try:
            return fn(http)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a BackendError
            raise self._rest_error(exc, operation) from None

    def _get(self, operation: str, path: str, params: Mapping[str, Any] | None = None) -> View:
        return self._rest_call(operation, lambda http: http.get(path, params))

    def _rest_error(self, exc: BaseException, operation: str) -> BackendError:
        """connect.translate's error, for the failures of a plain GET (same words)."""
        if isinstance(exc, BackendError):
            return exc
        if isinstance(exc, _HttpFailure):
            return connect.api_error(
                operation, self.host, self.config.token, exc.status, exc.body, exc.reason
            )
        reason = getattr(exc, "reason", None) or exc
        return connect.api_error(operation, self.host, self.config.token, None, None, reason)

    def _rest_pages(
        self, operation: str, path: str, params: Mapping[str, Any], attribute: str
    ) -> Iterator[Any]:
        """Every item of every page, the query as Backend's (page size read at call time)."""

        def fetch(http: Session, token: str) -> View:
            query = {"page_token": token, "page_size": client._PAGE_SIZE, **params}
            return http.get(path, query)

        return paging.pages(self._rest_call, operation, fetch, attribute)

    # -- reads --

    def healthz(self) -> dict[str, Any]:
        out = self._get("health check", f"{_API}/healthz")
        return {"multi_user": bool(out.multi_user), "pipeline_store": out.pipeline_store or ""}

    def get_pipeline(self, pipeline_id: str) -> Pipeline:
        out = self._get(f"get pipeline {pipeline_id}", f"{_API}/pipelines/{_id(pipeline_id)}")
        return convert.pipeline(out)

    def list_pipelines(self, filter: str | None = None) -> list[Pipeline]:
        pages = self._rest_pages(
            "list pipelines", f"{_API}/pipelines", {"filter": filter, **self._ns()}, "pipelines"
        )
        return [convert.pipeline(p) for p in pages]

    def get_version(self, pipeline_id: str, version_id: str) -> PipelineVersion:
        out = self._get(
            f"get pipeline version {version_id}",
            f"{_API}/pipelines/{_id(pipeline_id)}/versions/{_id(version_id)}",
        )
        return convert.version(out, with_spec=True)

    def list_versions(self, pipeline_id: str, filter: str | None = None) -> list[PipelineVersion]:
        pages = self._rest_pages(
            f"list versions of pipeline {pipeline_id}",
            f"{_API}/pipelines/{_id(pipeline_id)}/versions",
            {"filter": filter},
            "pipeline_versions",
        )
        return [convert.version(v) for v in pages]

    def find_experiment(self, name: str) -> Experiment | None:
        pages = self._rest_pages(
            f"find experiment {name!r}",
            f"{_API}/experiments",
            {"filter": convert.name_filter(name), **self._ns()},
            "experiments",
        )
        for e in pages:
            if e.display_name == name:
                return Experiment(e.experiment_id, e.display_name)
        return None

    def get_run(self, run_id: str) -> Run:
        return convert.run(self._get(f"get run {run_id}", f"{_API}/runs/{_id(run_id)}"))

    def list_runs(
        self,
        *,
        experiment_id: str | None = None,
        filter: str | None = None,
        sort_by: str = "",
    ) -> list[Run]:
        params = {"sort_by": sort_by, "filter": filter, **self._scope(experiment_id)}
        pages = self._rest_pages("list runs", f"{_API}/runs", params, "runs")
        return [convert.run(r) for r in pages]

    def get_recurring_run(self, recurring_run_id: str) -> RecurringRun:
        out = self._get(
            f"get recurring run {recurring_run_id}",
            f"{_API}/recurringruns/{_id(recurring_run_id)}",
        )
        return convert.recurring_run(out)

    def list_recurring_runs(
        self, *, experiment_id: str | None = None, filter: str | None = None
    ) -> list[RecurringRun]:
        params = {"filter": filter, **self._scope(experiment_id)}
        pages = self._rest_pages(
            "list recurring runs", f"{_API}/recurringruns", params, "recurring_runs"
        )
        return [convert.recurring_run(r) for r in pages]


class RestSnapshotBackend(SnapshotBackend, RestBackend):
    """`SnapshotBackend` over plain HTTP: a refresh's gets answered by one list per
    project or experiment, none of it importing kfp (the Terraform provider's reads)."""

    def __repr__(self) -> str:
        return f"RestSnapshotBackend(host={self.config.host or '<embedded>'!r})"
