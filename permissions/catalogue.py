"""The scope registry as the rest of the service reads it: every service and scope, cached.

Every process keeps one snapshot of the registry (a few rows per service) and answers from it
without a query. A change to a service or a scope drops this process's snapshot at once and,
after its commit, bumps a version counter in the shared cache; every other process compares
its snapshot's version with the counter at most once per `MICRO_REGISTRY_REFRESH_SECONDS` and
reloads when they differ. The counter is read *before* the rows, and bumped after the commit,
so a reload racing a change can only store a snapshot already marked outdated.

The paths that verify a credential (a token, a cached API key, the public user lookup) do not
read the registry at all: tokens and keys carry their scope names. Only a gateway check naming
a `resource` does, from the snapshot.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import MappingProxyType

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from micro_platform import scopes as sc
from micro_platform.scopes import UnknownScope
from permissions.models import Scope, Service

logger = logging.getLogger(__name__)

VERSION_KEY = "permissions:registry-version"


@dataclass(frozen=True, slots=True)
class ScopeEntry:
    name: str
    description: str
    service: str


@dataclass(frozen=True, slots=True)
class ServiceEntry:
    name: str
    audience: str
    description: str
    scopes: frozenset[str]


@dataclass(frozen=True)
class Catalogue:
    """One consistent view of the registry."""

    scopes: Mapping[str, ScopeEntry]
    services: Mapping[str, ServiceEntry]
    by_audience: Mapping[str, ServiceEntry]
    all_scopes: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "all_scopes", frozenset(self.scopes))

    def validate(self, names: Iterable[str]) -> frozenset[str]:
        """The names as a set; raises UnknownScope naming each one not registered."""
        result = frozenset(names)
        unknown = sorted(result - self.all_scopes)
        if unknown:
            raise UnknownScope(f"unknown scope(s): {', '.join(unknown)}")
        return result

    def expand(self, names: Iterable[str]) -> frozenset[str]:
        """The registered scopes a set really grants (`api_admin` implies the built-in ones)."""
        return sc.implied(frozenset(names) & self.all_scopes)

    def service_for(self, resource: str) -> ServiceEntry | None:
        """The service a `resource` parameter designates: its audience (RFC 8707), or its name."""
        return self.by_audience.get(resource) or self.services.get(resource)

    def scopes_of(self, service: ServiceEntry) -> frozenset[str]:
        """What a token for `service` may carry: its scopes, and `profile` (the account)."""
        return service.scopes | {sc.PROFILE}

    def oauth_scopes(self) -> dict[str, str]:
        """What an OAuth 2.0 client may ask for, each scope with its description."""
        return {
            sc.OPENID: "Sign you in (OpenID Connect).",
            sc.EMAIL: "Your email address and whether it is verified (OpenID Connect).",
            **{name: entry.description for name, entry in sorted(self.scopes.items())},
        }


def _built_in() -> tuple[dict[str, ScopeEntry], ServiceEntry]:
    """The built-in service from the code: present even before its rows are migrated."""
    scopes = {
        name: ScopeEntry(name, description, sc.BUILT_IN_SERVICE)
        for name, description in sc.BUILT_IN_SCOPES.items()
    }
    service = ServiceEntry(
        name=sc.BUILT_IN_SERVICE,
        audience=settings.MICRO_TOKEN_AUDIENCE,
        description=sc.BUILT_IN_DESCRIPTION,
        scopes=frozenset(scopes),
    )
    return scopes, service


def _load() -> Catalogue:
    scopes, micro = _built_in()
    services = {micro.name: micro}
    owned: dict[str, set[str]] = {}
    rows = Scope.objects.values_list("name", "description", "service__name")
    for name, description, service_name in rows:
        if service_name == sc.BUILT_IN_SERVICE:
            continue  # the code's names and words are the built-in service's
        scopes[name] = ScopeEntry(name, description, service_name)
        owned.setdefault(service_name, set()).add(name)
    for name, audience, description in Service.objects.exclude(
        name=sc.BUILT_IN_SERVICE
    ).values_list("name", "audience", "description"):
        services[name] = ServiceEntry(name, audience, description, frozenset(owned.get(name, ())))
    return Catalogue(
        scopes=MappingProxyType(scopes),
        services=MappingProxyType(services),
        by_audience=MappingProxyType({entry.audience: entry for entry in services.values()}),
    )


class _Snapshot:
    """This process's copy of the registry, its version, and when the version was checked."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.catalogue: Catalogue | None = None
        self.version: int | None = None
        self.checked_at = 0.0


_snapshot = _Snapshot()


def _version_now() -> int | None:
    """The shared counter, created when missing; None when the cache cannot be reached."""
    try:
        found = cache.get(VERSION_KEY)
        if found is None:
            cache.add(VERSION_KEY, time.time_ns(), timeout=None)
            found = cache.get(VERSION_KEY)
        return None if found is None else int(found)
    except Exception:  # noqa: BLE001 - a cache outage keeps the snapshot, it never breaks a read
        logger.warning("registry version unreadable; keeping this process's snapshot")
        return None


def current(*, recheck: bool = False) -> Catalogue:
    """The registry now: this process's snapshot, reloaded when another process changed it.
    `recheck` compares the snapshot's version with the shared one now, whenever it was last."""
    snapshot = _snapshot
    now = time.monotonic()
    catalogue = snapshot.catalogue
    fresh_for = settings.MICRO_REGISTRY_REFRESH_SECONDS
    if not recheck and catalogue is not None and now - snapshot.checked_at < fresh_for:
        return catalogue
    with snapshot.lock:
        if not recheck and snapshot.catalogue is not None and now - snapshot.checked_at < fresh_for:
            return snapshot.catalogue
        version = _version_now()
        if snapshot.catalogue is None or (version is not None and version != snapshot.version):
            snapshot.catalogue = _load()
            snapshot.version = version
        snapshot.checked_at = now
        return snapshot.catalogue


def _bump() -> None:
    try:
        try:
            cache.incr(VERSION_KEY)
        except ValueError:  # missing: start at a value no earlier counter can have had
            cache.set(VERSION_KEY, time.time_ns(), timeout=None)
    except Exception:  # the change is committed: never answer it with an error
        # Other processes see it once the cache is back and the next change bumps the
        # version, or when they restart; this process already has.
        logger.exception("registry version not bumped: the cache is unreachable")


def forget() -> None:
    """Drops this process's snapshot: the next read loads the registry again (a test whose
    rows were rolled back, say)."""
    with _snapshot.lock:
        _snapshot.catalogue = None


def changed() -> None:
    """A service or scope changed: this process reloads on its next read, the others after
    the commit (the registry's services and the model signals call this)."""
    forget()
    transaction.on_commit(_bump, using=Scope.objects.db)


def registry_rows_changed(sender: object, **kwargs: object) -> None:
    """A saved or deleted service or scope row (the model signals)."""
    changed()


@contextmanager
def changing() -> Iterator[None]:
    """One atomic change of the registry. A change rolled back leaves no snapshot read from
    it behind (Django has no rollback hook, hence the wrapper)."""
    try:
        with transaction.atomic(using=Scope.objects.db):
            yield
            changed()
    except BaseException:
        forget()
        raise


# What most callers need, from the current snapshot.


def _knowing(names: frozenset[str]) -> Catalogue:
    """The snapshot, rechecked against the shared version when it lacks one of `names`: a
    scope another process registered a moment ago is never refused or dropped for the
    snapshot's age. Only a name the snapshot lacks costs the check (one cache read)."""
    catalogue = current()
    return catalogue if names <= catalogue.all_scopes else current(recheck=True)


def all_scopes() -> frozenset[str]:
    return current().all_scopes


def registered(names: Iterable[str]) -> frozenset[str]:
    """The names that are registered scopes (rechecked as `_knowing` does)."""
    held = frozenset(names)
    return held & _knowing(held).all_scopes


def validate_scopes(names: Iterable[str]) -> frozenset[str]:
    wanted = frozenset(names)
    return _knowing(wanted).validate(wanted)


def parse_scope_string(value: str) -> frozenset[str]:
    """Split an OAuth-style space-separated scope string; every name must be registered."""
    return validate_scopes(value.split())


def expand(names: Iterable[str]) -> frozenset[str]:
    held = frozenset(names)
    return _knowing(held).expand(held)


def service_named(name: str) -> ServiceEntry | None:
    """The service of that name (never looked up by audience), rechecked as `_knowing` does
    when the snapshot has none."""
    return current().services.get(name) or current(recheck=True).services.get(name)


def service_for(resource: str) -> ServiceEntry | None:
    """The service a `resource` designates (its audience or name), rechecked as `_knowing`
    does when the snapshot knows none."""
    return current().service_for(resource) or current(recheck=True).service_for(resource)
