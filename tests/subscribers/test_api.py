"""The subscribers JSON API (/api/v1/subscribers), used as an integrating service would."""

import csv
import io

import pytest
from sqlalchemy import func, select

from app.subscribers.models import Subscriber

URL = "/api/v1/subscribers"
PROBLEM_JSON = "application/problem+json"


def make_subscriber(client, **overrides) -> dict:
    body = {"email": "ada@example.com", "name": "Ada Lovelace"} | overrides
    response = client.post(URL, json=body)
    assert response.status_code == 201, response.text
    return response.json()


def make_segment(client, rule: dict, name: str = "Finance") -> dict:
    response = client.post("/api/v1/segments", json={"name": name, "rule": rule})
    assert response.status_code == 201, response.text
    return response.json()


def assert_problem(response, status: int, field: str | None = None) -> dict:
    """A problem+json answer with this status (and an error naming `field`, if given)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    problem = response.json()
    assert problem["status"] == status
    if field is not None:
        assert field in [error["field"] for error in problem["errors"]], problem
    return problem


def emails(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["email"] for item in response.json()["items"]]


def count_subscribers(session) -> int:
    return session.scalar(select(func.count()).select_from(Subscriber))


# Create, read, update, delete


def test_create_normalizes_the_email_and_stores_attributes_as_text(admin_api):
    created = make_subscriber(
        admin_api,
        email="  Ada.Lovelace@Example.COM ",
        name="  Ada  ",
        attributes={"department": "Finance", "floor": 3, "remote": True},
    )
    assert created["email"] == "ada.lovelace@example.com"
    assert created["name"] == "Ada"
    assert created["attributes"] == {"department": "Finance", "floor": "3", "remote": "true"}
    assert created["status"] == "active"

    fetched = admin_api.get(f"{URL}/{created['id']}")
    assert fetched.status_code == 200
    assert fetched.json() == created


def test_the_same_address_in_another_case_is_a_409_naming_email(admin_api, session):
    make_subscriber(admin_api, email="ada@example.com")
    duplicate = admin_api.post(URL, json={"email": "ADA@Example.com", "name": "Other"})
    assert_problem(duplicate, 409, field="email")
    assert count_subscribers(session) == 1


@pytest.mark.parametrize("address", ["not-an-address", "ada@", "ada example@example.com", ""])
def test_an_invalid_email_is_a_422_naming_email(admin_api, session, address):
    response = admin_api.post(URL, json={"email": address})
    problem = assert_problem(response, 422, field="email")
    assert problem["errors"][0]["reason"]
    assert count_subscribers(session) == 0


def test_attributes_must_be_flat_values(admin_api, session):
    response = admin_api.post(
        URL, json={"email": "ada@example.com", "attributes": {"team": {"name": "x"}}}
    )
    assert_problem(response, 422, field="attributes")
    assert count_subscribers(session) == 0


@pytest.mark.parametrize("name", ['say "hi"', "a\\b", "dep\u0000t", "tab\there", "x" * 65])
def test_attribute_names_a_filter_could_not_match_are_a_422(admin_api, session, name):
    response = admin_api.post(URL, json={"email": "ada@example.com", "attributes": {name: "x"}})
    assert_problem(response, 422, field="attributes")
    assert count_subscribers(session) == 0


def test_an_unknown_status_is_a_422_naming_status(admin_api):
    response = admin_api.post(URL, json={"email": "ada@example.com", "status": "gone"})
    assert_problem(response, 422, field="status")


def test_patch_merges_attributes_and_null_removes_a_key(admin_api):
    created = make_subscriber(
        admin_api, attributes={"department": "Finance", "role": "analyst", "location": "Bonn"}
    )
    response = admin_api.patch(
        f"{URL}/{created['id']}",
        json={"attributes": {"location": "Berlin", "role": None, "language": "de"}},
    )
    assert response.status_code == 200, response.text
    changed = response.json()
    assert changed["attributes"] == {
        "department": "Finance",
        "location": "Berlin",
        "language": "de",
    }
    assert changed["name"] == "Ada Lovelace"  # untouched: not in the request
    assert admin_api.get(f"{URL}/{created['id']}").json()["attributes"] == changed["attributes"]


def test_patch_changes_name_status_and_email(admin_api):
    created = make_subscriber(admin_api)
    response = admin_api.patch(
        f"{URL}/{created['id']}",
        json={"name": "Augusta Ada King", "status": "unsubscribed", "email": "Augusta@Example.com"},
    )
    assert response.status_code == 200, response.text
    changed = response.json()
    assert (changed["name"], changed["status"], changed["email"]) == (
        "Augusta Ada King",
        "unsubscribed",
        "augusta@example.com",
    )
    assert admin_api.get(f"{URL}/by-email/ada@example.com").status_code == 404


def test_patch_to_an_address_taken_in_another_case_is_a_409(admin_api):
    make_subscriber(admin_api, email="grace@example.com")
    ada = make_subscriber(admin_api, email="ada@example.com")
    response = admin_api.patch(f"{URL}/{ada['id']}", json={"email": "GRACE@example.com"})
    assert_problem(response, 409, field="email")
    assert admin_api.get(f"{URL}/{ada['id']}").json()["email"] == "ada@example.com"


def test_patch_with_an_invalid_email_is_a_422(admin_api):
    ada = make_subscriber(admin_api)
    response = admin_api.patch(f"{URL}/{ada['id']}", json={"email": "nobody"})
    assert_problem(response, 422, field="email")


def test_delete_removes_the_subscriber(admin_api, session):
    ada = make_subscriber(admin_api)
    assert admin_api.delete(f"{URL}/{ada['id']}").status_code == 204
    assert_problem(admin_api.get(f"{URL}/{ada['id']}"), 404)
    assert_problem(admin_api.delete(f"{URL}/{ada['id']}"), 404)
    assert count_subscribers(session) == 0


def test_delete_takes_the_subscriber_out_of_static_segments(admin_api):
    ada = make_subscriber(admin_api, email="ada@example.com")
    make_subscriber(admin_api, email="grace@example.com")
    segment = admin_api.post("/api/v1/segments", json={"name": "Key users", "kind": "static"})
    segment_id = segment.json()["id"]
    added = admin_api.post(
        f"/api/v1/segments/{segment_id}/members",
        json={"emails": ["ada@example.com", "grace@example.com"]},
    )
    assert added.json()["segment"]["member_count"] == 2

    assert admin_api.delete(f"{URL}/{ada['id']}").status_code == 204
    assert admin_api.get(f"/api/v1/segments/{segment_id}").json()["member_count"] == 1
    listed = admin_api.get(URL, params={"segment_id": segment_id})
    assert emails(listed) == ["grace@example.com"]


def test_an_unknown_id_is_a_404(admin_api):
    assert_problem(admin_api.get(f"{URL}/999999"), 404)
    assert_problem(admin_api.patch(f"{URL}/999999", json={"name": "x"}), 404)


# Upsert and lookup by email


def test_put_by_email_creates_then_replaces(admin_api, session):
    first = admin_api.put(
        f"{URL}/by-email/Ada@Example.com",
        json={"name": "Ada", "attributes": {"department": "Finance", "role": "analyst"}},
    )
    assert first.status_code == 201, first.text
    assert first.json()["email"] == "ada@example.com"

    second = admin_api.put(
        f"{URL}/by-email/ada@example.com",
        json={"name": "Ada L.", "attributes": {"department": "IT"}},
    )
    assert second.status_code == 200, second.text
    replaced = second.json()
    assert replaced["id"] == first.json()["id"]
    assert replaced["name"] == "Ada L."
    assert replaced["attributes"] == {"department": "IT"}  # replaced, not merged
    assert count_subscribers(session) == 1


def test_put_without_a_status_keeps_an_unsubscribed_address_unsubscribed(admin_api):
    ada = make_subscriber(admin_api, status="unsubscribed")
    response = admin_api.put(
        f"{URL}/by-email/ada@example.com", json={"name": "Ada", "attributes": {"role": "x"}}
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "unsubscribed"
    assert admin_api.get(f"{URL}/{ada['id']}").json()["status"] == "unsubscribed"


def test_put_cannot_reactivate_an_unsubscribed_address(admin_api):
    ada = make_subscriber(admin_api, status="unsubscribed")
    response = admin_api.put(f"{URL}/by-email/ada@example.com", json={"status": "active"})
    assert_problem(response, 409, field="status")
    assert admin_api.get(f"{URL}/{ada['id']}").json()["status"] == "unsubscribed"


def test_put_with_status_active_on_an_active_address_is_fine(admin_api):
    make_subscriber(admin_api)
    response = admin_api.put(
        f"{URL}/by-email/ada@example.com", json={"name": "Ada", "status": "active"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "active"


def test_a_deliberate_patch_may_reactivate(admin_api):
    ada = make_subscriber(admin_api, status="unsubscribed")
    response = admin_api.patch(f"{URL}/{ada['id']}", json={"status": "active"})
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "active"


def test_put_may_unsubscribe(admin_api):
    make_subscriber(admin_api)
    response = admin_api.put(f"{URL}/by-email/ada@example.com", json={"status": "bounced"})
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "bounced"


def test_put_with_an_invalid_address_is_a_422(admin_api):
    assert_problem(admin_api.put(f"{URL}/by-email/nobody", json={}), 422, field="email")


def test_get_by_email_ignores_case(admin_api):
    ada = make_subscriber(admin_api)
    found = admin_api.get(f"{URL}/by-email/ADA@example.COM")
    assert found.status_code == 200
    assert found.json()["id"] == ada["id"]
    assert_problem(admin_api.get(f"{URL}/by-email/grace@example.com"), 404)
    assert_problem(admin_api.get(f"{URL}/by-email/nobody"), 422, field="email")


# Listing and filters


def test_search_matches_part_of_email_or_name_in_any_case(admin_api):
    make_subscriber(admin_api, email="ada@example.com", name="Ada Lovelace")
    make_subscriber(admin_api, email="grace@navy.example", name="Grace Hopper")
    make_subscriber(admin_api, email="alan@example.com", name="Alan Turing")

    assert emails(admin_api.get(URL, params={"q": "LOVE"})) == ["ada@example.com"]
    assert emails(admin_api.get(URL, params={"q": "Navy"})) == ["grace@navy.example"]
    assert emails(admin_api.get(URL, params={"q": "example.com"})) == [
        "ada@example.com",
        "alan@example.com",
    ]
    # Wildcards are searched for literally.
    assert emails(admin_api.get(URL, params={"q": "%"})) == []


def test_filters_ignore_the_case_of_non_ascii_letters(admin_api):
    # SQLite's lower() folds ASCII only; the fix belongs in app/db.py.
    make_subscriber(admin_api, name="ZOË MÜLLER", attributes={"location": "KÖLN"})
    assert emails(admin_api.get(URL, params={"q": "zoë"})) == ["ada@example.com"]
    assert emails(admin_api.get(URL, params={"attribute": "location:köln"})) == ["ada@example.com"]


def test_status_filter(admin_api):
    make_subscriber(admin_api, email="ada@example.com")
    make_subscriber(admin_api, email="grace@example.com", status="unsubscribed")
    make_subscriber(admin_api, email="alan@example.com", status="bounced")
    assert emails(admin_api.get(URL, params={"status": "unsubscribed"})) == ["grace@example.com"]
    assert emails(admin_api.get(URL, params={"status": "active"})) == ["ada@example.com"]
    assert_problem(admin_api.get(URL, params={"status": "gone"}), 422, field="status")


def test_attribute_filter_ignores_the_case_of_the_value(admin_api):
    make_subscriber(
        admin_api, email="ada@example.com", attributes={"department": "Finance", "location": "Bonn"}
    )
    make_subscriber(
        admin_api, email="grace@example.com", attributes={"department": "FINANCE", "location": "X"}
    )
    make_subscriber(admin_api, email="alan@example.com", attributes={"department": "IT"})
    make_subscriber(admin_api, email="joan@example.com")

    assert emails(admin_api.get(URL, params={"attribute": "department:finance"})) == [
        "ada@example.com",
        "grace@example.com",
    ]
    both = admin_api.get(
        URL, params=[("attribute", "department:Finance"), ("attribute", "location:bonn")]
    )
    assert emails(both) == ["ada@example.com"]


def test_an_attribute_filter_without_a_colon_is_a_422(admin_api):
    response = admin_api.get(URL, params=[("attribute", "a:b"), ("attribute", "department")])
    assert_problem(response, 422, field="attribute.1")


@pytest.mark.parametrize("key", ["dep\u0000t", 'say "hi"'])
def test_an_attribute_filter_on_an_impossible_name_is_a_422(admin_api, key):
    response = admin_api.get(URL, params={"attribute": f"{key}:x"})
    assert_problem(response, 422, field="attribute.0")
    export = admin_api.get(f"{URL}/export.csv", params={"attribute": f"{key}:x"})
    assert_problem(export, 422, field="attribute.0")


def test_attributes_with_non_ascii_names_can_be_filtered(admin_api):
    # The engine writes JSON with ensure_ascii, and SQLite's JSON paths do not match the
    # escaped keys; the fix belongs in app/db.py (a json_serializer with ensure_ascii=False).
    make_subscriber(admin_api, attributes={"Geschäftsbereich": "Finanzen"})
    listed = admin_api.get(URL, params={"attribute": "Geschäftsbereich:finanzen"})
    assert emails(listed) == ["ada@example.com"]


def test_segment_filter_lists_the_segment_members(admin_api):
    make_subscriber(admin_api, email="ada@example.com", attributes={"department": "Finance"})
    make_subscriber(admin_api, email="grace@example.com", attributes={"department": "finance"})
    make_subscriber(admin_api, email="alan@example.com", attributes={"department": "IT"})
    segment = make_segment(
        admin_api, {"all": [{"field": "department", "op": "eq", "value": "Finance"}]}
    )

    listed = admin_api.get(URL, params={"segment_id": segment["id"]})
    assert emails(listed) == ["ada@example.com", "grace@example.com"]
    with_search = admin_api.get(URL, params={"segment_id": segment["id"], "q": "grace"})
    assert emails(with_search) == ["grace@example.com"]
    assert_problem(admin_api.get(URL, params={"segment_id": 999999}), 404)


def test_cursor_pagination_returns_every_row_exactly_once(admin_api):
    created = [make_subscriber(admin_api, email=f"user{n}@example.com")["id"] for n in range(7)]
    seen, pages, cursor = [], [], None
    while True:
        params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = admin_api.get(URL, params=params)
        assert page.status_code == 200, page.text
        body = page.json()
        pages.append(len(body["items"]))
        seen += [item["id"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == [3, 3, 1]
    assert seen == created


def test_a_page_ending_exactly_at_the_last_row_has_no_next_cursor(admin_api):
    for n in range(4):
        make_subscriber(admin_api, email=f"user{n}@example.com")
    first = admin_api.get(URL, params={"limit": 2}).json()
    second = admin_api.get(URL, params={"limit": 2, "cursor": first["next_cursor"]}).json()
    assert len(second["items"]) == 2
    assert second["next_cursor"] is None


def test_pagination_keeps_the_filter(admin_api):
    for n in range(5):
        make_subscriber(admin_api, email=f"in{n}@example.com", attributes={"team": "a"})
        make_subscriber(admin_api, email=f"out{n}@example.com", attributes={"team": "b"})
    first = admin_api.get(URL, params={"attribute": "team:a", "limit": 3}).json()
    rest = admin_api.get(
        URL, params={"attribute": "team:a", "limit": 3, "cursor": first["next_cursor"]}
    ).json()
    listed = [item["email"] for item in first["items"] + rest["items"]]
    assert listed == [f"in{n}@example.com" for n in range(5)]
    assert rest["next_cursor"] is None


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage!",
        "aWQ6YWJj",  # "id:abc"
        "eDoxMA",  # "x:10"
        "aWQ6OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5",  # "id:" and 40 nines
        "x" * 101,
    ],
)
def test_a_cursor_the_api_did_not_issue_is_a_422_naming_cursor(admin_api, cursor):
    make_subscriber(admin_api)
    assert_problem(admin_api.get(URL, params={"cursor": cursor}), 422, field="cursor")


def test_limit_is_bounded(admin_api):
    assert_problem(admin_api.get(URL, params={"limit": 0}), 422, field="limit")
    assert_problem(admin_api.get(URL, params={"limit": 501}), 422, field="limit")


# Who may do what


def test_a_read_key_reads_but_cannot_write(api):
    reader = api("subscribers:read")
    assert reader.get(URL).status_code == 200
    assert_problem(reader.post(URL, json={"email": "ada@example.com"}), 403)
    assert_problem(reader.put(f"{URL}/by-email/ada@example.com", json={}), 403)
    assert_problem(reader.patch(f"{URL}/1", json={"name": "x"}), 403)
    assert_problem(reader.delete(f"{URL}/1"), 403)
    assert_problem(
        reader.post(f"{URL}/import", content=b"email\n", headers={"content-type": "text/csv"}),
        403,
    )


def test_a_key_without_subscriber_scopes_cannot_read(api):
    assert_problem(api("news:write").get(URL), 403)
    assert_problem(api("news:write").get(f"{URL}/export.csv"), 403)


def test_a_write_key_cannot_read(api):
    writer = api("subscribers:write")
    make_subscriber(writer)
    assert_problem(writer.get(URL), 403)


def test_without_a_key_every_call_is_a_401(client, session):
    for method, path in [("get", URL), ("post", URL), ("get", f"{URL}/export.csv")]:
        response = client.request(method, path, json={"email": "ada@example.com"})
        assert_problem(response, 401)
        assert response.headers["www-authenticate"].startswith("Bearer")
    assert count_subscribers(session) == 0


def test_an_unknown_key_is_a_401(client):
    response = client.get(URL, headers={"Authorization": "Bearer dbk_not-a-real-key"})
    assert_problem(response, 401)


def test_the_admin_scope_may_do_everything(admin_api):
    ada = make_subscriber(admin_api)
    assert admin_api.get(URL).status_code == 200
    assert admin_api.patch(f"{URL}/{ada['id']}", json={"name": "A"}).status_code == 200
    assert admin_api.put(f"{URL}/by-email/grace@example.com", json={}).status_code == 201
    assert admin_api.get(f"{URL}/export.csv").status_code == 200
    assert admin_api.delete(f"{URL}/{ada['id']}").status_code == 204


# Body size


def test_an_oversized_json_body_is_a_413(admin_api, session):
    body = '{"email": "ada@example.com", "name": "' + "x" * 1_000_000 + '"}'
    response = admin_api.post(URL, content=body, headers={"content-type": "application/json"})
    assert_problem(response, 413)
    assert count_subscribers(session) == 0


def test_a_body_just_under_the_cap_is_read_and_validated(admin_api):
    body = '{"email": "ada@example.com", "name": "' + "x" * 900_000 + '"}'
    response = admin_api.post(URL, content=body, headers={"content-type": "application/json"})
    assert_problem(response, 422, field="name")  # too long a name, but not too large a body


# Export


def read_export(response) -> list[list[str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert "subscribers.csv" in response.headers["content-disposition"]
    return list(csv.reader(io.StringIO(response.text)))


def test_export_has_a_column_per_attribute(admin_api):
    make_subscriber(
        admin_api, email="ada@example.com", name="Ada", attributes={"department": "Finance"}
    )
    make_subscriber(
        admin_api,
        email="grace@example.com",
        name="Grace",
        status="unsubscribed",
        attributes={"location": "Arlington"},
    )
    rows = read_export(admin_api.get(f"{URL}/export.csv"))
    assert rows[0] == ["email", "name", "status", "department", "location", "created_at"]
    assert [row[:5] for row in rows[1:]] == [
        ["ada@example.com", "Ada", "active", "Finance", ""],
        ["grace@example.com", "Grace", "unsubscribed", "", "Arlington"],
    ]
    assert all(row[5].startswith("2") for row in rows[1:])  # an ISO timestamp


def test_export_defuses_cells_a_spreadsheet_would_run(admin_api):
    make_subscriber(
        admin_api,
        name='=HYPERLINK("http://evil.example","click")',
        attributes={"cost_center": "+4711", "note": "@SUM(A1)", "team": "-1+1", "plain": "a=b"},
    )
    rows = read_export(admin_api.get(f"{URL}/export.csv"))
    exported = dict(zip(rows[0], rows[1], strict=True))
    assert exported["name"] == '\'=HYPERLINK("http://evil.example","click")'
    assert exported["cost_center"] == "'+4711"
    assert exported["note"] == "'@SUM(A1)"
    assert exported["team"] == "'-1+1"
    assert exported["plain"] == "a=b"


def test_export_applies_the_list_filters(admin_api):
    make_subscriber(admin_api, email="ada@example.com", attributes={"department": "Finance"})
    make_subscriber(admin_api, email="alan@example.com", attributes={"role": "it"})
    make_subscriber(admin_api, email="grace@example.com", status="bounced")
    rows = read_export(admin_api.get(f"{URL}/export.csv", params={"status": "active"}))
    assert [row[0] for row in rows[1:]] == ["ada@example.com", "alan@example.com"]
    rows = read_export(
        admin_api.get(f"{URL}/export.csv", params={"attribute": "department:FINANCE"})
    )
    assert rows[0] == ["email", "name", "status", "department", "created_at"]
    assert [row[0] for row in rows[1:]] == ["ada@example.com"]


def test_export_of_a_segment(admin_api):
    make_subscriber(admin_api, email="ada@example.com", attributes={"department": "Finance"})
    make_subscriber(admin_api, email="alan@example.com", attributes={"department": "IT"})
    segment = make_segment(
        admin_api, {"all": [{"field": "department", "op": "eq", "value": "finance"}]}
    )
    rows = read_export(admin_api.get(f"{URL}/export.csv", params={"segment_id": segment["id"]}))
    assert [row[0] for row in rows[1:]] == ["ada@example.com"]
    assert_problem(admin_api.get(f"{URL}/export.csv", params={"segment_id": 999999}), 404)


def test_export_of_nothing_is_a_header_row(admin_api):
    rows = read_export(admin_api.get(f"{URL}/export.csv"))
    assert rows == [["email", "name", "status", "created_at"]]
