"""What ADT really does, and what we assume where nothing says.

The one place for facts about the service that the 2023-10-31 spec gets wrong or leaves
out. The README lists each one. Where the spec and the real service disagree, the real
service wins, and the spec's answers keep working too, since a service version may still
return them. The local emulator reads the same constants, so tests and emulator cannot
drift apart.

Observed (api-version 2023-10-31, recorded in 2025 by the official .NET SDK's live tests):

1. A cancel of a running job answers 200 with the job *still* ``running``; it reaches
   ``cancelling`` and then ``cancelled`` seconds later. (The spec's example shows
   ``cancelling`` in the answer.)
2. A cancel of a finished job answers 200 with the job unchanged. (The spec documents
   400 ``ValidationFailed``; we still settle that answer by reading the job.)
3. An unknown job answers 404 ``JobNotFound`` with no ``x-ms-error-code`` header. (The
   spec says ``ImportJobNotFound``.) No code path may depend on either spelling.
4. Throttling is the normal case: 429, ``Retry-After`` 5-14 s, a body
   ``{"error": {"statusCode": 429, "message": ...}}`` with no code and no header.
5. Answers carry ``mise-correlation-id`` (support asks for it) and a W3C
   ``traceresponse``, not ``x-ms-request-id``.
6. Fields without a value are left out, not null; a cancelled job has no
   ``finishedDateTime``.
"""

from __future__ import annotations

# -- the job's status decides what a cancel achieved -------------------------------------

# Statuses in which a cancel means "stopped, or being stopped": success, whether ADT's
# answer shows the status before the cancel acts (``running``, fact 1) or after it.
CANCEL_ACCEPTED_STATUSES = frozenset({"notstarted", "running", "cancelling", "cancelled"})

# The job ended on its own before it could be cancelled: nothing to cancel. ADT may say
# so with 200 and the job unchanged (fact 2) or with 400 ValidationFailed (the spec).
NOTHING_TO_CANCEL_STATUSES = frozenset({"succeeded", "failed"})

# Statuses from which the emulator lets a cancel act (notstarted is our assumption: the
# spec says only "cancels an import job that is currently running").
CANCELLABLE_STATUSES = frozenset({"notstarted", "running"})

# Terminal statuses: the job will not change any more.
TERMINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled"})

# Statuses a poller should wait out. The status enum is extensible: a status in neither
# set is reported as it is (HTTP 200), so a poller stops rather than polls forever.
IN_PROGRESS_STATUSES = frozenset({"notstarted", "running", "cancelling"})

# -- the spec's answers, still honoured -----------------------------------------------------

# The spec's refusal of a cancel. The job's status, read afterwards, settles it.
SPEC_CANCEL_REFUSED_STATUS = 400
SPEC_CANCEL_REFUSED_CODE = "ValidationFailed"
SPEC_JOB_NOT_FOUND_CODE = "ImportJobNotFound"

# -- what the real service answers -------------------------------------------------------

JOB_NOT_FOUND_CODE = "JobNotFound"  # fact 3; passed through, never matched on
THROTTLED_STATUS = 429
THROTTLE_RETRY_AFTER_SECONDS = (5, 14)  # fact 4: the range seen, in whole seconds
CORRELATION_HEADER = "mise-correlation-id"  # fact 5
TRACE_RESPONSE_HEADER = "traceresponse"

# ADT's documented limit for the Jobs API: 1 request per second per instance (it can be
# raised on request). The app paces itself to it (cancel_job/pacing.py).
JOBS_REQUESTS_PER_SECOND = 1.0
