"""The URLs an email carries, with signed tokens (no addresses, no guessable ids).

Tracking costs little per recipient: each link's click token (issue, link) is made once per
variant, and the recipient's reader token fills one slot wherever it appears: in every
click URL (``/c/{link_token}/{reader}``) and in the open pixel (``/o/{reader}.gif``).
"""

import html
import re
from collections.abc import Callable
from dataclasses import replace

from markupsafe import Markup

from app.rendering.compile import VariantLinks
from app.rendering.content import IssueView
from app.rendering.slots import SLOT_PATTERN, marker
from app.tracking.service import FoundLink
from app.tracking.tokens import Purpose, TokenSigner

USEFUL, NOT_USEFUL = 1, 0
READER_SLOT = "reader"
PIXEL_SLOT = "open_pixel"
# The reader of previews, test sends and the web version: their links redirect, but
# nothing is recorded for them, and they get no pixel.
UNTRACKED_READER = 0
ANCHOR = re.compile(r'(<a\b[^>]*?\bhref=")(https?://[^"]+)("[^>]*>)(.*?)</a>', re.S | re.I)
TAG = re.compile(r"<[^>]+>")
# Register a variant's links: found links -> link id by digest (app.tracking.service).
Register = Callable[[list[FoundLink]], dict[str, int]]


def variant_links(
    signer: TokenSigner,
    *,
    base_url: str,
    view: IssueView,
    segment_ids: tuple[int, ...],
    tracked: bool = True,
    direct: dict[str, str] | None = None,
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
        pixel=marker(PIXEL_SLOT) if tracked else "",
        feedback=feedback,
        direct=direct or {},
    )


def track_links(
    view: IssueView, *, signer: TokenSigner, base_url: str, register: Register
) -> tuple[IssueView, dict[str, str]]:
    """The view with every http(s) link of the introduction, excerpt bodies and calls to
    action registered and pointing at the click redirect (in both the HTML and the text),
    and each click URL's target."""
    found: list[FoundLink] = []

    def collect(excerpt_id: int | None, body_html: str, cta: tuple[str, str] | None) -> None:
        for match in ANCHOR.finditer(body_html):
            url = html.unescape(match.group(2))
            label = html.unescape(TAG.sub("", match.group(4))).strip()
            _add(found, excerpt_id, url, label)
        if cta:
            _add(found, excerpt_id, cta[0], cta[1])

    collect(None, view.intro_html, None)
    for section in view.sections:
        for e in section.excerpts:
            collect(e.id, e.body_html, (e.cta_url, e.cta_label or "Read more"))
    ids = register(found)
    base = base_url.rstrip("/")
    reader = marker(READER_SLOT)
    click_urls = {}
    for link in found:
        if link.digest in ids:
            token = signer.make(Purpose.click, view.id, ids[link.digest], link_check(link.digest))
            click_urls[(link.excerpt_id, link.url)] = f"{base}/c/{token}/{reader}"

    def urls_of(excerpt_id: int | None) -> dict[str, str]:
        return {url: click for (eid, url), click in click_urls.items() if eid == excerpt_id}

    sections = []
    for section in view.sections:
        excerpts = []
        for e in section.excerpts:
            urls = urls_of(e.id)
            excerpts.append(
                replace(
                    e,
                    body_html=_rewrite_html(e.body_html, urls),
                    body_text=_rewrite_text(e.body_text, urls),
                    cta_url=urls.get(e.cta_url, e.cta_url),
                )
            )
        sections.append(replace(section, excerpts=excerpts))
    intro = urls_of(None)
    tracked = replace(
        view,
        intro_html=_rewrite_html(view.intro_html, intro),
        intro_text=_rewrite_text(view.intro_text, intro),
        sections=sections,
    )
    return tracked, {click: url for (_, url), click in click_urls.items()}


def link_check(digest: str) -> int:
    """48 bits of the link's digest, signed into its click token: a link id that now names
    another link (ids reused after a delete) no longer matches."""
    return int(digest[:12], 16)


def _add(found: list[FoundLink], excerpt_id: int | None, url: str, label: str) -> None:
    # A merge field inside a URL differs per recipient: such a link is left as it is.
    if not url.lower().startswith(("http://", "https://")) or SLOT_PATTERN.search(url):
        return
    if any(f.excerpt_id == excerpt_id and f.url == url for f in found):
        return
    found.append(FoundLink(excerpt_id=excerpt_id, url=url, label=label, position=len(found)))


def _rewrite_html(body: str, urls: dict[str, str]) -> Markup:
    def swap(match: re.Match) -> str:
        click = urls.get(html.unescape(match.group(2)))
        if click is None:
            return match.group(0)
        return f"{match.group(1)}{html.escape(click)}{match.group(3)}{match.group(4)}</a>"

    return Markup(ANCHOR.sub(swap, body))  # noqa: S704  (sanitised input, escaped URLs)


def _rewrite_text(text: str, urls: dict[str, str]) -> str:
    if not urls:
        return text
    # Longest first, and only whole URLs: one that is a prefix of another stays apart.
    pattern = "|".join(re.escape(url) for url in sorted(urls, key=len, reverse=True))
    end = r"(?=[.,;:!?]*(?:[\s)\]>]|$))"  # a sentence's full stop may follow
    return re.sub(rf"(?:{pattern}){end}", lambda m: urls[m.group(0)], text)


def reader_token(signer: TokenSigner, *, issue_id: int, subscriber_id: int, variant) -> str:
    return signer.make(Purpose.reader, issue_id, subscriber_id, *variant)


def pixel_html(base_url: str, reader: str) -> str:
    src = html.escape(f"{base_url.rstrip('/')}/o/{reader}.gif")
    return (
        f'<img src="{src}" width="1" height="1" alt="" '
        'style="display:block;border:0;height:1px;width:1px">'
    )


def recipient_links(
    signer: TokenSigner, *, base_url: str, issue_id: int, subscriber_id: int
) -> dict[str, str]:
    base = base_url.rstrip("/")
    return {
        "unsubscribe_url": f"{base}/u/{signer.make(Purpose.unsubscribe, subscriber_id, issue_id)}",
        "preferences_url": f"{base}/p/{signer.make(Purpose.preferences, subscriber_id)}",
    }


def untracked_values(signer: TokenSigner, *, issue_id: int) -> dict[str, str]:
    """The tracking slots of a message nobody is tracked in: no pixel, links that only
    redirect (previews, test sends, the web version)."""
    reader = reader_token(signer, issue_id=issue_id, subscriber_id=UNTRACKED_READER, variant=())
    return {READER_SLOT: reader, PIXEL_SLOT: ""}


def tracked_values(signer: TokenSigner, *, base_url: str, issue_id: int, variant):
    """Per recipient: their reader token in every click URL, and their open pixel."""

    def values(subscriber_id: int) -> dict[str, str]:
        reader = reader_token(
            signer, issue_id=issue_id, subscriber_id=subscriber_id, variant=variant
        )
        return {READER_SLOT: reader, PIXEL_SLOT: pixel_html(base_url, reader)}

    return values
