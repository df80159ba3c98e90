"""The 1.0 spellings, side by side with what they replace, run with every
DeprecationWarning turned into an error: code written this way is ready for
2.0. (The CHANGELOG's "Upgrading to 1.0" lists each change.)"""

from __future__ import annotations

import asyncio
import warnings

from _common import connect

from scaigrid_client import errors, raw_response

MODEL = "scailabs/poolnoodle-omni"


async def main() -> None:
    warnings.simplefilter("error", DeprecationWarning)
    async with connect() as (grid, _fake):
        # call_info=CallInfo() (an out-parameter) -> raw_response(method, ...)
        raw = await raw_response(grid.inference.list_models, request_id="upgrade-1")
        print(f"{len(raw.result)} models; request id {raw.request_id}, {raw.attempts} attempt")

        # invoke_core(core_id=...) -> the resource id first, by position
        await grid.core.invoke_core("core-upgrade", payload={"step": 1})
        core = await grid.core.passivate_core("core-upgrade")
        print(f"core {core.core_id} passivated")

        # errors.CancelledError -> errors.CallCancelledError; run-time misuse
        # is a ScaiGridError too (ClientClosedError, ForkError, NoEventLoopError)
        patient = grid.with_options(timeout=5.0)  # a client sharing the channel
        try:
            await patient.core.restore_core("core-upgrade")
        except errors.ScaiGridError as error:
            print(f"restore failed: {error}")
        else:
            print("core restored")

        # iter_jobs() is a Pager: items as before, pages on request
        await grid.coordinator.submit_job(name="u", base_model=MODEL, gpus=1, max_steps=5)
        pages = [len(page.jobs) async for page in grid.coordinator.iter_jobs(page_size=1).pages]
        print(f"{len(pages)} page(s) of jobs")

        try:
            await grid.core.get_core("no-such-core")
        except errors.NotFoundError as error:
            print(f"typed error: {error.code}")


if __name__ == "__main__":
    asyncio.run(main())
