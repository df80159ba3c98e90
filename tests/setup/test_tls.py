"""Hypothesis on the decoders and parsers, and the SDK over TLS and mTLS."""

from __future__ import annotations

import grpc
import pytest
from hypothesis import given, settings, strategies as st

from scaigrid_client import RetryPolicy, TLSConfig, errors
from scaigrid_client._channel import parse_target
from scaigrid_client.testing import FakeScaiGrid
from tests.support import flavours

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


@given(st.text(max_size=60))
@settings(max_examples=500, deadline=None)
def test_target_parser_raises_only_value_error(text: str) -> None:
    try:
        parsed = parse_target(text)
    except ValueError:
        return
    assert (
        parsed.startswith(("dns:", "unix:", "unix-abstract:", "ipv4:", "ipv6:", "vsock:"))
        or ":" in parsed
    )


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("gateway", "gateway:50051"),
        ("gateway:443", "gateway:443"),
        ("10.0.0.1", "10.0.0.1:50051"),
        ("::1", "[::1]:50051"),
        ("[::1]:7000", "[::1]:7000"),
        ("dns:///gateway:50051", "dns:///gateway:50051"),
        ("ipv4:127.0.0.1:1,127.0.0.1:2", "ipv4:127.0.0.1:1,127.0.0.1:2"),
        ("unix:/tmp/sock", "unix:/tmp/sock"),
    ],
)
def test_target_forms(target: str, expected: str) -> None:
    assert parse_target(target) == expected


@pytest.mark.parametrize("bad", ["", "host:", "host:0", "host:99999", "http://x", "a b", "[::1"])
def test_bad_targets_name_the_field(bad: str) -> None:
    with pytest.raises(ValueError, match="target"):
        parse_target(bad)


@given(
    ca=st.one_of(st.none(), st.binary(max_size=30), st.text(max_size=30)),
    cert=st.one_of(st.none(), st.binary(max_size=30)),
    key=st.one_of(st.none(), st.binary(max_size=30)),
    name=st.one_of(st.none(), st.text(max_size=20)),
)
@settings(max_examples=300, deadline=None)
def test_tls_config_raises_only_documented_errors(
    ca: object, cert: object, key: object, name: object
) -> None:
    try:
        config = TLSConfig(ca_cert=ca, client_cert=cert, client_key=key, server_name=name)  # type: ignore[arg-type]
    except (ValueError, TypeError):
        return
    assert "PRIVATE" not in repr(config)


@pytest.mark.asyncio
@pytest.mark.parametrize("flavour", flavours.FLAVOURS)
@pytest.mark.parametrize("mtls", [False, True])
async def test_sdk_over_tls(mtls: bool, flavour: str) -> None:
    async with FakeScaiGrid(tls=True, require_client_cert=mtls) as fake:
        tls = fake.client_tls()
        async with flavours.client(
            flavour, "InferenceClient", fake.target, token=fake.token, tls=tls
        ) as client:
            assert len(await client.list_models()) == 3
        # Verification is on by default: the system roots do not know the fake's CA.
        async with flavours.client(
            flavour, "InferenceClient", fake.target, token=fake.token, timeout=5
        ) as client:
            with pytest.raises(errors.TLSVerificationError) as info:
                await client.list_models()
            assert info.value.reason == "unknown_ca"
        if mtls:
            no_cert = TLSConfig(ca_cert=tls.ca_cert, server_name="localhost")
            async with flavours.client(
                flavour,
                "InferenceClient",
                fake.target,
                token=fake.token,
                tls=no_cert,
                retry=RetryPolicy(max_attempts=1),
            ) as client:
                with pytest.raises(errors.TLSVerificationError) as info:
                    await client.list_models()
                assert info.value.reason == "client_cert_required"
