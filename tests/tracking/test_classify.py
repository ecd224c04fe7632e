"""Recorded scanner, proxy and human requests, replayed through the real endpoints with
their IP addresses, user agents and timings: the stored split must match the labels."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlmodel import Session

from app.delivery.models import Delivery, DeliveryState
from app.tracking.models import EngagementEvent
from tests.delivery.factories import people, static_segment
from tests.tracking.factories import GUIDE, PORTAL, STATUS, linked_issue, message_for

FIXTURES = Path(__file__).parent / "fixtures" / "requests.jsonl"
TARGETS = {"guide": GUIDE, "portal": PORTAL, "status": STATUS}
SENT_AT = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)


def recorded() -> list[dict]:
    lines = [json.loads(line) for line in FIXTURES.read_text().splitlines() if line.strip()]
    return sorted(lines, key=lambda line: line["seconds_after_delivery"])


def deliver(engine, issue_id: int, subscriber_ids: list[int], segment_id: int) -> None:
    """Delivery rows as a finished send leaves them: every message sent at SENT_AT."""
    with Session(engine) as session:
        for subscriber_id in subscriber_ids:
            session.add(
                Delivery(
                    issue_id=issue_id,
                    subscriber_id=subscriber_id,
                    email=f"{subscriber_id}@example.com",
                    variant=[segment_id],
                    state=DeliveryState.sent,
                    sent_at=SENT_AT,
                )
            )
        session.commit()


@pytest.mark.parametrize("flush_each", [False, True], ids=["one batch", "a batch per hit"])
def test_recorded_requests_are_split_into_people_and_machines(app, client, engine, flush_each):
    lines = recorded()
    readers = sorted({line["reader"] for line in lines})
    ids = dict(zip(readers, people(engine, len(readers)), strict=True))
    segment_id = static_segment(engine, "All", list(ids.values()))
    issue_id = linked_issue(engine, [segment_id])
    deliver(engine, issue_id, list(ids.values()), segment_id)
    messages = {name: message_for(app, engine, issue_id, ids[name]) for name in readers}
    recorder = app.state.recorder
    clients: dict[str, TestClient] = {}

    for line in lines:
        message = messages[line["reader"]]
        path = message.pixel if line["kind"] == "open" else message.clicks[TARGETS[line["link"]]]
        ip = line["ip"]
        clients.setdefault(ip, TestClient(app, client=(ip, 50123)))
        at = SENT_AT + timedelta(seconds=line["seconds_after_delivery"])
        recorder.now = lambda at=at: at
        headers = {"User-Agent": line["user_agent"]} if line["user_agent"] else {}
        if not line["user_agent"]:
            headers["User-Agent"] = ""
        response = clients[ip].request(
            line["method"], path, headers=headers, follow_redirects=False
        )
        assert response.status_code in (200, 302), line
        if flush_each:
            recorder.drain()
    recorder.drain()

    with Session(engine) as session:
        stored = list(session.scalars(select(EngagementEvent).order_by(EngagementEvent.id)))
    got = [(e.kind, e.machine_reason or "human", e.machine) for e in stored]
    wanted = [(line["kind"], line["expect"], line["expect"] != "human") for line in lines]
    assert got == wanted
    humans = sum(1 for e in stored if not e.machine)
    assert (humans, len(stored) - humans) == (11, 18)
