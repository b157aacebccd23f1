"""The operator's command line: ``python -m cancel_job COMMAND`` (or ``adt-import-cancel``).

ADT commands (cancel, status, list) use the same core, rules and errors as the function,
signed in with DefaultAzureCredential. Queue commands (enqueue, results, failures) use a
connection string (Azurite, ``STORAGE_CONNECTION``) or an account URL with
DefaultAzureCredential.

Exit codes: 0 success; 1 the operation failed (ADT refused or failed, storage failed,
``--wait`` timed out); 2 usage or configuration error (nothing was done).

The package: ``output`` (rich tables, progress and status lines, how results and errors
are printed), ``adt_commands`` (cancel, status, list), ``queue_commands`` (enqueue,
results, failures) and ``parser`` (the arguments and ``main``).
"""

from .parser import main

__all__ = ["main"]
