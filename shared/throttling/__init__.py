"""Rate limits per lane and cluster: jobs over their rate wait in intake queues in RabbitMQ."""
