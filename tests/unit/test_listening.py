"""How admission listens: HTTPS from the settings, and which proxies' forwarded headers count."""

from __future__ import annotations

import pytest

from laneyard.services.admission.listening import Listening, listening, server_options, trusted_proxies
from laneyard.services.admission.main import tls_refusal
from laneyard.shared.settings import Settings


def test_plain_http_and_no_trusted_proxy_by_default() -> None:
    chosen = listening(Settings())
    assert chosen == Listening("http", None, None, ())
    options = server_options(chosen)
    # proxy_headers off: uvicorn would otherwise trust loopback, or $FORWARDED_ALLOW_IPS.
    assert options["proxy_headers"] is False
    assert options["ssl_certfile"] is None and options["ssl_keyfile"] is None


def test_a_certificate_turns_on_https() -> None:
    chosen = listening(Settings(http_tls_certfile="/etc/laneyard/tls.pem", http_tls_keyfile="/k.pem"))
    assert chosen.scheme == "https"
    options = server_options(chosen)
    assert (options["ssl_certfile"], options["ssl_keyfile"]) == ("/etc/laneyard/tls.pem", "/k.pem")
    # One PEM file may hold both the chain and the key.
    assert listening(Settings(http_tls_certfile="/both.pem")).keyfile is None


def test_a_key_without_a_certificate_is_refused() -> None:
    with pytest.raises(ValueError, match="LANEYARD_HTTP_TLS_CERTFILE is not"):
        listening(Settings(http_tls_keyfile="/k.pem"))


def test_trusted_proxies_are_addresses_and_networks() -> None:
    assert trusted_proxies("") == ()
    assert trusted_proxies(" 10.0.0.5, 10.1.0.0/16 ,::1,") == ("10.0.0.5", "10.1.0.0/16", "::1")
    options = server_options(listening(Settings(forwarded_allow_ips="10.0.0.5,fd00::/8")))
    assert options["proxy_headers"] is True
    assert options["forwarded_allow_ips"] == ["10.0.0.5", "fd00::/8"]
    assert trusted_proxies("*") == ("*",)


@pytest.mark.parametrize("text", ["proxy.internal", "10.0.0.300", "10.0.0.0/33", "*,10.0.0.1"])
def test_a_proxy_entry_that_is_not_an_address_is_refused_rather_than_ignored(text: str) -> None:
    with pytest.raises(ValueError, match="LANEYARD_FORWARDED_ALLOW_IPS"):
        trusted_proxies(text)


def test_an_unreadable_certificate_is_named_before_anything_starts() -> None:
    assert tls_refusal(Listening("http", None, None, ())) is None
    why = tls_refusal(Listening("https", "/nonexistent/cert.pem", None, ()))
    assert why is not None and "LANEYARD_HTTP_TLS_CERTFILE" in why and "/nonexistent/cert.pem" in why
