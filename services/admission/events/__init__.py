"""``GET /v1/events``: the job state changes as Server-Sent Events (docs/events.md)."""
