"""The privacy mode, the registry of tracked links, and the per-issue pseudonym salts."""

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session

from app.accounts.principal import Principal
from app.audit.service import record
from app.db import utcnow
from app.errors import Invalid
from app.tracking.models import PrivacyMode, PrivacySetting, TrackedLink, TrackingSalt

SETTING_ID = 1
READER_HEX_DIGITS = 16


def privacy_setting(session: Session) -> PrivacySetting:
    """The setting in force (the default, unsaved, when nobody has changed it)."""
    return session.get(PrivacySetting, SETTING_ID) or PrivacySetting(id=SETTING_ID)


def privacy_mode(session: Session) -> PrivacyMode:
    return PrivacyMode(privacy_setting(session).mode)


def change_privacy(
    session: Session, *, mode: PrivacyMode, legal_basis: str, actor: Principal
) -> PrivacySetting:
    """Switch the mode, audited. Individual mode needs its legal basis written down."""
    legal_basis = legal_basis.strip()
    if mode == PrivacyMode.individual and not legal_basis:
        raise Invalid(
            "legal_basis", "individual tracking needs its legal basis (e.g. the agreement)"
        )
    setting = privacy_setting(session)
    before = setting.mode
    setting.mode, setting.legal_basis = mode, legal_basis
    setting.changed_by, setting.changed_at = actor.label, utcnow()
    session.add(setting)
    if before != mode:
        # New salts after every switch: pseudonyms recorded before it can no longer be
        # recomputed from a subscriber id, so they never join the events recorded after.
        session.execute(delete(TrackingSalt))
    record(
        session,
        actor=actor,
        action="privacy.changed",
        object_type="privacy_setting",
        object_id=SETTING_ID,
        details={"from": before, "to": mode.value, "legal_basis": legal_basis},
    )
    session.flush()
    return setting


@dataclass(frozen=True)
class FoundLink:
    """A link found in a variant while compiling it."""

    excerpt_id: int | None
    url: str
    label: str
    position: int

    @property
    def digest(self) -> str:
        return hashlib.sha256(f"{self.excerpt_id or ''}|{self.url}".encode()).hexdigest()


def register_links(
    session: Session, *, issue_id: int, links: Iterable[FoundLink]
) -> dict[str, int]:
    """The link id of each found link by digest, registering new ones (idempotent, and
    safe when several processes compile the same issue at once)."""
    rows = {
        link.digest: {
            "issue_id": issue_id,
            "excerpt_id": link.excerpt_id,
            "url": link.url,
            "label": link.label[:200],
            "position": link.position,
            "digest": link.digest,
            "created_at": utcnow(),
        }
        for link in links
    }
    if not rows:
        return {}
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(
        insert(TrackedLink)
        .values(list(rows.values()))
        .on_conflict_do_nothing(index_elements=["issue_id", "digest"])
    )
    found = session.execute(
        select(TrackedLink.digest, TrackedLink.id).where(
            TrackedLink.issue_id == issue_id, TrackedLink.digest.in_(list(rows))
        )
    )
    return {digest: link_id for digest, link_id in found}


def salts_for(session: Session, *, issue_ids: Iterable[int]) -> dict[int, bytes]:
    """Each issue's pseudonym salt, created on first use."""
    wanted = set(issue_ids)
    salts = _stored_salts(session, wanted)
    missing = wanted - set(salts)
    if missing:
        insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        new = [
            {"issue_id": i, "salt": secrets.token_hex(32), "created_at": utcnow()} for i in missing
        ]
        session.execute(insert(TrackingSalt).values(new).on_conflict_do_nothing())
        salts.update(_stored_salts(session, missing))  # another process may have won
    return salts


def _stored_salts(session: Session, issue_ids: set[int]) -> dict[int, bytes]:
    rows = session.execute(
        select(TrackingSalt.issue_id, TrackingSalt.salt).where(TrackingSalt.issue_id.in_(issue_ids))
    )
    return {issue_id: bytes.fromhex(salt) for issue_id, salt in rows}


def pseudonym(salt: bytes, subscriber_id: int) -> str:
    """The reader column: stable within one issue, meaningless without the salt."""
    digest = hmac.new(salt, str(subscriber_id).encode(), hashlib.sha256).hexdigest()
    return digest[:READER_HEX_DIGITS]
