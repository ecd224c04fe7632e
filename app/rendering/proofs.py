"""A test (proof) send: the issue as a segment gets it, to a few given addresses, marked [Test]."""

import dataclasses

from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field
from sqlalchemy.engine import Engine

from app.accounts.principal import Principal
from app.api_types import BodyId, EmailText
from app.audit.service import record
from app.db import unit_of_work
from app.delivery.transports import SendFailure, transport_from_url
from app.errors import Invalid
from app.issues import service as issues
from app.rendering.message import Recipient
from app.rendering.service import Renderer, preview_variant
from app.subscribers.normalize import normalize_email

MAX_ADDRESSES = 10


class ProofRequest(BaseModel):
    emails: list[EmailText] = Field(min_length=1, max_length=MAX_ADDRESSES)
    segment_id: BodyId | None = Field(default=None, description="Default: the first target")


class ProofResult(BaseModel):
    email: str
    ok: bool
    reply: str


async def send_test(
    engine: Engine,
    *,
    renderer: Renderer,
    mail_url: str,
    issue_id: int,
    data: ProofRequest,
    actor: Principal,
) -> list[ProofResult]:
    """Render once, send to each address through the configured transport, audit it."""
    addresses = []
    for index, raw in enumerate(data.emails):
        try:
            addresses.append(normalize_email(raw))
        except ValueError as exc:
            raise Invalid(f"emails.{index}", str(exc)) from exc

    def render() -> list[tuple[str, bytes]]:
        with unit_of_work(engine) as session:
            issue = issues.get(session, issue_id=issue_id)
            variant = preview_variant(session, issue=issue, segment_id=data.segment_id)
            compiled = renderer.compiled(session, issue=issue, segment_ids=variant)
            marked = dataclasses.replace(compiled, subject=f"[Test] {compiled.subject}")
            values = renderer.values_for(compiled, issue_id=issue.id, subscriber=None)
            factory = renderer.factory(marked, issue_id=issue.id)
            record(
                session,
                actor=actor,
                action="issue.test_sent",
                object_type="issue",
                object_id=issue.id,
                details={"to": addresses, "variant": list(variant)},
            )
            return [(email, factory.build(Recipient(0, email, ""), values)) for email in addresses]

    messages = await run_in_threadpool(render)
    transport = transport_from_url(mail_url, pool_size=1)
    results = []
    try:
        for email, message in messages:
            try:
                reply = await transport.send(
                    sender=renderer.identity.from_address, recipient=email, message=message
                )
                results.append(ProofResult(email=email, ok=True, reply=reply))
            except SendFailure as failure:
                results.append(ProofResult(email=email, ok=False, reply=str(failure)))
    finally:
        await transport.close()
    return results
