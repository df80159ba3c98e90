"""Targets: the parser's forms and errors (and Hypothesis on it), and which
targets count as loopback."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from scaigrid_client._channel import is_loopback, parse_target


@pytest.mark.parametrize(
    "target",
    ["dns:localhost:50051", "dns:///localhost:50051", "dns://8.8.8.8/127.0.0.1:50051", "unix:/s"],
)
def test_loopback_forms(target: str) -> None:
    assert is_loopback(target)


def test_remote_dns_forms_are_not_loopback() -> None:
    assert not is_loopback("dns:gateway.example.com:50051")
    assert not is_loopback("dns://localhost/gateway.example.com:50051")


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
