"""The request bodies of the HTTP service (:mod:`songspace.serving.app`; needs pydantic,
which the ``serve`` extra installs with FastAPI).

Bodies are validated strictly: ``2.0``, ``"2"`` and ``true`` are not integers, ``"yes"``
and ``1`` are not booleans, and unknown fields are refused.
"""

# no `from __future__ import annotations`: pydantic and FastAPI read the annotations at runtime

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from songspace.serving.defaults import DEFAULT_K, DEFAULT_NEW_TRACK_K, MAX_K

#: The most track ids (or tracks) one request may carry.
MAX_BATCH = 1000


class Strict(BaseModel):
    """A request body: strict types, no unknown fields."""

    # strict: 2.0, "2" and true are not integers, "yes" and 1 are not booleans
    model_config = ConfigDict(extra="forbid", strict=True)


class BatchRequest(Strict):
    # the body of POST /similar:batch (a comment: a docstring would enter the OpenAPI schema)

    track_ids: list[str] = Field(min_length=1, max_length=MAX_BATCH)
    k: int = Field(default=DEFAULT_K, ge=1, le=MAX_K)
    max_per_artist: int | None = Field(default=None, ge=1)
    model: str | None = None


class CompleteRequest(Strict):
    # the body of POST /complete (a comment: a docstring would enter the OpenAPI schema)

    seed_track_ids: list[str] = Field(min_length=1, max_length=MAX_BATCH)
    k: int = Field(default=DEFAULT_K, ge=1, le=MAX_K)
    exclude_seeds: bool = True
    max_per_artist: int | None = Field(default=None, ge=1)
    model: str | None = None


class TracksRequest(Strict):
    # the body of POST /tracks (a comment: a docstring would enter the OpenAPI schema)

    tracks: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_BATCH)
    k: int = Field(default=DEFAULT_NEW_TRACK_K, ge=1, le=MAX_K)
    model: str | None = None


class ReloadRequest(Strict):
    # the body of POST /admin/reload (a comment: a docstring would enter the OpenAPI schema)

    model: str | None = None
    run: str | None = None


class NextRequest(Strict):
    # the body of POST /next (a comment: a docstring would enter the OpenAPI schema)

    seed_track_ids: list[str] = Field(min_length=1, max_length=MAX_BATCH)
    k: int = Field(default=DEFAULT_K, ge=1, le=MAX_K)
    exclude_seeds: bool = True
    max_per_artist: int | None = Field(default=None, ge=1)
    model: str | None = None
