"""Admitting a job, the same for every way in: HTTP, AMQP, sub-tasks and schedules."""
