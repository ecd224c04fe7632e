"""render_markdown: markdown in, HTML out that nothing can run in, through either layer.

Each hostile payload goes through render_markdown (markdown-it, then nh3) and through
sanitize_html alone (raw HTML straight into nh3), and the output is parsed: every tag,
attribute and URL must be on the allow-list.
"""

from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest

from app.news.markdown import ALLOWED_TAGS, render_markdown, sanitize_html

ALLOWED_ATTRIBUTES = {"a": {"href", "title", "rel"}, "ol": {"start"}}
SAFE_SCHEMES = {"http", "https", "mailto"}

HOSTILE = [
    # script and friends
    "<script>alert(1)</script>",
    "<SCRIPT SRC=https://evil.example/x.js></SCRIPT>",
    "<scr<script>ipt>alert(1)</scr</script>ipt>",
    "<script/xss src=https://evil.example/x.js></script>",
    '<<script>alert("x");//<</script>',
    "<style>body{background:url(javascript:alert(1))}</style>",
    "<template><script>alert(1)</script></template>",
    # event handlers
    "<img src=x onerror=alert(1)>",
    '<p onclick="alert(1)">click</p>',
    "<body onload=alert(1)>",
    '<a href="https://ok.example" onmouseover="alert(1)">hover</a>',
    "<div/onmouseover='alert(1)'>x</div>",
    '<p ONCLICK="alert(1)">upper</p>',
    "<details open ontoggle=alert(1)>",
    '<input autofocus onfocus="alert(1)">',
    "<video><source onerror=alert(1)></video>",
    "<marquee onstart=alert(1)>x</marquee>",
    # htmx and data attributes
    '<div hx-get="/api/v1/admin" hx-trigger="load">x</div>',
    '<button hx-post="/api/v1/news-items" hx-swap="outerHTML">go</button>',
    '<p hx-on:click="alert(1)">x</p>',
    '<p hx-on::load="alert(1)">x</p>',
    '<div data-hx-get="/steal" data-hx-trigger="load">x</div>',
    '<a href="https://ok.example" data-hx-post="/x">link</a>',
    '<p data-action="delete" data-id="1">x</p>',
    '<a href="https://ok.example" hx-boost="true" hx-target="body">boost</a>',
    # javascript:, data: and vbscript: URLs
    '<a href="javascript:alert(1)">x</a>',
    '<a href="JaVaScRiPt:alert(1)">x</a>',
    '<a href=" javascript:alert(1)">x</a>',
    '<a href="java\tscript:alert(1)">x</a>',
    '<a href="java&#x09;script:alert(1)">x</a>',
    '<a href="&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1)">x</a>',
    '<a href="&#x6A;avascript&colon;alert(1)">x</a>',
    '<a href="javascript&#58;alert(1)">x</a>',
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>',
    '<a href="DATA:text/html,<script>alert(1)</script>">x</a>',
    '<a href="vbscript:msgbox(1)">x</a>',
    '<a href="VBScript:msgbox(1)">x</a>',
    '<a href="//evil.example/%2F..">protocol-relative</a>',
    '<a href="/studio/users">relative</a>',
    # embedded documents, forms, svg and math
    '<iframe src="https://evil.example"></iframe>',
    '<iframe srcdoc="<script>alert(1)</script>"></iframe>',
    '<object data="javascript:alert(1)"></object>',
    '<embed src="https://evil.example/x.swf">',
    '<form action="https://evil.example"><input name=p><button>go</button></form>',
    '<button formaction="javascript:alert(1)">x</button>',
    "<svg onload=alert(1)>",
    '<svg><a xlink:href="javascript:alert(1)"><text>x</text></a></svg>',
    "<svg><script>alert(1)</script></svg>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)></style></mglyph></table>",
    '<math href="javascript:alert(1)">x</math>',
    '<base href="javascript:alert(1)//">',
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    '<link rel="stylesheet" href="https://evil.example/x.css">',
    # style attributes
    '<p style="background:url(javascript:alert(1))">x</p>',
    '<a href="https://ok.example" style="position:fixed;top:0;left:0;width:100%">cover</a>',
    '<p style="behavior:url(x.htc)">x</p>',
    # mutation XSS classics
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
    '<svg></p><style><a id="</style><img src=1 onerror=alert(1)>">',
    '<math><mi><mglyph><svg><mtext><textarea><path id="</textarea><img onerror=alert(1) src=1>">',
    "<form><math><mtext></form><form><mglyph><style></math><img src onerror=alert(1)>",
    "<listing>&lt;img src=x onerror=alert(1)&gt;</listing>",
    "<textarea></textarea><img src=x onerror=alert(1)>",
    "<!--><img src=x onerror=alert(1)>-->",
    "<![CDATA[<img src=x onerror=alert(1)>]]>",
    '<xmp><p title="</xmp><img src=x onerror=alert(1)>"></xmp>',
    # markdown syntax carrying the same
    "[click](javascript:alert(1))",
    "[click](JAVASCRIPT:alert(1))",
    "[click](javascript&#58;alert(1))",
    "[click](&#x6A;avascript:alert(1))",
    "[click](<javascript:alert(1)>)",
    "[click](vbscript:msgbox(1))",
    "[click](data:text/html;base64,PHNjcmlwdD4=)",
    '[click](https://ok.example "title\\" onmouseover=\\"alert(1)")',
    "![x](javascript:alert(1))",
    "![x](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    '![x](https://ok.example/p.png "onerror=alert(1)")',
    "<javascript:alert(1)>",
    "[ref]\n\n[ref]: javascript:alert(1)",
    "[a](https://ok.example)<script>alert(1)</script>",
    "**<img src=x onerror=alert(1)>**",
    "```html\n<script>alert(1)</script>\n```",
    "    <iframe src=javascript:alert(1)>",
    "| a | b |\n|---|---|\n| <script>alert(1)</script> | [x](javascript:alert(1)) |",
    '> <a href="javascript:alert(1)">quoted</a>',
    "# <img src=x onerror=alert(1)>",
]


class Collector(HTMLParser):
    """Every start tag with its attributes, entities resolved as a browser would."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, attrs))

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, attrs))


def assert_inert(html: str) -> None:
    parser = Collector()
    parser.feed(html)
    parser.close()
    for tag, attrs in parser.tags:
        assert tag in ALLOWED_TAGS, (tag, html)
        for name, value in attrs:
            assert name in ALLOWED_ATTRIBUTES.get(tag, set()), (tag, name, html)
            assert not name.startswith(("on", "hx-", "data-", "style")), (name, html)
            if name == "href":
                assert value == value.strip() and not any(ord(c) < 33 for c in value), html
                parts = urlsplit(value)
                assert parts.scheme.lower() in SAFE_SCHEMES, (value, html)
                assert parts.scheme in ("mailto",) or parts.hostname, (value, html)
            if name == "rel":
                assert value == "noopener noreferrer"
        if tag == "a":
            assert ("rel", "noopener noreferrer") in attrs, html
    lowered = html.lower()
    for needle in ("<script", "<iframe", "<svg", "<math", "<style", "<object", "<embed", "<form"):
        assert needle not in lowered, (needle, html)


def test_the_corpus_is_large_enough():
    assert len(HOSTILE) >= 60
    assert len(set(HOSTILE)) == len(HOSTILE)


@pytest.mark.parametrize("payload", HOSTILE)
def test_nothing_executable_survives_markdown(payload):
    assert_inert(render_markdown(payload))


@pytest.mark.parametrize("payload", HOSTILE)
def test_nothing_executable_survives_the_sanitiser_alone(payload):
    assert_inert(sanitize_html(payload))


@pytest.mark.parametrize(
    "payload",
    [
        '<a href="javascript:alert(1)">x</a>',
        '<a href="JaVaScRiPt:alert(1)">x</a>',
        '<a href="&#106;avascript:alert(1)">x</a>',
        '<a href="data:text/html,x">x</a>',
        '<a href="vbscript:msgbox(1)">x</a>',
    ],
)
def test_a_hostile_link_keeps_its_text_and_loses_its_href(payload):
    assert sanitize_html(payload) == '<a rel="noopener noreferrer">x</a>'


def test_a_safe_link_keeps_its_href_and_title_and_gets_rel():
    html = render_markdown('[the ticket](https://tickets.example.com/42?a=1&b=2 "REQ-42")')
    assert html == (
        '<p><a href="https://tickets.example.com/42?a=1&amp;b=2" title="REQ-42" '
        'rel="noopener noreferrer">the ticket</a></p>\n'
    )


def test_markdown_keeps_its_formatting():
    html = render_markdown(
        "## Licences\n\n- *one*\n- **two**\n\n3. third\n4. fourth\n\n> quoted `code`\n\n"
        "---\n\n~~gone~~\n\n| a | b |\n|--:|---|\n| 1 | 2 |\n\n```\nx < y\n```\n"
        "\nmail [us](mailto:it@example.com)"
    )
    parser = Collector()
    parser.feed(html)
    tags = [tag for tag, _ in parser.tags]
    assert tags == [
        "h4", "ul", "li", "em", "li", "strong", "ol", "li", "li", "blockquote", "p", "code",
        "hr", "p", "s", "table", "thead", "tr", "th", "th", "tbody", "tr", "td", "td",
        "pre", "code", "p", "a",
    ]  # fmt: skip
    assert '<ol start="3">' in html
    assert "x &lt; y" in html
    assert 'href="mailto:it@example.com"' in html


def test_headings_start_below_the_bulletins_own():
    assert render_markdown("# One\n###### Six") == "<h3>One</h3>\n<h6>Six</h6>\n"


def test_an_image_becomes_a_link_to_it():
    html = render_markdown("![network *diagram*](https://cdn.example.com/net.png)")
    assert html == (
        '<p><a href="https://cdn.example.com/net.png" rel="noopener noreferrer">'
        "network diagram</a></p>\n"
    )


def test_raw_html_in_markdown_is_shown_as_text():
    assert render_markdown("Restart <hostname> with <b>care</b>") == (
        "<p>Restart &lt;hostname&gt; with &lt;b&gt;care&lt;/b&gt;</p>\n"
    )


def test_relative_and_fragment_links_lose_their_href():
    html = render_markdown("[a](/studio) [b](#top) [c](//evil.example)")
    assert 'href="/studio"' not in html and 'href="#top"' not in html
    assert html.count("<a ") == 3
    assert 'href="//evil.example"' not in html
