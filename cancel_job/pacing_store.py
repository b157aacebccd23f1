"""The fleet's shared pacing state: one small JSON blob per ADT instance.

Every process of the app reads and writes the same record, in the ``adt-pacing``
container of the app's own storage account, and changes it only by compare-and-swap: a
write carries the ETag it read (``If-Match``), or ``If-None-Match: *`` when it creates the
record, so that of two processes that read the same record only one can write it. The
pacing rule itself (what the record means) is in pacing.py; this module only stores it.

The blob's body, in epoch seconds (UTC)::

    {"nextTurn": 1765075200.25, "blockedUntil": 1765075209.0}

Each call is bounded (short timeouts, no SDK retries): the gate falls back to the
process's own gate when the store does not answer (see pacing.py).
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime
from typing import Any, NamedTuple, Protocol

from .contract import PACING_CONTAINER, STORAGE_TOKEN_SCOPE
from .settings import ConfigurationError
from .trust import StorageClock

SETTLE_POLL_SECONDS = 0.05
# Rounds of storage-clock probes (8 each, each round dividing the interval by about 8):
# from unknown to about 20 ms takes three, about 1.2 s and 17 transactions.
MAX_PROBE_ROUNDS = 4
# One store call may take this long before the gate paces the process by itself.
STORE_CONNECT_TIMEOUT_SECONDS = 1.0
STORE_READ_TIMEOUT_SECONDS = 2.0


class StoreUnavailable(Exception):
    """The store did not answer in time, or refused (403, 5xx, a bad configuration).
    ``status``: the storage service's HTTP status, when it answered."""

    def __init__(self, reason: str, status: int | None = None) -> None:
        super().__init__(reason)
        self.status = status


class PaceRecord(NamedTuple):
    next_turn: float = float("-inf")  # the earliest time the next turn may be taken
    blocked_until: float = float("-inf")  # a 429 closed the instance until then

    def to_json(self) -> str:
        return json.dumps({"nextTurn": _finite(self.next_turn), "blockedUntil": _finite(self.blocked_until)})

    @classmethod
    def from_json(cls, data: bytes) -> PaceRecord:
        """The record, or an empty one when the blob holds something else (a hand edit, a
        future version): a bad record must not stop the fleet; the next write replaces it."""
        try:
            document = json.loads(data)
            return cls(_time(document.get("nextTurn")), _time(document.get("blockedUntil")))
        except (ValueError, AttributeError, RecursionError):
            return cls()


def _finite(moment: float) -> float:
    return moment if math.isfinite(moment) else 0.0


def _time(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return float("-inf")
    return float(value)


class Versioned(NamedTuple):
    record: PaceRecord
    etag: str | None  # None: there is no record yet


class PaceStore(Protocol):
    def prepare(self) -> None:
        """Get what a call needs (a token) before the caller takes the gate's lock: a slow
        token fetch must hold up this caller only. Raises StoreUnavailable."""
        ...

    def read(self, instance: str) -> Versioned: ...

    def write(self, instance: str, record: PaceRecord, etag: str | None) -> bool:
        """Write ``record`` if the stored one is still the one read with ``etag`` (None:
        if there is none). False when another process wrote first."""
        ...

    def now(self) -> float:
        """The store's own time now, as far as this process knows it, never later than it
        is (the trust rules: the record's times are the store's clock, not a machine's)."""
        ...

    def uncertainty(self) -> float:
        """How much later than :meth:`now` the store's time may really be."""
        ...

    def settle(self, uncertainty: float, until: float) -> None:
        """Wait until :meth:`uncertainty` is at most ``uncertainty``, or until the monotonic
        time ``until``, whichever comes first (a process's first moments)."""
        ...


class BlobPaceStore:
    """The records in a blob container; counts its storage transactions."""

    def __init__(self, container: Any) -> None:
        self._container = container
        self._lock = threading.Lock()
        self.transactions = 0
        # A token credential (identity-based connections); None with an account key (Azurite).
        credential = getattr(container, "credential", None)
        self._credential = credential if callable(getattr(credential, "get_token", None)) else None
        self.clock = StorageClock()
        self._probing = False

    def now(self) -> float:
        return self.clock.now()

    def uncertainty(self) -> float:
        return self.clock.uncertainty()

    def settle(self, uncertainty: float, until: float) -> None:
        if not self.clock.known:  # one answer first, in this thread: a store that gives none is out
            self._probe(raise_unavailable=True)
        # Only while probing can still narrow it: below a few round trips it cannot.
        while self.clock.uncertainty() > uncertainty and self.clock.probe_round() and time.monotonic() < until:
            self._probe_clock()
            time.sleep(SETTLE_POLL_SECONDS)

    def _probe_clock(self) -> None:
        """Narrow the storage clock in the background while it is wide (at first, and again
        once it has aged): rounds of timed calls spread across the second boundary, each
        round dividing the interval by about eight, instead of waiting for the pace's own
        calls to happen on both sides of one."""
        with self._lock:
            if self._probing or not self.clock.probe_round():
                return
            self._probing = True
        threading.Thread(target=self._probe_until_narrow, name="storage-clock-probe", daemon=True).start()

    def _probe_until_narrow(self) -> None:
        try:
            for _ in range(MAX_PROBE_ROUNDS):
                planned = self.clock.probe_round()
                if not planned:
                    return
                start = time.monotonic()
                for delay in planned:
                    time.sleep(max(0.0, start + delay - time.monotonic()))
                    self._probe()
        finally:
            self._probing = False

    def _probe(self, raise_unavailable: bool = False) -> None:
        from azure.core.exceptions import HttpResponseError

        self._count()
        try:  # any answer is dated, a 404 (no container yet) or a 403 too
            self._container.get_container_properties(raw_response_hook=self._dated())
        except HttpResponseError:
            pass  # answered, and dated
        except Exception as exc:  # no answer: the clock stays as it was
            if raise_unavailable:
                raise _unavailable(exc) from None

    def _dated(self) -> Callable[[Any], None]:
        """A response hook that tells the storage clock when this call's answer was dated."""
        sent = time.time()

        def hook(response: Any) -> None:
            received = time.time()
            date = response.http_response.headers.get("Date")
            try:
                server = parsedate_to_datetime(date).timestamp() if date else None
            except (TypeError, ValueError, IndexError):
                server = None
            if server is not None:
                self.clock.observe(sent, received, server)

        return hook

    def prepare(self) -> None:
        self._probe_clock()
        if self._credential is None:
            return
        try:  # the credential caches it: the SDK's own fetch inside the call finds it there
            self._credential.get_token(STORAGE_TOKEN_SCOPE)
        except Exception as exc:
            raise _unavailable(exc) from None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> BlobPaceStore:
        from azure.storage.blob import LinearRetry

        from .queues import blob_container_client

        options = {
            "connection_timeout": STORE_CONNECT_TIMEOUT_SECONDS,
            "read_timeout": STORE_READ_TIMEOUT_SECONDS,
            "retry_policy": LinearRetry(retry_total=0),
        }
        try:
            return cls(blob_container_client(PACING_CONTAINER, options, env))
        except ConfigurationError:
            raise
        except Exception as exc:  # a credential or client that cannot be built: fail open
            raise ConfigurationError(f"the pacing store cannot be reached ({type(exc).__name__})") from None

    @staticmethod
    def blob_name(instance: str) -> str:
        return f"{instance}.json"  # an endpoint's host: a DNS name or IP address, safe in a path

    def _count(self) -> None:
        with self._lock:
            self.transactions += 1

    def read(self, instance: str) -> Versioned:
        from azure.core.exceptions import ResourceNotFoundError

        self._count()
        try:
            download = self._container.download_blob(self.blob_name(instance), raw_response_hook=self._dated())
            data = download.readall()
        except ResourceNotFoundError:  # no record yet (or no container yet)
            return Versioned(PaceRecord(), None)
        except Exception as exc:
            raise _unavailable(exc) from None
        return Versioned(PaceRecord.from_json(data), download.properties.etag)

    def write(self, instance: str, record: PaceRecord, etag: str | None) -> bool:
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError

        condition: dict[str, Any] = (
            {"etag": etag, "match_condition": MatchConditions.IfNotModified}
            if etag is not None
            else {"match_condition": MatchConditions.IfMissing}
        )
        for _ in range(2):  # a second time after creating a missing container
            self._count()
            try:
                self._container.upload_blob(
                    self.blob_name(instance),
                    record.to_json(),
                    overwrite=True,
                    raw_response_hook=self._dated(),
                    **condition,
                )
                return True
            except (ResourceModifiedError, ResourceExistsError):  # another process wrote first
                return False
            except ResourceNotFoundError:
                if etag is not None:  # the record we read is gone: read it again
                    return False
                self._create_container()
            except Exception as exc:
                raise _unavailable(exc) from None
        return False

    def _create_container(self) -> None:
        from azure.core.exceptions import ResourceExistsError

        self._count()
        try:
            self._container.create_container()
        except ResourceExistsError:
            pass
        except Exception as exc:
            raise _unavailable(exc) from None


def _unavailable(exc: Exception) -> StoreUnavailable:
    """Name the failure without the SDK's message, which may quote a URL with a SAS token."""
    status = getattr(exc, "status_code", None)
    return StoreUnavailable(f"{type(exc).__name__}" + (f" (HTTP {status})" if status else ""), status)
