"""One module per ``scaigrid`` command, each with ``register(commands)``:
its parser, its flags and its handler. ``ALL`` is the order of the help."""

from __future__ import annotations

from scaigrid_client._cli.commands import (
    chat,
    conformance,
    cores,
    embed,
    events,
    fake,
    jobs,
    models,
    nodes,
)

ALL = (models, chat, embed, events, jobs, cores, nodes, fake, conformance)
