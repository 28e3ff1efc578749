"""Concurrent read-modify-write through the API loses no update, PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from django.db import connection, connections
from rest_framework.test import APIClient

from accounts.models import User
from objects.models import Object
from tests.permissions.helpers import make_object, object_url

THREADS = 4
INCREMENTS = 5


def increment(client: APIClient, url: str, conflicts: list[int]) -> None:
    """Read, add one, write back with the version read; on 409 read again and retry."""
    try:
        done = 0
        while done < INCREMENTS:
            current = client.get(url).json()
            body = {"value": {"n": current["value"]["n"] + 1}, "version": current["version"]}
            response = client.patch(url, body, format="json")
            if response.status_code == 409:
                conflicts.append(1)
                continue
            assert response.status_code == 200, response.content
            done += 1
    finally:
        connections.close_all()


@pytest.mark.django_db(transaction=True, databases="__all__")
def test_parallel_increments_with_versions_lose_nothing(
    client_for: Callable[..., APIClient], user: User
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("row-level concurrency is exercised on PostgreSQL")
    obj = make_object(user, value={"n": 0})
    url, conflicts = object_url(obj), list[int]()
    clients = [client_for(user) for _ in range(THREADS)]
    threads = [
        threading.Thread(target=increment, args=(client, url, conflicts)) for client in clients
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    obj = Object.objects.get(pk=obj.pk)
    assert obj.value == {"n": THREADS * INCREMENTS}
    assert obj.version == THREADS * INCREMENTS + 1
