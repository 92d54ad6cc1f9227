"""Errors of the serving layer; each maps to one HTTP status in :mod:`songspace.serving.app`."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from songspace.errors import SongspaceError, describe_json_error, with_fix


def json_body_message(error: Mapping[str, Any], body: object) -> str:
    """The message for FastAPI's ``json_invalid`` validation error (a request body that
    is not JSON; its ``loc`` ends with the character offset, ``ctx["error"]`` is the
    decoder's message, ``body`` the text it read): ``request body: expected valid JSON,
    found no value at line 2 column 30. Fix: ...``."""
    loc = error.get("loc") or ()
    pos = loc[-1] if loc and isinstance(loc[-1], int) else 0
    what = str((error.get("ctx") or {}).get("error") or "Undecodable text")
    if isinstance(body, bytes | bytearray):
        doc = bytes(body).decode("utf-8", "replace")
    else:
        doc = body if isinstance(body, str) else ""
    found = describe_json_error(json.JSONDecodeError(what, doc, min(pos, len(doc))))
    return with_fix(f"request body: {found}", "send one JSON document (see the schemas at /docs)")


class UnknownTrackError(SongspaceError, KeyError):
    """A track id that is neither in the served vocabulary nor among the added tracks."""

    def __init__(
        self, track_id: str, *, model: str, field: str = "track_id", message: str | None = None
    ):
        self.track_id = track_id
        self.field = field
        super().__init__(
            message
            or f"unknown track {track_id!r}: expected a track id of model {model!r} (its dataset "
            f"vocabulary or a track added through POST /tracks), found none. Fix: check the id "
            f"with GET /tracks/{{id}}, or add the track with POST /tracks"
        )

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class NotInductiveError(SongspaceError):
    """``embed_new`` on a transductive model."""

    def __init__(self, model: str, klass: str, inductive: list[str]):
        self.field = "model"
        super().__init__(
            f"model {model!r} ({klass}) is transductive: it cannot embed a track it never saw "
            f"in training. Expected an inductive model ({', '.join(inductive)}). Fix: serve a "
            f"run trained with one of them and pass its name"
        )


class UnknownModelError(SongspaceError, KeyError):
    def __init__(self, name: str, served: list[str]):
        self.field = "model"
        super().__init__(
            f"unknown model {name!r}: expected one of the served models ({', '.join(served)}), "
            f"found none by that name. Fix: GET /models lists them"
        )

    def __str__(self) -> str:
        return str(self.args[0])


class NoRecommenderError(SongspaceError):
    """``POST /next`` on a server started without a two-stage recommender (HTTP 404)."""

    field = None

    def __init__(self) -> None:
        super().__init__(
            "no two-stage recommender is served: expected a server started with "
            "--recommender DIR (`songspace recommender fit -o DIR`), found none. Fix: restart "
            "`songspace serve` with --recommender, or ask POST /complete (the embedding models)"
        )


class AuthError(SongspaceError):
    """Missing or wrong API key (HTTP 401)."""


class PayloadTooLargeError(SongspaceError):
    """A request body over the configured limit (HTTP 413)."""


class NotReadyError(SongspaceError):
    """The models are still loading (HTTP 503)."""


class StoreError(SongspaceError):
    """The store of added tracks cannot be written now (HTTP 503); nothing was added."""

    field = "tracks"


class StoreLockedError(StoreError):
    """Another process holds the store's lock: it alone writes the store (HTTP 503)."""


class StoreFullError(StoreError):
    """The disk of the store is full (ENOSPC, EDQUOT; HTTP 507 Insufficient Storage)."""
