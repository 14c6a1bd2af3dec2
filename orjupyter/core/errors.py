"""Every failure a person sees, in one family. Each message is one line that says what to do.

    OrJupyterError                  any failure orjupyter reports (shown as one line)
    ├── OptionError                 the magic's line or a command cannot be read
    ├── PromptError                 a cell cannot become a prompt ({name} unknown, empty cell)
    │   └── ImageError              an image cannot be read or sent
    ├── NotSent                     refused before sending: no key, unknown model, too long
    │   ├── BudgetExceeded          the call could take the notebook over its budget
    │   └── CacheMiss               replay mode has no recorded answer for the request
    ├── CallFailed                  the call was sent and failed (HTTP error, broken stream)
    ├── FormatError                 the answer is not in the format asked for (-f json)
    └── LedgerError                 the ledger file cannot be used

The classes that were `ValueError`s before stay `ValueError`s too. Only the Jupyter room
turns these into IPython's `UsageError` (`orjupyter.jupyter.door`); nothing else in the
package knows IPython.
"""

from __future__ import annotations


class OrJupyterError(Exception):
    """A failure orjupyter reports to a person, as one line."""


class OptionError(OrJupyterError):
    """The magic's options, one-line question or command cannot be read."""


class PromptError(OrJupyterError, ValueError):
    """The cell cannot become a prompt; the message says what to do."""


class ImageError(PromptError):
    """An image that cannot be sent, with a one-line message that says what to do."""


class NotSent(OrJupyterError):
    """The call was refused before anything was sent (so nothing was billed)."""


class CallFailed(OrJupyterError):
    """The call was sent and failed; the reply (with any partial answer) is kept."""


class FormatError(OrJupyterError, ValueError):
    """The answer is not in the format asked for."""


class LedgerError(OrJupyterError):
    """The ledger file cannot be used (e.g. written by a newer orjupyter)."""
