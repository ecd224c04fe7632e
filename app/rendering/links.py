"""The URLs an email carries, with signed tokens (no addresses, no guessable ids)."""

from app.rendering.compile import VariantLinks
from app.rendering.content import IssueView
from app.tracking.tokens import Purpose, TokenSigner

USEFUL, NOT_USEFUL = 1, 0


def variant_links(
    signer: TokenSigner, *, base_url: str, view: IssueView, segment_ids: tuple[int, ...]
) -> VariantLinks:
    base = base_url.rstrip("/")
    excerpt_ids = [e.id for s in view.sections for e in s.excerpts]

    def vote(excerpt_id: int, useful: int) -> str:
        return f"{base}/f/{signer.make(Purpose.feedback, view.id, excerpt_id, useful)}"

    feedback = {
        excerpt_id: {"useful": vote(excerpt_id, USEFUL), "not_useful": vote(excerpt_id, NOT_USEFUL)}
        for excerpt_id in excerpt_ids
    }
    return VariantLinks(
        web_version=f"{base}/web/{signer.make(Purpose.web_version, view.id, *segment_ids)}",
        feedback_form=f"{base}/feedback",
        pixel=f"{base}/o/{signer.make(Purpose.open, view.id, *segment_ids)}.gif",
        feedback=feedback,
    )


def recipient_links(
    signer: TokenSigner, *, base_url: str, issue_id: int, subscriber_id: int
) -> dict[str, str]:
    base = base_url.rstrip("/")
    return {
        "unsubscribe_url": f"{base}/u/{signer.make(Purpose.unsubscribe, subscriber_id, issue_id)}",
        "preferences_url": f"{base}/p/{signer.make(Purpose.preferences, subscriber_id)}",
    }
