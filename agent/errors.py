"""Errors a user can act on.

Every Rosetta error carries one line that says what went wrong and what to do about it; the CLI prints that
line and exits non-zero instead of showing a traceback.
"""

from __future__ import annotations


class RosettaError(Exception):
    """Base class: str(error) is a single line fit to show a user."""


class MediaError(RosettaError):
    """An image or audio input could not be used (missing, unreadable, too large, silent...)."""


class MessageFormatError(RosettaError):
    """A message, or a message in a foreign format (OpenAI JSON, langchain-core), is malformed."""


class ModelLoadError(RosettaError):
    """A model could not be found or loaded."""


class UnsupportedInputError(RosettaError):
    """The chosen model cannot take an input it was given (an image for a text-only model, say)."""


class EndpointError(RosettaError):
    """An OpenAI-compatible endpoint could not be reached or refused the request."""
