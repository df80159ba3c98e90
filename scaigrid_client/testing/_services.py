"""The RPCs the fake serves: services, their proto modules and token scopes.

Method names are written ``Service.Method``, as in the product docs.
"""

from __future__ import annotations

from typing import Any

from scaigrid_client._messages import scaicore, scaiinfer, scaimind

__all__ = ["IDEMPOTENT_BY_REQUEST_ID", "METHODS", "SERVICES", "check_method", "service_names"]

# Service -> (proto package, token scope).
SERVICES: dict[str, tuple[Any, str]] = {
    "InferenceService": (scaiinfer.inference_pb2, "scaiinfer"),
    "HeartbeatService": (scaiinfer.heartbeat_pb2, "scaiinfer"),
    "CoordinatorService": (scaimind.coordinator_pb2, "scaimind"),
    "ClusterService": (scaimind.cluster_pb2, "scaimind"),
    "CoreRuntimeService": (scaicore.runtime_pb2, "scaicore"),
}
# ``Service.Method`` -> (proto package, token scope, method descriptor).
METHODS: dict[str, tuple[Any, str, Any]] = {
    f"{service}.{m.name}": (module, scope, m)
    for service, (module, scope) in SERVICES.items()
    for m in module.DESCRIPTOR.services_by_name[service].methods
}
# The request id is the idempotency key of these RPCs.
IDEMPOTENT_BY_REQUEST_ID = frozenset(
    {"CoordinatorService.SubmitJob", "ClusterService.AllocateGPUs", "CoreRuntimeService.InvokeCore"}
)


def check_method(method: str) -> None:
    """Refuse a method name the fake does not serve, listing those it does."""
    if method not in METHODS:
        raise ValueError(
            f"method: unknown {method!r}; use 'Service.Method', one of {sorted(METHODS)}"
        )


def service_names() -> list[str]:
    """The services' full proto names (``scaiinfer.v1.InferenceService``, ...)."""
    return [module.DESCRIPTOR.services_by_name[s].full_name for s, (module, _) in SERVICES.items()]
