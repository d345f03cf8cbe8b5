"""Each kfp.Client internal the project uses (dh_kfp_pulumi/backends/connect.py, and the
filter operation number in backends/convert.py) still is what the code takes it for; an
upgrade of kfp that moves one fails here, naming it."""

from __future__ import annotations

import inspect

import kfp
import kfp_server_api
from kfp.client import client as kfp_client_module

from dh_kfp_pulumi.backends import BackendConfig, connect, convert

SERVICES = {
    "healthz": kfp_server_api.HealthzServiceApi,
    "pipelines": kfp_server_api.PipelineServiceApi,
    "upload": kfp_server_api.PipelineUploadServiceApi,
    "experiments": kfp_server_api.ExperimentServiceApi,
    "runs": kfp_server_api.RunServiceApi,
    "recurring_runs": kfp_server_api.RecurringRunServiceApi,
}


def test_a_client_has_each_private_service_object_connect_reads(kfp_server):
    apis = connect.make_client(kfp_server.url, BackendConfig(host=kfp_server.url), _raise)
    assert isinstance(apis.client, kfp.Client)
    assert set(connect.API_ATTRIBUTES) == set(SERVICES)
    for field, kind in SERVICES.items():
        attribute = connect.API_ATTRIBUTES[field]
        assert isinstance(getattr(apis, field), kind), f"kfp.Client.{attribute} is no {kind}"
    assert apis.healthz.healthz_service_get_healthz(_request_timeout=5) is not None


def test_the_health_check_connect_overrides_is_kfp_clients_own():
    method = getattr(kfp.Client, "get_kfp_healthz", None)
    assert method is not None, "kfp.Client.get_kfp_healthz is gone"
    assert "sleep_duration" in inspect.signature(method).parameters


def test_equals_is_the_filter_operation_kfp_client_sends():
    assert kfp_client_module._FILTER_OPERATIONS["EQUALS"] == convert._EQUALS


def _raise(exc: BaseException, operation: str) -> Exception:
    raise AssertionError(f"{operation}: {exc}")
