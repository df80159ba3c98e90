"""Retries: backoff, the gateway's pushback, idempotent writes and the retry budget.

    python examples/retries.py

Runs against the bundled fake only: it makes the gateway fail on purpose.
"""

from __future__ import annotations

import asyncio
import logging

import grpc

from scaigrid_client import RetryEvent, RetryPolicy, ScaiGrid, errors
from scaigrid_client.testing import FakeScaiGrid


def show(event: RetryEvent) -> None:
    print(
        f"  retry: {event.method} attempt {event.attempt} of {event.max_attempts} "
        f"failed with {event.status.name}; next in {event.delay:.2f}s"
    )


async def main() -> None:
    async with FakeScaiGrid() as fake:
        policy = RetryPolicy(initial_backoff=0.05, on_retry=show)
        async with ScaiGrid(fake.target, token=fake.token, tls=False, retry=policy) as grid:
            # 1. UNAVAILABLE is retried with backoff; the gateway's
            #    grpc-retry-pushback-ms, when it sends one, sets the wait instead.
            fake.fail("InferenceService.ListModels", grpc.StatusCode.UNAVAILABLE)
            fake.fail("InferenceService.ListModels", grpc.StatusCode.UNAVAILABLE, pushback_ms=300)
            models = await grid.inference.list_models()
            print(f"list_models: {len(models)} models, after two retries")

            # 2. A write whose answer was lost (the job was created, then the
            #    call failed) is retried with the same request id, which the
            #    gateway uses as the idempotency key: still one job.
            fake.fail(
                "CoordinatorService.SubmitJob", grpc.StatusCode.UNAVAILABLE, after_effect=True
            )
            job = await grid.coordinator.submit_job(
                name="ft-1", base_model="scailabs/poolnoodle-omni", gpus=1, max_steps=10
            )
            print(f"submit_job: {job.id}; jobs on the gateway: {len(fake.state.jobs)}")

        # 3. The retry budget: a small one, spent by a gateway that keeps failing.
        small = RetryPolicy(initial_backoff=0.01, budget_max_tokens=4)
        async with ScaiGrid(fake.target, token=fake.token, tls=False, retry=small) as grid:
            fake.fail("InferenceService.ListModels", grpc.StatusCode.UNAVAILABLE, times=10)
            for _ in range(2):
                try:
                    await grid.inference.list_models()
                except errors.UnavailableError as exc:
                    print(f"list_models failed after {exc.attempts} attempt(s): {exc.message}")


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="  [%(levelname)s] %(message)s")
    asyncio.run(main())
