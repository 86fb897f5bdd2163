"""The floor: a trivial ASGI app that returns the request body, on the same stack `nimbus serve` runs.

Same uvicorn configuration as nimbus/cli/serve.py (uvloop, httptools, no access log, no server header), so
the difference between this and a warm invoke is what nimbus itself adds. Run as `python -m bench.echo --port N`.
"""

from __future__ import annotations

import argparse
from typing import Any

import uvicorn


async def echo(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    headers = [(b"content-length", str(len(body)).encode()), (b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def main() -> None:
    parser = argparse.ArgumentParser(description="HTTP echo floor for the nimbus benchmark")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    config = uvicorn.Config(
        echo, host=args.host, port=args.port, loop="uvloop", http="httptools", lifespan="off",
        log_level="warning", access_log=False, server_header=False,
    )  # fmt: skip
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
