"""The error types of briefing.

Code raises these; only the edges (CLI, bot) turn them into friendly messages
and exit codes. Messages never contain secrets.
"""


class BriefingError(Exception):
    """Base class for every error briefing raises on purpose.

    The message is for the log, the CLI and admins (it may name settings, addresses, errno
    texts). `reason` names the failure for readers, who get it in their language from the
    bot's catalogue, with `values` (a status code, say): never the message itself.
    """

    exit_code = 1

    def __init__(self, message: str, *, reason: str | None = None, **values: object) -> None:
        super().__init__(message)
        self.reason = reason
        self.values = values


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
