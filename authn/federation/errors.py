"""Why a federated sign-in stopped: a refusal (400 and an audit reason) or an upstream that
is down (503) or answers nonsense (502)."""

from __future__ import annotations


class FederationError(Exception):
    """A federated sign-in that cannot go on; never a sign-in."""

    status_code = 400
    code = "federation_refused"
    title = "Sign-in refused"

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class FederationRefused(FederationError):
    """The answer or the account does not pass a check (state, ID token, linking rules)."""


class UpstreamUnavailable(FederationError):
    """The provider did not answer in time, or refused the connection."""

    status_code = 503
    code = "idp_unavailable"
    title = "Identity provider unavailable"

    def __init__(self, message: str = "The identity provider did not answer.") -> None:
        super().__init__("upstream_error", message)


class UpstreamBadResponse(FederationError):
    """The provider answered something that is not a valid OpenID Connect answer."""

    status_code = 502
    code = "idp_bad_response"
    title = "Identity provider error"

    def __init__(self, message: str = "The identity provider answered something unusable.") -> None:
        super().__init__("upstream_error", message)
