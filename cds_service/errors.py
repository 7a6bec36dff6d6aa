"""Our exceptions; each maps to one HTTP status and says what was wrong.

    CdsError
     ├── BadRequest              400  body is not JSON / not an object
     ├── Unauthorized            401  no, or an invalid, CDS Client JWT (auth.py)
     ├── InvalidRequest          422  JSON that is not a valid CDS Hooks request or feedback
     ├── UnknownService          404  no service with that id
     ├── PayloadTooLarge         413  body over CDS_MAX_BODY_BYTES
     ├── PrefetchUnavailable     412  data the criteria need is neither prefetched nor fetchable
     ├── FeedbackNotStored       500  the feedback store did not commit
     └── EvaluationFailed        500  an exception inside the clinical core

    KnowledgeError   bad file in cards/ (start-up refuses to run)
    SettingsError    bad CDS_* variable (start-up refuses to run)
"""
from __future__ import annotations


class CdsError(Exception):
    """An error the API answers with ``code`` and a JSON ``description``."""

    code = 500
    title = "Internal Server Error"

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


class BadRequest(CdsError):
    code = 400
    title = "Bad Request"


class InvalidRequest(CdsError):
    code = 422
    title = "Unprocessable Content"


class UnknownService(CdsError):
    code = 404
    title = "Not Found"


class PayloadTooLarge(CdsError):
    code = 413
    title = "Payload Too Large"


class PrefetchUnavailable(CdsError):
    code = 412
    title = "Precondition Failed"


class FeedbackNotStored(CdsError):
    code = 500
    title = "Feedback Not Stored"


class EvaluationFailed(CdsError):
    code = 500
    title = "Evaluation Failed"


class KnowledgeError(Exception):
    """A file in the clinical knowledge directory is invalid; the message names file and field."""


class SettingsError(Exception):
    """A CDS_* setting is invalid; the message names the variable."""
