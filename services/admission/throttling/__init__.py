"""Admission rate limits: lanes and clusters over their rate wait in intake queues in RabbitMQ."""
