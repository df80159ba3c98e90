"""The v1 protos: every service and RPC exists with its streaming shape, and
the generated modules import inside the package."""

from __future__ import annotations

import importlib
import pathlib
import re
import subprocess
import sys

import google.protobuf
import pytest
from google.protobuf import descriptor

import scaigrid_client._gen
from scaigrid_client._gencode import generation_path
from scaigrid_client.v1 import scaicore, scaiinfer, scaimind

ROOT = pathlib.Path(__file__).resolve().parents[2]

# (module, service, rpc, server streaming)
RPCS = [
    (scaiinfer, "InferenceService", "StreamInference", True),
    (scaiinfer, "InferenceService", "Infer", False),
    (scaiinfer, "InferenceService", "Embed", False),
    (scaiinfer, "InferenceService", "ListModels", False),
    (scaiinfer, "HeartbeatService", "Heartbeat", False),
    (scaimind, "CoordinatorService", "SubmitJob", False),
    (scaimind, "CoordinatorService", "GetJob", False),
    (scaimind, "CoordinatorService", "ListJobs", False),
    (scaimind, "CoordinatorService", "CancelJob", False),
    (scaimind, "CoordinatorService", "StreamMetrics", True),
    (scaimind, "ClusterService", "RegisterNode", False),
    (scaimind, "ClusterService", "ListNodes", False),
    (scaimind, "ClusterService", "AllocateGPUs", False),
    (scaimind, "ClusterService", "ReleaseGPUs", False),
    (scaicore, "CoreRuntimeService", "InvokeCore", False),
    (scaicore, "CoreRuntimeService", "GetCore", False),
    (scaicore, "CoreRuntimeService", "PassivateCore", False),
    (scaicore, "CoreRuntimeService", "RestoreCore", False),
    (scaicore, "CoreRuntimeService", "StreamEvents", True),
]


def _service(module: object, name: str) -> descriptor.ServiceDescriptor:
    for value in vars(module).values():
        if getattr(value, "__name__", "").endswith("_pb2"):
            services = value.DESCRIPTOR.services_by_name
            if name in services:
                return services[name]  # type: ignore[no-any-return]
    raise AssertionError(f"service {name} not found in {module}")


@pytest.mark.parametrize(("module", "service", "rpc", "streaming"), RPCS)
def test_rpc_exists_with_its_shape(module: object, service: str, rpc: str, streaming: bool) -> None:
    method = _service(module, service).methods_by_name[rpc]
    assert method.client_streaming is False
    assert method.server_streaming is streaming
    assert hasattr(getattr(module, f"{service}Stub"), "__init__")
    assert hasattr(getattr(module, f"{service}Servicer"), rpc)
    assert callable(getattr(module, f"add_{service}Servicer_to_server"))


def test_services_have_exactly_the_listed_rpcs() -> None:
    listed: dict[tuple[str, str], set[str]] = {}
    for module, service, rpc, _ in RPCS:
        listed.setdefault((module.__name__, service), set()).add(rpc)
    for (module_name, service), rpcs in listed.items():
        module = importlib.import_module(module_name)
        assert set(_service(module, service).methods_by_name) == rpcs


def test_full_names_are_the_published_ones() -> None:
    assert scaiinfer.InferenceRequest.DESCRIPTOR.full_name == "scaiinfer.v1.InferenceRequest"
    assert _service(scaiinfer, "InferenceService").full_name == "scaiinfer.v1.InferenceService"
    assert _service(scaimind, "CoordinatorService").full_name == "scaimind.v1.CoordinatorService"
    assert _service(scaicore, "CoreRuntimeService").full_name == "scaicore.v1.CoreRuntimeService"


def test_published_minimal_client_shapes() -> None:
    req = scaiinfer.InferenceRequest(
        model="scailabs/poolnoodle-omni",
        messages=[scaiinfer.ChatMessage(role="user", content="hi")],
        max_tokens=16,
    )
    assert req.model == "scailabs/poolnoodle-omni"
    chunk = scaiinfer.StreamInferenceResponse(delta=scaiinfer.Delta(content="he"))
    assert chunk.delta.content == "he"
    roundtrip = scaiinfer.StreamInferenceResponse.FromString(chunk.SerializeToString())
    assert roundtrip.delta.content == "he"


def test_resume_fields_exist() -> None:
    assert scaimind.StreamMetricsRequest(job_id="j", after_step=3).after_step == 3
    assert scaicore.StreamEventsRequest(core_id="c", after_sequence=7).after_sequence == 7
    assert scaimind.StreamMetricsResponse(step=1).step == 1
    event = scaicore.StreamEventsResponse(sequence=1, type=scaicore.EVENT_TYPE_INVOKED)
    assert (event.sequence, event.type) == (1, scaicore.EVENT_TYPE_INVOKED)


def test_generated_modules_import_without_gen_on_sys_path() -> None:
    # A fresh interpreter, with nothing but the package importable: the
    # rewritten imports must not depend on `_gen/` being on sys.path.
    code = (
        "import sys\n"
        "from scaigrid_client.v1 import scaiinfer, scaimind, scaicore\n"
        "assert not any(m.split('.')[0] in {'scaiinfer', 'scaimind', 'scaicore'}"
        " for m in sys.modules), sorted(sys.modules)\n"
        "print('ok')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "ok"


def test_generated_tree_has_stubs_for_every_module() -> None:
    # One generation per protobuf major, each complete, and one set of typing
    # stubs at the import path they describe.
    gen = pathlib.Path(scaigrid_client._gen.__file__).parent
    for generation in ("protobuf5", "protobuf6"):
        modules = sorted((gen / generation).rglob("*_pb2*.py"))
        assert len(modules) == 10, generation
        for module in modules:
            stub = gen / module.relative_to(gen / generation).with_suffix(".pyi")
            assert stub.exists(), stub
            assert "DO NOT EDIT" in module.read_text()
            assert "from scaiinfer" not in module.read_text()


@pytest.mark.parametrize(
    ("version", "generation"),
    [
        ("5.29.1", "protobuf5"),
        ("6.30.0", "protobuf6"),
        ("6.33.6", "protobuf6"),
        ("7.36.2", "protobuf6"),
    ],
)
def test_each_protobuf_major_has_a_generation(version: str, generation: str) -> None:
    assert generation_path(["/pkg/_gen"], version) == [f"/pkg/_gen/{generation}"]


@pytest.mark.parametrize("version", ["4.25.3", "8.0.0"])
def test_a_protobuf_outside_the_window_is_named_in_the_import_error(version: str) -> None:
    with pytest.raises(ImportError, match=rf"protobuf >= 5\.29\.1, < 8; protobuf {version}"):
        generation_path(["/pkg/_gen"], version)


def test_the_generation_matching_the_protobuf_runtime_is_loaded() -> None:
    major = int(google.protobuf.__version__.split(".")[0])
    gencode = re.search(
        r"Protobuf Python Version: (\d+)\.",
        pathlib.Path(scaiinfer.inference_pb2.__file__).read_text(),
    )
    assert gencode is not None
    assert int(gencode.group(1)) == min(major, 6)
    assert scaiinfer.inference_pb2.__name__ == "scaigrid_client._gen.scaiinfer.v1.inference_pb2"
