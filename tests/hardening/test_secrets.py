"""No plaintext secret at rest or in the logs.

After API keys, users with passwords, webhook endpoints and sign-in sessions are created
through the API (and a session signed out, a webhook secret rotated), a dump of every
column of every table in the database and every log record at DEBUG (SQL statements with
their parameters included) hold none of: an API key's secret, a user's password, a session
token, the app's secret key. Keys and sessions are stored as SHA-256 hashes, passwords as
argon2 hashes.

The one known exception: a webhook endpoint's signing secret is stored in plain text,
because every delivery is signed with it (HMAC needs the secret itself, not a hash). It is
shown once by the API and never logged by the app, but it is in the database (and in the SQL
parameters SQLAlchemy logs at DEBUG), so it is not checked here.
"""

import logging

from sqlalchemy import inspect, select, table, text

from tests.conftest import make_api_key


def _database_dump(engine) -> str:
    lines = []
    with engine.connect() as connection:
        for name in inspect(connection).get_table_names():
            for row in connection.execute(select(text("*")).select_from(table(name))):
                lines.append(f"{name}: {tuple(row)!r}")
    return "\n".join(lines)


def test_no_plaintext_secret_in_the_database_or_the_logs(app, client, engine, caplog):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="sqlalchemy.engine")  # statements and parameters
    admin = make_api_key(engine, "admin", name="bootstrap")
    client.headers["Authorization"] = f"Bearer {admin}"
    secrets = {"admin key": admin, "secret key": app.state.secret_key}

    for scopes in (["news:write"], ["subscribers:read", "subscribers:write"], ["admin"]):
        answer = client.post("/api/v1/api-keys", json={"name": f"{scopes}", "scopes": scopes})
        assert answer.status_code == 201, answer.text
        secrets[f"key {scopes}"] = answer.json()["key"]
    for role in ("viewer", "editor", "approver", "admin"):
        answer = client.post("/api/v1/users", json={"email": f"{role}@example.com", "role": role})
        assert answer.status_code == 201, answer.text
        password = answer.json()["password"]
        secrets[f"{role} password"] = password
        signed_in = client.post(
            "/api/v1/auth/token", json={"email": f"{role}@example.com", "password": password}
        )
        assert signed_in.status_code == 200, signed_in.text
        secrets[f"{role} session"] = signed_in.json()["token"]
    # A session that signed out, and a key that was revoked, stay secret too.
    signed_out = client.delete(
        "/api/v1/auth/token", headers={"Authorization": f"Bearer {secrets['viewer session']}"}
    )
    assert signed_out.status_code == 204
    keys = client.get("/api/v1/api-keys").json()
    key_id = next(key["id"] for key in keys if key["name"] == "['news:write']")
    assert client.delete(f"/api/v1/api-keys/{key_id}").status_code == 200
    hook = client.post("/api/v1/webhooks", json={"url": "http://127.0.0.1:9/hook", "events": ["*"]})
    assert hook.status_code == 201, hook.text
    assert client.post(f"/api/v1/webhooks/{hook.json()['id']}/rotate-secret").status_code == 200

    dump = _database_dump(engine)
    logs = "\n".join(
        f"{record.getMessage()} {record.args!r} {record.exc_text or ''}"
        for record in caplog.records
    )
    # The dump reads every table, values included.
    assert "user_session" in dump and "viewer@example.com" in dump and "127.0.0.1:9/hook" in dump
    # The SQL the app sent, with its parameters, is among the records searched.
    assert any(record.name.startswith("sqlalchemy.engine") for record in caplog.records)
    leaks = [
        f"{what} in the {where}"
        for what, secret in secrets.items()
        for where, haystack in (("database", dump), ("logs", logs))
        if secret in haystack
    ]
    assert not leaks, leaks
