"""Dashboard forms: they validate input; the services decide and write."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from django import forms

from accounts.models import avatar_url_validator
from accounts.validators import display_name_validator
from authn.api_keys.services import MAX_EXPIRY_DAYS, MAX_GRACE_HOURS
from authn.oauth import redirect_uris
from micro_platform.scopes import BUILT_IN_SERVICE
from permissions import catalogue as registry


class LoginForm(forms.Form):
    username = forms.CharField(max_length=254, widget=forms.TextInput(attrs={"autofocus": True}))
    password = forms.CharField(max_length=4096, strip=False, widget=forms.PasswordInput)

    username.widget.attrs.update(autocomplete="username", autocapitalize="none")
    password.widget.attrs.update(autocomplete="current-password")


class OtpForm(forms.Form):
    """A TOTP code or a backup code (the service decides which)."""

    otp_token = forms.CharField(
        label="Code",
        max_length=64,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
    )


class PasskeyNameForm(forms.Form):
    """A passkey's name, as the user calls it ("Laptop", "Blue key")."""

    name = forms.CharField(max_length=64, widget=forms.TextInput(attrs={"autocomplete": "off"}))


class AvatarUrlField(forms.URLField):
    """A URL field checked once, by the model's rule (http or https): URLField's own
    validator and the model's would each say "Enter a valid URL." for the same input."""

    default_validators = [avatar_url_validator]


class SecurityOtpForm(OtpForm):
    """A code field on the security page, which holds several: none takes the focus on load,
    which would open a phone's keyboard over the QR code and the page."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["otp_token"].widget.attrs.pop("autofocus", None)


class ProfileForm(forms.Form):
    display_name = forms.CharField(
        max_length=150, required=False, validators=[display_name_validator]
    )
    email = forms.EmailField(max_length=254, required=False)
    avatar_url = AvatarUrlField(
        label="Avatar URL", max_length=500, required=False, assume_scheme="https"
    )


class ApiKeyCreateForm(forms.Form):
    name = forms.CharField(max_length=100)
    scopes = forms.MultipleChoiceField(widget=forms.CheckboxSelectMultiple)
    expires_in_days = forms.IntegerField(min_value=1, max_value=MAX_EXPIRY_DAYS, initial=90)
    resource = forms.ChoiceField(
        required=False,
        label="For one service only",
        help_text="A key bound to a service holds only its scopes (and profile) and is a"
        " credential for that service alone.",
    )

    def __init__(self, *args: object, held_scopes: Iterable[str], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        catalogue = registry.current()
        # Only scopes the user holds are offered; the service re-checks on submit.
        choices = [(name, name) for name in sorted(held_scopes) if name in catalogue.all_scopes]
        self.fields["scopes"].choices = choices  # type: ignore[attr-defined]
        services = [
            (name, f"{name} ({entry.audience})")
            for name, entry in sorted(catalogue.services.items())
            if name != BUILT_IN_SERVICE
        ]
        self.fields["resource"].choices = [("", "No: any service")] + services  # type: ignore[attr-defined]


class ApiKeyRotateForm(forms.Form):
    grace_hours = forms.IntegerField(min_value=0, max_value=MAX_GRACE_HOURS, initial=24)


class PasswordChangeForm(forms.Form):
    old_password = forms.CharField(
        label="Current password",
        strip=False,
        max_length=4096,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    new_password = forms.CharField(
        label="New password",
        strip=False,
        max_length=4096,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    new_password_again = forms.CharField(
        label="New password (again)",
        strip=False,
        max_length=4096,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self) -> dict[str, object]:
        cleaned = super().clean() or {}
        if cleaned.get("new_password") != cleaned.get("new_password_again"):
            self.add_error("new_password_again", "The two passwords differ.")
        return cleaned


class SignOutEverywhereForm(forms.Form):
    api_keys = forms.BooleanField(required=False, label="Also revoke every API key")


class RedirectUrisField(forms.CharField):
    """Redirect URIs typed one per line, each an absolute URI (scheme and host, no fragment).

    A comma-separated list would be stored as one URI that never matches, so commas and
    spaces inside a line are refused with a message naming the line. Cleans to the URIs,
    one per line, blank lines and repeats dropped."""

    def widget_attrs(self, widget: forms.Widget) -> dict[str, str]:
        # The placeholder shows the shape: one URI on each line.
        return {
            **super().widget_attrs(widget),
            "class": "uris",
            "placeholder": "https://app.example/callback\nhttps://staging.app.example/callback",
        }

    def to_python(self, value: object) -> str:
        lines = (line.strip() for line in str(super().to_python(value)).splitlines())
        return "\n".join(dict.fromkeys(line for line in lines if line))

    def validate(self, value: str) -> None:
        super().validate(value)
        errors = [error for uri in value.splitlines() if (error := redirect_uri_problem(uri))]
        if errors:
            raise forms.ValidationError(errors)


def redirect_uri_problem(uri: str) -> str | None:
    """Why `uri` is not one redirect URI the service accepts, or None: first how the line is
    written (one absolute URI), then the service's redirect URI rule."""
    if "," in uri:
        return f"Put each redirect URI on its own line, without commas: “{uri}”."
    if any(char.isspace() for char in uri):
        return f"Put each redirect URI on its own line: “{uri}” has a space in it."
    try:
        parts = urlsplit(uri)
        host, _port = parts.hostname, parts.port  # a malformed port raises too
    except ValueError:
        return f"“{uri}” is not a valid URI."
    if not parts.scheme or not host:
        return (
            f"“{uri}” is not an absolute URI: give the scheme and host,"
            " e.g. https://app.example/callback."
        )
    if "#" in uri:
        return f"“{uri}” has a fragment (#…), which a redirect URI cannot have."
    # Then the service's one rule for every registration path (schemes, loopback, userinfo).
    problem = redirect_uris.redirect_uri_problem(uri)
    return f"“{uri}” {problem}." if problem else None


class ApplicationForm(forms.Form):
    """An OAuth 2.0 client for the user's own application (authorization code + PKCE)."""

    name = forms.CharField(max_length=255)
    client_type = forms.ChoiceField(
        choices=[
            ("confidential", "Confidential: a server that keeps a secret"),
            ("public", "Public: a browser or mobile app (no secret)"),
        ],
        initial="confidential",
    )
    redirect_uris = RedirectUrisField(
        label="Redirect URIs",
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=(
            "One per line, matched exactly: https, or http://127.0.0.1/… for an app on the "
            "user's own computer (it may then use any port)."
        ),
    )
