"""The HTTP routes, one module per resource, sharing one ``Context``."""

from __future__ import annotations

from dataclasses import dataclass

from services.admission.admit import Admitter
from services.admission.auth import Auth
from services.admission.throttling.rates import RateBook
from shared.settings import Settings
from shared.store.database import Database


@dataclass
class Context:
    admitter: Admitter
    db: Database
    settings: Settings
    auth: Auth
    rates: RateBook
