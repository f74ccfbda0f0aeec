"""Errors raised by the data transforms (validation of the inputs, above all).

:class:`InputError` is a problem with the inputs or their settings (the message
says what to change in params); :class:`ReconciliationError` is a bug (counts or
written files that do not add up), never a data problem.
"""


class InputError(ValueError):
    """An input cannot be used as configured; the message says what to change in params."""


class ReconciliationError(RuntimeError):
    """Counts or written files disagree with the input rows: a bug, never a data problem."""
