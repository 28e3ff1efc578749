"""The API-key cache: hits need no query, and every change to what a key may do applies at once."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts import services as account_services
from accounts.models import User
from accounts.principals import principal_for_user
from authn.api_keys import cache as api_key_cache
from authn.api_keys.services import InvalidApiKey, api_key_authenticate, api_key_create
from authn.state import STATE_GENERATION_KEY
from tests.conftest import StateClock
from tests.factories import GroupFactory, MembershipFactory, ServiceAccountFactory


@pytest.fixture
def commit(django_capture_on_commit_callbacks: Any) -> Any:
    """Runs the block's on-commit callbacks (the cache invalidations) as a real commit would."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def mint(owner: User, scopes: tuple[str, ...]) -> str:
    return api_key_create(owner=owner, name="k", scopes=scopes, expires_in_days=5, actor=None).key


def cached_scopes(raw: str) -> frozenset[str]:
    """Authenticates twice and checks the second run was a pure cache hit."""
    api_key_authenticate(raw=raw)
    with CaptureQueriesContext(connection) as queries:
        principal = api_key_authenticate(raw=raw)
    assert len(queries) == 0
    return principal.scopes


def test_removing_a_scope_from_the_owner_applies_at_once(db: Any, commit: Any) -> None:
    service = ServiceAccountFactory.create(scopes=["users:read", "objects:read"])
    raw = mint(service, ("users:read", "objects:read"))
    assert cached_scopes(raw) == {"users:read", "objects:read"}
    with commit():
        service.scopes = ["objects:read"]
        service.save()
    assert cached_scopes(raw) == {"objects:read"}


def test_removing_a_scope_from_a_group_applies_at_once(user: User, commit: Any) -> None:
    group = GroupFactory.create(scopes=["users:write"])
    MembershipFactory.create(group=group, user=user)
    raw = mint(user, ("users:write", "profile"))
    assert cached_scopes(raw) == {"users:write", "profile"}
    with commit():
        group.scopes = []
        group.save()
    assert cached_scopes(raw) == {"profile"}


def test_removing_a_membership_applies_at_once(user: User, admin_user: User, commit: Any) -> None:
    group = GroupFactory.create(scopes=["users:write"])
    MembershipFactory.create(group=group, user=user)
    raw = mint(user, ("users:write",))
    assert cached_scopes(raw) == {"users:write"}
    with commit():
        account_services.group_member_remove(
            actor=principal_for_user(admin_user, method="jwt", amr=("pwd",)),
            group=group,
            user_id=user.pk,
        )
    assert cached_scopes(raw) == frozenset()


def test_deleting_a_group_applies_at_once(user: User, commit: Any) -> None:
    group = GroupFactory.create(scopes=["users:write"])
    MembershipFactory.create(group=group, user=user)
    raw = mint(user, ("users:write",))
    assert cached_scopes(raw) == {"users:write"}
    with commit():
        group.delete()
    assert cached_scopes(raw) == frozenset()


def test_adding_a_membership_updates_the_groups_reported(user: User, commit: Any) -> None:
    raw = mint(user, ("profile",))
    assert api_key_authenticate(raw=raw).group_ids == ()
    with commit():
        membership = MembershipFactory.create(user=user)
    assert api_key_authenticate(raw=raw).group_ids == (membership.group_id,)


def test_deactivating_the_owner_applies_at_once(user: User, admin_user: User, commit: Any) -> None:
    raw = mint(user, ("profile",))
    cached_scopes(raw)
    with commit():
        account_services.user_deactivate(
            actor=principal_for_user(admin_user, method="jwt"), user=user
        )
    with pytest.raises(InvalidApiKey):
        api_key_authenticate(raw=raw)


def test_losing_the_generation_counters_forces_a_rebuild(
    user: User, state_clock: StateClock
) -> None:
    raw = mint(user, ("profile",))
    cached_scopes(raw)
    # What a Redis restart loses with them: the state generation, read at the next poll.
    cache.delete_many(
        [
            api_key_cache.GLOBAL_GENERATION_KEY,
            api_key_cache.user_generation_key(user.pk),
            STATE_GENERATION_KEY,
        ]
    )
    state_clock.poll_due()
    with CaptureQueriesContext(connection) as queries:
        api_key_authenticate(raw=raw)
    assert len(queries) > 0  # rebuilt from the database, not trusted from the old entry
    cached_scopes(raw)


def test_an_entry_stamped_before_a_change_is_not_used(user: User) -> None:
    """The race: an entry built from rows read before a change commits, stored after it."""
    raw = mint(user, ("profile",))
    api_key_authenticate(raw=raw)
    prefix = raw.split("_")[1]
    stale = cache.get(api_key_cache.entry_key(prefix))
    api_key_cache._bump(api_key_cache.user_generation_key(user.pk))  # the change commits
    api_key_cache.entry_put(prefix=prefix, entry=stale)  # the slow rebuild lands afterwards
    assert api_key_cache.entry_get(prefix=prefix) is None


def test_invalidation_waits_for_the_commit(
    user: User, django_capture_on_commit_callbacks: Any
) -> None:
    raw = mint(user, ("profile",))
    api_key_authenticate(raw=raw)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        api_key_cache.user_changed(user_id=user.pk)
        # Not bumped yet: a rebuild now would read the rows before the change commits.
        assert api_key_cache.entry_get(prefix=raw.split("_")[1]) is not None
    assert len(callbacks) == 1


def test_editing_a_key_row_directly_applies_at_once(user: User, commit: Any) -> None:
    from django.utils import timezone

    from authn.models import ApiKey

    raw = mint(user, ("profile",))
    cached_scopes(raw)
    api_key = ApiKey.objects.get(prefix=raw.split("_")[1])
    with commit():
        api_key.revoked_at = timezone.now()
        api_key.save()  # what the admin site does
    with pytest.raises(InvalidApiKey):
        api_key_authenticate(raw=raw)
