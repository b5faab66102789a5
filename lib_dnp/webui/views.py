"""What the accordion shows after a generation, handed to the browser session that made it and to no one else.

The WebUI gives a script no handle on the browser session of a generation, but every session gets its own
generation's info JSON (the tab's hidden `generation_info` box). `postprocess` keeps the DNS images and captions
under a random, unguessable ticket and writes the ticket into that JSON (`"dnp": {"view": ...}`); the accordion
of the session that receives the JSON redeems it, once. Another session, or an API caller, never holds the ticket
of someone else's generation, so it can never be shown their images or captions.
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

# Tickets not redeemed (API requests, a closed browser tab) are dropped oldest first beyond this many.
MAX_WAITING = 16


@dataclass(frozen=True)
class View:
    images: list[Any]
    captions: list[str]


class Tickets:
    """A small bounded store of views, each taken out once by its ticket."""

    def __init__(self, max_waiting: int = MAX_WAITING) -> None:
        self._views: OrderedDict[str, View] = OrderedDict()
        self._max = max_waiting
        self._lock = threading.Lock()  # generations and page events run on different threads

    def keep(self, view: View) -> str:
        ticket = secrets.token_urlsafe(16)
        with self._lock:
            self._views[ticket] = view
            while len(self._views) > self._max:
                self._views.popitem(last=False)
        return ticket

    def take(self, ticket: Any) -> View | None:
        if not isinstance(ticket, str):
            return None
        with self._lock:
            return self._views.pop(ticket, None)


tickets = Tickets()


def ticket_of(generation_info: Any) -> str | None:
    """The ticket in a tab's generation-info JSON, or None (no DNP in that generation, or not JSON)."""
    import json

    try:
        data = json.loads(generation_info) if isinstance(generation_info, str) else None
    except ValueError:
        return None
    entry = data.get("dnp") if isinstance(data, dict) else None
    ticket = entry.get("view") if isinstance(entry, dict) else None
    return ticket if isinstance(ticket, str) else None
