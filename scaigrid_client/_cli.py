"""The ``scaigrid`` command line."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Sequence

EXAMPLES = {
    "fake": "example:\n  scaigrid fake --port 50051 --token sgst_dev\n"
    "  scaigrid fake --tls-dir ./certs   # TLS, with ca.pem/client.pem/client.key written there",
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scaigrid", description="Command line for ScaiGrid's gRPC API."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    fake = commands.add_parser(
        "fake",
        help="run the bundled fake ScaiGrid until Ctrl-C",
        description="Run the bundled fake ScaiGrid gateway until SIGINT or SIGTERM.",
        epilog=EXAMPLES["fake"],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    fake.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    fake.add_argument("--port", type=int, default=50051, help="port to listen on (50051)")
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
        "--step-interval", type=float, default=0.05, help="seconds per training step (0.05)"
    )
    return parser


async def _run_fake(args: argparse.Namespace) -> int:
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
    )
    async with fake:
        print(f"target: {fake.target}", flush=True)
        print(f"token: {fake.token}", flush=True)
        if args.tls_dir is not None:
            print(f"tls: certificates in {args.tls_dir}", flush=True)
        print("serving; Ctrl-C to stop", file=sys.stderr, flush=True)
        await stop.wait()
    print("stopped", file=sys.stderr, flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "fake":
        if args.require_client_cert and args.tls_dir is None:
            _parser().error("--require-client-cert needs --tls-dir")
        return asyncio.run(_run_fake(args))
    return 2  # pragma: no cover - argparse rejects unknown commands


if __name__ == "__main__":
    sys.exit(main())
