"""A real OAuth2 token endpoint on loopback, standing in for ScaiKey."""

from __future__ import annotations

import json
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from scaigrid_client.testing import FakeScaiGrid

SECRET = "client-secret-do-not-leak-42"


class ScaiKeyStub:
    """A token endpoint: client credentials in, the fake's tokens out."""

    def __init__(self) -> None:
        self.fake: FakeScaiGrid | None = None
        self.requests: list[dict[str, str]] = []
        self.expires_in = 300.0
        self.delay = 0.0
        self.issued: list[str] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
                stub.requests.append(form)
                time.sleep(stub.delay)
                if (
                    form.get("client_secret") != SECRET
                    or form.get("grant_type") != "client_credentials"
                ):
                    self.send_response(401)
                    self.end_headers()
                    return
                assert stub.fake is not None
                token = stub.fake.issue_token(
                    scopes=form["scope"].split(), expires_in=stub.expires_in
                )
                stub.issued.append(token)
                body = json.dumps(
                    {"access_token": token, "token_type": "Bearer", "expires_in": stub.expires_in}
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/oauth2/token"
