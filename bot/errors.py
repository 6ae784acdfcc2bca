"""The bot's exception hierarchy; every error a user may see carries a plain-words message."""

from __future__ import annotations

from enum import IntEnum

from bot.domain import ErrorKind
from bot.locales import Text, _, as_text


class ReelbotError(Exception):
    """Base of every error this project raises on purpose."""


class ConfigError(ReelbotError):
    """The configuration (environment, .env or catalog) is unusable; the message lists every problem."""


class DatabaseUnavailableError(ReelbotError):
    """The database could not be reached at start; the message names it (never its password) and what to check."""


class LeaseLostError(ReelbotError):
    """This process's lease on a job ran out and another process took the job over (or the job moved on): the work
    under way stops, writing and posting nothing."""

    def __init__(self, job_id: str) -> None:
        super().__init__(f"job {job_id}: its lease is no longer this process's")
        self.job_id = job_id


class UserFacingError(ReelbotError):
    """An error whose message is safe and useful to show the person who caused it.

    ``text`` is translated into the reader's language when it is shown; ``user_message`` is its English.
    """

    def __init__(self, text: Text | str) -> None:
        self.text = as_text(text)
        self.user_message = str(self.text)
        super().__init__(self.user_message)


class PrivateNotAllowedError(UserFacingError):
    """A private video on a server whose admins forbid them (/video-admin server private deny)."""

    def __init__(self, *, by_default: bool) -> None:
        if by_default:
            super().__init__(
                _(
                    "This server's admins have turned private videos off, so nothing was started and nothing was "
                    "charged. Your /video settings make every video private by default: set Private there to public "
                    "or no default, or run /video create with private: False."
                )
            )
        else:
            super().__init__(
                _(
                    "This server's admins have turned private videos off, so nothing was started and nothing was "
                    "charged. Run /video create without private: True to make a public one."
                )
            )


class GatewayError(ReelbotError):
    """A gateway call failed.

    ``text`` is safe to show anyone, translated into the reader's language when it is shown (a job keeps it as its
    failure reason); ``user_message`` is its English; ``detail`` is for the operator's log and never holds the key.
    """

    kind: ErrorKind = ErrorKind.UNAVAILABLE
    retryable: bool = False
    default_message: Text = _("The video service failed.")

    def __init__(self, detail: str = "", *, status: int | None = None, user_message: Text | str | None = None) -> None:
        self.detail = detail
        self.status = status
        self.text = as_text(user_message or self.default_message)
        self.user_message = str(self.text)
        super().__init__(f"{self.kind}: {detail}" if detail else str(self.kind))


class GatewayAuthError(GatewayError):
    """The gateway rejected the API key."""

    kind = ErrorKind.AUTH
    default_message = _("The video service rejected the bot's API key. The operator needs to check GATEWAY_API_KEY.")


class GatewayBalanceError(GatewayError):
    """The gateway account has no balance left."""

    kind = ErrorKind.BALANCE
    default_message = _("The video service account has run out of balance. The operator needs to top it up.")


class GatewayInvalidRequestError(GatewayError):
    """The gateway refused the request as malformed (bad size, duration, missing field)."""

    kind = ErrorKind.INVALID_REQUEST
    default_message = _("The video service refused these settings. Try another duration, size or model.")


class GatewayContentPolicyError(GatewayError):
    """The provider refused the prompt or images on content grounds."""

    kind = ErrorKind.CONTENT_POLICY
    default_message = _(
        "The video provider refused this request under its content policy. "
        "Rephrase the prompt or use other images (real people and faces are often refused)."
    )


class GatewayModelUnavailableError(GatewayError):
    """No gateway channel serves the model."""

    kind = ErrorKind.MODEL_UNAVAILABLE
    default_message = _("The video service does not offer this model right now. Pick another model.")


class GatewayRateLimitedError(GatewayError):
    """The gateway asked us to slow down."""

    kind = ErrorKind.RATE_LIMITED
    retryable = True
    default_message = _("The video service is busy. Try again in a minute.")

    def __init__(
        self,
        detail: str = "",
        *,
        status: int | None = 429,
        user_message: Text | str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(detail, status=status, user_message=user_message)
        self.retry_after = retry_after


class GatewayUnavailableError(GatewayError):
    """The gateway could not be reached or answered with a server error or a page that is not the API."""

    kind = ErrorKind.UNAVAILABLE
    retryable = True
    default_message = _("The video service is unavailable right now. Try again in a few minutes.")


class GatewayTaskLostError(GatewayError):
    """The gateway no longer knows the task."""

    kind = ErrorKind.LOST
    default_message = _("The video service lost track of this job. Nothing was delivered; try again.")


class GatewayBadResultError(GatewayError):
    """The result could not be fetched as a valid MP4."""

    kind = ErrorKind.BAD_RESULT
    retryable = True
    default_message = _("The finished video could not be downloaded intact.")


class GatewayResultRefusedError(GatewayBadResultError):
    """The result is one the bot will not fetch: larger than RESULT_MAX_MB, or at an address it does not reach."""

    retryable = False
    default_message = _("The finished video is at a link the bot does not fetch from.")


class GatewayProtocolError(GatewayUnavailableError):
    """The gateway answered 200 with a body that is not what the API returns (wrong base URL, broken proxy)."""

    default_message = _(
        "The video service sent an answer the bot could not read. The operator should check the gateway."
    )


class GatewayWebPageError(GatewayProtocolError):
    """The gateway's address answered with a web page (its dashboard, another site): GATEWAY_BASE_URL is wrong."""


class GatewayAcceptedUnreadableError(GatewayProtocolError):
    """A submit was answered 200 with a body that cannot be read: the gateway may run (and bill) a task nobody sees."""

    retryable = False
    default_message = _(
        "The video service accepted the job but sent an answer the bot could not read, so the bot cannot follow it. "
        "It was not sent again, to avoid paying twice. The operator should check the gateway."
    )


class GatewayUnconfirmedError(GatewayError):
    """A submit was sent but never answered; the gateway may have created (and charged) the task."""

    kind = ErrorKind.UNCONFIRMED
    default_message = _(
        "The video service did not confirm the job, so it was not sent again to avoid paying twice. "
        "Nothing will be delivered for it; try again in a few minutes."
    )


class ExitCode(IntEnum):
    """What the operator commands exit with."""

    OK = 0
    JOB_FAILED = 1
    ERROR = 1  # the bot itself stopped on an unexpected error
    USAGE = 2
    UNREACHABLE = 3
    INTERRUPTED = 130  # SIGINT (Ctrl-C)
    TERMINATED = 143  # SIGTERM


class DatabaseCopyError(ReelbotError):
    """`db copy` refused or stopped; the message says why, that nothing was copied, and what to do."""

    def __init__(self, message: str, code: ExitCode) -> None:
        super().__init__(message)
        self.code = code
