"""Shared test builders: the one test debtor, admissions, actors, and one HTTP caller per
role. Tests build their data from here instead of keeping copies."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient

from debtcases.api.app import create_app
from debtcases.bootstrap import Container
from debtcases.domain.actors import Actor, Role
from debtcases.domain.admission import Admission
from debtcases.domain.debtor import Debtor

# The article's debtor: a complete German address Diagonal accepts.
DEBTOR = Debtor("Jana Schäfer", "Lindenstraße 12", "10969", "Berlin", "DE")
DEBTOR_JSON: dict[str, str] = DEBTOR.as_dict()
# The article's wrong address: no house number, a postal code of three digits.
WRONG_DEBTOR = Debtor("Tobias Weiß", "Musterweg", "123", "Köln", "DE")
WRONG_DEBTOR_JSON: dict[str, str] = WRONG_DEBTOR.as_dict()

VENDOR_ID = 79424  # the article's vendor
SUPPORT = Actor.support("anna")
INTAKE = Actor.system("intake")


def admission(
    order_id: str,
    user_id: int = VENDOR_ID,
    amount: str = "49.90",
    debtor: Debtor = DEBTOR,
    reason: str = "",
    currency: str = "EUR",
) -> Admission:
    return Admission(order_id, user_id, Decimal(amount), currency, debtor, reason=reason)


def admit_body(order_id: str, user_id: int = VENDOR_ID, **changes: Any) -> dict[str, Any]:
    """The JSON body of ``POST /api/v1/cases``."""
    body: dict[str, Any] = {
        "order_id": order_id,
        "user_id": user_id,
        "amount": "49.90",
        "currency": "EUR",
        "debtor": DEBTOR_JSON,
    }
    body.update(changes)
    return body


class Caller:
    """The API as one role sees it. Without ``expect`` a call returns the response; with
    it, it asserts the status and returns the JSON body."""

    def __init__(self, client: TestClient, token: str | None, prefix: str = "") -> None:
        self.client = client
        self.prefix = prefix
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def get(self, path: str, *, expect: int | None = None, **params: Any) -> Any:
        response = self.client.get(self.prefix + path, params=params, headers=self.headers)
        return self._checked(response, expect)

    def post(
        self,
        path: str,
        body: Any = None,
        *,
        raw: bytes | None = None,
        expect: int | None = None,
    ) -> Any:
        if raw is not None:
            headers = {**self.headers, "Content-Type": "application/json"}
            response = self.client.post(self.prefix + path, content=raw, headers=headers)
        else:
            response = self.client.post(self.prefix + path, json=body, headers=self.headers)
        return self._checked(response, expect)

    @staticmethod
    def _checked(response: Any, expect: int | None) -> Any:
        if expect is None:
            return response
        assert response.status_code == expect, response.text
        return response.json()


def callers(container: Container, prefix: str = "") -> dict[str, Any]:
    """One caller per role over one in-process HTTP client: anonymous, support, the
    article's vendor, another vendor, and the order intake (system)."""
    client = TestClient(create_app(container))
    return {
        "container": container,
        "client": client,
        "anonymous": Caller(client, None, prefix),
        "support": Caller(client, container.keys.create(Role.SUPPORT, name="anna"), prefix),
        "vendor": Caller(client, container.keys.create(Role.VENDOR, user_id=VENDOR_ID), prefix),
        "other": Caller(client, container.keys.create(Role.VENDOR, user_id=11111), prefix),
        "intake": Caller(client, container.keys.create(Role.SYSTEM, name="intake"), prefix),
    }
