"""``to_dict``: any result message as a JSON-ready dict, one shape everywhere.

Built by walking the message's descriptor rather than by post-processing
``json_format``, whose output quotes 64-bit integers, prints full enum names
and leaves out fields at their default. Each message type's field plan is
built once and cached, so converting a message is one pass over its fields.
"""

from __future__ import annotations

import base64
import math
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import EnumDescriptor, FieldDescriptor
from google.protobuf.internal.type_checkers import ToShortestFloat
from google.protobuf.message import Message

if TYPE_CHECKING:
    from scaigrid_client._methods import ChatReply, Embeddings

__all__ = ["to_dict"]

Converter = Callable[[Any], Any]

# (name, converter, omit when unset (a real oneof member), None when unset (has presence))
_Plan = list[tuple[str, Converter, bool, bool]]

# Keyed by descriptor, not by name: two pools may both define a "pkg.Msg".
# (Typed Any: the upb descriptor classes are not the stubs' classes.)
_PLANS: dict[Any, _Plan] = {}
_ENUM_NAMES: dict[Any, dict[int, str]] = {}


def to_dict(message: Message | ChatReply | Embeddings) -> dict[str, Any]:
    """A JSON-ready dict of ``message``, for ``json.dumps(..., allow_nan=False)``.

    - Field names as in the proto (snake_case). Every field is present:
      scalars at their default too, repeated fields as ``[]``, maps as
      ``{}``; a message field, or a scalar with presence (``optional``), that
      is not set is ``None``. Oneof members that are not set are left out.
    - Enums by short name: the value name without the prefix all the enum's
      values share (``JOB_STATE_RUNNING`` -> ``"RUNNING"``); a number the
      enum does not know stays an int.
    - Integers, 64-bit ones too, are numbers; floats are numbers, NaN and
      infinities the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"``.
    - Bytes are base64 text; map keys are str.
    - ``Timestamp`` is an RFC 3339 str, ``Duration`` seconds as a float,
      ``Struct``/``Value``/``ListValue`` native JSON, wrappers their value.

    Args:
        message: any protobuf message (a result, a stream's chunk, ...), or
            a `ChatReply` or `Embeddings` (their ``response``'s dict).

    Returns:
        A new dict of plain JSON types.

    Raises:
        TypeError: ``message`` is neither a protobuf message nor a result
            that carries one.
    """
    if not isinstance(message, Message):
        # The SDK's own results (ChatReply, Embeddings) carry the response.
        response = getattr(message, "response", None)
        if not isinstance(response, Message):
            raise TypeError(f"to_dict: expected a protobuf message, got {type(message).__name__}")
        message = response
    return _fields(message)


def _fields(message: Message) -> dict[str, Any]:
    descriptor = message.DESCRIPTOR
    plan = _PLANS.get(descriptor)
    if plan is None:
        plan = _PLANS[descriptor] = _plan(descriptor)
    out: dict[str, Any] = {}
    for name, convert, in_oneof, has_presence in plan:
        if has_presence and not message.HasField(name):
            if not in_oneof:
                out[name] = None
            continue
        out[name] = convert(getattr(message, name))
    return out


def _plan(descriptor: Any) -> _Plan:
    # Whether a oneof is the synthetic one of a proto3 `optional` field is
    # only in the descriptor proto; this runs once per message type.
    proto = descriptor_pb2.DescriptorProto()
    descriptor.CopyToProto(proto)
    synthetic = {f.name for f in proto.field if f.proto3_optional}
    plan: _Plan = []
    for field in descriptor.fields:
        in_oneof = field.containing_oneof is not None and field.name not in synthetic
        plan.append((field.name, _converter(field), in_oneof, field.has_presence))
    return plan


def _converter(field: FieldDescriptor) -> Converter:
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        key_field = field.message_type.fields_by_name["key"]
        value = _single(field.message_type.fields_by_name["value"])
        key: Converter = _bool_key if key_field.type == FieldDescriptor.TYPE_BOOL else str
        return lambda entries: {key(k): value(v) for k, v in entries.items()}
    single = _single(field)
    if _is_repeated(field):
        if single is _identity:
            return list
        return lambda values: [single(v) for v in values]
    return single


def _is_repeated(field: FieldDescriptor) -> bool:
    # protobuf 6.31+ has is_repeated and deprecates label; 5.x has only label.
    is_repeated = getattr(field, "is_repeated", None)
    if is_repeated is None:
        return bool(getattr(field, "label", 0) == 3)  # FieldDescriptor.LABEL_REPEATED
    return bool(is_repeated)


def _single(field: FieldDescriptor) -> Converter:
    kind = field.type
    if field.message_type is not None:  # TYPE_MESSAGE, TYPE_GROUP
        return _WELL_KNOWN.get(field.message_type.full_name, _fields)
    if field.enum_type is not None:
        if field.enum_type.full_name == "google.protobuf.NullValue":
            return _none
        names = short_enum_names(field.enum_type)
        return lambda number: names.get(number, number)
    if kind == FieldDescriptor.TYPE_DOUBLE:
        return _double
    if kind == FieldDescriptor.TYPE_FLOAT:
        return _float32
    if kind == FieldDescriptor.TYPE_BYTES:
        return _bytes
    return _identity  # str, bool and every integer type are JSON-ready as they are


def short_enum_names(enum: EnumDescriptor) -> dict[int, str]:
    """Each value's short name by number: JOB_STATE_RUNNING -> RUNNING."""
    names = _ENUM_NAMES.get(enum)
    if names is None:
        full = [value.name for value in enum.values]
        # The prefix every value shares, up to its last "_" (JOB_STATE_ of
        # JOB_STATE_QUEUED, JOB_STATE_QUEUING); never a whole value's name.
        common = os.path.commonprefix(full)  # noqa: RUF071 - names, not paths
        prefix = common[: common.rfind("_") + 1]
        if prefix in full:
            prefix = ""
        names = {}
        for value in enum.values:
            names.setdefault(value.number, value.name[len(prefix) :])  # first alias wins
        _ENUM_NAMES[enum] = names
    return names


def _identity(value: Any) -> Any:
    return value


def _none(_: Any) -> None:
    return None


def _bool_key(key: bool) -> str:
    return "true" if key else "false"


def _bytes(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def _double(value: float) -> float | str:
    if math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


def _float32(value: float) -> float | str:
    # 0.3f reads back as 0.30000001192092896: print the shortest decimal
    # that is the same float32, with json_format's own function.
    if math.isfinite(value):
        return ToShortestFloat(value)
    return _double(value)


# -- well-known types -----------------------------------------------------------------


def _timestamp(value: Any) -> str:
    return str(value.ToJsonString())  # RFC 3339, UTC, "Z"


def _duration(value: Any) -> float:
    seconds: float = value.seconds + value.nanos / 1e9
    return seconds


def _value(value: Any) -> Any:
    kind = value.WhichOneof("kind")
    if kind is None or kind == "null_value":
        return None
    if kind == "number_value":
        return _double(value.number_value)
    if kind == "struct_value":
        return _struct(value.struct_value)
    if kind == "list_value":
        return _list_value(value.list_value)
    return getattr(value, kind)  # string_value, bool_value


def _struct(value: Any) -> dict[str, Any]:
    return {key: _value(item) for key, item in value.fields.items()}


def _list_value(value: Any) -> list[Any]:
    return [_value(item) for item in value.values]


def _wrapper(convert: Converter) -> Converter:
    return lambda wrapper: convert(wrapper.value)


_WELL_KNOWN: dict[str, Converter] = {
    "google.protobuf.Timestamp": _timestamp,
    "google.protobuf.Duration": _duration,
    "google.protobuf.Struct": _struct,
    "google.protobuf.Value": _value,
    "google.protobuf.ListValue": _list_value,
    "google.protobuf.DoubleValue": _wrapper(_double),
    "google.protobuf.FloatValue": _wrapper(_float32),
    "google.protobuf.BytesValue": _wrapper(_bytes),
    **{
        f"google.protobuf.{name}Value": _wrapper(_identity)
        for name in ("Int64", "UInt64", "Int32", "UInt32", "Bool", "String")
    },
}
