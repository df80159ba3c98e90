"""``scaigrid fake``: the bundled fake ScaiGrid, standalone, until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from typing import TYPE_CHECKING

from scaigrid_client._cli._command import Subcommands, add_command
from scaigrid_client._cli._errors import EXIT_CODES, cli_words

if TYPE_CHECKING:
    from scaigrid_client.testing import FakeScaiGrid


def _port(text: str) -> int:
    """A port to listen on: 0..65535, 0 picking a free one."""
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a port; use 0..65535 (0 = pick a free port)"
        )
    return port


def _seconds(text: str) -> float:
    """A number of seconds, at least 0."""
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not seconds >= 0 or seconds == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds (0 or more)")
    return seconds


def _step_interval(text: str) -> float | None:
    """Seconds per training step, or 'manual' (None): jobs step only when told."""
    if text.strip().lower() == "manual":
        return None
    try:
        return _seconds(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither a number of seconds (0 or more) nor 'manual'"
        ) from None


def register(commands: Subcommands) -> None:
    fake = add_command(
        commands,
        "fake",
        "run the bundled fake ScaiGrid until Ctrl-C",
        "scaigrid fake --port 50051 --token sgst_dev\n"
        "  scaigrid fake --tls-dir ./certs   # TLS, with ca.pem/client.pem/client.key written there",
        flags=(),  # it calls no gateway: no output or call flags
    )
    fake.set_defaults(standalone=run)
    fake.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    fake.add_argument(
        "--port", type=_port, default=50051, help="port to listen on (50051; 0: a free one)"
    )
    fake.add_argument("--token", help="the service token to accept (default: a random one)")
    fake.add_argument(
        "--tls-dir",
        help="serve TLS; read ca.pem, server.pem, server.key, client.pem, client.key "
        "from this directory, or create them there",
    )
    fake.add_argument(
        "--require-client-cert", action="store_true", help="mTLS: require a client certificate"
    )
    fake.add_argument(
        "--step-interval",
        type=_step_interval,
        default=0.05,
        metavar="S|manual",
        help="seconds per training step (0.05); 'manual': jobs step only when told "
        "(the control plane's /step_job and /finish_job)",
    )
    fake.add_argument(
        "--token-interval",
        type=_seconds,
        default=0.0,
        metavar="S",
        help="seconds between streamed tokens (0: as fast as the transport allows)",
    )
    fake.add_argument(
        "--max-calls",
        type=int,
        default=100_000,
        help="calls kept in the journal, newest first (100000), so memory stays bounded",
    )
    fake.add_argument(
        "--record-responses",
        action="store_true",
        help="keep every response message sent in the journal (see the control plane's /calls)",
    )
    fake.add_argument(
        "--state-dir",
        metavar="DIR",
        help="keep the state (cores, events, jobs, nodes, idempotency keys) in DIR, so a "
        "restarted fake, even after SIGKILL, goes on where it stopped; without it every "
        "start is a new history",
    )
    fake.add_argument(
        "--control-port",
        type=_port,
        help="also serve the HTTP control plane (faults, journal, reset) on this port; "
        "0 picks a free one (see docs/testing.md)",
    )


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Serve until SIGINT or SIGTERM; its own errors, as it calls no gateway."""
    if args.require_client_cert and args.tls_dir is None:
        parser.error("--require-client-cert needs --tls-dir")
    try:
        return asyncio.run(_serve(args))
    except OSError as exc:  # the port is taken, or the address is not ours
        sys.stderr.write(f"scaigrid: error: {cli_words(str(exc))}\n")
        return EXIT_CODES["fake could not listen"]
    except KeyboardInterrupt:  # pragma: no cover - the fake handles SIGINT itself
        return EXIT_CODES["interrupted (Ctrl-C)"]


async def _serve(args: argparse.Namespace) -> int:
    from scaigrid_client.testing import FakeScaiGrid

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    fake = FakeScaiGrid(
        host=args.host,
        port=args.port,
        token=args.token,
        tls=args.tls_dir is not None,
        require_client_cert=args.require_client_cert,
        tls_dir=args.tls_dir,
        step_interval=args.step_interval,
        token_interval=args.token_interval,
        max_calls=args.max_calls,
        record_responses=args.record_responses,
        state_dir=args.state_dir,
    )
    async with fake:
        control = None
        if args.control_port is not None:
            from scaigrid_client.testing._control import ControlServer

            try:
                control = ControlServer(fake, args.host, args.control_port).start()
            except OSError as exc:
                raise OSError(
                    f"--control-port: cannot listen on {args.host}:{args.control_port} "
                    f"({exc.strerror or exc})"
                ) from None
        print(f"target: {fake.target}", flush=True)
        print(f"token: {fake.token}", flush=True)
        if control is not None:
            print(f"control: {control.url}", flush=True)
        for line in _banner(args, fake):
            print(line, flush=True)
        print("serving; Ctrl-C to stop", file=sys.stderr, flush=True)
        try:
            await stop.wait()
            await fake.stop()  # drained, as a gateway is: calls in flight end UNAVAILABLE
        finally:
            if control is not None:
                control.close()
    print("stopped", file=sys.stderr, flush=True)
    return 0


def _banner(args: argparse.Namespace, fake: FakeScaiGrid) -> list[str]:
    """What the fake serves, after where: transport, state, pacing."""
    if args.tls_dir is None:
        lines = ["transport: plaintext"]
    else:
        kind = "mTLS (client certificate required)" if args.require_client_cert else "TLS"
        lines = [f"transport: {kind}", f"tls: certificates in {args.tls_dir}"]
    epoch = fake.epoch
    if args.state_dir is None:
        lines.append(f"state: in memory, new (epoch {epoch})")
    elif fake._domain.restored:
        lines.append(f"state: restored from {args.state_dir} (epoch {epoch})")
    else:
        lines.append(f"state: new in {args.state_dir} (epoch {epoch})")
    steps = "manual" if args.step_interval is None else f"{args.step_interval:g} s"
    lines.append(f"steps: {steps}; tokens: every {args.token_interval:g} s")
    return lines
