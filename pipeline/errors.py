"""The errors a stage reports to its user, and the exit code of each.

Exit codes (also in the README): 0 success; 1 unexpected error (a bug: the
traceback is printed); 2 wrong command-line usage; 3 invalid ``params.yaml``;
4 unusable input data (missing file or column, nothing parseable); 5 the model
cannot be loaded (no such model, version or alias; tracking store unreachable);
6 the model does not fit the features or params (other feature schema, other
stage rules); 7 drift above the threshold under ``churn score --fail-on-drift``;
8 a sink cannot be written (DuckDB file in use, PostgreSQL unreachable); 9 the
MLflow tracking store cannot be reached or used (``train``, ``evaluate``; ``score``
says 5, the model being in that store); 10 another run of the same stage still
holds the stage's lock after the wait.

The errors raised by the library (:class:`features.validation.InputError`,
:class:`models.feature_schema.SchemaMismatchError`) are mapped here too, so that
:mod:`pipeline.runner` knows every expected error from one table.
"""

from __future__ import annotations

from features.errors import InputError
from models.feature_schema import SchemaMismatchError

EXIT_OK, EXIT_BUG, EXIT_USAGE, EXIT_CONFIG, EXIT_INPUT = 0, 1, 2, 3, 4
EXIT_MODEL, EXIT_MISMATCH, EXIT_DRIFT, EXIT_SINK = 5, 6, 7, 8
EXIT_TRACKING, EXIT_BUSY = 9, 10


class ConfigError(ValueError):
    """params.yaml is missing, unreadable or invalid."""


class NoEventsError(ValueError):
    """No event to build features from: the clean tables hold none, or none before a cutoff."""


class OutputError(RuntimeError):
    """An output of a stage cannot be written (a read-only or full folder); exit code
    4, as for an input, since the next stage reads it. (A sink that cannot be written
    is a :class:`SinkError`.)"""


class StageBusyError(RuntimeError):
    """Another run of the same stage holds its lock, and did not release it in time."""


class ModelUnavailableError(RuntimeError):
    """The model to score with cannot be loaded (no such model, version or alias;
    tracking server unreachable)."""


class ModelMismatchError(ValueError):
    """The model was trained on other features or other stage rules than params say."""


class DriftError(RuntimeError):
    """The scored population drifted from the training reference (``--fail-on-drift``)."""


class SinkError(RuntimeError):
    """A sink could not write: file locked, server unreachable, table of another shape."""


class TrackingStoreError(RuntimeError):
    """The MLflow tracking store cannot be reached or used (server down, wrong URI)."""


#: Every expected error: the classes, the words the message starts with, the exit code.
#: Checked in order; anything else is a bug (exit 1, with its traceback).
EXPECTED: tuple[tuple[tuple[type[BaseException], ...], str, int], ...] = (
    ((ConfigError,), "configuration error", EXIT_CONFIG),
    ((InputError, NoEventsError), "input error", EXIT_INPUT),
    ((OutputError,), "output error", EXIT_INPUT),
    ((ModelUnavailableError,), "model unavailable", EXIT_MODEL),
    ((ModelMismatchError, SchemaMismatchError), "model mismatch", EXIT_MISMATCH),
    ((DriftError,), "drift", EXIT_DRIFT),
    ((SinkError,), "sink error", EXIT_SINK),
    ((TrackingStoreError,), "tracking store unavailable", EXIT_TRACKING),
    ((StageBusyError,), "stage busy", EXIT_BUSY),
)
