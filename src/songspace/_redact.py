"""Secrets in URLs: the one redaction of songspace (a leaf module that imports nothing
heavy, so the CLI's error and log filters load no numpy). Re-exported by
:mod:`songspace._util`, :mod:`songspace.clierrors` and :mod:`songspace.tuning.storage`."""

from __future__ import annotations

import re

#: Query parameters whose value is a secret: a name (lower case, ``-`` read as ``_``)
#: equal to or ending with one of these (``sslpassword``, ``access_token``, ``x-api-key``).
SECRET_PARAMETERS = (
    "password",
    "passwd",
    "pwd",
    "pass",
    "secret",
    "token",
    "key",
    "sig",
    "signature",
    "credential",
    "credentials",
    "auth",
    "authorization",
)
#: What replaces a secret.
HIDDEN = "***"
# scheme://user:password@ as a database driver (SQLAlchemy's make_url) reads it: the
# user stops at ':', '/' or '@', the password runs to the next '@'.
_USERINFO = re.compile(r"^(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^:/@\s]*):(?P<pw>[^@]*)@")
# a URL inside a message: scheme:// up to white space, a quote or an angle bracket
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s'\"<>`]+")


def is_secret_parameter(name: str) -> bool:
    """True for a query parameter that carries a secret (see :data:`SECRET_PARAMETERS`)."""
    from urllib.parse import unquote_plus

    word = unquote_plus(name).strip().lower().replace("-", "_")
    return any(word.endswith(s) for s in SECRET_PARAMETERS)


def redact(url: str) -> str:
    """``url`` with every secret-bearing part replaced by ``***``: the userinfo password
    (``postgresql://user:***@host/db``) and the value of each secret query parameter
    (``?password=***``, ``sslpassword``, ``token``, ``api_key``, ``access_token``...; see
    :func:`is_secret_parameter`). Everything else is kept as written, so a URL without
    secrets comes back unchanged. The one redaction of songspace: messages, log lines,
    progress lines and stored reports show URLs through it (:func:`redact_text` for text).
    """
    text = str(url)
    if "://" not in text:
        return text
    text = _USERINFO.sub(lambda m: f"{m.group('head')}:{HIDDEN}@", text, count=1)
    start = text.find("://") + 3
    query_at = text.find("?", start)
    if query_at < 0:
        return text
    end = text.find("#", query_at)
    end = len(text) if end < 0 else end
    parts = []
    for part in text[query_at + 1 : end].split("&"):
        name, eq, value = part.partition("=")
        parts.append(f"{name}={HIDDEN}" if eq and value and is_secret_parameter(name) else part)
    return text[: query_at + 1] + "&".join(parts) + text[end:]


def redact_text(text: str) -> str:
    """``text`` with every URL in it passed through :func:`redact`."""
    return _URL_IN_TEXT.sub(lambda m: redact(m.group()), text)
