"""What one audience variant of an issue shows: the excerpts and framings its segments select.

A variant is the set of an issue's target segments a recipient belongs to. An excerpt with
a segment filter is shown only to variants that share a segment with it; where several of
the variant's segments have a framing, the first target segment (by id) wins.
"""

import html
import re
from dataclasses import dataclass, field

from markupsafe import Markup, escape
from sqlalchemy import select
from sqlmodel import Session

from app.issues.models import Excerpt, ExcerptFraming, Issue
from app.issues.service import sections_of
from app.news.markdown import markdown_to_text
from app.rendering.slots import marker

KIND_LABELS = {
    "win": "Win",
    "open_work": "Open work",
    "risk": "Risk",
    "incident": "Incident",
    "opportunity": "Opportunity",
    "info": "Info",
}
# Shapes beside the words, so the kind never depends on colour alone.
KIND_MARKERS = {
    "win": "✔",
    "open_work": "◔",
    "risk": "⚠",
    "incident": "✖",
    "opportunity": "➜",
    "info": "ℹ",  # noqa: RUF001  (the information sign is meant)
}

# The only merge fields editors may type: {first_name}, {name}, {department}, each with an
# optional default after a bar: {first_name|colleague}.
MERGE_FIELD = re.compile(r"\{(first_name|name|department)(?:\|([^{}\n]{0,40}))?\}")
MERGE_DEFAULTS = {"first_name": "colleague", "name": "colleague", "department": "your team"}


@dataclass
class ExcerptView:
    id: int
    kind: str
    kind_label: str
    kind_marker: str
    headline: str
    body_html: Markup
    body_text: str
    cta_label: str
    cta_url: str


@dataclass
class SectionView:
    title: str
    excerpts: list[ExcerptView]


@dataclass
class IssueView:
    id: int
    number: int
    kind: str
    title: str
    date_label: str
    intro_html: Markup
    intro_text: str
    sections: list[SectionView]
    # slot name -> (field, default, is_html) for each merge field the content uses
    merge_slots: dict[str, tuple[str, str, bool]] = field(default_factory=dict)

    @property
    def excerpt_count(self) -> int:
        return sum(len(s.excerpts) for s in self.sections)


def build_view(session: Session, *, issue: Issue, segment_ids: tuple[int, ...]) -> IssueView:
    """The content one variant receives (segment_ids: the recipient's target segments)."""
    excerpts = list(
        session.scalars(
            select(Excerpt)
            .where(Excerpt.issue_id == issue.id)
            .order_by(Excerpt.position, Excerpt.id)
        )
    )
    framings: dict[int, dict[int, ExcerptFraming]] = {}
    for framing in session.scalars(
        select(ExcerptFraming).where(ExcerptFraming.excerpt_id.in_([e.id for e in excerpts]))
    ):
        framings.setdefault(framing.excerpt_id, {})[framing.segment_id] = framing
    merge = _MergeFields()
    sections = []
    for section in sections_of(session, issue_id=issue.id):
        shown = [
            _excerpt_view(e, framings.get(e.id, {}), segment_ids, merge)
            for e in excerpts
            if e.section_id == section.id and _visible(e, segment_ids)
        ]
        if shown:
            sections.append(SectionView(title=section.title, excerpts=shown))
    return IssueView(
        id=issue.id,
        number=issue.number,
        kind=issue.kind,
        title=issue.title,
        date_label=issue.planned_date.strftime("%d %B %Y").lstrip("0"),
        intro_html=_sanitised(merge.html(issue.intro_html)),
        intro_text=merge.text(markdown_to_text(issue.intro_md)),
        sections=sections,
        merge_slots=merge.slots,
    )


def _sanitised(html_text: str) -> Markup:
    # Stored *_html fields were rendered and cleaned by app.news.markdown (nh3) on write.
    return Markup(html_text)  # noqa: S704


def _visible(excerpt: Excerpt, segment_ids: tuple[int, ...]) -> bool:
    return not excerpt.segment_filter or bool(set(excerpt.segment_filter) & set(segment_ids))


def _excerpt_view(
    excerpt: Excerpt,
    framings: dict[int, ExcerptFraming],
    segment_ids: tuple[int, ...],
    merge: "_MergeFields",
) -> ExcerptView:
    framing = next((framings[s] for s in sorted(segment_ids) if s in framings), None)
    body_html = framing.body_html if framing else excerpt.body_html
    body_md = framing.body_md if framing else excerpt.body_md
    return ExcerptView(
        id=excerpt.id,
        kind=excerpt.kind,
        kind_label=KIND_LABELS[excerpt.kind],
        kind_marker=KIND_MARKERS[excerpt.kind],
        headline=excerpt.headline,
        body_html=_sanitised(merge.html(body_html)),
        body_text=merge.text(markdown_to_text(body_md)),
        cta_label=excerpt.cta_label,
        cta_url=excerpt.cta_url,
    )


class _MergeFields:
    """Turns merge fields into slot markers; remembers each slot's field and default."""

    def __init__(self) -> None:
        self.slots: dict[str, tuple[str, str, bool]] = {}

    def html(self, html: str) -> str:
        return MERGE_FIELD.sub(lambda m: self._slot(m, escape_default=True), html)

    def text(self, text: str) -> str:
        return MERGE_FIELD.sub(lambda m: self._slot(m, escape_default=False), text)

    def _slot(self, match: re.Match, *, escape_default: bool) -> str:
        name, default = match.group(1), match.group(2)
        default = (default or MERGE_DEFAULTS[name]).strip()
        # In HTML the default arrives entity-escaped by the sanitiser; keep one spelling.
        plain = html.unescape(default) if escape_default else default
        slot = f"merge_{name}_{len(self.slots)}"
        self.slots[slot] = (name, plain, escape_default)
        return marker(slot)


def merge_values(view: IssueView, person: dict[str, str]) -> dict[str, str]:
    """Each merge slot's text for one recipient: their value or the default, escaped in HTML."""
    values = {}
    for slot, (name, default, is_html) in view.merge_slots.items():
        value = (person.get(name) or "").strip() or default
        values[slot] = str(escape(value)) if is_html else value
    return values
