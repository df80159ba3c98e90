"""`scaigrid_client.to_dict`: one JSON shape for every result message."""

from __future__ import annotations

import base64
import json
import math
import typing
from typing import Any

import pytest
from google.protobuf import (
    descriptor_pb2,
    descriptor_pool,
    duration_pb2,
    message_factory,
    struct_pb2,
    timestamp_pb2,
    wrappers_pb2,
)
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from hypothesis import HealthCheck, given, settings, strategies as st

import scaigrid_client
from scaigrid_client import to_dict
from scaigrid_client._to_dict import _is_repeated
from scaigrid_client.v1 import scaicore, scaiinfer, scaimind


def test_exported_lazily_from_the_package() -> None:
    assert "to_dict" in scaigrid_client.__all__
    assert scaigrid_client.to_dict is to_dict


def test_job_every_field_int64_as_number_enum_short_name_timestamps() -> None:
    job = scaimind.Job(
        id="job-000001",
        spec=scaimind.JobSpec(
            name="ft-1",
            base_model="scailabs/poolnoodle-omni",
            gpus=2,
            max_steps=2**64 - 1,  # uint64: a number, never a string
            hyperparameters={"learning_rate": "3e-4"},
        ),
        state=scaimind.JOB_STATE_RUNNING,
        current_step=7,
    )
    job.created_at.FromJsonString("2026-11-27T04:31:43.123456Z")
    assert to_dict(job) == {
        "id": "job-000001",
        "spec": {
            "name": "ft-1",
            "base_model": "scailabs/poolnoodle-omni",
            "dataset": "",
            "gpus": 2,
            "max_steps": 2**64 - 1,
            "hyperparameters": {"learning_rate": "3e-4"},
        },
        "state": "RUNNING",
        "current_step": 7,
        "created_at": "2026-11-27T04:31:43.123456Z",
        "started_at": None,
        "finished_at": None,
        "error_message": "",
    }
    assert '"max_steps": 18446744073709551615' in json.dumps(to_dict(job))


def test_defaults_are_present() -> None:
    assert to_dict(scaimind.Job()) == {
        "id": "",
        "spec": None,
        "state": "UNSPECIFIED",
        "current_step": 0,
        "created_at": None,
        "started_at": None,
        "finished_at": None,
        "error_message": "",
    }
    # proto3 `optional` scalars have presence: None until set.
    request = to_dict(scaiinfer.InferenceRequest(model="m", max_tokens=0))
    assert request["max_tokens"] == 0
    assert request["temperature"] is None
    assert request["messages"] == [] and request["stop"] == []


def test_repeated_enums_and_repeated_messages() -> None:
    response = scaiinfer.ListModelsResponse(
        models=[
            scaiinfer.Model(
                id="scailabs/poolnoodle-omni",
                capabilities=[
                    scaiinfer.CAPABILITY_CHAT,
                    scaiinfer.CAPABILITY_EMBEDDINGS,
                    scaiinfer.Capability.ValueType(42),  # a value from a newer server
                ],
            ),
            scaiinfer.Model(id="scailabs/embed-small"),
        ]
    )
    models = to_dict(response)["models"]
    assert [m["id"] for m in models] == ["scailabs/poolnoodle-omni", "scailabs/embed-small"]
    assert models[0]["capabilities"] == ["CHAT", "EMBEDDINGS", 42]  # unknown: the number
    assert models[1]["capabilities"] == []


def test_bytes_maps_and_event_shape() -> None:
    result = scaicore.InvokeCoreResponse(
        invocation_id="inv-1",
        instance=scaicore.CoreInstance(
            core_id="core-7", state=scaicore.CORE_STATE_ACTIVE, invocation_count=2
        ),
        output=b"\x00\xff{}",
        activated=True,
    )
    out = to_dict(result)
    assert base64.b64decode(out["output"]) == b"\x00\xff{}"
    assert out["instance"]["state"] == "ACTIVE"
    assert out["instance"]["invocation_count"] == 2
    assert out["instance"]["updated_at"] is None
    event = scaicore.StreamEventsResponse(
        core_id="core-7", sequence=3, type=scaicore.EVENT_TYPE_INVOKED, attributes={"k": "v"}
    )
    event.occurred_at.FromSeconds(0)
    assert {
        "core_id": "core-7",
        "sequence": 3,
        "type": "INVOKED",
        "occurred_at": "1970-01-01T00:00:00Z",
        "invocation_id": "",
        "attributes": {"k": "v"},
    }.items() <= to_dict(event).items()


def test_floats_shortest_and_non_finite_as_strings() -> None:
    beat = to_dict(scaiinfer.HeartbeatRequest(gpu_utilization=0.3))
    assert beat["gpu_utilization"] == 0.3  # float32, not 0.30000001192092896
    values = {"loss": math.nan, "up": math.inf, "down": -math.inf, "lr": 1e-4}
    point = to_dict(scaimind.StreamMetricsResponse(values=values))
    assert point["values"] == {"loss": "NaN", "up": "Infinity", "down": "-Infinity", "lr": 1e-4}
    json.dumps(point, allow_nan=False)


# -- every kind of field, in a message made for the test ----------------------------

_F = descriptor_pb2.FieldDescriptorProto


def _test_message() -> type[Message]:
    """`scaigrid.test.Everything`: oneofs, optional, maps with int and bool
    keys, well-known types, an enum without a shared prefix."""
    file = descriptor_pb2.FileDescriptorProto(
        name="scaigrid_test_to_dict.proto",
        package="scaigrid.test",
        syntax="proto3",
        dependency=[
            "google/protobuf/timestamp.proto",
            "google/protobuf/duration.proto",
            "google/protobuf/struct.proto",
            "google/protobuf/wrappers.proto",
        ],
    )
    file.enum_type.add(name="Color").value.extend(
        [
            descriptor_pb2.EnumValueDescriptorProto(name="RED", number=0),
            descriptor_pb2.EnumValueDescriptorProto(name="GREEN", number=1),
        ]
    )
    entry = file.message_type.add(name="Everything")
    fields: list[tuple[str, int, str]] = [
        ("i64", _F.TYPE_INT64, ""),
        ("s32", _F.TYPE_SINT32, ""),
        ("f64", _F.TYPE_FIXED64, ""),
        ("flag", _F.TYPE_BOOL, ""),
        ("color", _F.TYPE_ENUM, ".scaigrid.test.Color"),
        ("when", _F.TYPE_MESSAGE, ".google.protobuf.Timestamp"),
        ("took", _F.TYPE_MESSAGE, ".google.protobuf.Duration"),
        ("meta", _F.TYPE_MESSAGE, ".google.protobuf.Struct"),
        ("any_value", _F.TYPE_MESSAGE, ".google.protobuf.Value"),
        ("items", _F.TYPE_MESSAGE, ".google.protobuf.ListValue"),
        ("count", _F.TYPE_MESSAGE, ".google.protobuf.Int64Value"),
        ("blob", _F.TYPE_MESSAGE, ".google.protobuf.BytesValue"),
        ("text", _F.TYPE_STRING, ""),  # oneof choice
        ("number", _F.TYPE_INT32, ""),  # oneof choice
        ("maybe", _F.TYPE_UINT64, ""),  # proto3 optional
    ]
    for number, (name, kind, type_name) in enumerate(fields, 1):
        field = entry.field.add(name=name, number=number, type=kind, label=1)
        if type_name:
            field.type_name = type_name
    entry.oneof_decl.add(name="choice")
    entry.oneof_decl.add(name="_maybe")
    entry.field[12].oneof_index = 0
    entry.field[13].oneof_index = 0
    entry.field[14].oneof_index = 1
    entry.field[14].proto3_optional = True
    for number, (name, key_type) in enumerate(
        [("by_id", _F.TYPE_INT64), ("by_flag", _F.TYPE_BOOL)]
    ):
        map_type = entry.nested_type.add(name=f"{name.title().replace('_', '')}Entry")
        map_type.options.map_entry = True
        map_type.field.add(name="key", number=1, type=key_type, label=1)
        map_type.field.add(name="value", number=2, type=_F.TYPE_DOUBLE, label=1)
        entry.field.add(
            name=name,
            number=20 + number,
            type=_F.TYPE_MESSAGE,
            type_name=f".scaigrid.test.Everything.{map_type.name}",
            label=3,
        )
    pool = descriptor_pool.Default()
    try:
        descriptor = pool.FindMessageTypeByName("scaigrid.test.Everything")
    except KeyError:
        pool.Add(file)
        descriptor = pool.FindMessageTypeByName("scaigrid.test.Everything")
    return message_factory.GetMessageClass(descriptor)


def test_every_kind_of_field() -> None:
    everything = _test_message()
    empty = to_dict(everything())
    assert empty == {
        "i64": 0,
        "s32": 0,
        "f64": 0,
        "flag": False,
        "color": "RED",
        "when": None,
        "took": None,
        "meta": None,
        "any_value": None,
        "items": None,
        "count": None,
        "blob": None,
        "maybe": None,  # unset optional: None; unset oneof members: left out
        "by_id": {},
        "by_flag": {},
    }
    message: Any = everything(
        i64=-(2**63),
        color=7,
        took=duration_pb2.Duration(seconds=1, nanos=500_000_000),
        meta=struct_pb2.Struct(),
        any_value=struct_pb2.Value(number_value=math.nan),
        count=wrappers_pb2.Int64Value(value=2**62),
        blob=wrappers_pb2.BytesValue(value=b"hi"),
        number=5,
        maybe=0,
        by_id={-1: 0.5, 2**40: math.inf},
        by_flag={True: 1.0, False: 2.0},
    )
    message.when.FromJsonString("2026-11-27T04:31:43.100Z")
    message.meta.update({"a": [1, "x", None, True], "b": {"c": 2.5}})
    message.items.extend(["y", 3])
    out = to_dict(message)
    assert out["i64"] == -(2**63)
    assert out["color"] == 7  # a number the enum does not know
    assert out["when"] == "2026-11-27T04:31:43.100Z"
    assert out["took"] == 1.5
    assert out["meta"] == {"a": [1.0, "x", None, True], "b": {"c": 2.5}}
    assert out["any_value"] == "NaN"
    assert out["items"] == ["y", 3.0]
    assert out["count"] == 2**62
    assert out["blob"] == "aGk="
    assert out["number"] == 5 and "text" not in out
    assert out["maybe"] == 0
    assert out["by_id"] == {"-1": 0.5, str(2**40): "Infinity"}
    assert out["by_flag"] == {"true": 1.0, "false": 2.0}
    json.dumps(out, allow_nan=False)


def test_not_a_message() -> None:
    with pytest.raises(TypeError, match="protobuf message"):
        to_dict({"id": 1})  # type: ignore[arg-type]


# -- every message of the three v1 packages, with any values -------------------------

_MESSAGES: list[Descriptor] = [
    descriptor
    for module in (
        scaiinfer.inference_pb2,
        scaiinfer.heartbeat_pb2,
        scaimind.coordinator_pb2,
        scaimind.cluster_pb2,
        scaicore.runtime_pb2,
    )
    for descriptor in module.DESCRIPTOR.message_types_by_name.values()
]

_INTS = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
}


def _value(draw: st.DrawFn, field: FieldDescriptor, depth: int) -> Any:
    if field.message_type is not None:
        if field.message_type.full_name == "google.protobuf.Timestamp":
            return timestamp_pb2.Timestamp(
                seconds=draw(st.integers(-62135596800, 253402300799)),
                nanos=draw(st.integers(0, 999_999_999)),
            )
        return draw(_messages(field.message_type, depth + 1))
    if field.enum_type is not None:
        return draw(st.sampled_from([v.number for v in field.enum_type.values] + [99]))
    if field.type in _INTS:
        low, high = _INTS[field.type]
        return draw(st.integers(low, high))
    if field.type == FieldDescriptor.TYPE_DOUBLE:
        return draw(st.floats())
    if field.type == FieldDescriptor.TYPE_FLOAT:
        return draw(st.floats(width=32))
    if field.type == FieldDescriptor.TYPE_BOOL:
        return draw(st.booleans())
    if field.type == FieldDescriptor.TYPE_BYTES:
        return draw(st.binary(max_size=8))
    return draw(st.text(max_size=8))


@st.composite
def _messages(draw: st.DrawFn, descriptor: Descriptor, depth: int = 0) -> Message:
    message: Any = message_factory.GetMessageClass(descriptor)()
    result: Message = message
    for field in descriptor.fields:
        if depth > 2 or not draw(st.booleans()):
            continue
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            key_field = field.message_type.fields_by_name["key"]
            value_field = field.message_type.fields_by_name["value"]
            for _ in range(draw(st.integers(0, 2))):
                key = _value(draw, key_field, depth)
                value = _value(draw, value_field, depth)
                if value_field.message_type is not None:
                    getattr(message, field.name)[key].CopyFrom(value)
                else:
                    getattr(message, field.name)[key] = value
        elif _is_repeated(field):
            values = [_value(draw, field, depth) for _ in range(draw(st.integers(0, 2)))]
            getattr(message, field.name).extend(values)
        elif field.message_type is not None:
            getattr(message, field.name).CopyFrom(_value(draw, field, depth))
        else:
            setattr(message, field.name, _value(draw, field, depth))
    return result


@pytest.mark.parametrize("descriptor", _MESSAGES, ids=lambda d: d.full_name)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_v1_message_is_strict_json(descriptor: Descriptor, data: st.DataObject) -> None:
    message = data.draw(_messages(descriptor))
    out = to_dict(message)
    assert list(out) == [f.name for f in descriptor.fields]  # every field, proto order
    json.loads(json.dumps(out, allow_nan=False))


def test_every_v1_enum_has_its_intenum() -> None:
    from scaigrid_client import enums, to_dict
    from scaigrid_client._messages import scaicore, scaiinfer, scaimind

    seen = 0
    for package in (scaiinfer, scaimind, scaicore):
        for name, module in vars(package).items():
            if not name.endswith("_pb2"):
                continue
            for descriptor in module.DESCRIPTOR.enum_types_by_name.values():
                members = getattr(enums, descriptor.name)
                assert {m.value for m in members} == {v.number for v in descriptor.values}
                # and its names as a Literal, for enum arguments (1.0): the
                # short name in lower and upper case, and the full name
                names = typing.get_args(getattr(enums, f"{descriptor.name}Name"))
                spellings = {
                    spelling
                    for m in members
                    if m.value
                    for spelling in (
                        m.name.lower(),
                        m.name,
                        descriptor.values_by_number[m.value].name,
                    )
                }
                assert set(names) == spellings
                seen += 1
    assert seen * 2 == len(enums.__all__)
    # The short names are to_dict's.
    job = scaimind.Job(state=scaimind.JOB_STATE_RUNNING)
    assert to_dict(job)["state"] == enums.JobState.RUNNING.name
    assert enums.JobState.RUNNING == scaimind.JOB_STATE_RUNNING


@pytest.mark.asyncio
async def test_the_sdks_own_results_give_their_responses_dict(grid: Any) -> None:
    """ChatReply and Embeddings are results too: to_dict gives their
    response's dict, in both flavours; anything else is still a TypeError."""
    from scaigrid_client import to_dict as to_dict_of

    hello = [{"role": "user", "content": "hello"}]
    reply = await grid.inference.infer(model="scailabs/poolnoodle-omni", messages=hello)
    as_dict = to_dict_of(reply)
    assert as_dict == to_dict_of(reply.response)
    assert as_dict["message"]["content"] == reply.content and as_dict["finish_reason"] == "STOP"
    vectors = await grid.inference.embed(model="scailabs/poolnoodle-omni", inputs=["a", "b"])
    assert [e["index"] for e in to_dict_of(vectors)["embeddings"]] == [0, 1]
    with pytest.raises(TypeError, match="expected a protobuf message, got list"):
        to_dict_of([1.0, 2.0])  # type: ignore[arg-type]
