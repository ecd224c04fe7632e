"""100,000 random and tampered tokens against the pixel, the click redirect, the
unsubscribe and the preference pages, through the real app (its ASGI interface, in process).

Proves, for tokens derived from a real message (a flipped character, a flipped payload bit,
truncated, extended, the same numbers signed for another purpose or with another key, a
payload with the old MAC) and for random base64 and junk: no server error; the pixel always
answers its GIF; the click redirect goes nowhere but a registered link's URL (a valid link
token with a damaged reader token still takes the person there, counting nothing); and no
state changes: subscriber rows, the audit log and the feedback table are as before, and no
engagement event (open, click or unsubscribe) is stored. GET, HEAD and POST (one-click
unsubscribe, the preference form) are all tried. DRUMBEAT_TOKEN_COUNT sets the number.
"""

import asyncio
import base64
import os
import random
import string
import time

from sqlalchemy import func, select
from sqlmodel import Session

from app.audit.models import AuditEntry
from app.subscribers.models import Subscriber
from app.tracking.hits import PIXEL
from app.tracking.models import EngagementEvent, ExcerptFeedback, TrackedLink
from app.tracking.tokens import Purpose, TokenSigner
from tests.delivery.factories import people, static_segment
from tests.hardening.asgi import call
from tests.tracking.factories import linked_issue, message_for

TOKEN_COUNT = int(os.environ.get("DRUMBEAT_TOKEN_COUNT", "100000"))
B64 = string.ascii_letters + string.digits + "-_"
# No "/": a token with one is another path (404), not a token the route is given.
JUNK = B64 + "=.+%~!$&'()*,;:@ \x00\u00e9\u202e"


class Tamperer:
    """Invalid variants of valid tokens, and random ones."""

    def __init__(self, rng: random.Random, signer: TokenSigner):
        self.rng = rng
        self.signer = signer
        self.stranger = TokenSigner("not-our-secret")

    def variant(self, token: str, purpose: Purpose) -> str:
        for _ in range(10):
            made = self.rng.choice(self.MUTATIONS)(self, token, purpose)
            if made != token and made:
                return made
        return "x" + token

    def flip_char(self, token, _purpose):
        i = self.rng.randrange(len(token))
        return token[:i] + self.rng.choice(B64.replace(token[i], "")) + token[i + 1 :]

    def flip_bit(self, token, _purpose):
        payload, mac = token.split(".")
        raw = bytearray(_unb64(payload if self.rng.random() < 0.7 else mac))
        i = self.rng.randrange(len(raw))
        raw[i] ^= 1 << self.rng.randrange(8)
        if self.rng.random() < 0.7:
            return _b64(bytes(raw)) + "." + mac
        return payload + "." + _b64(bytes(raw))

    def truncate(self, token, _purpose):
        return token[: self.rng.randrange(len(token))]

    def extend(self, token, _purpose):
        tail = "".join(self.rng.choices(B64 + ".", k=self.rng.randint(1, 12)))
        return token + tail if self.rng.random() < 0.5 else tail + token

    def other_purpose(self, token, purpose):
        values = _values(token)
        other = self.rng.choice([p for p in Purpose if p != purpose])
        return self.signer.make(other, *values)

    def other_key(self, token, purpose):
        return self.stranger.make(purpose, *_values(token))

    def other_values(self, token, purpose):
        # The numbers changed (another subscriber, issue or link), the old MAC kept.
        values = list(_values(token))
        i = self.rng.randrange(len(values))
        values[i] = self.rng.choice([0, 1, values[i] + 1, values[i] - 1, 2**63, 2**64 - 1])
        values[i] %= 2**64
        forged = self.signer.make(purpose, *values).split(".")[0]
        return forged + "." + token.split(".")[1]

    def random_b64(self, _token, _purpose):
        parts = ["".join(self.rng.choices(B64, k=self.rng.randint(1, 60))) for _ in range(2)]
        return ".".join(parts) if self.rng.random() < 0.8 else parts[0]

    def junk(self, _token, _purpose):
        return "".join(self.rng.choices(JUNK, k=self.rng.randint(1, 250)))

    MUTATIONS = (
        flip_char,
        flip_bit,
        truncate,
        extend,
        other_purpose,
        other_key,
        other_values,
        random_b64,
        junk,
    )


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _values(token: str) -> tuple[int, ...]:
    payload = _unb64(token.split(".")[0])
    return tuple(int.from_bytes(payload[i : i + 8]) for i in range(1, len(payload), 8))


def _snapshot(engine) -> dict:
    with Session(engine) as session:
        return {
            "subscribers": sorted(
                tuple(sorted(s.model_dump().items(), key=str))
                for s in session.scalars(select(Subscriber))
            ),
            "audit": session.scalar(select(func.count()).select_from(AuditEntry)),
            "events": session.scalar(select(func.count()).select_from(EngagementEvent)),
            "feedback": session.scalar(select(func.count()).select_from(ExcerptFeedback)),
        }


def _href(html: str, prefix: str) -> str:
    start = html.index(f'href="http://testserver{prefix}') + len('href="http://testserver')
    return html[start : html.index('"', start)]


def _requests(rng: random.Random, signer: TokenSigner, message) -> list[tuple[str, str, bytes]]:
    """(method, path, body) for TOKEN_COUNT requests, none of them with a valid token."""
    tamper = Tamperer(rng, signer)
    pixel = message.pixel.removeprefix("/o/").removesuffix(".gif")
    clicks = [path.split("/")[2:] for path in message.clicks.values()]
    unsubscribe = _href(message.html, "/u/").removeprefix("/u/")
    preferences = _href(message.html, "/p/").removeprefix("/p/")
    made = []
    # Per 100: 40 pixels, 45 clicks, 9 unsubscribe and 6 preference pages (those open a
    # database session per request, about ten times the cost of a pixel).
    for n in range(TOKEN_COUNT):
        method = "HEAD" if n % 10 == 0 else "GET"
        kind = n % 100
        if kind < 40:
            made.append((method, f"/o/{tamper.variant(pixel, Purpose.reader)}.gif", b""))
        elif kind < 85:
            link, reader = rng.choice(clicks)
            bad_link = tamper.variant(link, Purpose.click)
            bad_reader = tamper.variant(reader, Purpose.reader)
            pair = rng.choice([(bad_link, reader), (link, bad_reader), (bad_link, bad_reader)])
            made.append((method, "/c/{}/{}".format(*pair), b""))
        elif kind < 94:
            token = tamper.variant(unsubscribe, Purpose.unsubscribe)
            post = rng.random() < 0.5
            body = b"List-Unsubscribe=One-Click" if post else b""
            made.append(("POST" if post else method, f"/u/{token}", body))
        else:
            token = tamper.variant(preferences, Purpose.preferences)
            post = rng.random() < 0.5
            body = b"subscription=unsubscribe" if post else b""
            made.append(("POST" if post else "GET", f"/p/{token}", body))
    return made


async def _send_all(app, requests) -> list:
    form = {"content-type": "application/x-www-form-urlencoded", "origin": "http://testserver"}
    answers = []
    for method, path, body in requests:
        answer = await call(app, method, path, body=body, headers=form if body else None)
        answers.append((method, path, answer))
    return answers


def test_no_tampered_or_random_token_redirects_away_changes_state_or_fails(app, engine):
    [person, *_others] = people(engine, 3)
    issue_id = linked_issue(engine, [static_segment(engine, "All", [person, *_others])])
    message = message_for(app, engine, issue_id, person)
    with Session(engine) as session:
        registered = set(session.scalars(select(TrackedLink.url)))
    app.state.recorder.drain()
    before = _snapshot(engine)
    seed = random.randrange(2**32)
    requests = _requests(random.Random(seed), app.state.renderer.signer, message)

    started = time.perf_counter()
    answers = asyncio.run(_send_all(app, requests))
    elapsed = time.perf_counter() - started
    app.state.recorder.flush(raise_errors=True)

    failures = []
    for method, path, answer in answers:
        if answer.status >= 500:
            failures.append(f"{answer.status} for {method} {path!r}")
        elif path.startswith("/o/") and (
            answer.status != 200
            or answer.headers.get("content-type") != "image/gif"
            or (method == "GET" and answer.body != PIXEL)
        ):
            failures.append(f"no GIF ({answer.status}) for {method} {path!r}")
        elif 300 <= answer.status < 400 and answer.headers.get("location") not in registered:
            failures.append(f"redirect to {answer.headers.get('location')!r} from {path!r}")
    assert not failures, f"seed {seed}: {len(failures)} failures, e.g. {failures[:5]}"
    assert _snapshot(engine) == before, f"seed {seed}: state changed"
    statuses = {answer.status for *_, answer in answers}
    assert statuses <= {200, 302, 404, 405, 422}, f"seed {seed}: {statuses}"
    print(f"{len(answers)} tokens in {elapsed:.1f} s, answers {sorted(statuses)}")
