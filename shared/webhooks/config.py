"""The webhook settings as one value, and the check a callback URL passes before it is accepted."""

from __future__ import annotations

from dataclasses import dataclass

from laneyard.shared.settings import Settings
from laneyard.shared.webhooks import targets

NOT_CONFIGURED = "webhooks are not configured: set LANEYARD_WEBHOOK_SECRET on admission and dispatchers"


@dataclass(frozen=True)
class WebhookConfig:
    secrets: tuple[str, ...] = ()
    allow: tuple[str, ...] = ()
    backoff_base: float = 10.0
    backoff_cap: float = 3600.0
    give_up_seconds: float = 86_400.0
    timeout: float = 10.0

    @classmethod
    def of(cls, settings: Settings) -> WebhookConfig:
        return cls(
            secrets=tuple(s.strip() for s in settings.webhook_secret.split(",") if s.strip()),
            allow=targets.parse_allow(settings.webhook_allow),
            backoff_base=settings.webhook_backoff_base,
            backoff_cap=settings.webhook_backoff_cap,
            give_up_seconds=settings.webhook_give_up_seconds,
            timeout=settings.webhook_timeout,
        )

    @property
    def enabled(self) -> bool:
        return bool(self.secrets)


def url_refusal(url: str, config: WebhookConfig) -> str | None:
    """Why a callback or subscription URL is not accepted; None if it is. A name is resolved and
    checked again for every delivery (``targets``), so this is the part that needs no DNS."""
    if not config.enabled:
        return NOT_CONFIGURED
    try:
        targets.check_submitted(url, config.allow)
    except targets.RefusedTarget as exc:
        return str(exc)
    return None
