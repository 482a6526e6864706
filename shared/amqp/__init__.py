"""AMQP: connection handling and the topology every service declares."""
