"""The rule language: what each operator selects on both databases, and what it rejects."""

import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from app.segments import service as segments
from app.segments.rules import MAX_CONDITIONS, MAX_DEPTH, Rule, compile_rule
from app.subscribers.models import Subscriber

INJECTION = "x' OR 1=1 --"


def add_subscriber(
    session: Session, email: str, *, name: str = "", status: str = "active", **attributes: str
) -> Subscriber:
    subscriber = Subscriber(email=email, name=name, status=status, attributes=attributes)
    session.add(subscriber)
    session.commit()
    return subscriber


def members(session: Session, rule: dict) -> set[str]:
    """The local parts of the addresses the rule selects (anna@example.com -> anna)."""
    clause = compile_rule(Rule.model_validate(rule))
    emails = session.scalars(select(Subscriber.email).where(clause))
    return {email.split("@")[0] for email in emails}


def where(field: str, op: str, value=None) -> dict:
    condition = {"field": field, "op": op}
    if value is not None:
        condition["value"] = value
    return {"all": [condition]}


@pytest.fixture
def people(session):
    """Five people covering the cases: mixed case, missing and empty attributes, all statuses."""
    add_subscriber(
        session,
        "anna@example.com",
        name="Anna Berger",
        department="Finance",
        location="Berlin",
        role="team_lead",
    )
    add_subscriber(
        session, "ben@example.com", name="Ben Costa", department="finance", location="MUNICH"
    )
    add_subscriber(
        session,
        "clara@example.com",
        name="Clara Dietrich",
        status="unsubscribed",
        department="Sales",
        location="Berlin",
        itsm_role="change_manager",
    )
    add_subscriber(session, "david@example.org", status="bounced")
    add_subscriber(
        session,
        "elif@example.org",
        name="Elif Yilmaz",
        status="blocked",
        department="IT",
        location="",
    )
    return {"anna", "ben", "clara", "david", "elif"}


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("department", "FINANCE", {"anna", "ben"}),
        ("attributes.department", "finance", {"anna", "ben"}),
        ("location", "munich", {"ben"}),
        ("email", "ANNA@Example.com", {"anna"}),
        ("name", "anna berger", {"anna"}),
        ("status", "bounced", {"david"}),
        ("status", "BLOCKED", {"elif"}),
        ("department", "Fin", set()),
    ],
)
def test_eq_ignores_case_and_matches_whole_values(session, people, field, value, expected):
    assert members(session, where(field, "eq", value)) == expected


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        # Without the attribute, or with it empty, a person is "not Finance".
        ("department", "FINANCE", {"clara", "david", "elif"}),
        ("location", "berlin", {"ben", "david", "elif"}),
        ("email", "anna@example.com", {"ben", "clara", "david", "elif"}),
        ("name", "ANNA BERGER", {"ben", "clara", "david", "elif"}),
        ("status", "active", {"clara", "david", "elif"}),
    ],
)
def test_ne_includes_people_without_the_value(session, people, field, value, expected):
    assert members(session, where(field, "ne", value)) == expected


@pytest.mark.parametrize(
    ("field", "values", "expected"),
    [
        ("location", ["berlin", "Munich"], {"anna", "ben", "clara"}),
        ("department", ["IT", "nowhere"], {"elif"}),
        ("email", ["BEN@example.com", "nobody@example.com"], {"ben"}),
        ("name", ["clara dietrich", "Elif Yilmaz"], {"clara", "elif"}),
        ("status", ["bounced", "Blocked"], {"david", "elif"}),
    ],
)
def test_in_matches_any_listed_value(session, people, field, values, expected):
    assert members(session, where(field, "in", values)) == expected


@pytest.mark.parametrize(
    ("field", "values", "expected"),
    [
        ("location", ["BERLIN"], {"ben", "david", "elif"}),
        ("department", ["finance", "sales"], {"david", "elif"}),
        ("email", ["anna@example.com", "ben@example.com"], {"clara", "david", "elif"}),
        ("name", ["Anna Berger"], {"ben", "clara", "david", "elif"}),
        ("status", ["active", "unsubscribed"], {"david", "elif"}),
    ],
)
def test_not_in_includes_people_without_the_attribute(session, people, field, values, expected):
    assert members(session, where(field, "not_in", values)) == expected


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("itsm_role", "MANAGER", {"clara"}),
        ("department", "in", {"anna", "ben"}),
        ("email", "@EXAMPLE.ORG", {"david", "elif"}),
        ("name", "I", {"clara", "elif"}),
    ],
)
def test_contains_matches_part_of_a_value_ignoring_case(session, people, field, value, expected):
    assert members(session, where(field, "contains", value)) == expected


@pytest.mark.parametrize(
    ("field", "present", "expected"),
    [
        ("itsm_role", True, {"clara"}),
        ("itsm_role", False, {"anna", "ben", "david", "elif"}),
        # An empty value counts as missing.
        ("location", True, {"anna", "ben", "clara"}),
        ("location", False, {"david", "elif"}),
        ("attributes.role", True, {"anna"}),
        ("name", True, {"anna", "ben", "clara", "elif"}),
        ("name", False, {"david"}),
        ("email", True, {"anna", "ben", "clara", "david", "elif"}),
        ("email", False, set()),
    ],
)
def test_exists(session, people, field, present, expected):
    assert members(session, where(field, "exists", present)) == expected


def test_exists_without_a_value_means_true(session, people):
    assert members(session, {"all": [{"field": "itsm_role", "op": "exists"}]}) == {"clara"}


def test_numbers_compare_as_the_text_attributes_hold(session):
    add_subscriber(session, "floor5@example.com", floor="5")
    add_subscriber(session, "floor12@example.com", floor="12")
    assert members(session, where("floor", "eq", 5)) == {"floor5"}
    assert members(session, where("floor", "in", [12, 7])) == {"floor12"}


def test_all_any_and_nested_groups(session, people):
    finance_in_berlin = {
        "all": [
            {"field": "department", "op": "eq", "value": "Finance"},
            {"field": "location", "op": "eq", "value": "Berlin"},
        ]
    }
    assert members(session, finance_in_berlin) == {"anna"}

    berlin_or_it = {
        "any": [
            {"field": "location", "op": "eq", "value": "Berlin"},
            {"field": "department", "op": "eq", "value": "IT"},
        ]
    }
    assert members(session, berlin_or_it) == {"anna", "clara", "elif"}

    # Active, and either in Finance outside Berlin or holding an ITSM role.
    nested = {
        "all": [
            {"field": "status", "op": "eq", "value": "active"},
            {
                "any": [
                    {
                        "all": [
                            {"field": "department", "op": "eq", "value": "finance"},
                            {"field": "location", "op": "ne", "value": "berlin"},
                        ]
                    },
                    {"field": "itsm_role", "op": "exists", "value": True},
                ]
            },
        ]
    }
    assert members(session, nested) == {"ben"}


@pytest.mark.parametrize(
    ("needle", "expected"),
    [
        ("100%", {"percent"}),
        ("%", {"percent"}),
        ("a_b", {"underscore"}),
        ("_", {"underscore"}),
        ("c/d", {"slash"}),
        ("%_", set()),
    ],
)
def test_like_wildcards_in_contains_are_literal(session, needle, expected):
    add_subscriber(session, "percent@example.com", note="100% sure")
    add_subscriber(session, "hundred@example.com", note="1000 sure")
    add_subscriber(session, "underscore@example.com", note="a_b")
    add_subscriber(session, "axb@example.com", note="axb")
    add_subscriber(session, "slash@example.com", note="c/d")
    assert members(session, where("note", "contains", needle)) == expected


@pytest.mark.parametrize("field", ["department", "name", "email"])
@pytest.mark.parametrize("op", ["eq", "contains", "in"])
def test_sql_in_a_value_is_only_text(session, people, field, op):
    value = [INJECTION] if op == "in" else INJECTION
    assert members(session, where(field, op, value)) == set()
    assert members(session, where(field, "ne", INJECTION)) == people


def test_sql_in_a_value_matches_exactly_that_text(session, people):
    add_subscriber(session, "mallory@example.com", name=INJECTION, department=INJECTION)
    assert members(session, where("department", "eq", INJECTION)) == {"mallory"}
    assert members(session, where("name", "contains", "1=1 --")) == {"mallory"}


def test_sql_in_an_attribute_name_is_only_a_key(session, people):
    assert members(session, where(INJECTION, "exists", True)) == set()
    assert members(session, where(INJECTION, "eq", "x")) == set()
    assert session.scalar(select(func.count()).select_from(Subscriber)) == len(people)


def test_case_is_ignored_beyond_ascii(session):
    add_subscriber(session, "zoe@example.com", name="Zoë Weiß", location="ZÜRICH")
    assert members(session, where("location", "eq", "zürich")) == {"zoe"}
    assert members(session, where("name", "contains", "ZOË")) == {"zoe"}
    assert members(session, where("location", "in", ["Zürich", "Genève"])) == {"zoe"}


def test_count_gives_members_and_active_members(session, people):
    clause = compile_rule(Rule.model_validate(where("location", "eq", "berlin")))
    counts = segments.count(session, clause=clause)
    assert (counts.member_count, counts.active_count) == (2, 1)


# Validation: every bad rule is a 422 that names the offending part.
PREVIEW = "/api/v1/segments/preview"


def condition(**fields) -> dict:
    return {"all": [fields]}


def nested(depth: int) -> dict:
    rule = {"all": [{"field": "department", "op": "exists"}]}
    for _ in range(depth - 1):
        rule = {"all": [rule]}
    return rule


@pytest.mark.parametrize(
    ("rule", "field", "reason"),
    [
        (condition(field="department", op="like", value="x"), "all.0.condition.op", "'eq'"),
        (condition(field="department", op="eq", value=["a"]), "all.0.condition.value", "single"),
        (condition(field="department", op="eq"), "all.0.condition.value", "single"),
        (condition(field="department", op="in", value=[]), "all.0.condition.value", "non-empty"),
        (condition(field="department", op="in", value="a"), "all.0.condition.value", "list"),
        (condition(field="department", op="exists", value="yes"), "all.0.condition.value", "true"),
        (condition(field="status", op="eq", value="gone"), "all.0.condition.value", "'gone'"),
        (condition(field="status", op="in", value=["active", "x"]), "all.0.condition.value", "'x'"),
        (condition(field="status", op="contains", value="act"), "all.0.condition.op", "status"),
        (condition(field="", op="eq", value="x"), "all.0.condition.field", "1 character"),
        (condition(field="a", op="eq", value="x", extra=1), "all.0.condition.extra", "Extra"),
        ({"all": []}, "all", "at least 1"),
        ({"all": [{"any": []}]}, "all.0.group.any", "at least 1"),
    ],
)
def test_invalid_rules_are_422_naming_the_field(api, rule, field, reason):
    response = api("subscribers:read").post(PREVIEW, json=rule)
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert [e["field"] for e in errors] == [field]
    assert reason in errors[0]["reason"]


@pytest.mark.parametrize(
    ("rule", "reason"),
    [
        (
            {
                "all": [{"field": "a", "op": "exists"}],
                "any": [{"field": "b", "op": "exists"}],
            },
            "exactly one of 'all' or 'any'",
        ),
        ({}, "exactly one of 'all' or 'any'"),
        (nested(MAX_DEPTH + 1), f"at most {MAX_DEPTH} groups deep"),
        (
            {
                "any": [
                    {"field": "a", "op": "eq", "value": str(n)} for n in range(MAX_CONDITIONS + 1)
                ]
            },
            f"at most {MAX_CONDITIONS} conditions",
        ),
    ],
)
def test_invalid_rule_shapes_are_422_naming_the_rule(admin_api, rule, reason):
    response = admin_api.post("/api/v1/segments", json={"name": "Audience", "rule": rule})
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert [e["field"] for e in errors] == ["rule"]
    assert reason in errors[0]["reason"]
    assert admin_api.get("/api/v1/segments").json() == []


def test_rules_at_the_limits_are_accepted(admin_api):
    deepest = admin_api.post(PREVIEW, json=nested(MAX_DEPTH))
    assert deepest.status_code == 200
    largest = {"any": [{"field": "a", "op": "eq", "value": str(n)} for n in range(MAX_CONDITIONS)]}
    assert admin_api.post(PREVIEW, json=largest).status_code == 200


@pytest.mark.parametrize("field", ['dep"t', "dep\\t", "dep\u0000t", "   "])
def test_attribute_names_that_could_never_match_are_refused(admin_api, field):
    response = admin_api.post(
        "/api/v1/segments/preview", json={"all": [{"field": field, "op": "eq", "value": "x"}]}
    )
    assert response.status_code == 422
    assert "field" in response.json()["errors"][0]["field"]
