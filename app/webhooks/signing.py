"""Signing webhook bodies, and checking a signature as a receiver should.

Every delivery carries ``X-Drumbeat-Signature: t=<unix seconds>,v1=<hex>`` where ``<hex>`` is
HMAC-SHA256, keyed with the endpoint's secret, over ``f"{t}.{raw body}"`` (UTF-8). A receiver:

1. reads the raw request body as bytes, before any JSON parsing (re-serialising changes it);
2. splits the header on ``,`` into ``t`` and one or more ``v1`` values;
3. computes HMAC-SHA256(secret, ``t`` + ``"."`` + body) and compares it to each ``v1`` in
   constant time (``hmac.compare_digest``);
4. rejects the request when ``t`` is more than a few minutes from its own clock, so a recorded
   request cannot be replayed later;
5. answers 2xx quickly and deduplicates on the ``id`` of the envelope (also in the
   ``X-Drumbeat-Delivery`` header): a delivery can arrive more than once, for instance when
   the answer was lost.

``verify_signature`` below does steps 2-4, for Python receivers and for our tests.
"""

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-Drumbeat-Signature"
DEFAULT_TOLERANCE_SECONDS = 300


def signature(secret: str, *, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``f"{timestamp}.{body}"``."""
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(secret: str, *, timestamp: int, body: bytes) -> str:
    """The value of the X-Drumbeat-Signature header."""
    return f"t={timestamp},v1={signature(secret, timestamp=timestamp, body=body)}"


def verify_signature(
    secret: str,
    header: str,
    body: bytes,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
    *,
    now: float | None = None,
) -> bool:
    """True when `header` signs `body` with `secret` and its timestamp is recent enough."""
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        return False
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_seconds:
        return False
    expected = signature(secret, timestamp=timestamp, body=body)
    return any(hmac.compare_digest(expected, candidate) for candidate in candidates)
