"""What every client sees: health, docs, error format."""


def test_health_and_docs_are_served(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert "/static/swagger-ui/swagger-ui-bundle.js" in docs.text and "cdn" not in docs.text
    assert client.get("/static/swagger-ui/swagger-ui-bundle.js").status_code == 200
    schema = client.get("/openapi.json").json()
    assert "/api/v1/subscribers" in schema["paths"] and "/api/v1/segments" in schema["paths"]


def test_unknown_routes_and_malformed_json_are_problems_not_crashes(admin_api):
    missing = admin_api.get("/api/v1/nothing-here")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"

    broken = admin_api.post(
        "/api/v1/subscribers", content=b'{"email": ', headers={"content-type": "application/json"}
    )
    assert broken.status_code == 422
    assert broken.headers["content-type"] == "application/problem+json"
    assert broken.json()["errors"]


def test_oversized_bodies_are_refused_with_413(admin_api):
    big = {"email": "a@example.com", "name": "x" * 1_100_000}
    response = admin_api.post("/api/v1/subscribers", json=big)
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"


def test_the_vendored_htmx_is_served_locally(client):
    response = client.get("/static/htmx.min.js")
    assert response.status_code == 200 and "htmx" in response.text[:200]


def test_a_nul_character_is_refused_or_stored_but_never_a_server_error(admin_api):
    body = admin_api.post(
        "/api/v1/subscribers", json={"email": "a@example.com", "name": "Ad\u0000a"}
    )
    query = admin_api.get("/api/v1/subscribers", params={"attribute": "dep\u0000t:x"})
    for response in (body, query):
        assert response.status_code in (200, 201, 422), response.text
        if response.status_code == 422:
            assert response.headers["content-type"] == "application/problem+json"


def test_an_oversized_chunked_body_without_length_is_refused_with_413(admin_api):
    def chunks():
        yield b'{"email": "a@example.com", "name": "'
        for _ in range(12):
            yield b"x" * 100_000
        yield b'"}'

    response = admin_api.post(
        "/api/v1/subscribers", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
