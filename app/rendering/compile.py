"""content -> jinja -> MJML -> HTML (mjml-python) -> premailer, once per audience variant."""

import html as html_lib
import logging
from dataclasses import dataclass, field
from pathlib import Path

import premailer
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from mjml import mjml2html

from app.rendering.content import IssueView
from app.rendering.slots import QuotedPrintableTemplate, SlotTemplate, marker

EMAILS_DIR = Path(__file__).resolve().parents[2] / "emails"
KIND_COLOURS = {
    "win": "#1e7a3c",
    "open_work": "#9a5b00",
    "risk": "#b03a2e",
    "incident": "#b03a2e",
    "opportunity": "#1f5fbf",
    "info": "#4a5361",
}

_html_env = Environment(
    loader=FileSystemLoader(EMAILS_DIR),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
# The text/plain part: HTML escaping would put &amp; into plain text.
_text_env = Environment(  # nosec B701
    loader=FileSystemLoader(EMAILS_DIR),
    autoescape=False,  # noqa: S701
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
# premailer logs through cssutils; MJML's CSS uses properties cssutils does not know.
logging.getLogger("CSSUTILS").setLevel(logging.CRITICAL)


@dataclass(frozen=True)
class Sender:
    name: str
    address: str
    organisation: str


@dataclass(frozen=True)
class VariantLinks:
    """Links baked into a variant; the per-recipient ones are slots (see PER_RECIPIENT)."""

    web_version: str
    feedback_form: str
    pixel: str  # the open pixel's slot marker (the whole <img>), or "" for none
    feedback: dict[int, dict[str, str]]
    # Each click-redirect URL in the variant and its target: screens show the target.
    direct: dict[str, str] = field(default_factory=dict)


PER_RECIPIENT_SLOTS = ("unsubscribe_url", "preferences_url", "reader", "open_pixel")


@dataclass
class CompiledVariant:
    """`html` and `text` are for screens (previews, the web version): direct links and no
    pixel. `html_qp` and `text_qp` are the email as sent, tracked unless privacy is off."""

    subject: str
    view: IssueView
    html: SlotTemplate
    text: SlotTemplate
    html_qp: QuotedPrintableTemplate
    text_qp: QuotedPrintableTemplate
    segment_ids: tuple[int, ...] = ()
    # Whether links go through the click redirect and the pixel is a slot (privacy mode
    # not off), and the tracking slots' values for a message nobody is tracked in.
    tracked: bool = False
    untracked: dict[str, str] = field(default_factory=dict)


def compile_variant(view: IssueView, *, sender: Sender, links: VariantLinks) -> CompiledVariant:
    """Compile one variant; the result is shared by every recipient of that variant."""
    view.merge_slots.setdefault("greeting", ("first_name", "colleague", True))
    view.merge_slots.setdefault("greeting_text", ("first_name", "colleague", False))
    context = {
        "issue": view,
        "lang": "en",
        "organisation": sender.organisation,
        "sender_name": sender.name,
        "sender_address": sender.address,
        "kind_colours": KIND_COLOURS,
        "feedback": links.feedback,
        "links": {
            "web_version": links.web_version,
            "feedback_form": links.feedback_form,
            "pixel": links.pixel,
            "unsubscribe": marker("unsubscribe_url"),
            "preferences": marker("preferences_url"),
        },
        "preview_text": _preview_text(view),
    }
    mjml_source = _html_env.get_template("issue.mjml.j2").render(
        **context, greeting=marker("greeting")
    )
    # fonts={}: no web font <link>s, so nothing for premailer to fetch and nothing remote.
    html = mjml2html(mjml_source, disable_comments=True, fonts={})
    # No base_url: every link is absolute already, and premailer would otherwise prefix the
    # slot markers that stand for per-recipient URLs (unsubscribe, preferences).
    inlined = premailer.Premailer(
        html,
        allow_network=False,
        keep_style_tags=True,
        remove_classes=False,
        disable_validation=True,
        cssutils_logging_level=logging.CRITICAL,
    ).transform()
    text = _text_env.get_template("issue.txt.j2").render(
        **context, greeting=marker("greeting_text")
    )
    screen_html, screen_text = inlined, text
    for click, url in links.direct.items():
        screen_html = screen_html.replace(html_lib.escape(click), html_lib.escape(url))
        screen_text = screen_text.replace(click, url)
    return CompiledVariant(
        subject=view.title,
        view=view,
        html=SlotTemplate(screen_html),
        text=SlotTemplate(screen_text),
        html_qp=QuotedPrintableTemplate(SlotTemplate(inlined)),
        text_qp=QuotedPrintableTemplate(SlotTemplate(text)),
    )


def _preview_text(view: IssueView) -> str:
    headlines = [e.headline for s in view.sections for e in s.excerpts]
    return " · ".join(headlines)[:140]
