"""Markdown to safe HTML, for news items and the excerpts made from them.

Two layers: markdown-it renders with raw HTML switched off (a posted ``<b>`` shows as text,
never as markup), then nh3 cleans the result against a small allow-list. The second layer
is what we rely on; the first keeps honest text such as ``<hostname>`` readable.
"""

from urllib.parse import urlsplit

import nh3
from markdown_it import MarkdownIt
from markdown_it.token import Token

ALLOWED_TAGS = frozenset(
    {
        "p", "a", "em", "strong", "code", "pre", "ul", "ol", "li", "blockquote",
        "h3", "h4", "h5", "h6", "br", "hr", "s", "del",
        "table", "thead", "tbody", "tr", "th", "td",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}}
LINK_SCHEMES = frozenset({"http", "https", "mailto"})
# Removed with their content, not just unwrapped: their text is code or styling, not prose.
DROPPED_WITH_CONTENT = frozenset({"script", "style"})
# The bulletin's own layout owns h1 and h2; a posted "# Heading" becomes an h3.
HEADING_SHIFT = 2

_markdown = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])


def render_markdown(text: str) -> str:
    """Sanitised HTML for a markdown text: only allow-listed tags, attributes and URLs."""
    tokens = _markdown.parse(text)
    for token in tokens:
        if token.type in ("heading_open", "heading_close"):
            token.tag = f"h{min(6, int(token.tag[1]) + HEADING_SHIFT)}"
        elif token.children:
            token.children = [part for child in token.children for part in _without_image(child)]
    html = _markdown.renderer.render(tokens, _markdown.options, {})
    return sanitize_html(html)


def sanitize_html(html: str) -> str:
    """Clean an HTML fragment against the allow-list (rel="noopener noreferrer" on links)."""
    return nh3.clean(
        html,
        tags=set(ALLOWED_TAGS),
        clean_content_tags=set(DROPPED_WITH_CONTENT),
        attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
        attribute_filter=_keep_attribute,
        url_schemes=set(LINK_SCHEMES),
        link_rel="noopener noreferrer",
    )


def _keep_attribute(tag: str, attribute: str, value: str) -> str | None:
    # nh3 already refuses other schemes; this also drops relative and fragment links, which
    # point nowhere in an email, and anything with spaces or control characters in it.
    if tag == "a" and attribute == "href":
        return value if is_absolute_link(value) else None
    if tag == "ol" and attribute == "start":
        return value if value.isascii() and value.isdigit() and len(value) <= 6 else None
    return value


def is_absolute_link(url: str) -> bool:
    """An absolute http(s) URL with a host, or a mailto: address."""
    if not url or any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    scheme = parts.scheme.lower()
    if scheme == "mailto":
        return bool(parts.path)
    return scheme in ("http", "https") and bool(parts.hostname)


def _without_image(token: Token) -> list[Token]:
    # Remote images in a bulletin track readers and break with images off; keep the
    # picture's description, as a link to it.
    if token.type != "image":
        return [token]
    src = str(token.attrs.get("src", ""))
    description = "".join(child.content for child in token.children or []) or src
    return [
        Token("link_open", "a", 1, attrs={"href": src}),
        Token("text", "", 0, content=description),
        Token("link_close", "a", -1),
    ]


def markdown_to_text(text: str) -> str:
    """Readable plain text for the same markdown: the text part of an email.

    Emphasis markers go, links become "label (url)", list items keep a dash or number.
    """
    blocks: list[tuple[str, bool]] = []  # (text, is a list item)
    prefix: list[str] = []
    counters: list[int] = []
    row: list[str] | None = None  # the cells of the table row being read
    for token in _markdown.parse(text):
        if token.type == "tr_open":
            row = []
        elif token.type == "tr_close" and row is not None:
            blocks.append((" | ".join(row), True))
            row = None
        elif token.type == "inline" and row is not None:
            row.append(_inline_text(token.children or []))
        elif token.type in ("bullet_list_open", "ordered_list_open"):
            counters.append(int(token.attrs.get("start", 1)) if token.type.startswith("o") else 0)
        elif token.type in ("bullet_list_close", "ordered_list_close"):
            counters.pop()
        elif token.type == "list_item_open":
            if counters and counters[-1]:
                prefix.append(f"{counters[-1]}. ")
                counters[-1] += 1
            else:
                prefix.append("- ")
        elif token.type == "inline":
            line = _inline_text(token.children or [])
            indent = "  " * max(0, len(counters) - 1)
            blocks.append((indent + "".join(prefix) + line, bool(prefix)))
            prefix.clear()
        elif token.type in ("fence", "code_block"):
            blocks.append((token.content.rstrip("\n"), False))
    out, out_item = "", False
    for index, (block, is_item) in enumerate(b for b in blocks if b[0].strip()):
        # List items stay together; other blocks are paragraphs.
        out += ("" if index == 0 else "\n" if is_item and out_item else "\n\n") + block
        out_item = is_item
    return out


def _inline_text(children: list[Token]) -> str:
    out: list[str] = []
    href = None
    for child in children:
        if child.type in ("text", "code_inline"):
            out.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            out.append("\n")
        elif child.type == "link_open":
            href = str(child.attrs.get("href", ""))
            out.append("")
        elif child.type == "link_close" and href:
            if is_absolute_link(href) and not "".join(out).endswith(href):
                out.append(f" ({href})")
            href = None
        elif child.type == "image":
            out.append(child.content or str(child.attrs.get("src", "")))
    return "".join(out)
