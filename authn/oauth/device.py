"""The device verification pages (RFC 8628 §3.3), behind the dashboard sign-in.

`/o/device/` takes the code the device shows (any case, with or without separators) and
limits wrong codes per user (RFC 8628 §5.1 leaves that to the deployment; the toolkit does
not do it). The code then leaves the URLs: the grant it named is kept in the session, and the
approve page (`/o/device-confirm/`) and the outcome page (`/o/device-grant-status/`) name
nothing in their paths, so the code is not in access logs, history or a Referer.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.generic import FormView
from oauth2_provider import views as dot_views
from oauth2_provider.models import Application, DeviceGrant
from oauth2_provider.scopes import get_scopes_backend
from oauth2_provider.views.device import DeviceGrantForm, DeviceUserCodeView

from authn.oauth.sign_ins import device_key, oauth_sign_in_record, session_facts
from authn.oauth.user_codes import USER_CODE_MAX_INPUT, user_code_normalize
from micro_platform import counters

# Wrong user codes one signed-in user may enter per window (RFC 8628 §5.1 brute force).
DEVICE_CODE_FAILURES = 10
DEVICE_CODE_WINDOW_SECONDS = 900
# The id of the device grant this browser's user entered last.
DEVICE_GRANT_SESSION_KEY = "_micro_device_grant"
STALE_CONFIRM_PAGE = "Another code was entered since that page was shown: enter its code again."


class UserCodeField(forms.CharField):
    """A user code as typed, cleaned to its stored form; what cannot be a code is refused
    here like an unknown one (and counts as a wrong entry)."""

    def to_python(self, value: Any) -> str:
        typed = super().to_python(value)
        if not typed:
            return ""
        code = user_code_normalize(typed)
        if code is None:
            raise forms.ValidationError("Incorrect user code", code="incorrect_user_code")
        return code


class UserCodeForm(DeviceGrantForm):
    user_code = UserCodeField(
        required=True,
        max_length=USER_CODE_MAX_INPUT,
        label="Code",
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"}
        ),
    )


class DeviceCodeView(DeviceUserCodeView):
    """`/o/device/`: the user types the code the device shows, then approves it."""

    template_name = "oauth2_provider/device/user_code.html"
    form_class = UserCodeForm

    def _key(self) -> str:
        return f"oauth:device-code-failures:{self.request.user.pk}"

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if counters.counter_get(self._key()) >= DEVICE_CODE_FAILURES:
            response = render(request, "micro/throttled.html", status=429)
            response["Retry-After"] = str(DEVICE_CODE_WINDOW_SECONDS)
            return response
        return super().post(request, *args, **kwargs)

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)  # binds the grant to the signed-in user
        self.request.session[DEVICE_GRANT_SESSION_KEY] = self.device_grant.pk
        return response

    def form_invalid(self, form: Any) -> HttpResponse:
        counters.counter_incr(self._key(), DEVICE_CODE_WINDOW_SECONDS)
        return super().form_invalid(form)

    def get_success_url(self) -> str:
        return reverse("oauth2_provider:device-confirm")


def _entered_grant_id(request: HttpRequest) -> Any:
    return request.session.get(DEVICE_GRANT_SESSION_KEY)


class DeviceConfirmView(dot_views.DeviceConfirmView):
    """`/o/device-confirm/`: approve or deny the grant this user entered last in this
    browser, while it is pending. The form names the grant it showed; if another code was
    entered since, the decision is refused rather than applied to a grant not shown."""

    def get_object(self) -> DeviceGrant:
        if not hasattr(self, "_device_grant"):
            self._device_grant = get_object_or_404(
                DeviceGrant,
                pk=_entered_grant_id(self.request),
                status=DeviceGrant.AUTHORIZATION_PENDING,
                user=self.request.user,
            )
        return self._device_grant

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        # A form that does not name the grant it showed is as stale as one naming another:
        # the decision must be about the grant the user saw.
        if request.POST.get("device_grant") != str(self.get_object().pk):
            context = {"form": UserCodeForm(), "notice": STALE_CONFIRM_PAGE}
            return render(request, DeviceCodeView.template_name, context, status=409)
        # How the user signed in, recorded with the grant for its tokens.
        oauth_sign_in_record(
            key=device_key(self.get_object().device_code), facts=session_facts(request.session)
        )
        return super().post(request, *args, **kwargs)

    def get_success_url(self) -> str:
        return reverse("oauth2_provider:device-grant-status")

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        # Not the toolkit's: it reads the client and the code from the URL.
        context = FormView.get_context_data(self, **kwargs)
        device = self.get_object()
        all_scopes = get_scopes_backend().get_all_scopes()
        scopes = device.scope.split() if device.scope else []
        context["device_grant"] = device
        context["application"] = get_object_or_404(Application, client_id=device.client_id)
        context["scopes"] = scopes
        context["scopes_descriptions"] = [all_scopes.get(scope, scope) for scope in scopes]
        return context


class DeviceGrantStatusView(dot_views.DeviceGrantStatusView):
    """`/o/device-grant-status/`: the outcome for the grant this user entered last."""

    def get_object(self, queryset: Any = None) -> DeviceGrant:
        return get_object_or_404(
            DeviceGrant, pk=_entered_grant_id(self.request), user=self.request.user
        )
