"""CSV import of subscribers: through the API and the `drumbeat` command."""

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from app.audit.models import AuditEntry
from app.cli import app as cli
from app.config import get_settings
from app.main import create_app
from app.subscribers.models import Subscriber
from tests.conftest import make_api_key

URL = "/api/v1/subscribers/import"
PROBLEM_JSON = "application/problem+json"


def import_csv(client, text: str | bytes, content_type: str = "text/csv"):
    body = text.encode() if isinstance(text, str) else text
    return client.post(URL, content=body, headers={"content-type": content_type})


def imported(client, text: str | bytes) -> dict:
    response = import_csv(client, text)
    assert response.status_code == 200, response.text
    return response.json()


def counts(report: dict) -> tuple[int, int, int, int]:
    return (report["created"], report["updated"], report["unchanged"], report["rejected_count"])


def rejections(report: dict) -> list[tuple[int, str]]:
    return [(r["line"], r["reason"]) for r in report["rejected"]]


def stored(session) -> dict[str, Subscriber]:
    session.expire_all()
    return {s.email: s for s in session.scalars(select(Subscriber))}


def make_subscriber(client, **overrides) -> dict:
    body = {"email": "ada@example.com", "name": "Ada"} | overrides
    response = client.post("/api/v1/subscribers", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def assert_problem(response, status: int, field: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    problem = response.json()
    if field is not None:
        assert [e["field"] for e in problem["errors"]] == [field]
    return problem


# Counting and storing


def test_new_changed_and_unchanged_rows_are_counted(admin_api, session):
    make_subscriber(admin_api, email="ada@example.com", name="Ada", attributes={"dept": "IT"})
    make_subscriber(admin_api, email="grace@example.com", name="Grace", attributes={"dept": "IT"})
    report = imported(
        admin_api,
        "email,name,dept\n"
        "ada@example.com,Ada,IT\n"  # unchanged
        "GRACE@example.com,Grace Hopper,IT\n"  # updated, matched in any case
        "alan@example.com,Alan,Research\n"  # created
        "joan@example.com,Joan,\n",  # created, no attribute
    )
    assert counts(report) == (2, 1, 1, 0)
    assert report["rejected"] == []
    subscribers = stored(session)
    assert sorted(subscribers) == [
        "ada@example.com",
        "alan@example.com",
        "grace@example.com",
        "joan@example.com",
    ]
    assert subscribers["grace@example.com"].name == "Grace Hopper"
    assert subscribers["alan@example.com"].attributes == {"dept": "Research"}
    assert subscribers["alan@example.com"].status == "active"
    assert subscribers["joan@example.com"].attributes == {}


def test_importing_the_same_file_twice_changes_nothing_the_second_time(admin_api):
    text = "email,name,location\nada@example.com,Ada,Bonn\ngrace@example.com,Grace,Berlin\n"
    assert counts(imported(admin_api, text)) == (2, 0, 0, 0)
    assert counts(imported(admin_api, text)) == (0, 0, 2, 0)


def test_header_names_email_name_status_in_any_case_attributes_as_written(admin_api, session):
    report = imported(admin_api, "EMAIL, Name ,Status,Department\nada@example.com,Ada,Active,IT\n")
    assert counts(report) == (1, 0, 0, 0)
    ada = stored(session)["ada@example.com"]
    assert (ada.name, ada.status, ada.attributes) == ("Ada", "active", {"Department": "IT"})


def test_imported_attributes_merge_into_the_stored_ones(admin_api, session):
    make_subscriber(admin_api, attributes={"dept": "IT", "location": "Bonn"})
    report = imported(admin_api, "email,location,role\nada@example.com,Berlin,lead\n")
    assert counts(report) == (0, 1, 0, 0)
    assert stored(session)["ada@example.com"].attributes == {
        "dept": "IT",
        "location": "Berlin",
        "role": "lead",
    }


def test_empty_cells_leave_stored_values_alone(admin_api, session):
    make_subscriber(admin_api, name="Ada", attributes={"dept": "IT", "location": "Bonn"})
    report = imported(admin_api, "email,name,status,dept,location\nada@example.com,,,  ,Berlin\n")
    assert counts(report) == (0, 1, 0, 0)
    ada = stored(session)["ada@example.com"]
    assert (ada.name, ada.status) == ("Ada", "active")
    assert ada.attributes == {"dept": "IT", "location": "Berlin"}


def test_a_file_with_only_a_header_imports_nothing(admin_api, session):
    assert counts(imported(admin_api, "email,name\n")) == (0, 0, 0, 0)
    assert stored(session) == {}


def test_blank_lines_are_skipped(admin_api, session):
    report = imported(admin_api, "email\n\nada@example.com\n\n\nbad\n")
    assert counts(report) == (1, 0, 0, 1)
    assert [line for line, _ in rejections(report)] == [6]


# Rejected rows


def test_each_rejection_names_its_line_and_reason(admin_api, session):
    report = imported(
        admin_api,
        "email,name,status\n"
        "ada@example.com,Ada,active\n"  # line 2
        "not-an-address,Nobody,active\n"  # line 3
        "ADA@example.com,Ada again,active\n"  # line 4
        "grace@example.com,Grace\n"  # line 5
        "alan@example.com,Alan,asleep\n"  # line 6
        "joan@example.com,Joan,active,extra\n"  # line 7
        "ok@example.com,Ok,bounced\n",  # line 8
    )
    assert counts(report) == (2, 0, 0, 5)
    lines = rejections(report)
    assert [line for line, _ in lines] == [3, 4, 5, 6, 7]
    reasons = dict(lines)
    assert "invalid email address 'not-an-address'" in reasons[3]
    assert reasons[4] == "duplicate in file: same address as line 2"
    assert reasons[5] == "expected 3 fields, found 2"
    assert reasons[6].startswith("unknown status 'asleep'")
    assert reasons[7] == "expected 3 fields, found 4"
    assert [r["email"] for r in report["rejected"]] == [
        "not-an-address",
        "ada@example.com",
        "",
        "alan@example.com",
        "",
    ]
    assert sorted(stored(session)) == ["ada@example.com", "ok@example.com"]
    assert stored(session)["ok@example.com"].status == "bounced"


def test_quoted_cells_spanning_lines_shift_the_line_numbers(admin_api):
    report = imported(
        admin_api,
        "email,name,address\n"
        'ada@example.com,Ada,"Main Street 1\nBonn\nGermany"\n'  # lines 2-4
        "bad-one,B,x\n"  # line 5
        'grace@example.com,"Grace\r\nHopper",x\r\n'  # lines 6-7
        "bad-two,B,x\n",  # line 8
    )
    assert counts(report) == (2, 0, 0, 2)
    assert [line for line, _ in rejections(report)] == [5, 8]


def test_a_rejected_row_changes_nothing_already_stored(admin_api, session):
    make_subscriber(admin_api, name="Ada", attributes={"dept": "IT"})
    report = imported(admin_api, "email,name,status,dept\nada@example.com,Ada X,paused,Sales\n")
    assert counts(report) == (0, 0, 0, 1)
    ada = stored(session)["ada@example.com"]
    assert (ada.name, ada.status, ada.attributes) == ("Ada", "active", {"dept": "IT"})


@pytest.mark.parametrize("status", ["unsubscribed", "bounced", "blocked"])
def test_an_import_does_not_reactivate_an_address(admin_api, session, status):
    make_subscriber(admin_api, name="Ada", status=status)
    report = imported(admin_api, "email,name,status\nada@example.com,Ada New,active\n")
    assert counts(report) == (0, 0, 0, 1)
    assert rejections(report) == [(2, f"subscriber is {status}; an import cannot reactivate it")]
    ada = stored(session)["ada@example.com"]
    assert (ada.status, ada.name) == (status, "Ada")


def test_rows_without_a_status_update_an_unsubscribed_address_and_keep_its_status(
    admin_api, session
):
    make_subscriber(admin_api, status="unsubscribed")
    report = imported(admin_api, "email,name,status\nada@example.com,Ada New,\n")
    assert counts(report) == (0, 1, 0, 0)
    ada = stored(session)["ada@example.com"]
    assert (ada.status, ada.name) == ("unsubscribed", "Ada New")


def test_an_import_may_unsubscribe(admin_api, session):
    make_subscriber(admin_api)
    report = imported(admin_api, "email,status\nada@example.com,unsubscribed\n")
    assert counts(report) == (0, 1, 0, 0)
    ada = stored(session)["ada@example.com"]
    assert ada.status == "unsubscribed"
    assert ada.status_changed_at is not None


def test_a_name_longer_than_the_column_is_rejected(admin_api, session):
    report = imported(admin_api, f"email,name\nada@example.com,{'x' * 201}\ngrace@example.com,G\n")
    assert counts(report) == (1, 0, 0, 1)
    assert rejections(report) == [(2, "name is longer than 200 characters")]
    assert sorted(stored(session)) == ["grace@example.com"]


def test_an_attribute_value_longer_than_allowed_is_rejected(admin_api):
    report = imported(admin_api, f"email,note\nada@example.com,{'x' * 501}\n")
    assert counts(report) == (0, 0, 0, 1)
    assert rejections(report) == [(2, "attribute 'note' is longer than 500 characters")]


def test_a_row_may_not_push_a_subscriber_over_the_attribute_limit(admin_api, session):
    make_subscriber(admin_api, attributes={f"a{n}": "x" for n in range(50)})
    report = imported(admin_api, "email,extra\nada@example.com,y\n")
    assert counts(report) == (0, 0, 0, 1)
    assert rejections(report) == [(2, "at most 50 attributes")]
    assert "extra" not in stored(session)["ada@example.com"].attributes


def test_rejections_are_counted_all_but_listed_up_to_a_thousand(admin_api):
    text = "email\n" + "".join(f"bad{n}\n" for n in range(1005))
    report = imported(admin_api, text)
    assert report["rejected_count"] == 1005
    assert len(report["rejected"]) == 1000
    assert report["rejected"][-1]["line"] == 1001


def test_a_large_file_is_imported_across_batches(admin_api, session):
    rows = [f"user{n}@example.com,User {n},{n % 7}" for n in range(2500)]
    rows[2200] = "user0@example.com,Again,0"  # a duplicate of line 2, in a later batch
    report = imported(admin_api, "email,name,team\n" + "\n".join(rows) + "\n")
    assert counts(report) == (2499, 0, 0, 1)
    assert rejections(report) == [(2202, "duplicate in file: same address as line 2")]
    assert len(stored(session)) == 2499
    assert counts(imported(admin_api, "email,team\nuser1999@example.com,1\n")) == (0, 1, 0, 0)


# File formats


def test_a_semicolon_delimited_file(admin_api, session):
    report = imported(admin_api, "email;name;dept\nada@example.com;Lovelace, Ada;IT\n")
    assert counts(report) == (1, 0, 0, 0)
    ada = stored(session)["ada@example.com"]
    assert (ada.name, ada.attributes) == ("Lovelace, Ada", {"dept": "IT"})


def test_a_utf8_byte_order_mark_is_ignored(admin_api, session):
    body = "\ufeffemail,name\r\nada@example.com,Zoë Müller\r\n".encode()
    report = imported(admin_api, body)
    assert counts(report) == (1, 0, 0, 0)
    assert stored(session)["ada@example.com"].name == "Zoë Müller"


def test_a_multipart_upload_in_the_field_file(admin_api, session):
    response = admin_api.post(
        URL, files={"file": ("people.csv", b"email,name\nada@example.com,Ada\n", "text/csv")}
    )
    assert response.status_code == 200, response.text
    assert counts(response.json()) == (1, 0, 0, 0)
    assert sorted(stored(session)) == ["ada@example.com"]


def test_a_multipart_upload_without_the_field_file_is_a_422(admin_api):
    response = admin_api.post(URL, files={"upload": ("people.csv", b"email\n", "text/csv")})
    assert_problem(response, 422, field="file")


def test_a_body_of_another_content_type_is_a_422(admin_api):
    response = import_csv(admin_api, '{"email": "ada@example.com"}', "application/json")
    assert_problem(response, 422, field="content-type")


# Files refused as a whole


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("name,dept\nAda,IT\n", "line 1: the header row has no 'email' column"),
        ("", "line 1: the file is empty; it needs a header row with 'email'"),
        ("email,name,,dept\nada@example.com,Ada,,IT\n", "line 1: column 3 has no name"),
        ("email,dept,Dept,dept\nada@example.com,a,b,c\n", "line 1: column 'dept' appears twice"),
        ("Email,EMAIL\nada@example.com,x\n", "line 1: column 'email' appears twice"),
        (
            'email,"say ""hi"""\nada@example.com,x\n',
            "line 1: column 2: attribute name 'say \"hi\"' contains a quote, backslash or "
            "control character",
        ),
        (
            f"email,{'x' * 65}\nada@example.com,\n",
            "line 1: column 2: attribute names are 1-64 characters",
        ),
    ],
)
def test_a_bad_header_is_a_422_and_nothing_is_stored(admin_api, session, text, reason):
    response = import_csv(admin_api, text)
    problem = assert_problem(response, 422, field="file")
    assert problem["errors"][0]["reason"] == reason
    assert stored(session) == {}


def test_an_unreadable_row_refuses_the_whole_file_with_its_line(admin_api, session):
    response = import_csv(admin_api, 'email,name\nada@example.com,Ada\ngrace@example.com,"Grace\n')
    problem = assert_problem(response, 422, field="file")
    assert problem["errors"][0]["reason"].startswith("line 3: unreadable CSV")
    assert stored(session) == {}


def test_a_file_not_in_utf8_is_refused_naming_the_first_bad_line(admin_api, session):
    body = "email,name\nada@example.com,Ada\ngrace@example.com,Grace\nzoe@example.com,Zoë\n"
    response = import_csv(admin_api, body.encode("latin-1"))
    problem = assert_problem(response, 422, field="file")
    assert problem["errors"][0]["reason"].startswith("line 4: the file is not UTF-8 text")
    assert stored(session) == {}


def test_a_header_not_in_utf8_is_refused_as_line_1(admin_api):
    response = import_csv(admin_api, "email,Straße\n".encode("latin-1"))
    problem = assert_problem(response, 422, field="file")
    assert problem["errors"][0]["reason"].startswith("line 1: the file is not UTF-8 text")


def test_an_exported_file_imports_back_without_changes(admin_api, session):
    make_subscriber(admin_api, email="ada@example.com", attributes={"dept": "IT"})
    make_subscriber(admin_api, email="grace@example.com", attributes={"location": "Bonn"})
    exported = admin_api.get("/api/v1/subscribers/export.csv")
    assert exported.status_code == 200
    report = imported(admin_api, exported.content)
    assert counts(report) == (0, 0, 2, 0)
    assert stored(session)["ada@example.com"].attributes == {"dept": "IT"}


# Size limit


def test_the_json_body_cap_does_not_apply_to_imports(admin_api):
    # Blank lines are skipped: a body past the 1 MB JSON cap that stores a single row.
    body = "email\nada@example.com\n" + "\n" * 1_100_000
    assert counts(imported(admin_api, body)) == (1, 0, 0, 0)


@pytest.fixture
def small_import_api(settings, engine):
    """An app whose imports are capped at 100 bytes, on the same database."""
    application = create_app(settings.model_copy(update={"max_import_bytes": 100}))
    with TestClient(application, base_url="http://testserver") as small:
        small.headers["Authorization"] = f"Bearer {make_api_key(engine, 'admin')}"
        yield small
    application.state.engine.dispose()


def test_an_import_over_the_limit_is_a_413_and_stores_nothing(small_import_api, session):
    body = "email\n" + "".join(f"user{n}@example.com\n" for n in range(10))
    assert_problem(import_csv(small_import_api, body), 413)

    def chunks():  # no Content-Length: the limit holds while the body streams in
        yield b"email\n"
        for n in range(10):
            yield f"user{n}@example.com\n".encode()

    response = small_import_api.post(URL, content=chunks(), headers={"content-type": "text/csv"})
    assert_problem(response, 413)
    uploaded = small_import_api.post(URL, files={"file": ("people.csv", body.encode(), "text/csv")})
    assert_problem(uploaded, 413)
    assert stored(session) == {}
    assert counts(imported(small_import_api, "email\nada@example.com\n")) == (1, 0, 0, 0)


# Audit


def test_an_import_is_recorded_in_the_audit_log(admin_api, session):
    make_subscriber(admin_api)
    imported(admin_api, "email,name\nada@example.com,Ada L.\ngrace@example.com,G\nbad,B\n")
    entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "subscribers.imported"))
    assert entry.details == {"created": 1, "updated": 1, "unchanged": 0, "rejected": 1}
    assert entry.actor_kind == "api_key"
    assert entry.object_type == "subscriber"


def test_a_refused_import_leaves_no_audit_entry(admin_api, session):
    assert_problem(import_csv(admin_api, "name\nAda\n"), 422)
    entries = session.scalars(select(AuditEntry.action)).all()
    assert "subscribers.imported" not in entries


# The command line


@pytest.fixture
def cli_env(db_url, engine, monkeypatch, tmp_path):
    monkeypatch.setenv("DRUMBEAT_DATABASE_URL", db_url)
    monkeypatch.setenv("DRUMBEAT_VAR_DIR", str(tmp_path))
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def run_import(path):
    return CliRunner().invoke(cli, ["subscribers", "import", str(path)])


def test_the_command_imports_a_file_and_lists_rejections(cli_env, session):
    path = cli_env / "people.csv"
    path.write_text("email,name,dept\nada@example.com,Ada,IT\nnobody,X,IT\ngrace@example.com,G\n")
    result = run_import(path)
    assert result.exit_code == 0, result.output
    assert "created 1, updated 0, unchanged 0, rejected 2" in result.stdout
    assert "line 3: invalid email address 'nobody'" in result.stderr
    assert "line 4: expected 3 fields, found 2" in result.stderr
    assert stored(session)["ada@example.com"].attributes == {"dept": "IT"}
    audit = session.scalar(select(AuditEntry).where(AuditEntry.action == "subscribers.imported"))
    assert audit.actor_kind == "cli"


def test_the_command_refuses_a_file_without_an_email_column(cli_env, session):
    path = cli_env / "people.csv"
    path.write_text("name\nAda\n")
    result = run_import(path)
    assert result.exit_code == 1
    assert "Nothing imported: file: line 1: the header row has no 'email' column" in result.stderr
    assert stored(session) == {}


def test_the_command_refuses_a_missing_file(cli_env):
    result = run_import(cli_env / "missing.csv")
    assert result.exit_code == 2
