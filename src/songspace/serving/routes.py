"""The endpoints of the HTTP service (see :mod:`songspace.serving.app`; needs FastAPI).

Each route reaches the served models through :func:`server_state`, the
:class:`~songspace.serving.app.ServerState` that :func:`~songspace.serving.app.create_app`
keeps in ``app.state.songspace``. The order of the routes matters: ``/tracks/{id}/similar``
is matched before ``/tracks/{id}``.
"""

# no `from __future__ import annotations`: FastAPI reads the endpoint annotations at runtime

import hmac
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Body, Depends, Header, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from songspace.errors import ParameterError
from songspace.serving.app import API_KEY_ENV, ServerState, error_body
from songspace.serving.defaults import DEFAULT_K, MAX_K
from songspace.serving.errors import AuthError
from songspace.serving.schemas import (
    BatchRequest,
    CompleteRequest,
    NextRequest,
    ReloadRequest,
    TracksRequest,
)

router = APIRouter()


async def server_state(request: Request) -> ServerState:
    """The state of the application serving ``request``."""
    return request.app.state.songspace


# ---------------------------------------------------------------------- auth
def given_key(x_api_key: str | None, authorization: str | None) -> str | None:
    """The key a request carries: ``X-API-Key``, else ``Authorization: Bearer``."""
    if x_api_key is None and authorization and authorization.lower().startswith("bearer "):
        return authorization[7:]
    return x_api_key


def has_key(
    state: ServerState = Depends(server_state),  # noqa: B008
    x_api_key: str | None = Header(default=None),
    authorization: str | None = Header(default=None),
) -> bool:
    """Whether the request carries the right key (for what only the key holder sees)."""
    key = state.api_key
    given = given_key(x_api_key, authorization)
    return (
        key is not None and given is not None and hmac.compare_digest(given.encode(), key.encode())
    )


def require_key(
    state: ServerState = Depends(server_state),  # noqa: B008
    x_api_key: str | None = Header(default=None),
    authorization: str | None = Header(default=None),
) -> None:
    """Refuse (401) a request without the right key."""
    key = state.api_key
    if key is None:
        raise AuthError(
            "this endpoint needs an API key, and the server was started without one: "
            f"expected ${API_KEY_ENV} or --api-key-file, found neither. Fix: restart "
            "with a key"
        )
    given = given_key(x_api_key, authorization)
    if given is None:
        raise AuthError(
            "missing API key: expected an X-API-Key header (or Authorization: Bearer), "
            "found none. Fix: send the key the server was started with"
        )
    if not hmac.compare_digest(given.encode(), key.encode()):
        raise AuthError(
            "wrong API key: expected the key the server was started with, found another. "
            "Fix: check --api-key / $" + API_KEY_ENV
        )


# ----------------------------------------------------------------- endpoints
@router.get("/health", summary="Liveness")
def health() -> dict[str, Any]:
    return {"status": "ok"}


@router.get("/ready", summary="Readiness: every model and its index loaded")
def ready(
    keyed: bool = Depends(has_key),
    state: ServerState = Depends(server_state),  # noqa: B008
) -> Any:
    if state.models is None:
        body = error_body(503, "NotReadyError", state.not_ready(keyed), None)
        return JSONResponse(body, status_code=503)
    two = state.recommender  # named only when one is served
    return {
        "status": "ready",
        "models": list(state.models),
        **({"recommender": two.name} if two else {}),
    }


@router.get(
    "/models",
    summary="Served models, their sizes and index statistics (the run's path only "
    "with the API key, else its name)",
)
def models(
    keyed: bool = Depends(has_key),
    state: ServerState = Depends(server_state),  # noqa: B008
) -> dict[str, Any]:
    state.get(None)
    snapshot = state.models or {}
    infos = [m.info() for m in snapshot.values()]
    if not keyed:
        infos = [{**i, "run": Path(i["run"]).name} for i in infos]
    two = state.recommender  # described only when one is served
    return {
        "default": state.order[0],
        "models": infos,
        **({"recommender": two.info()} if two else {}),
    }


# `:path` so that ids holding "/" (raw or sent as %2F, which the server decodes) are
# reachable. /similar is matched first: the metadata of an id that itself ends in
# "/similar" is out of reach (GET /tracks/{id}/similar still works for it)
@router.get("/tracks/{track_id:path}/similar", summary="The k most similar tracks")
def similar(
    track_id: str,
    k: int = Query(default=DEFAULT_K, ge=1, le=MAX_K),
    model: str | None = None,
    max_per_artist: int | None = Query(default=None, ge=1),
    state: ServerState = Depends(server_state),  # noqa: B008
) -> Any:
    rec = state.get(model)
    res = rec.similar(track_id, k, max_per_artist=max_per_artist)
    # plain JSON types already: skip FastAPI's per-item jsonable_encoder on hot routes
    return JSONResponse(
        {"model": rec.name, "track_id": track_id, "results": [r.to_dict() for r in res]}
    )


@router.get("/tracks/{track_id:path}", summary="A served track's metadata")
def get_track(
    track_id: str,
    model: str | None = None,
    state: ServerState = Depends(server_state),  # noqa: B008
) -> dict[str, Any]:
    rec = state.get(model)
    return {"model": rec.name, **rec.track(track_id)}


@router.post("/similar:batch", summary="Similar tracks for many tracks at once")
def similar_batch(
    req: BatchRequest,
    state: ServerState = Depends(server_state),  # noqa: B008
) -> dict[str, Any]:
    rec = state.get(req.model)
    for t in req.track_ids:
        rec.vector(t, field="track_ids")
    out = {
        t: [r.to_dict() for r in rec.similar(t, req.k, max_per_artist=req.max_per_artist)]
        for t in req.track_ids
    }
    return {"model": rec.name, "results": out}


@router.post("/complete", summary="Continue a playlist from its seed tracks")
def complete(
    req: CompleteRequest,
    state: ServerState = Depends(server_state),  # noqa: B008
) -> Any:
    two = state.recommender if state.models is not None else None
    if two is not None and req.model in (None, two.name):
        return _two_stage(state, req)
    rec = state.get(req.model)
    res = rec.complete(
        req.seed_track_ids,
        req.k,
        exclude_seeds=req.exclude_seeds,
        max_per_artist=req.max_per_artist,
    )
    return JSONResponse({"model": rec.name, "results": [r.to_dict() for r in res]})


@router.post(
    "/next",
    summary="The next tracks after the seeds (the last seed is the current track), through "
    "the two-stage recommender",
)
def next_tracks(
    req: NextRequest,
    state: ServerState = Depends(server_state),  # noqa: B008
) -> Any:
    return _two_stage(state, req)


def _two_stage(state: ServerState, req: CompleteRequest | NextRequest) -> Any:
    """The two-stage recommender's answer (it never recommends a seed, whatever
    ``exclude_seeds`` says)."""
    rec = state.get_recommender(req.model)
    res = rec.recommend(req.seed_track_ids, req.k, max_per_artist=req.max_per_artist)
    return JSONResponse({"model": rec.name, "results": [r.to_dict() for r in res]})


@router.get(
    "/explore",
    response_class=HTMLResponse,
    summary="The explorer page of the served models (a click asks /tracks/{id}/similar)",
)
def explore(
    genres: str | None = None,
    models: str | None = None,
    state: ServerState = Depends(server_state),  # noqa: B008
) -> Any:
    state.get(None)
    names = (
        [m.strip() for m in models.split(",") if m.strip()]
        if models is not None
        else state.order[:2]
    )
    if not 1 <= len(names) <= 2 or len(set(names)) != len(names):
        raise ParameterError(
            "models", "one or two distinct served model names, comma-separated", models
        )
    recs = [state.get(n) for n in names]
    genres = genres.strip() if genres is not None and genres.strip() else None
    return HTMLResponse(state.explore_page(recs, genres))


@router.get("/favicon.ico", include_in_schema=False)
def favicon() -> Any:  # a browser opening /explore asks for it: no icon, no 404
    return Response(status_code=204)


@router.post(
    "/tracks",
    status_code=201,
    dependencies=[Depends(require_key)],
    summary="Embed new tracks (inductive models) and add them to the live index",
)
def add_tracks(
    req: TracksRequest,
    state: ServerState = Depends(server_state),  # noqa: B008
) -> dict[str, Any]:
    rec = state.get(req.model)
    with state.admin_lock:
        rec = state.get(req.model)  # a reload may have finished while we waited
        added = rec.add_tracks(req.tracks, k=req.k)
    return {
        "model": rec.name,
        "added": [a.to_dict() for a in added],
    }


@router.post(
    "/admin/reload",
    dependencies=[Depends(require_key)],
    summary="Load a new version of a run and switch to it atomically",
)
def reload(
    req: ReloadRequest = Body(default_factory=ReloadRequest),  # noqa: B008
    state: ServerState = Depends(server_state),  # noqa: B008
) -> dict[str, Any]:
    return {"reloaded": state.reload(req.model, req.run)}
