"""The error types of briefing.

Code raises these; only the edges (CLI, bot) turn them into friendly messages
and exit codes. Messages never contain secrets.
"""


class BriefingError(Exception):
    """Base class for every error briefing raises on purpose."""

    exit_code = 1


class BadInput(BriefingError):
    """The user gave something we cannot work on (missing file, binary data, ...)."""

    exit_code = 2


class FetchError(BadInput):
    """A URL could not be fetched, or was refused (private address, too large, ...)."""


class ExtractionError(BadInput):
    """The input holds no usable article text."""


class ConfigError(BriefingError):
    """The configuration is invalid."""

    exit_code = 3


class EngineError(BriefingError):
    """A summarisation engine failed for a story (the pipeline may fall back).

    `usage` holds what the failed attempt had already spent, so that it is counted.
    """

    usage: object = None


class LLMError(EngineError):
    """The LLM server failed, refused, or kept answering with invalid output."""


class PromptError(BriefingError):
    """A prompt template is missing or was filled without one of its variables."""
