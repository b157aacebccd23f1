"""What this app assumes about ADT where the 2023-10-31 spec is silent.

Everything here is an assumption, not a documented fact; the README lists each one.
The local emulator reads the same constants, so tests and emulator cannot drift apart.
"""

from __future__ import annotations

# Statuses from which a cancel is accepted (documented: "cancels an import job that is
# currently running"; we assume a job that has not started yet can be cancelled too).
CANCELLABLE_STATUSES = frozenset({"notstarted", "running"})

# Assumption: a cancel of a job in any other status is refused with
# 400 ValidationFailed, the only error the spec documents for cancel.
CANCEL_REFUSED_STATUS = 400
CANCEL_REFUSED_CODE = "ValidationFailed"

# When a cancel is refused, the job's status tells what happened. These mean an earlier
# cancel (perhaps ours, whose answer was lost) already took effect: report success.
CANCEL_TOOK_EFFECT_STATUSES = frozenset({"cancelling", "cancelled"})

# These mean the job finished before it could be cancelled: nothing to cancel.
NOTHING_TO_CANCEL_STATUSES = frozenset({"succeeded", "failed"})

# Terminal statuses: the job will not change any more.
TERMINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled"})

# Statuses a poller should wait out. The status enum is extensible: a status in neither
# set is reported as it is (HTTP 200), so a poller stops rather than polls forever.
IN_PROGRESS_STATUSES = frozenset({"notstarted", "running", "cancelling"})
