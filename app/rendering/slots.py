"""Render once, personalize cheaply: compiled text with slot markers, filled per recipient.

A slot marker is ``__DBSLOT_name__``: letters, digits and underscores only, so it survives
HTML escaping, MJML and premailer (which would rewrite spaces in an href). A template is
split at its markers once; filling it is a join. For MIME, each literal chunk is encoded as
quoted-printable once, and only the short slot values are encoded per recipient.
"""

import binascii
import re
from collections.abc import Mapping

SLOT_PATTERN = re.compile(r"__DBSLOT_([a-z0-9_]+)__")


def marker(name: str) -> str:
    if not re.fullmatch(r"[a-z0-9_]+", name):
        raise ValueError(f"bad slot name {name!r}")
    return f"__DBSLOT_{name}__"


class SlotTemplate:
    """Literal chunks and slot names, alternating: chunk, slot, chunk, ..., chunk."""

    def __init__(self, text: str):
        pieces = SLOT_PATTERN.split(text)
        self.chunks: list[str] = pieces[0::2]
        self.slots: list[str] = pieces[1::2]

    @property
    def slot_names(self) -> set[str]:
        return set(self.slots)

    def fill(self, values: Mapping[str, str]) -> str:
        out = [self.chunks[0]]
        for name, chunk in zip(self.slots, self.chunks[1:], strict=True):
            out.append(values[name])
            out.append(chunk)
        return "".join(out)


class QuotedPrintableTemplate:
    """The same template as quoted-printable bytes with CRLF line ends, chunks pre-encoded.

    Every chunk before a slot ends in a soft line break, and every slot value is followed by
    one, so a value always starts and ends its own encoded line: lines stay within 76
    characters however long the values are.
    """

    def __init__(self, template: SlotTemplate):
        self.source = template  # the unencoded text, for checks and comparisons
        self.slots = template.slots
        self.chunks = [
            _qp(chunk, soft_break_after=index < len(template.slots))
            for index, chunk in enumerate(template.chunks)
        ]

    def fill(self, values: Mapping[str, str]) -> bytes:
        out = [self.chunks[0]]
        # A slot can recur (the reader token is in every tracked link): encode it once.
        encoded: dict[str, bytes] = {}
        for name, chunk in zip(self.slots, self.chunks[1:], strict=True):
            value = encoded.get(name)
            if value is None:
                value = encoded[name] = _qp(values[name], soft_break_after=True)
            out.append(value)
            out.append(chunk)
        return b"".join(out)


def _qp(text: str, *, soft_break_after: bool) -> bytes:
    normalized = text.replace("\r\n", "\n").replace("\n", "\r\n").encode()
    encoded = binascii.b2a_qp(normalized, istext=True)
    # b2a_qp keeps "\r\n" as a line end but may leave a bare "\n" from soft breaks.
    encoded = encoded.replace(b"=\n", b"=\r\n")
    if soft_break_after and encoded and not encoded.endswith(b"\r\n"):
        head, _, last = encoded.rpartition(b"\r\n")
        if len(last) > 75:
            # No room for the soft break's "=": break earlier, never inside an "=XX" escape.
            cut = 75
            while b"=" in last[cut - 2 : cut]:
                cut -= 1
            last = last[:cut] + b"=\r\n" + last[cut:]
            encoded = head + b"\r\n" + last if head or encoded.startswith(b"\r\n") else last
        encoded += b"=\r\n"
    return encoded
