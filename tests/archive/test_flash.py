"""A news flash for an active incident is pinned on the archive until it is resolved."""

from tests.archive.factories import executable_parts

FLASH = 'data-testid="news-flash"'


def test_an_approved_flash_is_pinned_until_the_incident_is_resolved(
    client, people, segments, newsroom
):
    incident = {
        "external_id": "INC-77",
        "title": "Email is down <script>alert('t')</script>",
        "body": "Queues are stuck. <img src=x onerror=alert(1)> Updates **every hour**.",
        "flash": True,
        "suggested_segments": ["All staff"],
    }
    newsroom("incident", **incident)
    [flash] = client.get(
        "/api/v1/issues", params={"kind": "flash"}, headers=people["viewer"].headers
    ).json()
    # Waiting for its fast-track approval: not shown to readers yet.
    assert FLASH not in client.get("/archive").text

    approved = client.post(
        f"/api/v1/issues/{flash['id']}/approve", headers=people["approver"].headers
    )
    assert approved.status_code == 200
    page = client.get("/archive").text
    assert page.count(FLASH) == 1
    assert page.index(FLASH) < page.index("Past issues")  # pinned on top
    assert "Email is down &lt;script&gt;" in page
    assert "Updates <strong>every hour</strong>." in page
    assert executable_parts(page) == []

    newsroom("incident", **{**incident, "resolved": True, "body": "All mail delivered."})
    assert FLASH not in client.get("/archive").text


def test_incidents_without_a_flash_are_not_pinned(client, people, newsroom):
    newsroom("incident", external_id="INC-8", title="Printer jam on floor 3")
    assert FLASH not in client.get("/archive").text
