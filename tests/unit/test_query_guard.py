"""A route that reads its query itself names what it takes; anything else is still a 422."""

from __future__ import annotations

from fastapi import Depends, FastAPI, Request
from fastapi.testclient import TestClient

from debtcases.api.query_guard import reject_unknown_query_parameters, takes_query


def _app() -> FastAPI:
    app = FastAPI(dependencies=[Depends(reject_unknown_query_parameters)])

    @app.get("/page")
    @takes_query("q", "seite")
    def page(request: Request) -> dict[str, str]:
        return dict(request.query_params)

    @app.get("/declared")
    def declared(user_id: int | None = None) -> dict[str, int | None]:
        return {"user_id": user_id}

    return app


def test_a_page_takes_the_parameters_it_names() -> None:
    client = TestClient(_app())
    assert client.get("/page?q=79424&seite=2").json() == {"q": "79424", "seite": "2"}


def test_a_misspelled_parameter_of_a_page_is_refused() -> None:
    client = TestClient(_app())
    answer = client.get("/page?q=79424&userid=1")
    assert answer.status_code == 422
    assert "userid" in answer.text


def test_declared_parameters_still_work_and_others_are_refused() -> None:
    client = TestClient(_app())
    assert client.get("/declared?user_id=7").json() == {"user_id": 7}
    assert client.get("/declared?userid=7").status_code == 422
