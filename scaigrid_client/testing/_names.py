"""One vocabulary: the fake speaks the short enum names the SDK's
`to_dict` prints (``SUCCEEDED``, ``ACTIVE``, ``HEALTHY``) in its messages,
event attributes and control-plane JSON, and takes short or full names
(any case) or numbers as input, as the SDK's methods do."""

from __future__ import annotations

from typing import Any

import grpc

from scaigrid_client._methods import enum_value
from scaigrid_client._to_dict import short_enum_names

__all__ = ["enum_number", "short_name", "status_code"]


def short_name(enum: Any, number: int) -> str:
    """The short name of ``number`` in the generated enum ``enum``
    (``scaimind.JobState``, 3 -> ``"SUCCEEDED"``); an unknown number as digits."""
    return short_enum_names(enum.DESCRIPTOR).get(number, str(number))


def enum_number(value: object, enum: Any, name: str) -> int:
    """The number of argument ``name``, given as a short name in any case
    (``"failed"``), a full name (``"JOB_STATE_FAILED"``) or a number; a
    ValueError naming ``name`` and the choices otherwise."""
    return enum_value(value, enum, name)


_STATUSES = {s.name: s for s in grpc.StatusCode if s is not grpc.StatusCode.OK}


def status_code(value: object, name: str = "status") -> grpc.StatusCode:
    """A gRPC status other than OK, given as a ``grpc.StatusCode`` or its name
    in any case (``"unavailable"``); a ValueError naming ``name`` otherwise."""
    if isinstance(value, grpc.StatusCode) and value is not grpc.StatusCode.OK:
        return value
    if isinstance(value, str) and value.strip().upper() in _STATUSES:
        return _STATUSES[value.strip().upper()]
    raise ValueError(
        f"{name}: {value!r} is not a gRPC status other than OK; pass a grpc.StatusCode "
        f"or a name such as 'UNAVAILABLE' (any case): {', '.join(sorted(_STATUSES))}"
    )
