"""Each Pulumi internal the project uses (dh_kfp_pulumi/pulumi_internals.py) still is what
the code takes it for; an upgrade of pulumi that moves one fails here, naming it."""

from __future__ import annotations

import asyncio

from pulumi import Output
from pulumi.runtime import rpc

from dh_kfp_pulumi import pulumi_internals as internals


def test_a_secret_travels_as_the_sig_pair_pulumi_itself_reads():
    wrapped = {internals.SIG: internals.SECRET_SIG, "value": "pw"}
    assert rpc.is_rpc_secret(wrapped), "rpc._special_sig_key / _special_secret_sig moved"
    assert rpc.unwrap_rpc_secret(wrapped) == "pw"
    assert rpc.wrap_rpc_secret("pw") == wrapped


def test_the_dynamic_provider_prop_is_the_one_pulumi_dynamic_writes_and_reads():
    import importlib.util
    import re
    from pathlib import Path

    from pulumi.dynamic import dynamic

    assert internals.PROVIDER_KEY == dynamic.PROVIDER_KEY == "__provider"  # states hold it
    server = importlib.util.find_spec("pulumi.dynamic.__main__")  # read, not run: it serves
    assert server is not None and server.origin is not None
    found = re.search(r'^PROVIDER_KEY = "([^"]+)"', Path(server.origin).read_text(), re.M)
    assert found is not None and found.group(1) == internals.PROVIDER_KEY


def test_grpc_channel_options_are_name_value_pairs():
    options = internals.grpc_channel_options()
    assert options and all(isinstance(name, str) for name, _ in options)
    assert any("max_receive_message_length" in name for name, _ in options)


def test_an_event_loop_outside_a_running_one_and_the_running_one_inside():
    loop = internals.event_loop()
    assert isinstance(loop, asyncio.AbstractEventLoop)

    async def inside() -> asyncio.AbstractEventLoop:
        return internals.event_loop()

    fresh = asyncio.new_event_loop()
    try:
        assert fresh.run_until_complete(inside()) is fresh
    finally:
        fresh.close()


def test_an_output_from_futures_settles_with_their_values():
    loop = asyncio.new_event_loop()
    try:
        asyncio.set_event_loop(loop)
        value, known, secret = loop.create_future(), loop.create_future(), loop.create_future()
        out = internals.output_from_futures(value, known, secret)
        assert isinstance(out, Output)
        value.set_result([1, 2])
        known.set_result(True)
        secret.set_result(True)
        assert loop.run_until_complete(out.future()) == [1, 2]
        assert loop.run_until_complete(out.is_known()) is True
        assert loop.run_until_complete(out.is_secret()) is True
    finally:
        asyncio.set_event_loop(None)
        loop.close()
