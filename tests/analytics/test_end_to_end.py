"""Through the real email: the pixel and click links people (and image proxies) fetch end
up in the stats an editor reads."""

from tests.analytics.factories import audience, sent_issue
from tests.tracking.factories import GUIDE, linked_issue, message_for

BROWSER = {
    "User-Agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0"
}
GOOGLE_PROXY = {
    "User-Agent": "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 "
    "(via ggpht.com GoogleImageProxy)"
}


def test_opens_and_clicks_from_real_messages_show_in_the_stats(app, client, api, engine):
    ids = audience(engine, 24, "e")
    issue_id = sent_issue(engine, {"All staff": ids}, make=linked_issue)
    messages = {person: message_for(app, engine, issue_id, person) for person in ids}

    for person in ids[:12]:
        assert client.get(messages[person].pixel, headers=BROWSER).status_code == 200
    for person in ids[12:22]:  # Gmail's image proxy fetches for ten more
        client.get(messages[person].pixel, headers=GOOGLE_PROXY)
    for person in ids[:11]:
        path = messages[person].clicks[GUIDE]
        clicked = client.get(path, headers=BROWSER, follow_redirects=False)
        assert clicked.status_code == 302
    app.state.recorder.flush()

    body = api("stats:read").get(f"/api/v1/issues/{issue_id}/stats").json()

    issue = body["issue"]
    assert issue["delivered"] == 24
    assert (issue["unique_opens_raw"], issue["unique_opens_human"]) == (22, 12)
    assert issue["open_rate_human"] == 0.5
    assert issue["unique_clickers_human"] == 11 and issue["clicks_human"] == 11
    [sign_in] = [row for row in body["excerpts"] if row["headline"] == "New sign-in"]
    assert sign_in["unique_clickers_human"] == 11
    # Its 11 clicks are all of the issue's: shown, they would tell that the other excerpt
    # (hidden: fewer than 10) had none.
    assert sign_in["clicks_human"] is None
    assert sign_in["hidden"]["clicks_human"].startswith("hidden: would reveal")
