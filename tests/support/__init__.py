"""What the tests share that is not a fixture: helper servers and proxies,
the flavour runner, and scripts the tests run as subprocesses (by path, see
``SCRIPTS``). Fixtures live in conftest.py; tests import these normally,
``from tests.support.standalone import Standalone``."""

from __future__ import annotations

import pathlib

# The scripts run by path in a child process (fork_child.py, netns_blackhole.py,
# telemetry_probe.py): they import only the SDK.
SCRIPTS = pathlib.Path(__file__).resolve().parent
