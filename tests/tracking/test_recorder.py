"""Batched writes: requests do not wait on the database, and no hit is lost."""

import logging
import threading
import time

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from app.db import make_engine
from app.tracking.models import EngagementEvent, TrackingSalt
from app.tracking.recorder import Hit, Recorder
from tests.delivery.factories import people, static_segment
from tests.tracking.factories import PORTAL, linked_issue, message_for


def count(engine) -> int:
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(EngagementEvent))


def test_every_hit_queued_at_shutdown_is_written(app, engine):
    persons = people(engine, 3)
    issue_id = linked_issue(engine, [static_segment(engine, "All", persons)])
    messages = [message_for(app, engine, issue_id, p) for p in persons]
    recorder = app.state.recorder
    # The writer would not flush on its own for an hour: only the shutdown writes.
    recorder.flush_seconds, recorder.batch_size = 3600, 1_000_000
    hits = 0
    with TestClient(app) as client:
        for _ in range(70):
            for message in messages:
                assert client.get(message.pixel).status_code == 200
                response = client.get(message.clicks[PORTAL], follow_redirects=False)
                assert response.status_code == 302
                hits += 2
        assert recorder.queued == hits == 420
        assert count(engine) == 0  # the requests were answered without writing
    assert recorder.queued == 0
    assert count(engine) == hits


def test_a_failed_flush_keeps_its_hits_and_says_so(app, engine, monkeypatch, caplog):
    [person] = people(engine, 1)
    issue_id = linked_issue(engine, [static_segment(engine, "All", [person])])
    message = message_for(app, engine, issue_id, person)
    recorder = app.state.recorder
    recorder.flush_seconds = 3600  # only the flushes below write
    write, failures = recorder._write, []

    def database_down_once(batch):
        if not failures:
            failures.append(len(batch))
            raise OperationalError("INSERT", {}, Exception("server closed the connection"))
        return write(batch)

    monkeypatch.setattr(recorder, "_write", database_down_once)
    with TestClient(app) as client:
        for _ in range(5):
            client.get(message.pixel)
        with caplog.at_level(logging.ERROR, logger="drumbeat.tracking"):
            assert recorder.flush() is None
        assert failures == [5] and recorder.queued == 5 and count(engine) == 0
        assert "writing 5 hits failed; will retry" in caplog.text
        assert recorder.flush() == 5
        assert count(engine) == 5 and recorder.queued == 0


def test_several_processes_share_the_database(app, settings, engine):
    """Two app processes' recorders, each with its own engine, write the same issue's hits
    at the same time: every hit is stored once, under one salt and one pseudonym each."""
    persons = people(engine, 4)
    segment = static_segment(engine, "All", persons)
    issue_id = linked_issue(engine, [segment])
    recorders = [Recorder(make_engine(settings.database_url)) for _ in range(2)]
    now = app.state.recorder.now()

    def hits(recorder: Recorder) -> None:
        for round_ in range(50):
            for person in persons:
                recorder.add(
                    Hit(
                        "open",
                        issue_id,
                        person,
                        (segment,),
                        None,
                        None,
                        "GET",
                        "",
                        "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
                        now,
                    )
                )
            if round_ % 10 == 9:
                recorder.flush()
        recorder.drain()

    threads = [threading.Thread(target=hits, args=(r,)) for r in recorders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for recorder in recorders:
        recorder.engine.dispose()

    assert count(engine) == 2 * 50 * len(persons)
    with Session(engine) as session:
        assert len(session.scalars(select(TrackingSalt)).all()) == 1
        readers = session.scalars(select(func.count(func.distinct(EngagementEvent.reader))))
        assert readers.one() == len(persons)


def test_two_clients_of_one_app_each_keep_their_writer(app, engine):
    """Two test clients (two event loops) serve one app at once, as a second browser does in
    the session tests: each loop's writer keeps running, the hits of both are written, and
    neither shutdown trips over the other loop's writer (it once raised "bound to a
    different event loop" when the first client's writer woke after the second started)."""
    [person] = people(engine, 1)
    issue_id = linked_issue(engine, [static_segment(engine, "All", [person])])
    message = message_for(app, engine, issue_id, person)
    recorder = app.state.recorder
    recorder.flush_seconds = 0.01  # both writers wake many times while both clients run
    with TestClient(app) as first:
        with TestClient(app) as second:
            for client in (first, second) * 10:
                assert client.get(message.pixel).status_code == 200
            deadline = time.monotonic() + 10
            while count(engine) < 20 and time.monotonic() < deadline:
                time.sleep(0.02)
            assert count(engine) == 20  # written by the running writers, not at shutdown
        assert client_still_records(first, message, engine)
    assert recorder.queued == 0


def client_still_records(client, message, engine) -> bool:
    before = count(engine)
    assert client.get(message.pixel).status_code == 200
    deadline = time.monotonic() + 10
    while count(engine) == before and time.monotonic() < deadline:
        time.sleep(0.02)
    return count(engine) == before + 1
