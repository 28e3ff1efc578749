"""Admin console forms: they validate input; the services decide and write."""

from __future__ import annotations

from collections.abc import Iterable

from django import forms

from accounts.models import EMAIL_MAX_LENGTH, USERNAME_MAX_LENGTH, username_validator
from accounts.validators import display_name_validator
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
