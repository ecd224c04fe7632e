"""The DATA payload: what aiosmtplib's two regex passes would send, made with bytes counts."""

import re

from hypothesis import given
from hypothesis import strategies as st

from app.delivery.smtp import _data_payload

# aiosmtplib's own treatment of a message (smtplib does the same): every line end becomes
# CRLF, a line starting with a dot gets a second one, then the terminating dot line.
LINE_ENDS = re.compile(rb"\r\n|\r|\n")
LINE_STARTING_WITH_DOT = re.compile(rb"(?m)^\.")


def reference(message: bytes) -> bytes:
    message = LINE_ENDS.sub(b"\r\n", message)
    if not message.endswith(b"\r\n"):
        message += b"\r\n"
    return LINE_STARTING_WITH_DOT.sub(b"..", message) + b".\r\n"


# Mostly the bytes that matter (line ends and dots), with some of everything else.
chunks = st.lists(
    st.sampled_from([b"\r\n", b"\r", b"\n", b".", b"..", b"a", b"\xc3\xbc", b" "]) | st.binary(),
    max_size=40,
).map(b"".join)


@given(chunks)
def test_the_payload_is_what_the_regex_passes_would_send(message):
    assert _data_payload(message) == reference(message)


def test_a_built_message_keeps_its_crlf_and_gets_its_dots_stuffed():
    message = b"Subject: x\r\n\r\n.hidden line\r\n.\r\nend"
    assert _data_payload(message) == b"Subject: x\r\n\r\n..hidden line\r\n..\r\nend\r\n.\r\n"
