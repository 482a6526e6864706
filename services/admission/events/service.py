"""The event stream's parts on one admission replica: its feed, its sequencer, its stream count."""

from __future__ import annotations

from collections.abc import Callable

from laneyard.services.admission.errors import Rejected
from laneyard.services.admission.events.feed import Feed
from laneyard.services.admission.events.sequencer import Sequencer
from laneyard.shared.settings import Settings
from laneyard.shared.store.database import Database


class EventService:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.settings = settings
        self.feed = Feed(db, poll=settings.events_poll_seconds)
        self.sequencer = Sequencer(
            db,
            retention_seconds=settings.events_retention_seconds,
            # Past any write's time limit (a batched one waits twice the network timeout).
            settle_seconds=3 * settings.network_timeout + 5,
            lease_seconds=settings.lease_seconds,
            on_append=self.feed.wake,
        )
        self.streams = 0

    def start(self) -> None:
        """Runs the sequencer (while this replica holds its lease)."""
        self.sequencer.start()

    async def stop(self) -> None:
        await self.sequencer.stop()

    def take_slot(self) -> Callable[[], None]:
        """One stream of the replica's ``events_max_streams`` (503 beyond them); returns what gives
        it back."""
        limit = self.settings.events_max_streams
        if self.streams >= limit:
            raise Rejected(
                503,
                f"this replica already serves {limit} event streams (LANEYARD_EVENTS_MAX_STREAMS); "
                "retry later or on another replica",
                headers={"Retry-After": "5"},
            )
        self.streams += 1
        given_back = False

        def give_back() -> None:
            nonlocal given_back
            if not given_back:
                given_back = True
                self.streams -= 1

        return give_back
