"""The service's shell: health, readiness, problem+json errors and request ids."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import create_engine

PROBLEM = "application/problem+json"


def test_healthz_answers_while_the_process_is_up(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": None}


def test_readyz_reports_the_migrated_database(client: TestClient, database_url: str) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    expected = "postgresql" if database_url.startswith("postgresql") else "sqlite"
    assert response.json() == {"status": "ok", "database": expected}


def test_readyz_is_503_problem_when_the_database_is_not_migrated(
    client: TestClient, tmp_path: object, monkeypatch: object
) -> None:
    import pytest

    from exchange.api import health

    empty = create_engine(f"sqlite:///{tmp_path}/empty.db")
    mp = monkeypatch
    assert isinstance(mp, pytest.MonkeyPatch)
    mp.setattr(health, "get_engine", lambda: empty)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["code"] == "not-ready"
    assert "exchange db upgrade" in body["fix"]


def test_readyz_is_503_problem_when_the_database_is_unreachable(
    client: TestClient, monkeypatch: object
) -> None:
    import pytest

    from exchange.api import health

    unreachable = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1")
    mp = monkeypatch
    assert isinstance(mp, pytest.MonkeyPatch)
    mp.setattr(health, "get_engine", lambda: unreachable)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["detail"] == "The database cannot be reached."


def test_unknown_path_is_a_problem_document(client: TestClient) -> None:
    response = client.get("/v1/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == 404
    assert body["type"].endswith("/not-found")
    assert body["instance"] == "/v1/nothing-here"
    assert body["request_id"] == response.headers["x-request-id"]


def test_wrong_method_is_a_problem_document(client: TestClient) -> None:
    response = client.delete("/healthz")
    assert response.status_code == 405
    assert response.json()["code"] == "method-not-allowed"


def test_request_id_is_echoed_when_well_formed_and_replaced_when_not(client: TestClient) -> None:
    given = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"
    hostile = client.get("/healthz", headers={"X-Request-ID": "bad id; drop table"})
    assert hostile.headers["x-request-id"] != "bad id; drop table"
    assert len(hostile.headers["x-request-id"]) == 32


def test_unexpected_failure_is_a_500_problem_without_internals(client: TestClient) -> None:
    from fastapi import FastAPI

    app = client.app
    assert isinstance(app, FastAPI)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret internals")

    response = client.get("/boom")
    assert response.status_code == 500
    assert response.headers["content-type"] == PROBLEM
    assert "secret internals" not in response.text
    assert response.json()["code"] == "internal-error"


def test_docs_and_openapi_are_served(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    assert "/v1/records/validate" in spec["paths"]
    assert "ChildRecord" in spec["components"]["schemas"]
