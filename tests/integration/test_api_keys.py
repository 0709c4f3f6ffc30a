"""API keys on both backends: stored only as hashes, revoked keys refused, never deleted."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

import psycopg
import pytest
from fastapi.testclient import TestClient

from debtcases.adapters.keys import hash_token, key_store_for
from debtcases.api.app import create_app
from debtcases.bootstrap import Container
from debtcases.domain.actors import Role


def _rows(database_url: str) -> list[tuple[object, ...]]:
    sql = "SELECT token_hash, role, name, user_id, revoked_at FROM debtcases_api_keys"
    if database_url.startswith("sqlite"):
        with sqlite3.connect(database_url.split("sqlite:///", 1)[1]) as conn:
            return list(conn.execute(sql).fetchall())
    with psycopg.connect(database_url) as conn:
        return list(conn.execute(sql).fetchall())


def test_tokens_are_stored_only_as_hashes(
    database_url: str, make_container: Callable[..., Container]
) -> None:
    container = make_container(database_url)
    token = container.keys.create(Role.VENDOR, user_id=79424)
    [row] = _rows(database_url)
    assert row[0] == hash_token(token) and token not in str(row)
    assert row[1:4] == ("vendor", "vendor-79424", 79424)


def test_a_revoked_key_is_refused_and_kept(
    database_url: str, make_container: Callable[..., Container]
) -> None:
    container = make_container(database_url)
    token = container.keys.create(Role.SUPPORT, name="anna")
    other = container.keys.create(Role.SUPPORT, name="ben")
    client = TestClient(create_app(container))
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/support/cases", headers=headers).status_code == 200
    [anna] = [k for k in container.keys.list() if k["name"] == "anna"]
    # Revoked from another process (the CLI): this one notices within its cache time.
    elsewhere = key_store_for(container.db, clock=container.clock)
    try:
        assert elsewhere.revoke(anna["key_id"]) == 1
    finally:
        elsewhere.close()
    container.keys.cache_seconds = 0
    refused = client.get("/api/v1/support/cases", headers=headers)
    assert refused.status_code == 401 and refused.json()["code"] == "unauthorized"
    assert (
        client.get(
            "/api/v1/support/cases", headers={"Authorization": f"Bearer {other}"}
        ).status_code
        == 200
    )
    listed = {k["name"]: k for k in container.keys.list()}
    assert listed["anna"]["revoked_at"] is not None and listed["ben"]["revoked_at"] is None
    assert len(_rows(database_url)) == 2


def test_revoking_needs_a_real_key_id(make_container: Callable[..., Container]) -> None:
    container = make_container("memory://")
    container.keys.create(Role.SYSTEM, name="intake")
    with pytest.raises(ValueError, match="8 hex"):
        container.keys.revoke("abc")
    assert container.keys.revoke("00000000") == 0
