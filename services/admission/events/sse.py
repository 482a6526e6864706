"""Server-Sent Events on the wire (the WHATWG ``text/event-stream`` format), as bytes."""

from __future__ import annotations


def message(data: str, *, event_id: int | None = None, event: str | None = None) -> bytes:
    """One event; ``data`` may span lines (each becomes its own ``data:`` line)."""
    lines = []
    if event_id is not None:
        lines.append(f"id: {event_id}")
    if event is not None:
        lines.append(f"event: {event}")
    lines.extend(f"data: {line}" for line in data.split("\n"))
    return ("\n".join(lines) + "\n\n").encode()


def position(event_id: int) -> bytes:
    """An id with no data: moves the client's Last-Event-ID past events its filter left out,
    without an event (the format dispatches none for an empty data buffer)."""
    return f"id: {event_id}\n\n".encode()


def comment(text: str) -> bytes:
    """Ignored by clients; keeps proxies from closing a quiet stream."""
    return f": {text}\n\n".encode()


def retry(ms: int) -> bytes:
    """How long a client waits before reconnecting."""
    return f"retry: {ms}\n\n".encode()


def parse_last_event_id(text: str | None) -> int | None:
    """The event number to resume after; ValueError for what this stream never sent."""
    if text is None or text.strip() == "":
        return None
    value = text.strip()
    if not value.isascii() or not value.isdigit() or len(value) > 18:
        raise ValueError(f"Last-Event-ID {value[:40]!r} is not an event number this stream sent")
    return int(value)
