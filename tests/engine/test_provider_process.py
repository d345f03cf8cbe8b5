"""The dynamic-provider server dies with the engine that started it, even by `kill -9`
(issue 11: no `python -m pulumi.dynamic` left behind)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ENGINE = """\
import sys, time
from pathlib import Path
from dh_kfp_pulumi.engine.provider import ProviderProcess
base = Path(sys.argv[1])
p = ProviderProcess(base, "orphan", {}, [], base / "provider.log")
print(p._proc.pid, flush=True)
time.sleep(120)
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead too (its parent, the killed engine, is gone; init reaps it)
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(") ", 1)[1].startswith("Z"))



def test_the_provider_server_dies_when_its_engine_is_killed(tmp_path):
    engine = subprocess.Popen([sys.executable, "-c", ENGINE, str(tmp_path)],
                              stdout=subprocess.PIPE, text=True)
    provider = int(engine.stdout.readline())
    assert alive(provider)
    os.kill(engine.pid, signal.SIGKILL)
    engine.wait()
    deadline = time.monotonic() + 30
    while alive(provider) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(provider), f"provider {provider} outlived its engine"


def test_a_provider_whose_engine_is_already_gone_exits_at_once(tmp_path):
    from dh_kfp_pulumi.engine.provider import _WATCHDOG_BOOT

    proc = subprocess.run([sys.executable, "-c", _WATCHDOG_BOOT, "1"], cwd=tmp_path,
                          capture_output=True, timeout=60)
    assert proc.returncode == 1 and proc.stdout == b""
