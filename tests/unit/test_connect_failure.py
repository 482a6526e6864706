"""What a failed broker connection says: where (never the password) and what to change."""

from __future__ import annotations

from laneyard.services.cli.up import broker_address
from laneyard.shared.amqp.connect_failure import explain, hint, redacted
from laneyard.shared.settings import Settings


def test_the_password_and_the_query_are_left_out() -> None:
    url = "amqps://svc:s3cr%40t@rabbit.internal:5671/prod?cafile=/etc/ca.pem&heartbeat=30"
    assert redacted(url) == "amqps://svc@rabbit.internal:5671/prod"
    message = explain(url, ConnectionRefusedError(111, "Connect call failed"))
    assert "s3cr" not in message and "rabbit.internal:5671" in message
    assert redacted("amqp://127.0.0.1") == "amqp://127.0.0.1"


def test_plain_amqp_reset_by_a_tls_port_suggests_amqps() -> None:
    error = (
        "AMQPConnectionError: Server connection reset: ConnectionResetError(104, 'Connection reset by peer')"
    )
    assert "amqps://" in (hint("amqp://u:p@host:5671/", error) or "")


def test_tls_to_a_plain_port_says_so() -> None:
    error = "AMQPConnectionError: (1, '[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1006)')"
    assert "does not speak TLS" in (hint("amqps://host:5672/", error) or "")


def test_an_untrusted_certificate_points_at_cafile() -> None:
    error = "AMQPConnectionError: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"
    assert "?cafile=" in (hint("amqps://host/", error) or "")


def test_other_failures_get_no_hint() -> None:
    assert hint("amqp://host/", "ProbableAuthenticationError: ACCESS_REFUSED") is None
    assert explain("amqp://host/", TimeoutError()).startswith("cannot connect to RabbitMQ at amqp://host/")


def test_an_amqps_url_without_a_port_means_5671() -> None:
    assert broker_address("amqps://u:p@rabbit.internal/") == ("rabbit.internal", 5671)
    assert broker_address("amqp://u:p@rabbit.internal/") == ("rabbit.internal", 5672)
    assert broker_address("amqps://127.0.0.1:15671/?cafile=/ca.pem") == ("127.0.0.1", 15671)


def test_settings_do_not_show_the_urls_and_their_passwords() -> None:
    settings = Settings(amqp_url="amqps://u:amqp-pw@h/", mongo_url="mongodb://u:mongo-pw@h/?tls=true")
    assert "amqp-pw" not in repr(settings) and "mongo-pw" not in repr(settings)
    assert settings.amqp_url == "amqps://u:amqp-pw@h/"
