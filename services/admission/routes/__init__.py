"""The HTTP routes, one module per resource, sharing one ``Context``."""

from __future__ import annotations

from dataclasses import dataclass

from laneyard.services.admission.auth import Auth
from laneyard.shared.admitting.admit import Admitter
from laneyard.shared.settings import Settings
from laneyard.shared.store.database import Database
from laneyard.shared.throttling.rates import RateBook


@dataclass
class Context:
    admitter: Admitter
    db: Database
    settings: Settings
    auth: Auth
    rates: RateBook
