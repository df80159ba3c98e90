"""Submit a training job and follow its metrics until it ends.

    python examples/train_and_watch.py [--steps N]

The submission carries a fixed request id, ScaiGrid's idempotency key for
SubmitJob: running it twice against the same gateway follows the same job
instead of starting a second one.
"""

from __future__ import annotations

import argparse
import asyncio

from _common import connect

from scaigrid_client.v1 import scaimind


async def main(steps: int) -> int:
    async with connect(step_interval=0.05) as (grid, _fake):
        job = await grid.coordinator.submit_job(
            name="poolnoodle-support-ft",
            base_model="scailabs/poolnoodle-omni",
            dataset="s3://datasets/support.jsonl",
            gpus=2,
            max_steps=steps,
            hyperparameters={"learning_rate": 3e-4},
            request_id="train-and-watch-example",
        )
        print(f"submitted {job.id}")
        async for point in grid.coordinator.stream_metrics(job.id):
            bar = "#" * (20 * point.step // steps)
            print(
                f"step {point.step:>4}/{steps} [{bar:<20}] loss {point.values['loss']:.4f} "
                f"lr {point.values['learning_rate']:.2e}"
            )
        job = await grid.coordinator.get_job(job.id)
        print(f"{job.id}: {scaimind.JobState.Name(job.state)}")
        return 0 if job.state == scaimind.JOB_STATE_SUCCEEDED else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    raise SystemExit(asyncio.run(main(parser.parse_args().steps)))
