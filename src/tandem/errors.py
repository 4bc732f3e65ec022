"""tandem's error tree. Each class carries `code` (a stable string, part of the public API) and
`status` (the HTTP status the REST API answers with).

* TandemError
  x NotFound            404  not-found
    + HiddenNotFound    404  not-found: also what a non-member hears about a project
  x AlreadyExists       409  already-exists
  x Conflict            409  conflict: stale state, illegal transition, a param logged twice
  x InvalidInput        422  invalid-input
    + InvalidFilter     422  invalid-filter: a search filter that does not parse (has `position`)
    + UnsafePath        422  unsafe-path: an artifact path that could escape its run
    + UnreadableData    422  unreadable-data: malformed CSV, wrong encoding, empty or mixed types
    + InvalidContract   422  invalid-contract: a data contract that does not parse (has `line`)
    + ContractViolated  422  contract-violated: a blocking contract check failed (has `failed`)
    + DestinationRefused 422 destination-refused: a URL tandem would call is not allowed (SSRF)
    + LimitExceeded     422  limit-exceeded: too many columns, or over the time budget (has `limit`)
    + UserCodeError     422  user-code-error: the user's code (a model's predict, a pipeline stage
                             or file) raised or exited non-zero; the original is in __cause__
  x Unauthenticated     401  unauthenticated
  x PermissionDenied    403  permission-denied
  x RateLimited         429  rate-limited: e.g. too many failed logins
  x QuotaExceeded       507  quota-exceeded: an upload would take its user past their quota
  x PayloadTooLarge     413  payload-too-large: a request body over the server's limit
  x UnsupportedMediaType 415 unsupported-media-type: a JSON route sent another content type
  x MisdirectedRequest  421  misdirected-request: a Host the server does not answer to
  x IntegrityError      500  integrity-error: a blob's bytes do not match its hash
  x ServerError         500  server-error (also what the SDK raises for an unknown code)
  x TransportError      -    the SDK could not reach the server

The REST API renders every TandemError as `application/problem+json` with `code`; the SDK turns
`code` back into the same class, so `except tandem.errors.NotFound` works embedded and remote.
Messages are public: say what failed, which id, what to do next. Never put secrets in them.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not `typing`: the `tandem` command imports this module at start-up
if TYPE_CHECKING:
    from typing import Any, ClassVar


class TandemError(Exception):
    """Base class of every error tandem raises on purpose."""

    code: ClassVar[str] = "error"
    status: ClassVar[int] = 500
    title: ClassVar[str] = "tandem error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.project: str | None = None  # for the audit log only; never sent to the caller

    def __str__(self) -> str:
        return self.message


class NotFound(TandemError):
    code = "not-found"
    status = 404
    title = "Not found"


class HiddenNotFound(NotFound):
    """Answers "not found" to someone who may not know whether the thing exists. Same code as
    NotFound on the wire; the server records it in the audit log as a denial."""


class AlreadyExists(TandemError):
    code = "already-exists"
    status = 409
    title = "Already exists"


class Conflict(TandemError):
    code = "conflict"
    status = 409
    title = "Conflict"


class InvalidInput(TandemError):
    code = "invalid-input"
    status = 422
    title = "Invalid input"


class InvalidFilter(InvalidInput):
    """A search filter that does not parse; `details["position"]` is the 0-based offset."""

    code = "invalid-filter"
    title = "Invalid filter"


class UnsafePath(InvalidInput):
    code = "unsafe-path"
    title = "Unsafe path"


class UnreadableData(InvalidInput):
    """Data that cannot be read as the table it claims to be."""

    code = "unreadable-data"
    title = "Unreadable data"


class InvalidContract(InvalidInput):
    """A data contract that does not parse or names unknown keys; `details["line"]` is 1-based
    when known, `details["field"]` the dotted path of the offending field."""

    code = "invalid-contract"
    title = "Invalid data contract"


class ContractViolated(InvalidInput):
    """A blocking check of a data contract failed; `details["failed"]` lists the check ids."""

    code = "contract-violated"
    title = "Data contract violated"


class DestinationRefused(InvalidInput):
    """A URL tandem would call (webhook, OpenLineage, OIDC provider) is refused by the outbound
    policy (tandem.core.outbound): `details["reason"]` says why when it is the address."""

    code = "destination-refused"
    title = "Destination refused"


class LimitExceeded(InvalidInput):
    """Data past a server's limit (`details["limit"]` names it: max_columns,
    profile_budget_seconds; `details["value"]` is its value)."""

    code = "limit-exceeded"
    title = "Limit exceeded"


class Unauthenticated(TandemError):
    code = "unauthenticated"
    status = 401
    title = "Unauthenticated"


class PermissionDenied(TandemError):
    code = "permission-denied"
    status = 403
    title = "Permission denied"


class IntegrityError(TandemError):
    code = "integrity-error"
    status = 500
    title = "Stored data failed verification"


class UserCodeError(InvalidInput):
    """Your code failed, not tandem: a model's predict, a pipeline stage or a Python pipeline
    file raised (the original exception is `__cause__`) or exited non-zero (its output is in
    the stage's log, `details["log"]`). An InvalidInput too, since the code is what tandem was
    given: `except InvalidInput` still catches it."""

    code = "user-code-error"
    title = "User code failed"


class RateLimited(TandemError):
    code = "rate-limited"
    status = 429
    title = "Too many requests"


class QuotaExceeded(TandemError):
    """An upload would take its user past the per-user storage quota (TANDEM_USER_QUOTA_BYTES);
    `details` has `used`, `size` and `quota` in bytes. Nothing of the upload is kept."""

    code = "quota-exceeded"
    status = 507
    title = "Insufficient storage"


class PayloadTooLarge(TandemError):
    """A request body over the server's limit (`details["limit"]`, in bytes)."""

    code = "payload-too-large"
    status = 413
    title = "Payload too large"


class UnsupportedMediaType(TandemError):
    """A JSON route was sent a body of another content type (e.g. text/plain, a form)."""

    code = "unsupported-media-type"
    status = 415
    title = "Unsupported media type"


class MisdirectedRequest(TandemError):
    """The request's Host is not a name the server answers to (TANDEM_ALLOWED_HOSTS)."""

    code = "misdirected-request"
    status = 421
    title = "Misdirected request"


class ServerError(TandemError):
    code = "server-error"
    status = 500
    title = "Server error"


class TransportError(TandemError):
    code = "transport-error"
    status = 503
    title = "Server unreachable"


_ALL: tuple[type[TandemError], ...] = (
    NotFound,
    AlreadyExists,
    Conflict,
    InvalidInput,
    InvalidFilter,
    UnsafePath,
    UnreadableData,
    InvalidContract,
    ContractViolated,
    DestinationRefused,
    LimitExceeded,
    Unauthenticated,
    PermissionDenied,
    RateLimited,
    QuotaExceeded,
    PayloadTooLarge,
    UnsupportedMediaType,
    MisdirectedRequest,
    IntegrityError,
    UserCodeError,
    ServerError,
    TransportError,
)
BY_CODE: dict[str, type[TandemError]] = {cls.code: cls for cls in _ALL}


def from_problem(problem: dict[str, Any]) -> TandemError:
    """Rebuild the error a server answered with (`application/problem+json`)."""
    cls = BY_CODE.get(str(problem.get("code")), ServerError)
    details = problem.get("details") or {}
    return cls(str(problem.get("detail") or problem.get("title") or "server error"), **details)
