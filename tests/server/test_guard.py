"""The embedded server answers only its user (issue 11, item 4): foreign Host headers (DNS
rebinding) and cross-origin writes refused on loopback; beyond loopback, the token; clean
errors for a bad port or run count."""

from __future__ import annotations

import stat
import subprocess
import sys

import pytest
import requests
from kfp_kit import kfp_client

from dh_kfp_pulumi.server import lifecycle
from dh_kfp_pulumi.server.guard import TOKEN_FILE

API = "/apis/v2beta1"


def experiments(url: str, **headers: str) -> requests.Response:
    return requests.get(f"{url}{API}/experiments", headers=headers, timeout=30)


def create_experiment(url: str, name: str, **headers: str) -> requests.Response:
    return requests.post(f"{url}{API}/experiments", json={"display_name": name},
                         headers=headers, timeout=30)


def names(url: str) -> set[str]:
    return {e["display_name"] for e in experiments(url).json().get("experiments", [])}


@pytest.mark.parametrize("host", ["evil.example", "evil.example:80", "attacker.test:{port}",
                                  "10.0.0.1:{port}"])
def test_a_foreign_host_header_is_refused(kfp_server, host):
    answer = experiments(kfp_server.url, Host=host.format(port=kfp_server.port))
    assert answer.status_code == 403
    assert answer.json()["code"] == 7 and "DNS-rebinding" in answer.json()["message"]


@pytest.mark.parametrize("host", ["localhost:{port}", "127.0.0.1:{port}", "[::1]:{port}",
                                  "LOCALHOST:{port}"])
def test_loopback_host_headers_are_served(kfp_server, host):
    assert experiments(kfp_server.url, Host=host.format(port=kfp_server.port)).ok


@pytest.mark.parametrize("headers", [
    {"Origin": "http://evil.example"},
    {"Origin": "null"},
    {"Origin": "http://127.0.0.1:1"},  # another local port is another origin
    {"Sec-Fetch-Site": "cross-site"},
])
def test_a_cross_origin_write_is_refused_and_changes_nothing(kfp_server, headers):
    before = names(kfp_server.url)
    answer = create_experiment(kfp_server.url, "from-a-web-page", **headers)
    assert answer.status_code == 403 and answer.json()["code"] == 7
    assert names(kfp_server.url) == before


def test_same_origin_and_originless_writes_and_cross_origin_reads_are_served(kfp_server):
    url = kfp_server.url
    assert create_experiment(url, "same-origin", Origin=url).ok
    assert create_experiment(url, "no-origin").ok  # kfp.Client sends none
    assert experiments(url, Origin="http://evil.example").ok  # a read changes nothing
    assert {"same-origin", "no-origin"} <= names(url)


def test_beyond_loopback_every_request_needs_the_token(tmp_path):
    data = tmp_path / "data"
    info = lifecycle.start(data, host="0.0.0.0")
    url = f"http://127.0.0.1:{info.port}"  # traffic stays on loopback
    try:
        token_file = data / TOKEN_FILE
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        token = token_file.read_text().strip()
        assert len(token) >= 32

        refused = experiments(url)
        assert refused.status_code == 401 and refused.json()["code"] == 16
        assert experiments(url, Authorization="Bearer wrong").status_code == 401
        assert requests.get(f"{url}/", timeout=30).status_code == 401
        assert experiments(url, Authorization=f"Bearer {token}").ok
        assert kfp_client_with_token(url, token).list_experiments().experiments

        # the web page: /?token=... sets a same-site cookie and drops the token from the URL
        session = requests.Session()
        login = session.get(f"{url}/?token={token}", allow_redirects=False, timeout=30)
        assert login.status_code == 303 and login.headers["location"] == "/"
        assert "HttpOnly" in login.headers["set-cookie"]
        assert "SameSite=Strict" in login.headers["set-cookie"]
        assert session.get(f"{url}/", timeout=30).ok

        # the local stack's backend (no dh-kfp:host) finds the server and its token
        from dh_kfp_pulumi.backends import Backend, BackendConfig

        backend = Backend(BackendConfig(data_dir=str(data)))
        assert backend.host.endswith(f":{info.port}")
        assert backend.config.token == token
    finally:
        lifecycle.stop(data)


def kfp_client_with_token(url: str, token: str):
    import warnings

    import kfp

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return kfp.Client(host=url, existing_token=token)


@pytest.mark.parametrize("args,expected", [
    (["--port", "99999"], "--port: 99999 is not a TCP port; give 1..65535"),
    (["--port", "-1"], "--port: -1 is not a TCP port"),
    (["--max-concurrent-runs", "-3"], "--max-concurrent-runs: -3 is not a count of runs"),
])
def test_bad_port_or_run_count_is_a_clean_error(tmp_path, args, expected):
    done = subprocess.run(
        [sys.executable, "-m", "dh_kfp_pulumi", "server", "start", "--data-dir",
         str(tmp_path / "d"), *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done
    assert expected in done.stderr and "Traceback" not in done.stderr + done.stdout
    assert not (tmp_path / "d" / "server.json").exists()


def test_kfp_client_on_loopback_needs_no_token(kfp_server):
    assert kfp_client(kfp_server.url).list_experiments() is not None
