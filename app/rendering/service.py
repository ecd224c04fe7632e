"""Turning an issue into the email each audience variant receives, and its web version."""

import time
from collections import OrderedDict
from dataclasses import dataclass

from sqlalchemy import event, select
from sqlmodel import Session

from app.config import Settings
from app.errors import Invalid
from app.issues.models import Issue
from app.issues.service import target_segment_ids
from app.rendering.compile import CompiledVariant, Sender, compile_variant
from app.rendering.content import build_view, merge_values
from app.rendering.links import (
    recipient_links,
    track_links,
    tracked_values,
    untracked_values,
    variant_links,
)
from app.rendering.message import DkimKey, MailIdentity, MessageFactory, Recipient
from app.segments import service as segments
from app.segments.models import Segment
from app.subscribers.models import Subscriber
from app.tracking import service as tracking
from app.tracking.models import PrivacyMode
from app.tracking.tokens import TokenSigner

CACHE_SIZE = 64
# How long a process trusts the privacy mode it read; a switch made in this process is
# seen at once (forget_privacy_mode), one made in another within this many seconds.
PRIVACY_MODE_TTL_SECONDS = 5.0


@dataclass(frozen=True)
class Person:
    """The merge-field values of one recipient."""

    first_name: str = ""
    name: str = ""
    department: str = ""

    @classmethod
    def of(cls, subscriber: Subscriber) -> "Person":
        return cls(
            first_name=subscriber.name.split(" ")[0] if subscriber.name else "",
            name=subscriber.name,
            department=subscriber.attributes.get("department", ""),
        )


class Renderer:
    """Compiles variants (cached per issue version) and fills them per recipient."""

    def __init__(self, settings: Settings, signer: TokenSigner):
        self.settings = settings
        self.signer = signer
        self._cache: OrderedDict[tuple, CompiledVariant] = OrderedDict()
        self._privacy_mode: tuple[PrivacyMode, float] | None = None
        domain = settings.mail_from_address.rsplit("@", 1)[-1]
        self.identity = MailIdentity(
            from_name=settings.mail_from_name,
            from_address=settings.mail_from_address,
            reply_to=settings.mail_reply_to,
            list_id=settings.list_id,
            list_name=f"{settings.organisation} bulletin",
            message_id_domain=settings.message_id_domain or domain,
            unsubscribe_mailto=settings.unsubscribe_mailto,
        )
        self.sender = Sender(
            name=settings.mail_from_name,
            address=settings.mail_from_address,
            organisation=settings.organisation,
        )
        self.dkim_key = None
        if settings.dkim_selector and settings.dkim_private_key_file:
            self.dkim_key = DkimKey.from_file(
                selector=settings.dkim_selector, domain=domain, path=settings.dkim_private_key_file
            )

    def privacy_mode(self, session: Session) -> PrivacyMode:
        """The mode in effect for rendering (cached for a few seconds)."""
        now = time.monotonic()
        if self._privacy_mode is None or now - self._privacy_mode[1] > PRIVACY_MODE_TTL_SECONDS:
            self._privacy_mode = (tracking.privacy_mode(session), now)
        return self._privacy_mode[0]

    def forget_privacy_mode(self) -> None:
        self._privacy_mode = None

    def compiled(
        self, session: Session, *, issue: Issue, segment_ids: tuple[int, ...]
    ) -> CompiledVariant:
        """The compiled variant, from the cache while the issue is unchanged. Unless the
        privacy mode is off, its links are registered (in `session`) and tracked."""
        tracked = self.privacy_mode(session) != PrivacyMode.off
        key = (issue.id, issue.updated_at, segment_ids, tracked)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        view = build_view(session, issue=issue, segment_ids=segment_ids)
        direct: dict[str, str] = {}
        if tracked:
            view, direct = track_links(
                view,
                signer=self.signer,
                base_url=self.settings.base_url,
                register=lambda found: tracking.register_links(
                    session, issue_id=issue.id, links=found
                ),
            )
            # Link ids that were rolled back must not stay in the cache.
            event.listen(
                session, "after_rollback", lambda _s: self._cache.pop(key, None), once=True
            )
        links = variant_links(
            self.signer,
            base_url=self.settings.base_url,
            view=view,
            segment_ids=segment_ids,
            tracked=tracked,
            direct=direct,
        )
        compiled = compile_variant(view, sender=self.sender, links=links)
        compiled.segment_ids, compiled.tracked = segment_ids, tracked
        compiled.untracked = untracked_values(self.signer, issue_id=issue.id) if tracked else {}
        self._cache[key] = compiled
        if len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        return compiled

    def values_for(
        self, compiled: CompiledVariant, *, issue_id: int, subscriber: Subscriber | None
    ) -> dict[str, str]:
        """Every slot's value for one recipient (or neutral ones: preview, web version).
        Tracking slots are untracked here: only MessageFactory.build, which sends, fills
        the recipient's reader token, so a preview for a sample subscriber records nothing."""
        person = Person.of(subscriber) if subscriber else Person()
        values = {**merge_values(compiled.view, person.__dict__), **compiled.untracked}
        if subscriber is None:
            neutral = f"{self.settings.base_url.rstrip('/')}/preferences"
            return {**values, "unsubscribe_url": neutral, "preferences_url": neutral}
        return {
            **values,
            **recipient_links(
                self.signer,
                base_url=self.settings.base_url,
                issue_id=issue_id,
                subscriber_id=subscriber.id,
            ),
        }

    def factory(self, compiled: CompiledVariant, *, issue_id: int) -> MessageFactory:
        tracking_values = None
        if compiled.tracked:
            tracking_values = tracked_values(
                self.signer,
                base_url=self.settings.base_url,
                issue_id=issue_id,
                variant=compiled.segment_ids,
            )
        return MessageFactory(
            compiled,
            identity=self.identity,
            issue_id=issue_id,
            dkim_key=self.dkim_key,
            tracking_values=tracking_values,
        )

    def message(self, session: Session, *, issue: Issue, subscriber: Subscriber) -> bytes:
        """One recipient's whole message (for test sends and checks; sends use a factory)."""
        compiled = self.compiled(
            session,
            issue=issue,
            segment_ids=variant_of(session, issue=issue, subscriber=subscriber),
        )
        values = self.values_for(compiled, issue_id=issue.id, subscriber=subscriber)
        recipient = Recipient(
            subscriber_id=subscriber.id, email=subscriber.email, name=subscriber.name
        )
        return self.factory(compiled, issue_id=issue.id).build(recipient, values)


def variant_of(session: Session, *, issue: Issue, subscriber: Subscriber) -> tuple[int, ...]:
    """The target segments this subscriber belongs to, sorted: their variant."""
    member_of = []
    for segment in session.scalars(
        select(Segment).where(Segment.id.in_(target_segment_ids(session, issue_id=issue.id)))
    ):
        clause = segments.membership_clause(segment)
        if session.scalar(select(Subscriber.id).where(clause, Subscriber.id == subscriber.id)):
            member_of.append(segment.id)
    return tuple(sorted(member_of))


def preview_variant(session: Session, *, issue: Issue, segment_id: int | None) -> tuple[int, ...]:
    targets = target_segment_ids(session, issue_id=issue.id)
    if segment_id is None:
        return tuple(targets[:1])
    if segment_id not in targets:
        raise Invalid("segment_id", f"segment {segment_id} is not a target of this issue")
    return (segment_id,)
