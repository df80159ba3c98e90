"""One vocabulary: the fake speaks the short enum names the SDK's
`to_dict` prints (``SUCCEEDED``, ``ACTIVE``, ``HEALTHY``) in its messages,
event attributes and control-plane JSON, and takes short or full names
(any case) or numbers as input, as the SDK's methods do."""

from __future__ import annotations

from typing import Any

from scaigrid_client._methods import enum_value
from scaigrid_client._to_dict import short_enum_names

__all__ = ["enum_number", "short_name"]


def short_name(enum: Any, number: int) -> str:
    """The short name of ``number`` in the generated enum ``enum``
    (``scaimind.JobState``, 3 -> ``"SUCCEEDED"``); an unknown number as digits."""
    return short_enum_names(enum.DESCRIPTOR).get(number, str(number))


def enum_number(value: object, enum: Any, name: str) -> int:
    """The number of argument ``name``, given as a short name in any case
    (``"failed"``), a full name (``"JOB_STATE_FAILED"``) or a number; a
    ValueError naming ``name`` and the choices otherwise."""
    return enum_value(value, enum, name)
