"""Rosetta over HTTP: an OpenAI-compatible API and a web chat page (``rosetta serve``)."""

from agent.server.app import create_app
from agent.server.config import ServerConfig
from agent.server.run import serve

__all__ = ["ServerConfig", "create_app", "serve"]
