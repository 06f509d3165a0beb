"""API clients: issuing tokens (shown once), listing, revoking, rotating, expiry; and the CLI."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import event, select, update
from sqlalchemy.orm import Session
from support import bearer
from typer.testing import CliRunner

from exchange.audit.models import AuditEvent
from exchange.audit.service import Actor
from exchange.authorities.auth import hash_token
from exchange.authorities.models import ApiClient
from exchange.config import get_settings

Json = dict[str, Any]


@pytest.fixture
def admin(make_client: Callable[..., str]) -> str:
    return make_client(role="admin", authority=None, name="exchange operations")


def create(client: TestClient, admin: str, **body: Any) -> Any:
    payload = {"name": "Camden LCS", "role": "authority", "authority": "202", **body}
    return client.post("/v1/clients", json=payload, headers=bearer(admin))


def works(client: TestClient, token: str) -> bool:
    """Whether an authority token is accepted now (any other answer than 401 is a failure)."""
    response = client.get("/v1/transfers", headers=bearer(token))
    assert response.status_code in (200, 401), response.text
    if response.status_code == 401:
        assert response.json()["code"] == "unauthenticated"
    return response.status_code == 200


def client_id_of(token: str) -> str:
    prefix, client_id, secret = token.split(".")
    assert prefix == "exch"
    assert secret
    return client_id


def test_a_new_client_gets_its_token_once(client: TestClient, admin: str) -> None:
    response = create(client, admin, name="Camden LCS")
    assert response.status_code == 201, response.text
    issued = response.json()
    token = issued["token"]
    assert token.startswith("exch.")
    assert issued["client"]["id"] == client_id_of(token)
    assert issued["client"]["role"] == "authority"
    assert issued["client"]["authority"] == "E09000007"
    assert issued["client"]["token_prefix"] == token[:13]
    assert issued["client"]["revoked_at"] is None
    assert issued["client"]["expires_at"] is None
    assert works(client, token)

    other = create(client, admin, name="Camden LCS").json()
    assert other["token"] != token


def test_the_client_list_never_shows_tokens_or_hashes(
    client: TestClient, admin: str, session: Session
) -> None:
    token = create(client, admin, name="Cambridgeshire Mosaic", authority="873").json()["token"]
    rotated = client.post(
        f"/v1/clients/{client_id_of(token)}/rotate", headers=bearer(admin)
    ).json()["token"]

    response = client.get("/v1/clients", headers=bearer(admin))
    assert response.status_code == 200
    listed = {c["id"]: c for c in response.json()}
    mine = listed[client_id_of(token)]
    assert mine["name"] == "Cambridgeshire Mosaic"
    assert mine["authority"] == "E10000003"
    assert set(mine) == {
        "id",
        "name",
        "role",
        "authority",
        "token_prefix",
        "created_at",
        "expires_at",
        "revoked_at",
    }
    text = response.text
    for secret in (token, rotated, token.split(".")[2], rotated.split(".")[2]):
        assert secret not in text
    stored = session.get(ApiClient, client_id_of(token))
    assert stored is not None
    assert stored.previous_token_hash is not None
    for digest in (hash_token(token), hash_token(rotated), stored.previous_token_hash):
        assert digest not in text


def test_only_an_admin_manages_clients(client: TestClient, make_client: Callable[..., str]) -> None:
    authority = make_client(authority="202")
    auditor = make_client(role="auditor", authority=None)
    for token in (authority, auditor):
        assert create(client, token).status_code == 403
        assert client.get("/v1/clients", headers=bearer(token)).status_code == 403
    assert client.post("/v1/clients", json={"name": "x", "role": "admin"}).status_code == 401


def test_an_authority_client_needs_a_current_authority(client: TestClient, admin: str) -> None:
    missing = create(client, admin, authority=None)
    assert missing.status_code == 422
    assert missing.json()["code"] == "client-invalid"

    abolished = create(client, admin, authority="928")  # Northamptonshire, abolished 2021
    assert abolished.status_code == 422
    assert abolished.json()["code"] == "client-invalid"
    assert "abolished" in abolished.json()["detail"]

    unknown = create(client, admin, authority="999")
    assert unknown.status_code == 422
    assert unknown.json()["code"] == "client-invalid"

    bad_role = create(client, admin, role="superuser")
    assert bad_role.status_code == 422

    national = create(client, admin, name="Ofsted", role="auditor", authority=None)
    assert national.status_code == 201, national.text
    assert national.json()["client"]["authority"] is None

    successor = create(client, admin, authority="940")  # North Northamptonshire
    assert successor.status_code == 201, successor.text


def test_a_revoked_token_stops_working_at_once(
    client: TestClient, admin: str, session: Session
) -> None:
    token = create(client, admin).json()["token"]
    client_id = client_id_of(token)
    assert works(client, token)

    revoked = client.post(f"/v1/clients/{client_id}/revoke", headers=bearer(admin))
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    response = client.get("/v1/transfers", headers=bearer(token))
    assert response.status_code == 401
    assert response.json()["detail"] == "The token has been revoked."

    denied = session.scalars(
        select(AuditEvent).where(
            AuditEvent.client_id == client_id, AuditEvent.action == "auth.denied"
        )
    ).all()
    assert [e.outcome for e in denied] == ["denied"]
    assert "revoked" in denied[0].details

    rotate = client.post(f"/v1/clients/{client_id}/rotate", headers=bearer(admin))
    assert rotate.status_code == 422
    assert rotate.json()["code"] == "client-invalid"
    assert not works(client, token)

    unknown = client.post("/v1/clients/no-such-client/revoke", headers=bearer(admin))
    assert unknown.status_code == 404


def test_rotation_keeps_the_old_token_for_the_grace_period_only(
    client: TestClient, admin: str, session: Session
) -> None:
    old = create(client, admin).json()["token"]
    client_id = client_id_of(old)
    response = client.post(f"/v1/clients/{client_id}/rotate", headers=bearer(admin))
    assert response.status_code == 200, response.text
    new = response.json()["token"]
    assert new != old
    assert client_id_of(new) == client_id
    assert response.json()["client"]["token_prefix"] == new[:13]

    assert works(client, new)
    assert works(client, old)
    stored = session.get(ApiClient, client_id)
    assert stored is not None
    assert stored.previous_valid_until is not None
    grace = dt.timedelta(minutes=get_settings().token_rotation_grace_minutes)
    left = stored.previous_valid_until - dt.datetime.now(dt.UTC)
    assert grace - dt.timedelta(minutes=1) < left <= grace

    session.execute(
        update(ApiClient)
        .where(ApiClient.id == client_id)
        .values(previous_valid_until=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
    )
    session.expire_all()
    assert not works(client, old)
    assert works(client, new)


def test_a_second_rotation_ends_the_first_tokens_grace(client: TestClient, admin: str) -> None:
    first = create(client, admin).json()["token"]
    client_id = client_id_of(first)
    second = client.post(f"/v1/clients/{client_id}/rotate", headers=bearer(admin)).json()["token"]
    third = client.post(f"/v1/clients/{client_id}/rotate", headers=bearer(admin)).json()["token"]
    assert works(client, third)
    assert works(client, second)
    assert not works(client, first)


def test_an_expired_token_is_refused(client: TestClient, admin: str, session: Session) -> None:
    issued = create(client, admin, expires_in_days=30).json()
    token = issued["token"]
    expires = dt.datetime.fromisoformat(issued["client"]["expires_at"])
    assert dt.timedelta(days=29) < expires - dt.datetime.now(dt.UTC) <= dt.timedelta(days=30)
    assert works(client, token)

    session.execute(
        update(ApiClient)
        .where(ApiClient.id == client_id_of(token))
        .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
    )
    session.expire_all()
    response = client.get("/v1/transfers", headers=bearer(token))
    assert response.status_code == 401
    assert response.json()["detail"] == "The token has expired."
    assert create(client, admin, expires_in_days=0).status_code == 422


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer exch.nobody.secret",
        "Bearer not-a-token",
        "Basic dXNlcjpwYXNz",
        "Bearer ",
    ],
)
def test_an_unknown_or_malformed_token_is_401(client: TestClient, authorization: str) -> None:
    response = client.get("/v1/transfers", headers={"Authorization": authorization})
    assert response.status_code == 401
    assert response.json()["code"] == "unauthenticated"


def test_a_wrong_secret_for_a_known_client_is_refused_and_audited(
    client: TestClient, admin: str, session: Session
) -> None:
    token = create(client, admin).json()["token"]
    client_id = client_id_of(token)
    forged = f"exch.{client_id}.{'A' * 43}"
    assert not works(client, forged)
    reasons = session.scalars(
        select(AuditEvent.details).where(
            AuditEvent.client_id == client_id, AuditEvent.action == "auth.denied"
        )
    ).all()
    assert len(reasons) == 1
    assert "token-mismatch" in reasons[0]
    assert works(client, token)


# -- the command line, on a database of its own (it commits) ---------------------------------------

runner = CliRunner()


def _short_lock_wait(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=300")
    cursor.close()


@pytest.fixture
def own_database(tmp_path: Any) -> Iterator[str]:
    """A migrated SQLite database that the CLI, and an app without overrides, use."""
    import exchange.db.session as db_session
    from exchange.cli import app as cli

    url = f"sqlite:///{tmp_path / 'clients.db'}"
    engine = functools.cache(db_session.get_engine.__wrapped__)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EXCHANGE_DATABASE_URL", url)
        # The default engine and session factory are cached under "no URL": fresh ones here.
        patch.setattr(db_session, "get_engine", engine)
        patch.setattr(
            db_session, "_session_factory", functools.cache(db_session._session_factory.__wrapped__)
        )
        get_settings.cache_clear()
        # Nothing here runs concurrently: a wait for SQLite's lock is a deadlock, so it fails
        # in a moment instead of after the service's 30 s.
        for key in (url, None):
            event.listen(engine(key), "connect", _short_lock_wait)
        try:
            upgraded = runner.invoke(cli, ["db", "upgrade"])
            assert upgraded.exit_code == 0, upgraded.output
            yield url
        finally:
            for key in (url, None):
                engine(key).dispose()
    get_settings.cache_clear()


CREATE_CAMDEN = [
    *("clients", "create", "--name", "Camden LCS"),
    *("--role", "authority", "--authority", "202"),
]


def cli_token(args: list[str]) -> str:
    from exchange.cli import app as cli

    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    tokens = [line for line in result.stdout.splitlines() if line.startswith("exch.")]
    assert len(tokens) == 1, result.output
    return tokens[0]


def app_recording_denials(denials: list[tuple[str | None, str, str]]) -> FastAPI:
    """The service on the configured database, its refusals recorded in ``denials``."""
    from exchange.app import create_app
    from exchange.authorities.auth import DeniedWriter, get_denied_writer

    app = create_app(get_settings())

    def recorder() -> Iterator[DeniedWriter]:
        def write(
            actor: Actor, action: str, details: dict[str, str], transfer_id: str | None = None
        ) -> None:
            denials.append((actor.client_id, action, next(iter(details.values()), "")))

        yield write

    app.dependency_overrides[get_denied_writer] = recorder
    return app


def test_the_clients_commands(own_database: str) -> None:
    from exchange.cli import app as cli
    from exchange.db import session_scope

    token = cli_token(CREATE_CAMDEN)
    client_id = client_id_of(token)
    auditor = cli_token(["clients", "create", "--name", "Ofsted", "--role", "auditor"])

    listed = runner.invoke(cli, ["clients", "list"], env={"COLUMNS": "250"})
    assert listed.exit_code == 0, listed.output
    assert client_id in listed.output
    assert client_id_of(auditor) in listed.output
    assert "Camden LCS" in listed.output
    assert "E09000007" in listed.output
    assert token.split(".")[2] not in listed.output
    assert hash_token(token) not in listed.output

    denials: list[tuple[str | None, str, str]] = []
    with TestClient(app_recording_denials(denials), raise_server_exceptions=False) as http:
        assert works(http, token)
        assert http.get("/v1/transfers", headers=bearer(auditor)).status_code == 403

        rotated = cli_token(["clients", "rotate", client_id])
        assert client_id_of(rotated) == client_id
        assert works(http, rotated)
        assert works(http, token)
        with session_scope() as db:
            db.execute(
                update(ApiClient)
                .where(ApiClient.id == client_id)
                .values(previous_valid_until=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
            )
        assert not works(http, token)
        assert works(http, rotated)

        revoked = runner.invoke(cli, ["clients", "revoke", client_id])
        assert revoked.exit_code == 0, revoked.output
        assert f"client {client_id} revoked" in " ".join(revoked.output.split())
        assert not works(http, rotated)

    assert denials == [
        (client_id_of(auditor), "access.denied", "authority"),
        (client_id, "auth.denied", "token-mismatch"),
        (client_id, "auth.denied", "revoked"),
    ]
    with session_scope() as db:
        actions = db.scalars(
            select(AuditEvent.action).where(AuditEvent.action.like("client.%"))
        ).all()
    assert sorted(actions) == sorted(
        ["client.created", "client.created", "client.rotated", "client.revoked"]
    )


def test_a_refused_token_is_a_401_recorded_in_the_audit_log_on_sqlite(own_database: str) -> None:
    from exchange.app import create_app
    from exchange.cli import app as cli
    from exchange.db import session_scope

    token = cli_token(CREATE_CAMDEN)
    auditor = cli_token(["clients", "create", "--name", "Ofsted", "--role", "auditor"])
    assert runner.invoke(cli, ["clients", "revoke", client_id_of(token)]).exit_code == 0
    with TestClient(create_app(get_settings()), raise_server_exceptions=False) as http:
        revoked = http.get("/v1/transfers", headers=bearer(token))
        wrong_role = http.get("/v1/transfers", headers=bearer(auditor))
    assert revoked.status_code == 401, revoked.text
    assert wrong_role.status_code == 403, wrong_role.text
    with session_scope() as db:
        denied = db.scalars(select(AuditEvent.action).where(AuditEvent.outcome == "denied")).all()
    assert sorted(denied) == ["access.denied", "auth.denied"]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--role", "authority", "--authority", "928"], "abolished"),
        (["--role", "authority"], "needs an authority"),
        (["--role", "authority", "--authority", "999"], "No authority"),
        (["--role", "superuser"], "superuser"),
    ],
)
def test_the_create_command_refuses_a_bad_client(
    own_database: str, args: list[str], says: str
) -> None:
    from exchange.cli import app as cli
    from exchange.db import session_scope

    result = runner.invoke(cli, ["clients", "create", "--name", "x", *args])
    assert result.exit_code == 1, result.output
    assert says in " ".join(result.output.split())
    assert "exch." not in result.stdout
    with session_scope() as db:
        assert db.scalars(select(ApiClient)).all() == []


def test_revoking_or_rotating_an_unknown_client_fails(own_database: str) -> None:
    from exchange.cli import app as cli

    for command in ("revoke", "rotate"):
        result = runner.invoke(cli, ["clients", command, "no-such-client"])
        assert result.exit_code == 1, result.output
        assert "no-such-client" in result.output
