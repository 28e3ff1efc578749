"""Dashboard pages for sign-up, email verification and password reset (server-rendered)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import SetPasswordForm
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from accounts import email_flows, services
from accounts.models import EMAIL_MAX_LENGTH, USERNAME_MAX_LENGTH, User, username_validator
from accounts.validators import display_name_validator
from micro_platform.http import client_ip


class SignupForm(forms.Form):
    username = forms.CharField(max_length=USERNAME_MAX_LENGTH, validators=[username_validator])
    email = forms.EmailField(max_length=EMAIL_MAX_LENGTH)
    display_name = forms.CharField(
        max_length=150, required=False, validators=[display_name_validator]
    )
    password = forms.CharField(
        max_length=256,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )


class EmailForm(forms.Form):
    email = forms.EmailField(
        max_length=EMAIL_MAX_LENGTH, widget=forms.EmailInput(attrs={"autocomplete": "email"})
    )


def _too_many(request: HttpRequest, exc: email_flows.RateLimited) -> HttpResponse:
    response = render(request, "accounts/too_many.html", status=429)
    response["Retry-After"] = str(exc.retry_after)
    return response


@sensitive_post_parameters("password")
@never_cache
@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    """Self sign-up; 403 while `MICRO_SIGNUP_OPEN` is off. CSRF-protected like every form."""
    if not email_flows.signup_open():
        return render(request, "accounts/signup_closed.html", status=403)
    form = SignupForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            user = email_flows.user_signup(**form.cleaned_data, ip_address=client_ip(request))
        except email_flows.RateLimited as exc:
            return _too_many(request, exc)
        except services.Conflict as exc:
            form.add_error(exc.field, exc.message)
        except ValidationError as exc:
            form.add_error("password", exc)
        else:
            return render(request, "accounts/signup_done.html", {"email": user.email})
    return render(request, "accounts/signup.html", {"form": form})


# Emailed links carry their secret in the query string (`?token=`, `?code=`), never in the path
# that access logs keep (deploy/gunicorn.conf.py). The first request moves it into the session
# and redirects to a URL without it, so the page the user sees (and any Referer it sends) holds
# no secret; those answers send no Referer themselves.
MAX_LINK_SECRET = 512
VERIFY_SESSION_KEY = "_micro_verify_email_token"


def _no_referrer(response: HttpResponse) -> HttpResponse:
    response["Referrer-Policy"] = "no-referrer"
    return response


@never_cache
@require_http_methods(["GET", "POST"])
def verify_email(request: HttpRequest) -> HttpResponse:
    """`/accounts/verify-email/?token=…` keeps a valid token in the session and redirects to
    `/accounts/verify-email/`, which asks for a click (link scanners fetch links); the POST
    verifies with the token from the session. An invalid token is not kept: anonymous
    requests with made-up tokens must not each create a session row."""
    token = request.GET.get("token", "")[:MAX_LINK_SECRET]
    if request.method == "GET" and token:
        try:
            email_flows.email_verification_user(token=token)
        except email_flows.InvalidToken:
            # Drops a pending token of an earlier link; creates no session when there is none.
            request.session.pop(VERIFY_SESSION_KEY, None)
        else:
            request.session[VERIFY_SESSION_KEY] = token
        return _no_referrer(redirect("selfservice:verify-email"))
    if request.method == "GET":
        pending = bool(request.session.get(VERIFY_SESSION_KEY))
        context = {"confirm": True} if pending else {"invalid": True}
        return render(request, "accounts/verify_email.html", context)
    try:
        user = email_flows.email_verify(token=str(request.session.pop(VERIFY_SESSION_KEY, "")))
    except email_flows.InvalidToken:
        # 200 like Django's reset view: a stale link is not an error worth a 4xx.
        return render(request, "accounts/verify_email.html", {"invalid": True})
    return render(request, "accounts/verify_email.html", {"verified": user.email})


@never_cache
@require_http_methods(["GET"])
def password_reset_link(request: HttpRequest) -> HttpResponse:
    """`/accounts/password-reset/confirm/?code=<uidb64>.<token>`: a valid code moves its token
    into a new session, as Django's own view does with a token in the path, and the browser
    goes on to the set-password form; an invalid one gets the "does not work" page (200)."""
    try:
        code = request.GET.get("code", "")[:MAX_LINK_SECRET]
        uidb64, token = email_flows.split_reset_code(code)
        email_flows.password_reset_user(uidb64=uidb64, token=token)
    except email_flows.InvalidToken:
        context = {"validlink": False, "form": None}
        return _no_referrer(render(request, "accounts/password_reset_confirm.html", context))
    request.session.cycle_key()
    request.session[auth_views.INTERNAL_RESET_SESSION_TOKEN] = token
    return _no_referrer(
        redirect(
            "selfservice:password-reset-confirm",
            uidb64=uidb64,
            token=auth_views.PasswordResetConfirmView.reset_url_token,
        )
    )


@never_cache
@require_http_methods(["GET", "POST"])
def password_reset(request: HttpRequest) -> HttpResponse:
    """Asks for a reset link; the page after it reads the same whatever the address."""
    form = EmailForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            email_flows.password_reset_send(
                email=form.cleaned_data["email"], ip_address=client_ip(request)
            )
        except email_flows.RateLimited as exc:
            return _too_many(request, exc)
        return render(request, "accounts/password_reset_sent.html")
    return render(request, "accounts/password_reset.html", {"form": form})


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """Django's set-password form at `/accounts/password-reset/<uidb64>/set-password/`, the
    token read from the session (`password_reset_link` put it there), saving through
    `password_reset_complete` so every reset ends sign-ins and is audited.

    A real token in this path (Django's own link shape) is refused like a bad link: secrets
    never travel in a path, which access logs keep.
    """

    form_class = SetPasswordForm
    template_name = "accounts/password_reset_confirm.html"
    success_url = reverse_lazy("selfservice:password-reset-complete")
    token_generator = email_flows.password_reset_tokens

    def dispatch(self, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if kwargs.get("token") != self.reset_url_token:
            context = {"validlink": False, "form": None}
            return render(self.request, self.template_name, context)
        return super().dispatch(*args, **kwargs)

    def get_user(self, uidb64: str) -> User | None:  # type: ignore[override]
        user = super().get_user(uidb64)
        return user if user is not None and user.is_active else None

    def form_valid(self, form: Any) -> HttpResponse:
        token = self.request.session.get(auth_views.INTERNAL_RESET_SESSION_TOKEN, "")
        try:
            email_flows.password_reset_complete(
                uidb64=self.kwargs["uidb64"],
                token=token,
                new_password=form.cleaned_data["new_password1"],
                ip_address=client_ip(self.request),
            )
        except email_flows.InvalidToken:
            self.validlink = False
            return self.render_to_response(self.get_context_data())
        except ValidationError as exc:
            form.add_error("new_password1", exc)
            return self.form_invalid(form)
        del self.request.session[auth_views.INTERNAL_RESET_SESSION_TOKEN]
        return super(auth_views.PasswordResetConfirmView, self).form_valid(form)


def password_reset_complete(request: HttpRequest) -> HttpResponse:
    return render(
        request, "accounts/password_reset_complete.html", {"login_url": settings.LOGIN_URL}
    )
