"""Register GPU nodes, allocate GPUs for a job (safely retried), release them.

    python examples/gpu_nodes.py

Against the fake, the first allocation's answer is lost on purpose (the
gateway allocates, then the call fails): the SDK retries with the same
request id, and the gateway answers with the same allocation instead of a
second one.
"""

from __future__ import annotations

import asyncio

import grpc
from _common import connect

from scaigrid_client import errors


async def main() -> None:
    async with connect() as (grid, fake):
        for name in ("gpu-01", "gpu-02"):
            node = await grid.cluster.register_node(
                node_id=name, gpus=8, address=f"{name}:7000", gpu_type="H100", labels={"zone": "eu"}
            )
            print(f"registered {node.node_id}: {node.gpus_free}/{node.gpus} GPUs free")

        if fake is not None:
            fake.fail("ClusterService.AllocateGPUs", grpc.StatusCode.UNAVAILABLE, after_effect=True)
        allocation = await grid.cluster.allocate_gpus(job_id="job-42", count=10, gpu_type="H100")
        for part in allocation.assignments:
            print(f"{allocation.id}: {part.node_id} GPUs {list(part.gpu_indices)}")
        if fake is not None:
            attempts = len(fake.calls("ClusterService.AllocateGPUs"))
            print(f"(the gateway saw {attempts} attempts and made one allocation)")

        free = sum(node.gpus_free for node in await grid.cluster.list_nodes())
        print(f"free after allocating: {free}")
        try:
            await grid.cluster.allocate_gpus(job_id="job-43", count=free + 1)
        except errors.InsufficientGPUsError as exc:
            print(f"job-43 wants {free + 1}: {type(exc).__name__} ({exc.code})")

        await grid.cluster.release_gpus(allocation.id)
        free = sum(node.gpus_free for node in await grid.cluster.list_nodes())
        print(f"free after releasing: {free}")


if __name__ == "__main__":
    asyncio.run(main())
