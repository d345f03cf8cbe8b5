"""Every use of Pulumi's internals, in one place.

pulumi is pinned exactly (pyproject.toml) for these; tests/test_pulumi_internals.py
fails loudly, naming the one that moved, on an upgrade that breaks any of them:

- `rpc._special_sig_key` / `rpc._special_secret_sig`: how a secret travels in a
  resource's props over the engine's gRPC (the offline engine reads and writes them);
- `dynamic.PROVIDER_KEY`: the prop a dynamic resource carries its pickled provider in;
- `runtime._grpc_settings._GRPC_CHANNEL_OPTIONS`: the channel options Pulumi's own
  clients use (message sizes), for the offline engine's channel to a provider;
- `runtime.sync_await._ensure_event_loop`: the loop a Pulumi program runs on when no
  loop is running (outputs made before `pulumi.run` starts one);
- `Output(resources, future, is_known, is_secret)`: an Output made from futures, for a
  value the program settles itself (a project's functions, sealed once declared).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from pulumi import Output
from pulumi.dynamic import dynamic
from pulumi.runtime import rpc

SIG: str = rpc._special_sig_key
SECRET_SIG: str = rpc._special_secret_sig
PROVIDER_KEY: str = dynamic.PROVIDER_KEY  # "__provider"


def grpc_channel_options() -> list[tuple[str, Any]]:
    from pulumi.runtime._grpc_settings import _GRPC_CHANNEL_OPTIONS

    return list(_GRPC_CHANNEL_OPTIONS)


def event_loop() -> asyncio.AbstractEventLoop:
    """The running loop, else the one Pulumi's runtime would run the program on."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        from pulumi.runtime.sync_await import _ensure_event_loop

        loop: asyncio.AbstractEventLoop = _ensure_event_loop()
        return loop


def output_from_futures(
    value: Awaitable[Any], known: Awaitable[bool], secret: Awaitable[bool]
) -> Output[Any]:
    """An Output of no resource whose value, knownness and secretness are these futures."""
    return Output(set(), value, known, secret)
