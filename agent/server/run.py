"""Running the app with uvicorn, in the foreground (``rosetta serve``) or on a background thread (tests,
benchmarks, and programs that embed the server next to their own work)."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any, Sequence

import uvicorn

from agent.errors import RosettaError
from agent.models.base import ChatModel
from agent.server.app import create_app
from agent.server.config import ServerConfig
from agent.tooling import Tool


def _uvicorn_config(model: ChatModel, config: ServerConfig, tools: Sequence[Tool] | None, space: Any,
                    log_level: str) -> uvicorn.Config:
    app = create_app(model, config, tools, space)
    # Keep-alive pings and a bounded backlog; uvicorn's own request-line and header limits stay as they are.
    return uvicorn.Config(app, host=config.host, port=config.port, log_level=log_level, timeout_keep_alive=30,
                          backlog=256, ws="none", lifespan="off")


def serve(model: ChatModel, config: ServerConfig | None = None, tools: Sequence[Tool] | None = None,
          space: Any = None, log_level: str = "info") -> None:
    """Serve until interrupted (Ctrl-C)."""
    config = config or ServerConfig()
    uvicorn_config = _uvicorn_config(model, config, tools, space, log_level)
    server = uvicorn.Server(uvicorn_config)
    try:
        server.run()
    except OSError as error:
        raise RosettaError(f"cannot listen on {config.host}:{config.port}: {error.strerror}; pick another --port") from None
    finally:
        uvicorn_config.app.state.server.close()


class BackgroundServer:
    """``with BackgroundServer(model, config) as server: server.url`` - a real server on a free loopback port."""

    def __init__(self, model: ChatModel, config: ServerConfig | None = None, tools: Sequence[Tool] | None = None,
                 space: Any = None, log_level: str = "warning"):
        config = config or ServerConfig()
        if config.port == 0:
            config.port = free_port(config.host)
        self.config = config
        self._uvicorn_config = _uvicorn_config(model, config, tools, space, log_level)
        self._server = uvicorn.Server(self._uvicorn_config)
        self._thread = threading.Thread(target=self._server.run, name="rosetta-server", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.config.host}:{self.config.port}"

    def __enter__(self) -> "BackgroundServer":
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RosettaError(f"the server did not start on {self.url}")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(10)
        self._uvicorn_config.app.state.server.close()


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on now (the kernel's pick), for servers started by tests and benchmarks."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]
