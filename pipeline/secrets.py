"""What a secret looks like, and how it is masked wherever it could be shown.

The one place that recognises secrets, in three shapes:

* the password of a URL (``scheme://user:password@host``): :func:`mask_url` for
  one URL given alone (a database URL, a model URI), :func:`mask_secrets` for
  every URL anywhere in a text (an error message, a logged value, a JSON report);
* a ``password=`` keyword (a URL query, a libpq connection string), masked by
  both;
* the value of a key that names a secret (``...password``, ``...token``,
  ``...access.key``, ...; :data:`SECRET_KEY`): withheld whole, whatever it holds.

A masked part reads ``***``. The sinks show URLs through :func:`mask_url`;
everything logged to MLflow goes through :func:`mask_value` and
:func:`mask_secrets`; validation messages quote a value only where
:func:`may_show_value` allows it.
"""

from __future__ import annotations

import re
from typing import Any

#: Keys whose values are secrets wherever they are (a Spark conf, a connection option,
#: a params key): searched anywhere in the key, in any case (``spark.hadoop.fs.s3a.
#: access.key``, ``db_password``, ``api_token``, ``fs.azure.account.key.<account>``).
SECRET_KEY = re.compile(r"password|passwd|secret|token|credential|key", re.IGNORECASE)
#: Keys whose values are URLs: not secrets themselves, but a URL may carry a password.
_URL_KEY = re.compile(r"url", re.IGNORECASE)
#: The password of a URL anywhere in a text (user:password@host; also jdbc:postgresql://...).
#: It may hold a '/' (SQLAlchemy reads one), so a port and path before an '@' are masked too.
_URL_PASSWORD = re.compile(r"(\b[a-z][\w+.-]*://[^:/@\s]*:)[^@\s]*@", re.IGNORECASE)
#: password=... in a URL query or a libpq connection string ("host=h password=...").
_KEYWORD_PASSWORD = re.compile(r"(\bpassword=)[^&#;\s]*", re.IGNORECASE)


def mask_url(url: str) -> str:
    """Return ``url`` with its password replaced by ``***``, for logs and messages.

    Parameters
    ----------
    url : str
        A database URL such as ``postgresql+psycopg://user:pw@host:5432/db``. The
        password is what SQLAlchemy takes as one: from the first ``:`` after the
        user name to the first ``@``; a ``password=`` query parameter is masked too.
        Anything that is not a URL (a file path) is returned unchanged.

    Returns
    -------
    str
        The URL without its password.
    """
    masked = re.sub(r"^([\w+.-]+://[^:/@]*:)[^@]*@", r"\1***@", url)
    return re.sub(r"([?&]password=)[^&#]*", r"\1***", masked, flags=re.IGNORECASE)


def mask_secrets(text: str) -> str:
    """``text`` with the password of every URL in it, and ``password=`` values, as ``***``."""
    return _KEYWORD_PASSWORD.sub(r"\1***", _URL_PASSWORD.sub(r"\1***@", text))


def is_secret_key(key: str) -> bool:
    """Whether ``key`` names a secret (:data:`SECRET_KEY`): its value is never shown."""
    return SECRET_KEY.search(key) is not None


def mask_value(key: str, value: Any) -> str:
    """The value of ``key`` as text that can be logged: ``***`` for the value of a key
    that names a secret (unless None or empty), else the text with the passwords in it
    masked (:func:`mask_secrets`)."""
    secret = is_secret_key(key) and value not in (None, "")
    return "***" if secret else mask_secrets(str(value))


def may_show_value(key: str) -> bool:
    """Whether a message may quote the value of ``key`` as it was given (unmasked): not
    for a key that names a secret, nor for a key that names a URL, whose value may carry
    a password."""
    return not (is_secret_key(key) or _URL_KEY.search(key))
