"""``python -m scaigrid_client._cli``: the ``scaigrid`` command, as a module."""

import sys

from scaigrid_client._cli import main

sys.exit(main())
