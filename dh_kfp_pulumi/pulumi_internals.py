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
  value the program settles itself (a project's functions, sealed once declared);
- `runtime.stack.wait_for_rpcs` (with `_get_rpc_manager` and `SETTINGS`): the program's
  final wait for its outputs, replaced while the offline engine runs a program
  (`batched_output_wait`; tests/engine/test_output_wait.py compares it with the SDK's).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Iterator
from typing import Any

import pulumi.runtime.stack
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


@contextlib.contextmanager
def batched_output_wait() -> Iterator[None]:
    """`_wait_for_rpcs` in place of the SDK's while the block runs (`run_pulumi_func`
    calls it by its module-level name)."""
    original = pulumi.runtime.stack.wait_for_rpcs
    pulumi.runtime.stack.wait_for_rpcs = _wait_for_rpcs
    try:
        yield
    finally:
        pulumi.runtime.stack.wait_for_rpcs = original


async def _wait_for_rpcs(await_all_outstanding_tasks: bool = True) -> None:
    """The SDK's `wait_for_rpcs` (pulumi/runtime/stack.py), but for one change: each batch of
    outstanding outputs is waited on once, until all are done or one fails
    (FIRST_EXCEPTION), where the SDK waits again on every one left each time one completes
    (FIRST_COMPLETED): with n outputs, n waits of n callbacks each. The RPCs, the first
    error raised, and outputs created while waiting (the next batch) are as in the SDK."""
    settings = pulumi.runtime.stack.SETTINGS
    rpc_manager = pulumi.runtime.stack._get_rpc_manager()
    while True:
        while len(rpc_manager.rpcs) > 0:
            await asyncio.sleep(0)
            try:
                await rpc_manager.rpcs.pop()
            except Exception as exn:
                if rpc_manager.unhandled_exception is not None:
                    cause = rpc_manager.unhandled_exception.with_traceback(
                        rpc_manager.exception_traceback)
                    raise exn from cause
                raise
        if rpc_manager.unhandled_exception is not None:
            raise rpc_manager.unhandled_exception.with_traceback(
                rpc_manager.exception_traceback)
        if await_all_outstanding_tasks:
            while True:
                with settings.lock:
                    if len(settings.outputs) == 0:
                        break
                    pending = list(settings.outputs)
                    settings.outputs.clear()
                done, not_done = await asyncio.wait(
                    pending, return_when=asyncio.FIRST_EXCEPTION)
                for task in done:
                    await task
                if not_done:  # as the SDK (not reached: `done` then held a failure)
                    with settings.lock:
                        settings.outputs.update(not_done)
        if len(rpc_manager.rpcs) == 0:
            break
