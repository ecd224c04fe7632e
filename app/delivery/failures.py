"""What a transport tells its caller when a message did not knowingly arrive.

- `TemporaryFailure`: the server certainly did not take the message; retry later.
- `PermanentFailure`: refused for good (a 5xx); the caller records a hard bounce.
- `UncertainFailure`: the connection died after the final "." of DATA, before the reply;
  the server may have accepted the message, so a retry could deliver it twice.
"""

import re
from typing import Protocol

CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


class SendFailure(Exception):
    """The message was not, or not knowingly, accepted. `str()` is the server's reply
    when there was one, e.g. '550 5.1.1 no such user'."""

    message: str

    def __str__(self) -> str:
        return self.message


class TemporaryFailure(SendFailure):
    """Not accepted; retrying is safe. `code` is None when no reply came (a lost connection,
    a timeout, our own TLS or login setup). `before_data` is False only for a 4xx answer
    to the message content itself, after the final "." of DATA."""

    def __init__(self, code: int | None, message: str, before_data: bool = True) -> None:
        super().__init__(code, message, before_data)
        self.code, self.message, self.before_data = code, message, before_data


class PermanentFailure(SendFailure):
    """Refused for good: a 5xx from the server, or (code None) refused before sending."""

    def __init__(self, code: int | None, message: str) -> None:
        super().__init__(code, message)
        self.code, self.message = code, message


class UncertainFailure(SendFailure):
    """The message was sent in full but no reply came: it may have been accepted."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Transport(Protocol):
    async def send(self, *, sender: str, recipient: str, message: bytes) -> str:
        """Deliver one complete RFC 5322 message (CRLF line ends); return the reply."""
        ...

    async def close(self) -> None: ...


def check_addresses(sender: str, recipient: str) -> None:
    for address in (sender, recipient):
        if not address or CONTROL_CHARACTERS.search(address):
            raise PermanentFailure(None, f"invalid address {address!r}")
