"""How a `Backend` reaches KFP: the embedded server on demand, and the kfp.Client.

The one module that touches kfp.Client's internals: its private per-service API objects
(`_pipelines_api`, `_run_api`, ...) are read here, once, into `KfpApis`, and the client's
constructor health check is replaced by one that fails fast. kfp is pinned exactly for
this; tests/backends/test_kfp_internals.py fails loudly on an upgrade that moves them.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dh_kfp_pulumi.backends import convert
from dh_kfp_pulumi.backends.config import BackendConfig
from dh_kfp_pulumi.backends.models import ApiError
from dh_kfp_pulumi.errors import BackendError

# KfpApis field -> the kfp.Client attribute it is read from.
API_ATTRIBUTES = {
    "healthz": "_healthz_api",
    "pipelines": "_pipelines_api",
    "upload": "_upload_api",
    "experiments": "_experiment_api",
    "runs": "_run_api",
    "recurring_runs": "_recurring_run_api",
}


@dataclass(frozen=True)
class KfpApis:
    """kfp_server_api's service objects of one kfp.Client (its private attributes)."""

    client: Any  # the kfp.Client itself
    healthz: Any
    pipelines: Any
    upload: Any
    experiments: Any
    runs: Any
    recurring_runs: Any


def apis_of(client: Any) -> KfpApis:
    """The service objects of a kfp.Client; AttributeError names what kfp no longer has."""
    apis = {field: getattr(client, attr) for field, attr in API_ATTRIBUTES.items()}
    return KfpApis(client=client, **apis)


def translate(exc: BaseException, operation: str, host: str, token: str | None) -> BackendError:
    """A BackendError with KFP's own words (scrubbed of the token) for a failed call."""
    if isinstance(exc, BackendError):
        return exc
    import kfp_server_api

    if isinstance(exc, kfp_server_api.ApiException):
        return api_error(operation, host, token, int(exc.status or 0), exc.body, exc.reason)
    return api_error(operation, host, token, None, None, getattr(exc, "reason", None) or exc)


def api_error(
    operation: str, host: str, token: str | None, status: int | None, body: Any, reason: Any
) -> ApiError:
    """The error of a call answered with `status` and `body` (None: KFP could not be
    reached, for `reason`), in KFP's own words and scrubbed of the credentials."""
    if status is not None:
        message = convert.kfp_message(body) or (reason or "no details")
        text = f"KFP {operation} failed (HTTP {status}): {message}"
    else:
        text = f"KFP {operation} failed: cannot reach {host}: {reason}"
    if token:
        text = text.replace(token, "***")
    from urllib.parse import urlsplit

    with contextlib.suppress(ValueError):
        password = urlsplit(host).password  # were it echoed without its URL
        if password:
            text = text.replace(password, "***")
    return ApiError(text, status=status or 0, operation=operation)  # URLs redacted by DhKfpError


def request_timeout(config: BackendConfig) -> tuple[float, float]:
    """kfp_server_api's `_request_timeout`: (connect, read) seconds. A single number must
    be an int there: a float such as the config's 60.0 was silently no timeout at all."""
    return (config.request_timeout, config.request_timeout)


# What is retried, and how (urllib3's Retry: kfp_server_api's own HTTP layer, so every KFP
# call gets it with no other library; it backs off exponentially with jitter and honours
# Retry-After). Connection failures before a request was sent are retried for every method;
# an answer of 429/502/503/504, or a connection lost after sending, only for idempotent
# methods: a create (POST) is never repeated blindly, the reconcile core looks for what it
# was making first (by name and hash) and adopts it.
RETRY_STATUSES = frozenset({429, 502, 503, 504})
RETRY_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


def retry_policy() -> Any:
    from urllib3.util.retry import Retry

    return Retry(total=5, connect=3, read=2, status=3, other=0, backoff_factor=0.3,
                 backoff_max=5.0, backoff_jitter=0.3, status_forcelist=RETRY_STATUSES,
                 allowed_methods=RETRY_METHODS, respect_retry_after_header=True,
                 raise_on_status=False, raise_on_redirect=False)


# One client per KFP and settings in a process: a provider server answers every call of a
# deployment, and each new kfp.Client costs a health check and a connection pool.
_CLIENTS: dict[tuple[Any, ...], KfpApis] = {}
_CLIENTS_LOCK = threading.Lock()


def make_client(
    host: str, config: BackendConfig, translate: Callable[[BaseException, str], BackendError]
) -> KfpApis:
    """The process's kfp.Client for `host` and these settings, made (and health-checked) on
    first use."""
    key = (host, config.namespace, config.token, config.verify_ssl, config.request_timeout)
    with _CLIENTS_LOCK:
        found = _CLIENTS.get(key)
    if found is not None:
        return found
    made = _new_client(host, config, translate)
    with _CLIENTS_LOCK:
        return _CLIENTS.setdefault(key, made)


def forget_clients() -> None:
    """Drop the cached clients (a test that restarts its server on another port)."""
    with _CLIENTS_LOCK:
        _CLIENTS.clear()


def _new_client(
    host: str, config: BackendConfig, translate: Callable[[BaseException, str], BackendError]
) -> KfpApis:
    """A kfp.Client for `host` whose constructor health check fails fast and clearly.

    kfp.Client's own check retries 5 times with 5-second sleeps before raising a bare
    TimeoutError; ours makes one try and raises BackendError with KFP's message.
    """
    import kfp

    class FastClient(kfp.Client):
        def _load_config(self, *args: Any, **kwargs: Any) -> Any:
            loaded = super()._load_config(*args, **kwargs)
            loaded.retries = retry_policy()  # kfp_server_api hands it to urllib3's pool
            return loaded

        def get_kfp_healthz(self, sleep_duration: int = 0) -> Any:  # noqa: ARG002
            try:
                return self._healthz_api.healthz_service_get_healthz(
                    _request_timeout=request_timeout(config)
                )
            except Exception as exc:  # noqa: BLE001
                raise translate(exc, "health check") from None

    try:
        client = FastClient(
            host=host,
            namespace=config.namespace or "kubeflow",  # "kubeflow" is kfp.Client's "not given"
            existing_token=config.token or None,
            verify_ssl=config.verify_ssl,
        )
    except BackendError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise translate(exc, "connect") from None
    return apis_of(client)


def embedded_server_token(data_dir: str | None) -> str | None:
    """The token of the local server, when it made one (it listens beyond loopback)."""
    from dh_kfp_pulumi.server import guard, lifecycle

    return guard.read_token(lifecycle.resolve_data_dir(data_dir or None))


def embedded_server_url(data_dir: str | None) -> str:
    """Start (or find) the embedded server and return its URL."""
    from dh_kfp_pulumi.server import lifecycle

    running = lifecycle.status(data_dir or None)
    if running is not None:
        return str(running.url).rstrip("/")
    directory = lifecycle.resolve_data_dir(data_dir or None)
    # Said before it happens (it takes a few seconds); the Pulumi adapter sends this
    # logger's records to pulumi.log, so `pulumi up` and `dh-kfp up` show it.
    progress = logging.getLogger("dh_kfp_pulumi.reconcile.progress")
    progress.info("no dh-kfp:host: starting the embedded KFP server on demand (data dir "
                  "%s; a few seconds)", directory)
    try:
        info = lifecycle.start(data_dir or None)
    except BackendError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise BackendError(
            "no KFP host is configured (dh-kfp:host), and the embedded server could not be "
            f"started: {exc}. Start it with `dh-kfp server start` or set dh-kfp:host."
        ) from None
    progress.info("the embedded KFP server is up: %s (pid %s; `dh-kfp server stop` stops it)",
                  info.url, info.pid)
    if info.note:
        progress.warning("embedded KFP server: %s", info.note)
    return str(info.url).rstrip("/")
