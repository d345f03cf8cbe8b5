"""A stable local server (issue 13): the port is kept in the data dir and reused when free,
so stored `run_url` outputs stay good; when another process holds it, the start says so;
a second `dh-kfp server start` says the server already runs."""

from __future__ import annotations

import socket

from dh_kfp_pulumi.cli import main
from dh_kfp_pulumi.server import lifecycle


def test_the_port_is_kept_reused_and_a_taken_one_is_reported(tmp_path, capsys):
    data = tmp_path / "data"
    try:
        assert main(["server", "start", "--data-dir", str(data)]) == 0
        first = lifecycle.status(data)
        assert first is not None
        assert (data / lifecycle.PORT_FILE).read_text().strip() == str(first.port)
        assert f"{first.url} (pid {first.pid}" in capsys.readouterr().out

        assert main(["server", "start", "--data-dir", str(data)]) == 0
        assert capsys.readouterr().out.startswith(f"already running: {first.url} (pid {first.pid}")

        assert main(["server", "stop", "--data-dir", str(data)]) == 0
        capsys.readouterr()
        assert main(["server", "start", "--data-dir", str(data)]) == 0
        again = lifecycle.status(data)
        assert again.port == first.port and again.pid != first.pid
        out = capsys.readouterr().out
        assert "in use" not in out and out.startswith(again.url)

        lifecycle.stop(data)
        with socket.socket() as squatter:  # another process takes the port meanwhile
            squatter.bind(("127.0.0.1", first.port))
            squatter.listen()
            assert main(["server", "start", "--data-dir", str(data)]) == 0
            moved = lifecycle.status(data)
            out = capsys.readouterr().out
        assert moved.port != first.port
        assert out.startswith(
            f"dh-kfp server: port {first.port} (this data dir's last) is in use by another "
            f"process; listening on {moved.port} now: URLs stored with port {first.port}")
        assert (data / lifecycle.PORT_FILE).read_text().strip() == str(moved.port)
        assert f"port {first.port} (this data dir's last) is in use" in \
            (data / "server.log").read_text()
    finally:
        lifecycle.stop(data)


def test_an_explicit_port_is_used_as_given(tmp_path):
    data = tmp_path / "data"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    try:
        info = lifecycle.start(data, port=free)
        assert info.port == free and info.note == ""
    finally:
        lifecycle.stop(data)
