"""The Python client of the admission API: ``Client`` (blocking), ``AsyncClient`` (asyncio), the
``Job`` handle both return, and ``AmqpSubmitter`` for submitting over AMQP."""

from laneyard.client.aio import AsyncClient
from laneyard.client.amqp import AmqpSubmitter
from laneyard.client.calls import JobSpec, SubmitOptions
from laneyard.client.job import Job
from laneyard.client.retry import RetryPolicy
from laneyard.client.sync import Client

__all__ = ["AmqpSubmitter", "AsyncClient", "Client", "Job", "JobSpec", "RetryPolicy", "SubmitOptions"]
