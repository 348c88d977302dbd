"""Every domain error of the service, in one place.

They say what went wrong in the service's own terms; the HTTP layer maps each to a status once
(``service.api.app.create_app``) and the command line to an exit code (``service.cli``).
"""

from __future__ import annotations


class ModelNotFoundError(RuntimeError):
    """The configured model is not on this machine; the message says what to do."""


class ModelNotReady(Exception):
    """The backend is still loading, or failed to load; the message says which."""


class QueueFull(Exception):
    """Too many requests are waiting for the model, or the wait for it would pass the deadline."""

    def __init__(self, message: str, retry_after_s: int = 5) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s  # when a retry is expected to be admitted


class DeadlineExceeded(Exception):
    """The request did not finish within its deadline."""


class ClientGone(Exception):
    """The client disconnected before its summary was ready."""


class Cancelled(Exception):
    """The request was cancelled (deadline passed or client gone) before it finished."""


class InferenceServerError(Exception):
    """The inference server behind the 'openai' backend failed or gave an unusable answer."""
