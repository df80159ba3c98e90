"""Blocking web views (Flask) with the sync client: one ScaiGrid per worker process.

    pip install scaigrid-client flask
    python examples/flask_view.py            # three requests, through Flask's test client
    flask --app flask_view run               # or serve it (from examples/)

The views call the gateway with `scaigrid_client.sync`; its clients are safe
to share between a worker's threads. The client is made on first use, in the
worker that uses it, so a server that forks its workers (gunicorn) never hands
a child a client of its parent. Run as a script without SCAIGRID_TARGET, it
starts the bundled fake first and points the app at it.
"""

from __future__ import annotations

import functools
import os

import grpc
from flask import Flask, jsonify, request
from flask.typing import ResponseReturnValue

from scaigrid_client import errors, to_dict
from scaigrid_client.sync import ScaiGrid

MODEL = "scailabs/poolnoodle-omni"
app = Flask(__name__)


@functools.cache
def grid() -> ScaiGrid:
    """This process's client: SCAIGRID_TARGET, SCAIGRID_SERVICE_TOKEN (and
    SCAIGRID_PLAINTEXT=1 for a plaintext gateway)."""
    return ScaiGrid(tls=os.environ.get("SCAIGRID_PLAINTEXT") != "1", timeout=20)


@app.get("/models")
def models() -> ResponseReturnValue:
    return jsonify([to_dict(model) for model in grid().inference.list_models()])


@app.post("/summarize")
def summarize() -> ResponseReturnValue:
    text = (request.get_json(silent=True) or {}).get("text")
    if not isinstance(text, str) or not text:
        return {"error": "send JSON with a non-empty 'text'"}, 400
    reply = grid().inference.infer(
        model=MODEL,
        messages=[{"role": "user", "content": f"Summarize: {text}"}],
        max_tokens=20,
    )
    return {"summary": reply.content, "request_id": reply.request_id}


@app.errorhandler(errors.ScaiGridError)
def gateway_failed(exc: errors.ScaiGridError) -> ResponseReturnValue:
    # Retries are done: say what failed, with the id to look the call up by.
    status = 503 if isinstance(exc, errors.UnavailableError) else 502
    return {"error": type(exc).__name__, "code": exc.code, "request_id": exc.request_id}, status


def demo() -> None:
    http = app.test_client()
    print("GET /models:", [m["id"] for m in http.get("/models").get_json()])
    answer = http.post("/summarize", json={"text": "ScaiGrid runs models on GPU nodes."})
    print("POST /summarize:", answer.status_code, answer.get_json()["summary"])


if __name__ == "__main__":
    if os.environ.get("SCAIGRID_TARGET"):
        demo()
    else:
        from scaigrid_client.testing import FakeScaiGrid

        with FakeScaiGrid() as fake:  # the fake on its own thread; the views block
            print(f"(running against the bundled fake ScaiGrid at {fake.target})")
            os.environ |= {
                "SCAIGRID_TARGET": fake.target,
                "SCAIGRID_SERVICE_TOKEN": fake.token,
                "SCAIGRID_PLAINTEXT": "1",
            }
            demo()
            # A draining gateway that asks for no retry (negative pushback):
            # the view answers 503, with the ScaiGrid code and the request id.
            fake.fail(
                "InferenceService.Infer",
                grpc.StatusCode.UNAVAILABLE,
                code="service_draining",
                pushback_ms=-1,
            )
            failed = app.test_client().post("/summarize", json={"text": "again"})
            print("POST /summarize, gateway draining:", failed.status_code, failed.get_json())
            grid().close()
