"""Laneyard's shared package: models, settings, AMQP topology, the MongoDB store."""
