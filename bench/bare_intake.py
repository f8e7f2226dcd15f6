"""The floor for webhook intake: a Litestar route that reads the body and answers, and nothing else.

``python -m bench.bare_intake --host H --port P`` serves it with the very uvicorn call that
``python -m service api`` makes, so the two differ only in what the route does.
"""

from __future__ import annotations

import argparse
from typing import Any

import uvicorn
from litestar import Litestar, Request, get, post

__all__ = ["app"]


@post("/webhooks/sumsub", status_code=200)
async def accept_callback(request: Request[Any, Any, Any]) -> dict[str, str]:
    await request.body()
    return {"status": "accepted"}


@get("/health/ready")
async def ready() -> dict[str, str]:
    return {"status": "ready"}


app = Litestar(route_handlers=[accept_callback, ready], debug=False, logging_config=None)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bare_intake")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    uvicorn.run("bench.bare_intake:app", host=args.host, port=args.port, workers=1, log_config=None,
                access_log=False)


if __name__ == "__main__":
    main()
