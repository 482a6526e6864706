"""Why connecting to the broker failed, said so that an operator can act on it.

A client speaking plain AMQP to a TLS port only sees its connection reset, and a TLS client whose
CA file does not match sees an OpenSSL code; the message adds what to change in the URL. The URL
is shown without its password (and without its query, which only names files).
"""

from __future__ import annotations

from urllib.parse import urlsplit


class BrokerUnreachable(ConnectionError):
    """The first connection to RabbitMQ failed; the message says where and, when it can, why."""


def redacted(url: str) -> str:
    """``url`` without password or query: safe to log."""
    parts = urlsplit(url)
    user = f"{parts.username}@" if parts.username else ""
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    host = parts.hostname or ""
    return f"{parts.scheme}://{user}{host}{port}{parts.path}"


def hint(url: str, error: str) -> str | None:
    """What to change, for the errors a TLS mismatch produces; None when there is nothing to add."""
    tls = urlsplit(url).scheme == "amqps"
    if tls and "CERTIFICATE_VERIFY_FAILED" in error:
        return (
            "the broker's certificate is not signed by a CA this client trusts, or does not name this "
            "host: set ?cafile=/path/to/ca.pem in the amqps:// URL (docs/tls.md)"
        )
    if tls and ("WRONG_VERSION_NUMBER" in error or "record layer failure" in error):
        return "that port does not speak TLS: use the broker's TLS port (5671 by default) or amqp://"
    lowered = error.lower()
    if not tls and any(s in lowered for s in ("reset", "broken pipe", "eof", "incompatibleprotocol")):
        return "if that port speaks TLS (5671 by default), use an amqps:// URL"
    return None


def explain(url: str, exc: BaseException) -> str:
    error = f"{type(exc).__name__}: {exc}"
    message = f"cannot connect to RabbitMQ at {redacted(url)}: {error}"
    extra = hint(url, error)
    return f"{message}; {extra}" if extra else message
