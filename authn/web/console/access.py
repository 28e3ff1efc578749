"""Who may use the admin console, and the helpers every console page shares.

Only a holder of `api_admin` sees a console page (anyone else gets the 403 page, an anonymous
visitor the sign-in page). Every change (every POST) of an administrator who has MFA needs a
sign-in with a one-time code in the last 15 minutes, the rule for minting an `api_admin` key.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import wraps
from typing import Any, Concatenate, ParamSpec, TypeVar
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.paginator import Page, Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from authn.mfa.services import user_has_mfa
from authn.web.views import dashboard_principal, dashboard_user
from micro_platform.identity import Principal
from micro_platform.sign_in import FreshMfaRequired, require_fresh_mfa

P = ParamSpec("P")
T = TypeVar("T")
PAGE_SIZE = 25

ConsoleView = Callable[Concatenate[HttpRequest, Principal, P], HttpResponse]


def require_console_change(request: HttpRequest, actor: Principal) -> None:
    """Raises FreshMfaRequired when the administrator has MFA and did not sign in with a
    second factor (a code or a passkey) in the last 15 minutes."""
    if user_has_mfa(user=dashboard_user(request)):
        require_fresh_mfa(
            actor=actor,
            message="Changes in the admin console need a sign-in with MFA (a one-time code or a"
            " passkey) in the last 15 minutes.",
        )


def console_view(view: ConsoleView[P]) -> Callable[Concatenate[HttpRequest, P], HttpResponse]:
    """A console page: api_admin only (403 page otherwise), every POST behind the fresh
    second-factor rule; the view gets the acting principal after the request."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: P.args, **kwargs: P.kwargs) -> HttpResponse:
        actor = dashboard_principal(request)
        if not actor.is_admin:
            return render(request, "micro/console/forbidden.html", status=403)
        if request.method == "POST":
            try:
                require_console_change(request, actor)
            except FreshMfaRequired:
                context = {"sign_in_url": "/accounts/login/?" + urlencode({"next": request.path})}
                return render(request, "micro/console/fresh_mfa.html", context, status=403)
        return view(request, actor, *args, **kwargs)

    return never_cache(login_required(require_http_methods(["GET", "POST"])(wrapped)))


def paginate(
    request: HttpRequest,
    items: Sequence[T] | Any,
    *,
    per_page: int | None = None,
    param: str = "page",
) -> Page:
    """One page of `items` by `?<param>=` (a number out of range gives the nearest page), of
    PAGE_SIZE items unless `per_page` says otherwise. A page showing several lists gives each
    its own `param`, so paging one leaves the others where they are."""
    return Paginator(items, per_page or PAGE_SIZE).get_page(request.GET.get(param))


def query_without_page(request: HttpRequest, param: str = "page") -> str:
    """The request's query string minus `param`, for the pager's links to keep the filters
    (and the other lists' pages)."""
    params = request.GET.copy()
    params.pop(param, None)
    return params.urlencode()


def status_for(*forms: Any) -> int:
    return 400 if any(form is not None and form.errors for form in forms) else 200
