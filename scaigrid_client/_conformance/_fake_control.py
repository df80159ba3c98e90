"""A client of the fake's HTTP control plane (``scaigrid fake --control-port``),
which ``fake_only`` cases use to provoke what a real gateway cannot be made
to do on demand: faults, delays, dropped streams, scoped or expiring tokens."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from scaigrid_client._conformance._registry import CaseFailed

__all__ = ["FakeControl"]


class FakeControl:
    """The control plane at ``url`` (``http://host:port``)."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    def _request(self, verb: str, path: str, body: dict[str, Any] | None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310 (the URL is --fake-control's, http)
            self.url + path, data=data, method=verb, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            text = exc.read().decode(errors="replace")
            raise CaseFailed(f"--fake-control {self.url}{path}: HTTP {exc.code}: {text}") from None
        except (OSError, ValueError) as exc:
            raise CaseFailed(f"--fake-control {self.url}{path}: unreachable ({exc})") from None

    async def post(self, path: str, **body: Any) -> Any:
        """POST ``body`` as JSON to ``path``; the JSON answer."""
        return await asyncio.to_thread(self._request, "POST", path, body)

    async def calls(self, method: str) -> list[dict[str, Any]]:
        """The journal's calls of ``Service.Method``, oldest first."""
        query = urllib.parse.urlencode({"method": method})
        answer = await asyncio.to_thread(self._request, "GET", f"/calls?{query}", None)
        calls: list[dict[str, Any]] = answer["calls"]
        return calls

    async def calls_with_id(self, method: str, request_id: str) -> list[dict[str, Any]]:
        """The attempts of ``method`` that carried ``request_id``."""
        return [c for c in await self.calls(method) if c.get("request_id") == request_id]
