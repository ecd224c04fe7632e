"""Subscribers in the studio without a browser: search, filters, detail, import, export."""

import re
import time

from sqlalchemy import select

from app.accounts.models import Role
from app.subscribers.models import Subscriber
from tests.studio import factories
from tests.studio.helpers import csrf_of, htmx, sign_in

CSV = (
    "email,name,department\n"
    "ana@example.com,Ana,Finance\n"
    "not-an-address,Broken,Finance\n"
    "ben@example.com,Ben,IT\n"
)


def wait_for_import(client, job_url: str, seconds: float = 10) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        fragment = client.get(job_url, headers=htmx()).text
        if "hx-trigger" not in fragment:  # a finished job stops polling
            return fragment
        time.sleep(0.1)
    raise AssertionError("the import did not finish")


def test_search_filters_and_the_detail_page(client, engine, session):
    factories.subscriber(session, email="clara@example.com", name="Clara Costa",
                         attributes={"department": "Finance"})  # fmt: skip
    factories.subscriber(session, email="dario@example.com", name="Dario", status="unsubscribed")
    session.commit()
    sign_in(client, engine, Role.viewer)

    found = client.get("/studio/subscribers?q=costa", headers=htmx()).text
    assert "clara@example.com" in found and "dario@example.com" not in found
    assert "<html" not in found
    by_attribute = client.get("/studio/subscribers?attribute=department:finance").text
    assert "clara@example.com" in by_attribute and "dario@example.com" not in by_attribute
    by_status = client.get("/studio/subscribers?status=unsubscribed").text
    assert "dario@example.com" in by_status and "clara@example.com" not in by_status
    bad = client.get("/studio/subscribers?attribute=department")
    assert bad.status_code == 422 and "write key:value" in bad.text

    clara = session.scalar(select(Subscriber).where(Subscriber.email == "clara@example.com"))
    detail = client.get(f"/studio/subscribers/{clara.id}").text
    assert "Clara Costa" in detail and "Finance" in detail
    assert "Import CSV" not in client.get("/studio/subscribers").text  # a viewer may not


def test_export_keeps_the_filter(client, engine, session):
    factories.subscriber(session, email="clara@example.com", attributes={"department": "Finance"})
    factories.subscriber(session, email="dario@example.com", attributes={"department": "IT"})
    session.commit()
    sign_in(client, engine, Role.viewer)
    page = client.get("/studio/subscribers?attribute=department:IT").text
    export_url = re.search(r'id="export-link" href="([^"]+)"', page).group(1)
    exported = client.get(export_url.replace("&amp;", "&"))
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    assert "dario@example.com" in exported.text and "clara@example.com" not in exported.text


def test_an_import_reports_the_bad_line_and_keeps_the_good_rows(client, engine, session):
    sign_in(client, engine, Role.editor)
    token = csrf_of(client, "/studio/subscribers/import")
    started = client.post(
        "/studio/subscribers/import",
        files={"file": ("staff.csv", CSV.encode(), "text/csv")},
        headers=htmx(**{"X-CSRF-Token": token}),
    )
    assert started.status_code == 200, started.text
    job_url = started.headers["hx-push-url"]
    assert "<progress" in started.text

    report = wait_for_import(client, job_url)
    assert "2 created" in report and "1 rejected" in report
    assert re.search(r'<td class="num">3</td><td>not-an-address</td>', report)
    emails = set(session.scalars(select(Subscriber.email)))
    assert emails == {"ana@example.com", "ben@example.com"}
    assert client.get(job_url).text.count("<html") == 1  # the job's URL is a page too


def test_a_viewer_may_not_import(client, engine):
    sign_in(client, engine, Role.viewer)
    assert client.get("/studio/subscribers/import").status_code == 403
    token = csrf_of(client)
    refused = client.post(
        "/studio/subscribers/import",
        files={"file": ("staff.csv", CSV.encode(), "text/csv")},
        headers={"X-CSRF-Token": token},
    )
    assert refused.status_code == 403


def test_an_upload_larger_than_the_json_limit_is_accepted_up_to_the_import_limit(
    client, engine, settings
):
    sign_in(client, engine, Role.editor)
    token = csrf_of(client, "/studio/subscribers/import")
    rows = "".join(f"person{n}@example.com,Person {n},{'x' * 40}\n" for n in range(20_000))
    big = ("email,name,note\n" + rows).encode()
    assert settings.max_body_bytes < len(big) < settings.max_import_bytes
    started = client.post(
        "/studio/subscribers/import",
        files={"file": ("big.csv", big, "text/csv")},
        headers=htmx(**{"X-CSRF-Token": token}),
    )
    assert started.status_code == 200, started.text[:300]
    report = wait_for_import(client, started.headers["hx-push-url"], seconds=60)
    assert "20000 created" in report
