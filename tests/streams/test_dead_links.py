"""A link that dies without a RST, in a private network namespace: a
temporary blackhole is ridden out in order; a permanent one is noticed within
the keepalive it was given. (tests/support/netns_blackhole.py does the work.)"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.support import SCRIPTS

SCRIPT = SCRIPTS / "netns_blackhole.py"


def _namespace_ready() -> str | None:
    """Why these tests cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root for a private network namespace (unshare -n) and tc"
    for tool in ("unshare", "tc", "ip"):
        if shutil.which(tool) is None:
            return f"needs {tool} (util-linux / iproute2)"
    probe = subprocess.run(
        ["unshare", "-n", "sh", "-c", "ip link set lo up && tc qdisc add dev lo root blackhole"],
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode != 0:
        return f"this kernel refuses a network namespace or tc blackhole: {probe.stderr.strip()}"
    return None


pytestmark = pytest.mark.skipif((reason := _namespace_ready()) is not None, reason=reason or "")


def _run(*args: str) -> dict[str, object]:
    done = subprocess.run(
        ["unshare", "-n", sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    found: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


@pytest.mark.slow
def test_a_blackhole_of_several_seconds_is_ridden_out_in_order() -> None:
    found = _run("outage", "3")
    assert found["outcome"] == "completed"
    assert found["steps_in_order"] is True
    assert found["last_step"] == 120
    # The stall is noticed by idle_timeout=1, and the tail is back soon after
    # the link (TCP's own retransmission timer sets the pace).
    assert found["first_noticed_s"] is not None and found["first_noticed_s"] < 2.5
    assert found["recovered_s"] is not None and found["recovered_s"] < 5


@pytest.mark.slow
def test_a_permanent_blackhole_is_noticed_within_the_keepalive() -> None:
    found = _run("permanent")
    # Keepalive(interval=1, timeout=1): the dead link is noticed in about 2 s,
    # then the reconnects spend the retry policy and the stream fails typed.
    assert found["first_noticed_s"] is not None and found["first_noticed_s"] < 4
    assert found["outcome"] == "UnavailableError: UNAVAILABLE"
    assert found["ended_s"] < 15
