"""The JSON-RPC calls a piece of code sends to a node, by method (a batch counts each call in it):
what a benchmark reports beside its times, and what a test holds bounded without a timer."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from unittest import mock

import requests

HTTP = "(HTTP requests)"  # the round trips, batches counted once


@contextmanager
def rpc_calls(rpc_url: str) -> Iterator[Counter]:
    """Counts, while the block runs, every JSON-RPC call posted to `rpc_url` by any client that
    goes through `requests` (web3's HTTPProvider does, batches too), from any thread."""
    calls: Counter = Counter()
    real, url = requests.Session.request, rpc_url.rstrip("/")

    def counted(self, method, target, *args, **kwargs):
        body = kwargs.get("data") or kwargs.get("json")
        if str(target).rstrip("/") == url and body is not None:
            payload = json.loads(body) if isinstance(body, (bytes, str)) else body
            calls[HTTP] += 1
            calls.update(call.get("method") for call in (payload if isinstance(payload, list) else [payload]))
        return real(self, method, target, *args, **kwargs)

    with mock.patch.object(requests.Session, "request", counted):
        yield calls
