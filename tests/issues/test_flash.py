"""A flash incident becomes an out-of-cycle issue; its resolution a recap in the next one."""

from tests.issues.conftest import add_excerpt


def flash_issues(client, person):
    return client.get("/api/v1/issues", params={"kind": "flash"}, headers=person.headers).json()


def test_a_flash_incident_opens_a_flash_issue_ready_for_fast_track(
    client, people, segments, newsroom
):
    item = newsroom(
        "incident",
        title="Email is down in Berlin",
        flash=True,
        external_id="INC-42",
        suggested_segments=["All staff"],
    )
    [issue] = flash_issues(client, people["viewer"])
    assert issue["title"] == "News flash: Email is down in Berlin"
    assert issue["status"] == "in_review"
    detail = client.get(f"/api/v1/issues/{issue['id']}", headers=people["viewer"].headers).json()
    assert detail["segment_ids"] == [segments["All staff"]]
    [excerpt] = [e for s in detail["sections"] for e in s["excerpts"]]
    assert excerpt["news_item_ids"] == [item["id"]] and excerpt["kind"] == "incident"

    # Fast track: an approver approves at once; a flash needs no balance override.
    approved = client.post(
        f"/api/v1/issues/{issue['id']}/approve", headers=people["approver"].headers
    )
    assert approved.status_code == 200 and approved.json()["status"] == "approved"


def test_reposting_the_incident_does_not_open_a_second_flash(client, people, newsroom):
    newsroom("incident", flash=True, external_id="INC-7", title="VPN outage")
    newsroom("incident", flash=True, external_id="INC-7", title="VPN outage (update)")
    assert len(flash_issues(client, people["viewer"])) == 1


def test_incidents_without_flash_open_nothing(client, people, newsroom):
    newsroom("incident", external_id="INC-8")
    newsroom("win", flash=True, external_id="W-1")
    assert flash_issues(client, people["viewer"]) == []


def test_the_resolution_becomes_a_recap_offered_for_the_next_bulletin(
    client, people, draft, newsroom
):
    item = newsroom("incident", flash=True, external_id="INC-9", title="Printing is down")
    newsroom(
        "incident",
        flash=True,
        external_id="INC-9",
        title="Printing is down",
        resolved=True,
        body="Fixed: a failed print server was replaced.",
    )
    offers = client.get(
        f"/api/v1/issues/{draft['id']}/suggestions", headers=people["editor"].headers
    ).json()
    recap = [o for o in offers if o["reason"] == "recap"]
    assert [o["news_item_id"] for o in recap] == [item["id"]]

    add_excerpt(client, people["editor"], draft["id"], news_item_ids=[item["id"]])
    offers = client.get(
        f"/api/v1/issues/{draft['id']}/suggestions", headers=people["editor"].headers
    ).json()
    assert item["id"] not in [o["news_item_id"] for o in offers]


def test_open_work_that_got_done_is_offered_again(client, people, draft, newsroom):
    backlog = newsroom("open_work", external_id="TKT-1", title="Licence request backlog")
    add_excerpt(client, people["editor"], draft["id"], news_item_ids=[backlog["id"]])
    done = newsroom("win", external_id="TKT-1", title="Licence request backlog cleared")
    assert done["open_since"] is not None

    offers = client.get(
        f"/api/v1/issues/{draft['id']}/suggestions", headers=people["editor"].headers
    ).json()
    assert {"news_item_id": backlog["id"], "reason": "done_since_last_time"} in [
        {"news_item_id": o["news_item_id"], "reason": o["reason"]} for o in offers
    ]


def test_fresh_unused_news_is_offered_and_stale_news_is_not(client, people, draft, newsroom):
    fresh = newsroom("win", days_ago=1)
    newsroom("win", days_ago=300)
    used = newsroom("risk", days_ago=1)
    add_excerpt(client, people["editor"], draft["id"], news_item_ids=[used["id"]])
    offers = client.get(
        f"/api/v1/issues/{draft['id']}/suggestions", headers=people["editor"].headers
    ).json()
    assert [(o["news_item_id"], o["reason"]) for o in offers] == [(fresh["id"], "new")]
