"""1.0: everything the SDK raises at run time is a ScaiGridError, keeping the
built-in base it had (RuntimeError), and the cancelled-call error no longer
shares asyncio's name."""

from __future__ import annotations

import asyncio
import pickle
import warnings
from typing import Any

import pytest

from scaigrid_client import ScaiGrid, errors
from scaigrid_client.testing import FakeScaiGrid


@pytest.mark.asyncio
async def test_a_closed_client_raises_client_closed_error_in_both_flavours(grid: Any) -> None:
    await grid.core.invoke_core(core_id="c1")
    await grid.close()
    with pytest.raises(errors.ClientClosedError) as info:
        await grid.core.get_core("c1")
    error = info.value
    assert isinstance(error, errors.ScaiGridError) and isinstance(error, RuntimeError)
    assert str(error) == "the client is closed; make a new one"
    assert error.request_id is None  # nothing was sent


@pytest.mark.asyncio
async def test_closing_the_client_under_a_call_is_a_typed_error(
    grid: Any, fake: FakeScaiGrid
) -> None:
    """Not asyncio's CancelledError (which would say the caller's task was
    cancelled), in both flavours: the call says the client was closed."""
    fake.delay("InferenceService.ListModels", seconds=5.0)
    call = asyncio.ensure_future(grid.inference.list_models())
    while not fake.calls("InferenceService.ListModels"):
        await asyncio.sleep(0.01)
    await grid.close()
    with pytest.raises(errors.CallCancelledError, match="closed while the call was in flight"):
        await call
    assert len(fake.calls("InferenceService.ListModels")) == 1  # not retried


def test_no_running_loop_is_a_scaigrid_error() -> None:
    grid = ScaiGrid("localhost", token="x")
    with pytest.raises(errors.NoEventLoopError, match="running event loop") as info:
        grid._transport.channel  # noqa: B018 - the property raises
    assert isinstance(info.value, errors.ScaiGridError) and isinstance(info.value, RuntimeError)
    with pytest.raises(errors.NoEventLoopError, match="start_heartbeats"):
        grid.heartbeat.start_heartbeats(node_id="n1", capacity=dict, interval=1.0)


def test_fork_error_is_a_client_state_error() -> None:
    assert issubclass(errors.ForkError, errors.ClientStateError)
    assert issubclass(errors.ForkError, errors.ScaiGridError)
    assert issubclass(errors.ForkError, RuntimeError)
    copy = pickle.loads(pickle.dumps(errors.ClientClosedError("closed")))  # noqa: S301 - our own bytes
    assert type(copy) is errors.ClientClosedError and str(copy) == "closed"


def test_the_old_cancelled_name_warns_and_still_works() -> None:
    with pytest.warns(DeprecationWarning, match="CallCancelledError"):
        old = errors.CancelledError
    assert old is errors.CallCancelledError
    assert "CancelledError" not in errors.__all__
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert errors.CallCancelledError.__name__ == "CallCancelledError"
