"""The typed errors: the decoder never crashes on whatever grpc hands it
(Hypothesis), and every error survives pickling, across process boundaries."""

from __future__ import annotations

import pickle
from typing import Any

import grpc
import pytest
from hypothesis import given, settings, strategies as st

from scaigrid_client import RetryEvent, RetryPolicy, ScaiGrid, TLSConfig, errors
from scaigrid_client.testing import FakeScaiGrid

metadata_value = st.one_of(st.text(max_size=40), st.binary(max_size=40))


metadata = st.lists(
    st.one_of(
        st.tuples(
            st.sampled_from(["scaigrid-error-code", "x-request-id", "other"]), metadata_value
        ),
        st.tuples(st.text(max_size=10), metadata_value),
        st.integers(),
        st.none(),
        st.tuples(st.integers(), st.integers(), st.integers()),
    ),
    max_size=6,
)


class FakeRpcError:
    def __init__(self, status: object, details: object, trailers: object) -> None:
        self._status, self._details, self._trailers = status, details, trailers

    def code(self) -> object:
        if isinstance(self._status, Exception):
            raise self._status
        return self._status

    def details(self) -> object:
        return self._details

    def trailing_metadata(self) -> object:
        return self._trailers


@pytest.mark.slow
@given(
    status=st.one_of(
        st.sampled_from(list(grpc.StatusCode)), st.integers(), st.none(), st.just(RuntimeError("x"))
    ),
    details=st.one_of(st.text(), st.none(), st.binary()),
    trailers=st.one_of(metadata, st.none(), st.integers(), st.text(max_size=5)),
)
@settings(max_examples=300, deadline=None)
def test_error_decoder_never_crashes(status: object, details: object, trailers: object) -> None:
    error = errors.from_rpc_error(FakeRpcError(status, details, trailers), request_id="r")
    assert isinstance(error, errors.ScaiGridError)
    assert isinstance(error.status, grpc.StatusCode)
    assert error.request_id == "r"
    if isinstance(status, grpc.StatusCode) and status is not grpc.StatusCode.OK:
        assert isinstance(error, errors.STATUS_CLASSES[status])
    str(error)
    repr(error)


# -- errors cross process boundaries ----------------------------------------------------


def _recording_policy(events: list[RetryEvent]) -> RetryPolicy:
    return RetryPolicy(initial_backoff=0.2, max_backoff=0.2, on_retry=events.append)


async def _list_models(target: str, tls: bool | TLSConfig, events: list[RetryEvent]) -> Any:
    async with ScaiGrid(
        target, token="sgst_never_sent", tls=tls, retry=_recording_policy(events), timeout=20
    ) as grid:
        return await grid.inference.list_models()


def _every_error_class() -> list[type[errors.ScaiGridError]]:
    return [
        cls
        for name in errors.__all__
        if isinstance(cls := getattr(errors, name), type) and issubclass(cls, errors.ScaiGridError)
    ]


@pytest.mark.parametrize("cls", _every_error_class(), ids=lambda cls: cls.__name__)
def test_every_error_survives_pickle(cls: type[errors.ScaiGridError]) -> None:
    extra: dict[str, Any] = {}
    if cls is errors.TLSVerificationError:
        extra["reason"] = "unknown_ca"
    if cls is errors.NameResolutionError:
        extra["host"] = "gateway.example"
    if cls is errors.ProxyError:
        extra["http_status"] = 407
    error = cls(
        "it failed",
        status=cls.status,
        code="some_code",
        request_id="req-1",
        metadata=(("scaigrid-error-code", "some_code"), ("x-bin", b"\x00\x01")),
        attempts=3,
        **extra,
    )
    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own bytes
    assert type(copy) is cls
    assert str(copy) == str(error)
    assert repr(copy) == repr(error)
    assert copy.args == error.args
    for field in ("status", "code", "message", "request_id", "metadata", "attempts", *extra):
        assert getattr(copy, field) == getattr(error, field), field


@pytest.mark.asyncio
async def test_a_real_error_survives_pickle() -> None:
    async with FakeScaiGrid(tls=True) as fake:
        events: list[RetryEvent] = []
        wrong_name = TLSConfig(ca_cert=fake.client_tls().ca_cert, server_name="other.example")
        with pytest.raises(errors.TLSVerificationError) as info:
            await _list_models(fake.target, wrong_name, events)
    copy = pickle.loads(pickle.dumps(info.value))  # noqa: S301
    assert (copy.reason, copy.status, copy.request_id) == (
        "hostname_mismatch",
        grpc.StatusCode.UNAVAILABLE,
        info.value.request_id,
    )
