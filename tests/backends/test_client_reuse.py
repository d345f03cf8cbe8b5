"""One KFP client per KFP and settings in a process (issue 12, item 3): a provider server
answers every call of a deployment, and no call after the first pays a health check."""

from __future__ import annotations

from kfp_kit import stats

from dh_kfp_pulumi.backends import Backend, BackendConfig, connect


def health_checks(url: str) -> int:
    return stats(url)["requests"].get("GET /apis/v2beta1/healthz", 0)


def test_backends_with_the_same_settings_share_one_client_and_one_health_check(kfp_server):
    connect.forget_clients()
    before = health_checks(kfp_server.url)
    for _ in range(5):
        Backend(BackendConfig(host=kfp_server.url)).find_experiment("Default")
    assert health_checks(kfp_server.url) - before == 1


def test_other_settings_get_their_own_client(kfp_server):
    connect.forget_clients()
    settings = [{}, {"namespace": "team-a"}, {"token": "t"}, {}]
    apis = [Backend(BackendConfig(host=kfp_server.url, **extra))._api() for extra in settings]
    assert apis[0] is apis[3]
    assert len({id(a) for a in apis}) == 3
