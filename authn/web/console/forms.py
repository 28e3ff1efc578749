"""Admin console forms: they validate input; the services decide and write."""

from __future__ import annotations

from collections.abc import Iterable

from django import forms

from accounts.models import EMAIL_MAX_LENGTH, USERNAME_MAX_LENGTH, username_validator
from accounts.validators import display_name_validator
from authn.models import IdentityProvider
from permissions import catalogue as registry


def scope_choices(names: Iterable[str] | None = None) -> list[tuple[str, str]]:
    """Every registered scope (or `names`), by name, as checkbox choices."""
    return [(name, name) for name in sorted(registry.all_scopes() if names is None else names)]


class ScopesField(forms.MultipleChoiceField):
    """Checkboxes of the registry's scopes, read when the form is built."""

    widget = forms.CheckboxSelectMultiple

    def __init__(self, **kwargs: object) -> None:
        super().__init__(required=False, **kwargs)  # type: ignore[arg-type]


class ScopesForm(forms.Form):
    """A form with a `scopes` field offering the registry's scopes as they are now."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        if "scopes" in self.fields:
            self.fields["scopes"].choices = scope_choices()  # type: ignore[attr-defined]


class ServiceForm(forms.Form):
    name = forms.CharField(max_length=63, help_text="Lower case: billing, orders-api.")
    audience = forms.CharField(
        max_length=255, required=False, help_text="Defaults to the name; a URL is fine."
    )
    description = forms.CharField(max_length=500, required=False)


class ScopeForm(forms.Form):
    name = forms.CharField(max_length=127, help_text="<service>:<action>, e.g. billing:read.")
    description = forms.CharField(max_length=500, required=False)


class RoleForm(ScopesForm):
    name = forms.CharField(max_length=63, help_text="Lower case: billing-clerk.")
    description = forms.CharField(max_length=500, required=False)
    scopes = ScopesField()


class RoleEditForm(ScopesForm):
    description = forms.CharField(max_length=500, required=False)
    scopes = ScopesField()


class ForceForm(forms.Form):
    force = forms.BooleanField(required=False)


class GroupForm(ScopesForm):
    name = forms.CharField(max_length=150)
    scopes = ScopesField(help_text="Every member holds these, with the scopes of its roles.")


class GroupScopesForm(ScopesForm):
    """The scopes a group gives its members, as a whole set."""

    scopes = ScopesField(help_text="Every member holds these, with the scopes of its roles.")


class ConfirmedForm(forms.Form):
    """`confirmed`, sent by a confirm page's button along with the choice it confirms."""

    confirmed = forms.BooleanField(required=False)


class MemberAddForm(forms.Form):
    username = forms.CharField(max_length=150)
    role = forms.ChoiceField(
        choices=[("member", "Member"), ("admin", "Admin (manages the members)")],
        initial="member",
    )


class RoleGiveForm(forms.Form):
    role = forms.ChoiceField(choices=())

    def __init__(self, *args: object, roles: Iterable[tuple[str, str]], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["role"].choices = list(roles)  # type: ignore[attr-defined]


class UserSearchForm(forms.Form):
    q = forms.CharField(label="Username, email or name", max_length=254, required=False)


class UserCreateForm(forms.Form):
    """A person's account; without a password it cannot sign in until a reset sets one."""

    username = forms.CharField(max_length=USERNAME_MAX_LENGTH, validators=[username_validator])
    email = forms.EmailField(max_length=EMAIL_MAX_LENGTH, required=False)
    display_name = forms.CharField(
        max_length=150, required=False, validators=[display_name_validator]
    )
    password = forms.CharField(
        max_length=256,
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="Optional: without one, the user sets it through a password reset.",
    )


class ServiceAccountForm(ScopesForm):
    username = forms.CharField(
        max_length=USERNAME_MAX_LENGTH,
        validators=[username_validator],
        help_text="The service's name, e.g. reports-worker.",
    )
    display_name = forms.CharField(
        max_length=150, required=False, validators=[display_name_validator]
    )
    scopes = ScopesField(help_text="What its keys and client tokens may carry.")


class AuditFilterForm(forms.Form):
    """The audit log's filters; every one optional. Times are in the server's zone."""

    type = forms.CharField(max_length=64, required=False, help_text="e.g. login.failed")
    actor = forms.CharField(max_length=254, required=False, help_text="Username or user ID.")
    subject = forms.CharField(max_length=255, required=False, help_text="The subject's ID.")
    since = forms.DateTimeField(
        required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    until = forms.DateTimeField(
        required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )


def _words(text: str) -> list[str]:
    return text.replace(",", " ").split()


def _pairs(text: str, field: str) -> dict[str, str]:
    """`left=right` lines as a mapping; a line without `=` is the field's error."""
    pairs: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        left, sep, right = line.partition("=")
        if not sep or not left.strip() or not right.strip():
            raise forms.ValidationError(f"Write one {field} per line, as name=value: {line!r}.")
        pairs[left.strip()] = right.strip()
    return pairs


class IdentityProviderForm(forms.Form):
    """An identity provider's settings; the services check the values. The client secret is
    never shown: left empty on an edit it stays as it is."""

    slug = forms.CharField(
        max_length=50, help_text="Lower case, in the redirect URI: acme, google. Never changes."
    )
    display_name = forms.CharField(
        max_length=100, required=False, help_text="The sign-in button's label (default: the slug)."
    )
    issuer = forms.CharField(
        max_length=500, help_text="https://… (http only on 127.0.0.1, [::1] or localhost)."
    )
    client_id = forms.CharField(max_length=255)
    client_secret = forms.CharField(
        max_length=2000,
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}, render_value=False),
        help_text="Stored encrypted, never shown. Empty: a public client.",
    )
    public_client = forms.BooleanField(
        required=False, label="Remove the client secret (a public client)"
    )
    # Not `scopes`: the console's form template shows a field of that name as the registry's
    # checkboxes; these are the scopes asked of the provider.
    requested_scopes = forms.CharField(
        label="Scopes",
        max_length=2000,
        initial="openid email profile",
        help_text="Space-separated; openid required.",
    )
    enabled = forms.BooleanField(required=False, initial=True)
    create_accounts = forms.BooleanField(
        required=False, help_text="Create an account on a first sign-in without a link."
    )
    allowed_email_domains = forms.CharField(
        max_length=5000, required=False, help_text="Space-separated; empty: any."
    )
    link_by_verified_email = forms.BooleanField(
        required=False, help_text="Link to an existing account by the provider's verified email."
    )
    enforces_mfa = forms.BooleanField(
        required=False, help_text="Its amr/acr proving MFA stands in for the local second factor."
    )
    use_userinfo = forms.BooleanField(required=False, label="Read the userinfo endpoint")
    claim_mapping = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One per line, local=claim: username, email, display_name, avatar, groups.",
    )
    group_mapping = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One per line, upstream group=local group.",
    )

    def __init__(self, *args: object, editing: bool = False, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        if editing:
            del self.fields["slug"]
            self.fields["client_secret"].help_text = "Leave empty to keep the stored secret."
        else:
            del self.fields["public_client"]

    def clean_claim_mapping(self) -> dict[str, str]:
        return _pairs(self.cleaned_data["claim_mapping"], "claim")

    def clean_group_mapping(self) -> dict[str, str]:
        return _pairs(self.cleaned_data["group_mapping"], "group")

    def values(self, *, editing: bool) -> dict[str, object]:
        """The cleaned form as the services' values (on an edit, an empty secret is no change)."""
        data = dict(self.cleaned_data)
        data["scopes"] = _words(data.pop("requested_scopes"))
        data["allowed_email_domains"] = _words(data["allowed_email_domains"])
        if editing:
            if data.pop("public_client"):
                data["client_secret"] = ""
            elif not data["client_secret"]:
                del data["client_secret"]
        return data

    @staticmethod
    def initial_for(provider: IdentityProvider) -> dict[str, object]:
        return {
            "display_name": provider.display_name,
            "issuer": provider.issuer,
            "client_id": provider.client_id,
            "requested_scopes": " ".join(provider.scopes),
            "enabled": provider.enabled,
            "create_accounts": provider.create_accounts,
            "allowed_email_domains": " ".join(provider.allowed_email_domains),
            "link_by_verified_email": provider.link_by_verified_email,
            "enforces_mfa": provider.enforces_mfa,
            "use_userinfo": provider.use_userinfo,
            "claim_mapping": "\n".join(f"{k}={v}" for k, v in provider.claim_mapping.items()),
            "group_mapping": "\n".join(f"{k}={v}" for k, v in provider.group_mapping.items()),
        }
