"""Errors of the transfer API, each one problem type."""

from __future__ import annotations

from exchange.errors import ExchangeError


class TransferNotFound(ExchangeError):
    """No such transfer, or not one the caller's authority sent or received."""

    status, code, title = 404, "transfer-not-found", "Transfer not found"
    audit_as_denied = True


class TransitionNotAllowed(ExchangeError):
    """The transfer's state does not allow this step."""

    status, code, title = 409, "transition-not-allowed", "Not allowed in the transfer's state"


class IdempotencyKeyMissing(ExchangeError):
    """The request needs an Idempotency-Key header."""

    status, code, title = 400, "idempotency-key-missing", "Idempotency-Key required"


class IdempotencyKeyInvalid(ExchangeError):
    """The Idempotency-Key header is not usable."""

    status, code, title = 400, "idempotency-key-invalid", "Idempotency-Key not valid"


class IdempotencyKeyReused(ExchangeError):
    """The key was used before with a different request."""

    status, code, title = 422, "idempotency-key-reused", "Idempotency-Key reused"


class IdempotencyInProgress(ExchangeError):
    """The first request with this key is still being processed."""

    status, code, title = 409, "idempotency-in-progress", "Request with this key in progress"


class AuthorityNotAccepted(ExchangeError):
    """The receiving authority is unknown, abolished, or the sender itself."""

    status, code, title = 422, "receiving-authority-invalid", "Receiving authority not valid"


class RecordsInvalid(ExchangeError):
    """The records have errors; the problems say which and where."""

    status, code, title = 422, "records-invalid", "Records not valid"


class ExportUnreadable(ExchangeError):
    """The raw export could not be read by its adapter."""

    status, code, title = 422, "export-unreadable", "Export cannot be read"


class LimitExceeded(ExchangeError):
    """A configured limit was exceeded."""

    status, code, title = 422, "limit-exceeded", "Limit exceeded"


class DocumentRejected(ExchangeError):
    """The uploaded document does not match what was declared."""

    status, code, title = 422, "document-rejected", "Document rejected"


class ContentPurged(ExchangeError):
    """The content was deleted at the end of its retention period."""

    status, code, title = 410, "content-purged", "Content purged"


class FormatNotAvailable(ExchangeError):
    """The record cannot be rendered in the asked format."""

    status, code, title = 422, "format-not-available", "Format not available"


class RequestBodyInvalid(ExchangeError):
    """The body does not match what the endpoint takes."""

    status, code, title = 422, "request-invalid", "Request not valid"
