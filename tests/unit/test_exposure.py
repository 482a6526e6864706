"""Closed by default: where admission may listen without API keys, and which tasks a runner has."""

from __future__ import annotations

import pytest

from laneyard.services.admission.exposure import is_loopback, refusal
from laneyard.services.runner.main import build_registry
from laneyard.shared.settings import Settings


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.53", "::1", "[::1]", "localhost"])
def test_loopback_needs_no_keys(host: str) -> None:
    assert is_loopback(host)
    assert refusal(host, keys_configured=False, allow_open=False) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.5", "admission.example", ""])
def test_any_other_address_needs_keys_or_an_explicit_allow_open(host: str) -> None:
    why = refusal(host, keys_configured=False, allow_open=False)
    assert why is not None
    assert "LANEYARD_API_KEYS" in why and "LANEYARD_ALLOW_OPEN=1" in why and "127.0.0.1" in why
    assert refusal(host, keys_configured=True, allow_open=False) is None
    assert refusal(host, keys_configured=False, allow_open=True) is None


def test_a_plain_runner_registers_no_demo_tasks() -> None:
    assert not any(name.startswith("demo.") for name in build_registry(Settings()).names())
    assert "demo.echo" in build_registry(Settings(runner_demo_tasks=True)).names()


def test_defaults_are_closed() -> None:
    settings = Settings()
    assert settings.http_host == "127.0.0.1" and not settings.allow_open and not settings.runner_demo_tasks
