"""AMQP: connection handling, the topology, and what each service may do on the broker."""
