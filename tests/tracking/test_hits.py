"""The open pixel and the click redirect, through the real app and a real message."""

from sqlalchemy import select
from sqlmodel import Session

from app.rendering.links import link_check
from app.subscribers.models import Subscriber, SubscriberStatus
from app.tracking.models import EngagementEvent, TrackedLink
from app.tracking.tokens import Purpose
from tests.delivery.factories import people, static_segment
from tests.tracking.factories import GUIDE, PORTAL, STATUS, linked_issue, message_for

HUMAN = {
    "User-Agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0"
}


def events(engine) -> list[EngagementEvent]:
    with Session(engine) as session:
        return list(session.scalars(select(EngagementEvent).order_by(EngagementEvent.id)))


def flip(token: str, index: int) -> str:
    swapped = "B" if token[index] != "B" else "C"
    return token[:index] + swapped + token[index + 1 :]


def test_every_http_link_is_registered_and_redirects_to_its_target(app, client, engine):
    [person] = people(engine, 1)
    issue_id = linked_issue(engine, [static_segment(engine, "All", [person])])
    message = message_for(app, engine, issue_id, person)

    assert set(message.clicks) == {GUIDE, PORTAL, STATUS}
    assert "mailto:it@example.com" in message.html  # not wrapped
    for url, path in message.clicks.items():
        response = client.get(path, headers=HUMAN, follow_redirects=False)
        assert response.status_code == 302 and response.headers["location"] == url
        assert response.headers["cache-control"] == "no-store"
    # The text part carries the same click URLs, not the targets.
    for url, path in message.clicks.items():
        assert path in message.text and url not in message.text
    # Unsubscribe, preferences, feedback and the web version are not wrapped.
    for direct in ("/u/", "/p/", "/f/", "/web/"):
        assert f'href="http://testserver{direct}' in message.html
    app.state.recorder.flush()
    clicks = events(engine)
    assert [e.kind for e in clicks] == ["click"] * 3
    with Session(engine) as session:
        links = {link.id: link for link in session.scalars(select(TrackedLink))}
    assert {links[e.link_id].url for e in clicks} == {GUIDE, PORTAL, STATUS}
    assert all(e.excerpt_id == links[e.link_id].excerpt_id is not None for e in clicks)


def test_a_flipped_byte_in_either_token_is_a_plain_404_or_records_nothing(app, client, engine):
    [person] = people(engine, 1)
    issue_id = linked_issue(engine, [static_segment(engine, "All", [person])])
    path = message_for(app, engine, issue_id, person).clicks[PORTAL]
    _, _, link_token, reader_token = path.split("/")
    for index in (0, 5, len(link_token) // 2, len(link_token) - 1):
        response = client.get(
            f"/c/{flip(link_token, index)}/{reader_token}", follow_redirects=False
        )
        assert response.status_code == 404, index
        assert "location" not in response.headers
        assert response.headers["content-type"].startswith("text/html")
        assert "Traceback" not in response.text
    # Another purpose's token for the same numbers is no click token.
    signer = app.state.renderer.signer
    values = signer.read(Purpose.click, link_token)
    for token in (signer.make(Purpose.open, *values), "x", "a.b"):
        assert client.get(f"/c/{token}/{reader_token}", follow_redirects=False).status_code == 404
    # A link id of another issue under a valid signature is not a redirect either.
    foreign = signer.make(Purpose.click, issue_id + 1, *values[1:])
    assert client.get(f"/c/{foreign}/{reader_token}", follow_redirects=False).status_code == 404

    # A damaged reader token still takes the person where they wanted, but counts nothing.
    damaged = client.get(f"/c/{link_token}/{flip(reader_token, 3)}", follow_redirects=False)
    assert damaged.status_code == 302 and damaged.headers["location"] == PORTAL
    app.state.recorder.flush()
    assert events(engine) == []


def test_redirects_go_only_to_registered_urls(app, client, engine):
    [person] = people(engine, 1)
    issue_id = linked_issue(engine, [static_segment(engine, "All", [person])])
    message_for(app, engine, issue_id, person)
    signer = app.state.renderer.signer
    with Session(engine) as session:
        registered = {link.id: link for link in session.scalars(select(TrackedLink))}
    reader = signer.make(Purpose.reader, issue_id, person)
    any_check = link_check(next(iter(registered.values())).digest)
    for link_id in range(1, max(registered) + 5):
        link = registered.get(link_id)
        token = signer.make(
            Purpose.click, issue_id, link_id, link_check(link.digest) if link else any_check
        )
        response = client.get(f"/c/{token}/{reader}", follow_redirects=False)
        if link:
            assert response.headers["location"] == link.url
        else:
            assert response.status_code == 404 and "location" not in response.headers
        # A token whose check names another link (an id reused after a delete) is refused.
        stale = signer.make(Purpose.click, issue_id, link_id, 12345)
        assert client.get(f"/c/{stale}/{reader}", follow_redirects=False).status_code == 404
    assert {link.url for link in registered.values()} == {GUIDE, PORTAL, STATUS}


def test_the_pixel_is_always_an_image_that_is_not_cached(app, client, engine):
    [person] = people(engine, 1)
    issue_id = linked_issue(engine, [static_segment(engine, "All", [person])])
    pixel = message_for(app, engine, issue_id, person).pixel
    assert pixel is not None
    token = pixel.removeprefix("/o/").removesuffix(".gif")
    for path in (pixel, f"/o/{flip(token, 4)}.gif", "/o/nonsense.gif", "/o/%00.gif"):
        for method in ("GET", "HEAD"):
            response = client.request(method, path, headers=HUMAN)
            assert response.status_code == 200, (method, path)
            assert response.headers["content-type"] == "image/gif"
            assert response.headers["cache-control"].startswith("no-store")
            assert response.headers["content-length"] == "43"
            if method == "GET":
                assert response.content.startswith(b"GIF89a") and len(response.content) == 43
    app.state.recorder.flush()
    opens = events(engine)
    # Only the valid token was recorded; the HEAD of it is a machine's.
    assert [(e.kind, e.machine, e.machine_reason) for e in opens] == [
        ("open", False, ""),
        ("open", True, "head"),
    ]


def test_get_and_head_never_change_the_subscriber(app, client, engine):
    [person] = people(engine, 1)
    issue_id = linked_issue(engine, [static_segment(engine, "All", [person])])
    message = message_for(app, engine, issue_id, person)
    for path in [message.pixel, *message.clicks.values()]:
        client.get(path, follow_redirects=False)
        client.head(path, follow_redirects=False)
    with Session(engine) as session:
        subscriber = session.get(Subscriber, person)
        assert subscriber.status == SubscriberStatus.active
