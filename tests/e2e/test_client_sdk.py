"""The blocking Client and typed task handles against the three services running as processes."""

from __future__ import annotations

import asyncio
import time

import pytest

from laneyard import Client, Job, JobCancelled, JobFailed, JobState
from tests.e2e import sdk_tasks
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e


def start(stack: Stack) -> None:
    stack.add("admission")
    stack.add("dispatcher")
    stack.add("runner", "--slots", "8", "--tasks", "tests.e2e.sdk_tasks")
    stack.wait_ready()


def use_the_client(url: str) -> None:
    with Client(url) as client:
        # A job's result, a failure with its reason and error, a handle's typed submit.
        assert client.submit("sdk.add", {"a": 2, "b": 3}).wait(timeout=60) == 5
        with pytest.raises(JobFailed) as failed:
            client.submit("sdk.fail", {"message": "bad month"}).wait(timeout=60)
        assert failed.value.reason is not None and "bad month" in (failed.value.error or "")
        assert sdk_tasks.add.submit(client, 40, b=2).wait(timeout=60) == 42

        # Following a log to the job's end.
        chatty = sdk_tasks.chatty.submit(client, lines=20)
        lines = [line.line for line in chatty.logs(follow=True)]
        assert lines == [f"line {i}" for i in range(20)]
        assert chatty.info().state is JobState.COMPLETED

        # Many at once through the batch endpoint, in order.
        handles = sdk_tasks.add.submit_many(client, [sdk_tasks.add.call(i, b=1) for i in range(30)])
        assert all(isinstance(h, Job) for h in handles)
        assert [h.wait(timeout=60) for h in handles if isinstance(h, Job)] == list(range(1, 31))

        # Cancelling a running job ends waiting with JobCancelled.
        slow = sdk_tasks.sleep.submit(client, 30.0)
        deadline = time.monotonic() + 30
        while slow.info().state is not JobState.RUNNING and time.monotonic() < deadline:
            time.sleep(0.1)
        assert slow.cancel().cancel_requested
        with pytest.raises(JobCancelled):
            slow.wait(timeout=60)


async def test_submit_wait_logs_and_cancel_through_the_public_client(stack: Stack) -> None:
    await asyncio.to_thread(start, stack)
    await asyncio.to_thread(use_the_client, stack.url)
