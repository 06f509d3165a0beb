"""The authority registry over HTTP."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_an_authority_is_found_by_dfe_or_gss_code(client: TestClient) -> None:
    by_dfe = client.get("/v1/authorities/202").json()
    by_gss = client.get("/v1/authorities/e09000007").json()
    assert by_dfe == by_gss
    assert by_dfe["short_name"] == "Camden"
    assert by_dfe["current"] is True


def test_an_abolished_authority_names_its_successors(client: TestClient) -> None:
    body = client.get("/v1/authorities/928").json()
    assert body["name"] == "Northamptonshire County Council"
    assert body["current"] is False
    assert body["end_date"] == "2021-04-01"
    assert sorted(s["dfe_code"] for s in body["successors"]) == ["940", "941"]


def test_a_code_shared_with_a_predecessor_gives_the_current_authority(client: TestClient) -> None:
    body = client.get("/v1/authorities/815").json()
    assert body["current"] is True
    assert "North Yorkshire" in body["name"]


def test_unknown_code_is_404_problem_with_a_fix(client: TestClient) -> None:
    response = client.get("/v1/authorities/999")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert "GSS code" in response.json()["fix"]


def test_listing_filters_current_and_by_name(client: TestClient) -> None:
    everything = client.get("/v1/authorities").json()
    current = client.get("/v1/authorities", params={"current": "true"}).json()
    assert everything["count"] > current["count"]
    assert current["count"] == 153
    assert all(item["current"] for item in current["items"])
    found = client.get("/v1/authorities", params={"q": "northamptonshire"}).json()
    assert {i["dfe_code"] for i in found["items"]} == {"928", "940", "941"}


def test_overlong_code_is_a_422_problem(client: TestClient) -> None:
    response = client.get("/v1/authorities/" + "9" * 50)
    assert response.status_code == 422
    assert response.json()["code"] == "request-invalid"
