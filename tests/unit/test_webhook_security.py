"""Webhook signatures and the SSRF guard on callback addresses."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from laneyard.shared.webhooks import signing, targets
from laneyard.shared.webhooks.targets import RefusedTarget

BODY = b'{"id":"j1","state":"COMPLETED"}'


def test_a_signature_verifies_and_a_changed_body_or_old_timestamp_does_not() -> None:
    value = signing.header(["s3cret"], 1_900_000_000, BODY)
    assert value.startswith("t=1900000000,v1=")
    assert signing.verify("s3cret", value, BODY, now=1_900_000_010)
    assert not signing.verify("other", value, BODY, now=1_900_000_010)
    assert not signing.verify("s3cret", value, BODY + b" ", now=1_900_000_010)
    assert not signing.verify("s3cret", value, BODY, now=1_900_000_000 + 301)
    assert not signing.verify("s3cret", "v1=abc", BODY, now=1_900_000_000)


def test_rotation_signs_with_every_secret() -> None:
    value = signing.header(["new", "old"], 1_900_000_000, BODY)
    assert signing.verify("new", value, BODY, now=1_900_000_000)
    assert signing.verify("old", value, BODY, now=1_900_000_000)
    with pytest.raises(ValueError, match="LANEYARD_WEBHOOK_SECRET"):
        signing.header([], 1, BODY)


def test_the_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    expected = hmac.new(b"k", b"12." + BODY, hashlib.sha256).hexdigest()
    assert signing.signature("k", 12, BODY) == expected


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/x", "http:// or https://"),
        ("https:///x", "no host"),
        ("https://user:pw@example.com/", "credentials"),
        ("https://example.com:99999/", "not a valid URL"),
        ("https://" + "a" * 3000, "longer than"),
        ("http://127.0.0.1:8080/hook", "loopback"),
        ("http://10.1.2.3/hook", "private"),
        ("http://169.254.169.254/latest/meta-data", "link-local"),
        ("http://[::1]/hook", "loopback"),
        ("http://[::ffff:192.168.0.1]/hook", "private"),
        ("http://0.0.0.0/hook", "unspecified"),
    ],
)
def test_bad_or_internal_callback_urls_are_refused_with_a_reason(url: str, message: str) -> None:
    with pytest.raises(RefusedTarget, match=message):
        targets.check_submitted(url, ())


def test_a_public_url_or_an_allowed_host_is_accepted() -> None:
    target = targets.check_submitted("https://Hooks.Example.com/in?x=1", ())
    assert target == targets.Target("https", "hooks.example.com", 443, "/in?x=1")
    allowed = targets.parse_allow(" 127.0.0.1 , *.internal.example")
    assert targets.check_submitted("http://127.0.0.1:9000/", allowed).port == 9000
    assert targets.refusal("a.internal.example", "10.0.0.1", allowed) is None


def test_resolved_addresses_are_checked_whatever_the_name() -> None:
    assert targets.refusal("hooks.example.com", "93.184.216.34", ()) is None
    why = targets.refusal("hooks.example.com", "192.168.1.10", ())
    assert why is not None and "private" in why and "LANEYARD_WEBHOOK_ALLOW" in why
    assert targets.refusal("x.example", "100.64.0.1", ()) is not None  # carrier-grade NAT
    assert targets.refusal("x.example", "224.0.0.1", ()) is not None
