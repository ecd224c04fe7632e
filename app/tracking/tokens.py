"""Signed, purpose-bound tokens for the links in an email.

A token is ``base64url(payload) + base64url(mac)``: the payload packs a purpose byte and a
few integers, the MAC is the first 16 bytes of HMAC-SHA256 under a key derived for that
purpose, so a click token never unsubscribes. Tokens carry ids, never addresses.
"""

import base64
import hashlib
import hmac
import struct
from enum import IntEnum

MAC_BYTES = 16


class Purpose(IntEnum):
    open = 1
    click = 2
    unsubscribe = 3
    preferences = 4
    feedback = 5
    web_version = 6
    # Per recipient: (issue id, subscriber id, *variant). Filled into the pixel and every
    # click URL of one message; subscriber id 0 marks a preview, test send or web version.
    reader = 7
    # The feedback pages: the follow-up form that adds to one vote (carries its row id), and
    # the public feedback form (carries when it was served, so stale forms are refused).
    feedback_details = 20
    feedback_form = 21


class TokenSigner:
    def __init__(self, secret_key: str):
        self._keys = {
            purpose: hmac.new(
                secret_key.encode(), f"drumbeat-token:{purpose.name}".encode(), hashlib.sha256
            ).digest()
            for purpose in Purpose
        }

    def make(self, purpose: Purpose, *values: int) -> str:
        payload = struct.pack(f">B{len(values)}Q", purpose, *values)
        mac = hmac.new(self._keys[purpose], payload, hashlib.sha256).digest()[:MAC_BYTES]
        return _b64(payload) + "." + _b64(mac)

    def read(
        self, purpose: Purpose, token: str, *, count: int | None = None
    ) -> tuple[int, ...] | None:
        """The values (exactly `count` of them, if given), or None for anything not made by
        `make` for this purpose."""
        try:
            payload_part, mac_part = token.split(".")
            payload, mac = _unb64(payload_part), _unb64(mac_part)
        except (ValueError, TypeError):
            return None
        if not payload or (len(payload) - 1) % 8 or payload[0] != purpose:
            return None
        # Only the one spelling `make` writes: base64's unused trailing bits must not let a
        # changed character pass.
        if _b64(payload) != payload_part or _b64(mac) != mac_part:
            return None
        if count is None:
            count = (len(payload) - 1) // 8
        if len(payload) != 1 + 8 * count:
            return None
        expected = hmac.new(self._keys[purpose], payload, hashlib.sha256).digest()[:MAC_BYTES]
        if not hmac.compare_digest(expected, mac):
            return None
        return struct.unpack(f">{count}Q", payload[1:])


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    if not text or len(text) > 200:
        raise ValueError("not a token")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
