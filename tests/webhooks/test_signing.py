"""verify_signature: what a receiver must accept and refuse."""

import time

from app.webhooks.signing import signature, signature_header, verify_signature

SECRET = "whsec_test-secret"
BODY = b'{"id":1,"event":"issue.sent","created_at":"2026-11-26T10:00:00Z","data":{}}'


def test_a_fresh_signature_over_the_body_is_valid():
    header = signature_header(SECRET, timestamp=int(time.time()), body=BODY)
    assert verify_signature(SECRET, header, BODY)


def test_the_signature_is_hmac_sha256_over_timestamp_dot_body():
    # Computed independently: printf '1795000000.{}' | openssl dgst -sha256 -hmac whsec_test-secret
    assert signature(SECRET, timestamp=1_795_000_000, body=b"{}") == (
        "7219b2c5f61920a4e8d376206c036a6180babf586f394d5ac1896f2c050bebef"
    )
    assert signature_header(SECRET, timestamp=1_795_000_000, body=b"{}").startswith(
        "t=1795000000,v1="
    )


def test_a_tampered_body_is_rejected():
    header = signature_header(SECRET, timestamp=int(time.time()), body=BODY)
    assert not verify_signature(SECRET, header, BODY.replace(b"issue.sent", b"issue.approved"))


def test_a_wrong_secret_is_rejected():
    header = signature_header(SECRET, timestamp=int(time.time()), body=BODY)
    assert not verify_signature("whsec_another-secret", header, BODY)


def test_an_old_or_future_timestamp_is_rejected():
    sent = 1_795_000_000
    header = signature_header(SECRET, timestamp=sent, body=BODY)
    assert verify_signature(SECRET, header, BODY, now=sent + 300)
    assert not verify_signature(SECRET, header, BODY, now=sent + 301)
    assert not verify_signature(SECRET, header, BODY, now=sent - 301)
    assert verify_signature(SECRET, header, BODY, tolerance_seconds=3600, now=sent + 3000)


def test_a_replayed_body_with_a_new_timestamp_is_rejected():
    old = signature_header(SECRET, timestamp=1_795_000_000, body=BODY)
    forged = old.replace("t=1795000000", f"t={int(time.time())}")
    assert not verify_signature(SECRET, forged, BODY)


def test_malformed_headers_are_rejected():
    now = int(time.time())
    valid = signature(SECRET, timestamp=now, body=BODY)
    for header in ("", f"v1={valid}", f"t={now}", f"t=soon,v1={valid}", "garbage"):
        assert not verify_signature(SECRET, header, BODY), header


def test_any_of_several_v1_signatures_may_match():
    now = int(time.time())
    header = f"t={now},v1={'0' * 64},v1={signature(SECRET, timestamp=now, body=BODY)}"
    assert verify_signature(SECRET, header, BODY)
