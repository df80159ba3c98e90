"""``scaigrid chat``: stream a chat reply to stdout."""

from __future__ import annotations

import argparse
import sys

from scaigrid_client import ScaiGrid, to_dict
from scaigrid_client._cli._command import Subcommands, add_command
from scaigrid_client._cli._common import call_options
from scaigrid_client._cli._errors import UsageError
from scaigrid_client._cli._output import Output


def register(commands: Subcommands) -> None:
    chat = add_command(
        commands,
        "chat",
        "stream a chat reply to stdout",
        'scaigrid chat -m scailabs/poolnoodle-omni "Write a haiku about GPUs"\n'
        "  echo 'Summarize this' | scaigrid chat -m scailabs/poolnoodle-omni -",
        run,
    )
    chat.add_argument("-m", "--model", required=True, help="model id (see 'scaigrid models')")
    chat.add_argument(
        "prompt",
        metavar="PROMPT",
        nargs="+",
        help="the prompt (several words are joined by spaces), or - to read it from stdin",
    )
    chat.add_argument("--system", help="a system message")
    chat.add_argument("--max-tokens", type=int, help="upper bound on generated tokens")
    chat.add_argument("--temperature", type=float, help="sampling temperature, 0 to 2")


async def run(args: argparse.Namespace, grid: ScaiGrid, out: Output) -> int:
    # Unquoted words are one prompt, joined by spaces as echo would.
    prompt = sys.stdin.read() if args.prompt == ["-"] else " ".join(args.prompt)
    if not prompt.strip():
        raise UsageError("PROMPT: empty prompt; pass text, or - to read it from stdin")
    messages = []
    if args.system:
        messages.append({"role": "system", "content": args.system})
    messages.append({"role": "user", "content": prompt})
    stream = grid.inference.stream_inference(
        model=args.model,
        messages=messages,
        max_tokens=args.max_tokens,
        temperature=args.temperature,
        **call_options(args),
    )
    last = None
    text = []
    async with stream:
        async for chunk in stream:
            if out.json:
                text.append(chunk.delta.content)
            else:
                out.out.write(chunk.delta.content)
                out.out.flush()
            last = chunk
    if out.json:
        final = to_dict(last) if last is not None else {}
        out.json_line(
            {
                "id": final.get("id"),
                "model": final.get("model"),
                "content": "".join(text),
                "finish_reason": final.get("finish_reason"),
                "usage": final.get("usage"),
                "request_id": stream.request_id,
            }
        )
    else:
        out.line()
    if out.verbose and last is not None and last.HasField("usage"):
        usage = last.usage
        out.note(
            f"tokens: {usage.prompt_tokens} prompt + {usage.completion_tokens} completion "
            f"(request id {stream.request_id})"
        )
    return 0
