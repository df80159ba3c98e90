"""ClusterService's domain: nodes, their GPUs, and allocations of them.

Allocations take the lowest free GPUs of nodes in id order; releasing one
gives them back.
"""

from __future__ import annotations

import grpc

from scaigrid_client._messages import scaimind
from scaigrid_client.testing._errors import FakeError, invalid
from scaigrid_client.testing._state._common import Ledger, now
from scaigrid_client.testing._state._persist import (
    allocation_record,
    gpus_used_record,
    node_record,
)

__all__ = ["ClusterDomain"]


class ClusterDomain:
    """RegisterNode, ListNodes, AllocateGPUs and ReleaseGPUs."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger
        self.nodes = ledger.tables.nodes
        self.node_gpus_used = ledger.tables.node_gpus_used
        self.allocations = ledger.tables.allocations

    def register_node(self, request: scaimind.RegisterNodeRequest) -> scaimind.Node:
        if not request.node_id:
            raise invalid("node_id", "is required")
        if request.gpus < 1:
            raise invalid("gpus", "must be at least 1")
        used = self.node_gpus_used.setdefault(request.node_id, set())
        if any(i >= request.gpus for i in used):
            raise FakeError(
                grpc.StatusCode.FAILED_PRECONDITION,
                "invalid_state",
                f"gpus: node '{request.node_id}' has GPUs allocated above index {request.gpus - 1}",
            )
        previous = self.nodes.get(request.node_id)
        node = scaimind.Node(
            node_id=request.node_id,
            address=request.address,
            gpus=request.gpus,
            gpu_type=request.gpu_type,
            gpu_memory_bytes=request.gpu_memory_bytes,
            gpus_free=request.gpus - len(used),
            labels=dict(request.labels),
            registered_at=previous.registered_at if previous else now(),
        )
        self._ledger.save(node_record(node))
        self.nodes[node.node_id] = node
        return node

    def allocate_gpus(self, request: scaimind.AllocateGPUsRequest) -> scaimind.Allocation:
        if not request.job_id:
            raise invalid("job_id", "is required")
        if request.count < 1:
            raise invalid("count", "must be at least 1")
        candidates = [
            n
            for n in sorted(self.nodes.values(), key=lambda n: n.node_id)
            if not request.gpu_type or n.gpu_type == request.gpu_type
        ]
        free = sum(n.gpus_free for n in candidates)
        if free < request.count:
            kind = f" {request.gpu_type}" if request.gpu_type else ""
            raise FakeError(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                "insufficient_gpus",
                f"count: {request.count}{kind} GPUs requested, {free} free",
            )
        allocation = scaimind.Allocation(
            id=self._ledger.next_id("alloc"),
            job_id=request.job_id,
            count=request.count,
            created_at=now(),
        )
        wanted = request.count
        for node in candidates:
            if not wanted:
                break
            used = self.node_gpus_used.setdefault(node.node_id, set())
            picked = [i for i in range(node.gpus) if i not in used][:wanted]
            if picked:
                used.update(picked)
                node.gpus_free -= len(picked)
                wanted -= len(picked)
                allocation.assignments.add(node_id=node.node_id, gpu_indices=picked)
                self._ledger.save(
                    node_record(node),
                    gpus_used_record(node.node_id, used),
                )
        self._ledger.save(allocation_record(allocation))
        self.allocations[allocation.id] = allocation
        return allocation

    def release_gpus(self, allocation_id: str) -> scaimind.Allocation:
        if not allocation_id:
            raise invalid("allocation_id", "is required")
        allocation = self.allocations.get(allocation_id)
        if allocation is None:
            raise FakeError(
                grpc.StatusCode.NOT_FOUND,
                "allocation_not_found",
                f"allocation '{allocation_id}' not found",
            )
        if not allocation.HasField("released_at"):
            for assignment in allocation.assignments:
                used = self.node_gpus_used[assignment.node_id]
                used.difference_update(assignment.gpu_indices)
                self._ledger.save(gpus_used_record(assignment.node_id, used))
                node = self.nodes.get(assignment.node_id)
                if node is not None:
                    node.gpus_free += len(assignment.gpu_indices)
                    self._ledger.save(node_record(node))
            allocation.released_at.CopyFrom(now())
            self._ledger.save(allocation_record(allocation))
        return allocation
