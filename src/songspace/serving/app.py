"""The HTTP service (``songspace serve``; FastAPI + uvicorn, extra ``serve``).

Endpoints (OpenAPI at ``/docs``): ``GET /health``, ``GET /ready``, ``GET /models``,
``GET /tracks/{id}``, ``GET /tracks/{id}/similar?k=&model=``, ``POST /similar:batch``,
``POST /complete``, ``POST /tracks`` (API key), ``POST /admin/reload`` (API key),
``GET /explore?genres=&models=`` (the explorer page of the served models, built on the
first request and kept until a reload).

Every error has one JSON shape, ``{"error": {"status", "type", "message", "field"}}``:
unknown track 404, bad ``k``/body/feature names 422 (bodies are validated strictly: no
``"2"`` or ``2.0`` for an integer, no ``"yes"`` for a boolean), bodies over
``max_body_bytes`` 413, missing or wrong API key 401, models still loading or the store
of added tracks written by another process 503, its disk full 507. Models are loaded in
a background thread; ``/health`` answers at once, ``/ready`` once they are loaded.
Track ids may hold "/" (``/tracks/{id}`` is a path parameter). Clients without the API
key see run names, never the server's paths.
A reload builds the new Recommender beside the old one and swaps the name -> model
mapping in one assignment; requests in flight keep the object they started with.
"""

# no `from __future__ import annotations`: FastAPI reads the endpoint annotations at runtime

import hmac
import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from songspace._optional import optional_import
from songspace.errors import (
    DuplicateError,
    InputError,
    ParameterError,
    SongspaceError,
)
from songspace.serving.errors import (
    AuthError,
    NotInductiveError,
    NotReadyError,
    PayloadTooLargeError,
    StoreError,
    StoreFullError,
    UnknownModelError,
    UnknownTrackError,
    json_body_message,
)
from songspace.serving.recommender import MAX_K, Recommender

logger = logging.getLogger("songspace")

API_KEY_ENV = "SONGSPACE_API_KEY"
DEFAULT_MAX_BODY = 1 << 20
MAX_BATCH = 1000
#: Explorer pages kept (one per models/genres asked for); 26 MB each for 173K tracks.
MAX_EXPLORE_PAGES = 4

#: Builds the ``/explore`` page: ``builder(recommenders, genres=...) -> html``.
ExplorerBuilder = Callable[..., str]


def default_explorer(recommenders: Sequence[Recommender], *, genres: str | None = None) -> str:
    """The page :mod:`songspace.reports.explore` builds for served models (imported on
    the first request)."""
    from songspace.reports.explore import live_explorer_html

    return live_explorer_html(recommenders, genres=genres)


def check_api_key(key: str | None) -> None:
    """Refuse an empty or blank API key: ``--api-key "$KEY"`` with ``KEY`` unset gives
    one, and it would let any client write. None (no key) is allowed: the write
    endpoints then answer 401."""
    if key is not None and not key.strip():
        raise ParameterError(
            "api-key",
            "a non-empty key",
            key,
            fix='an empty --api-key "$KEY" means KEY is unset: set it, give the key through '
            f"${API_KEY_ENV} or --api-key-file, or leave the key out to refuse every write",
        )


def read_api_key(option: str | None, key_file: str | Path | None) -> str | None:
    """The key of ``songspace serve``: ``--api-key`` (visible to other users in ``ps``),
    else the first line of ``--api-key-file``, else None (then ``$SONGSPACE_API_KEY``
    is read by :func:`create_app`); refuses both options at once and an empty key."""
    if option is not None and key_file is not None:
        raise ParameterError(
            "api-key-file",
            "one of --api-key and --api-key-file",
            str(key_file),
            fix="keep --api-key-file (the key stays out of `ps`) and drop --api-key",
        )
    if key_file is None:
        check_api_key(option)
        return option
    try:
        lines = Path(key_file).read_text(encoding="utf-8").splitlines()
    except (OSError, ValueError) as exc:
        found = exc.strerror if isinstance(exc, OSError) else str(exc)
        raise InputError(
            f"expected a readable UTF-8 file holding the API key, found: {found}",
            path=key_file,
            fix="check the path given to --api-key-file",
        ) from None
    key = lines[0].strip() if lines else ""
    if not key:
        raise InputError(
            "expected the API key on the first line, found "
            + ("an empty line" if lines else "an empty file"),
            path=key_file,
            fix="write the key into the file (one line)",
        )
    return key


def _fastapi():
    return optional_import("fastapi", "`songspace serve`")


@dataclass
class ModelSpec:
    """How to (re)load one served model."""

    name: str
    run: Path
    dataset: Path | Any
    options: dict[str, Any]

    def load(self, run: Path | None = None) -> Recommender:
        return Recommender.from_run(run or self.run, self.dataset, name=self.name, **self.options)


class ServerState:
    """The served models. ``models`` is replaced, never mutated, so a reader's snapshot
    stays valid for its whole request."""

    def __init__(self, specs: Sequence[ModelSpec], recommenders: dict[str, Recommender] | None):
        self.specs = {s.name: s for s in specs}
        self.order = [s.name for s in specs] or list(recommenders or {})
        self.models: dict[str, Recommender] | None = recommenders
        self.error: str | None = None  # why loading failed (names paths: for the key holder)
        self.error_kind: str | None = None
        self.admin_lock = threading.Lock()
        self.explorer: ExplorerBuilder = default_explorer
        # (model names, genres) -> (the Recommenders it was built from, html)
        self.pages: dict[tuple[tuple[str, ...], str | None], tuple[tuple[Any, ...], str]] = {}
        self.page_lock = threading.Lock()

    def explore_page(self, recs: Sequence[Recommender], genres: str | None) -> str:
        """The explorer page of ``recs``, built once per (models, genres) and rebuilt when
        a reload replaced one of them."""
        key = (tuple(r.name for r in recs), genres)
        with self.page_lock:
            hit = self.pages.get(key)
            if hit is not None and all(a is b for a, b in zip(hit[0], recs, strict=True)):
                return hit[1]
            html = self.explorer(list(recs), genres=genres)
            pages = self.pages  # a reload may replace the mapping, never mutates it
            while len(pages) >= MAX_EXPLORE_PAGES:
                pages.pop(next(iter(pages)))
            pages[key] = (tuple(recs), html)
            logger.info("explorer page built for %s (%.1f MB)", ", ".join(key[0]), len(html) / 1e6)
            return html

    def load_all(self) -> None:
        from songspace.data.dataset import Dataset

        try:
            cache: dict[str, Dataset] = {}
            for spec in self.specs.values():
                if not isinstance(spec.dataset, Dataset):  # one copy per dataset path
                    key = str(Path(spec.dataset).resolve())
                    if key not in cache:
                        cache[key] = Dataset.load(spec.dataset)
                    spec.dataset = cache[key]
            self.models = {name: self.specs[name].load() for name in self.order}
            logger.info("ready: %s", ", ".join(self.order))
        except Exception as exc:  # reported by /ready
            logger.error("loading the models failed: %s", exc)
            self.error, self.error_kind = str(exc), type(exc).__name__

    def not_ready(self, detailed: bool) -> str:
        """The message of a server that is not ready. The loading error itself names the
        server's paths: only when ``detailed`` (a client with the API key)."""
        if self.error is None:
            return (
                "not ready: expected loaded models, found them still loading. "
                "Fix: wait until GET /ready answers 200"
            )
        if detailed:
            return f"not ready: loading the models failed: {self.error}"
        return (
            f"not ready: loading the models failed ({self.error_kind}). Fix: read the "
            "message in the server's log (or GET /ready with the API key), then restart"
        )

    def get(self, name: str | None) -> Recommender:
        models = self.models
        if models is None:
            raise NotReadyError(self.not_ready(False))
        if name is None:
            return models[self.order[0]]
        if name not in models:
            raise UnknownModelError(name, list(models))
        return models[name]


def _status(exc: SongspaceError) -> int:
    if isinstance(exc, StoreFullError):
        return 507
    if isinstance(exc, StoreError):
        return 503
    if isinstance(exc, UnknownTrackError | UnknownModelError):
        return 404
    if isinstance(exc, AuthError):
        return 401
    if isinstance(exc, PayloadTooLargeError):
        return 413
    if isinstance(exc, NotReadyError):
        return 503
    if isinstance(exc, DuplicateError):
        return 409
    if isinstance(exc, ParameterError | InputError | NotInductiveError):
        return 422
    return 400


def _field(exc: Exception) -> str | None:
    if isinstance(exc, ParameterError):
        return exc.name
    return getattr(exc, "field", None)


def error_body(status: int, kind: str, message: str, field: str | None = None) -> dict[str, Any]:
    """The one error shape of the service."""
    return {"error": {"status": status, "type": kind, "message": message, "field": field}}


class _BodyLimit:
    """ASGI middleware: 413 for bodies over ``limit`` bytes (declared or streamed)."""

    def __init__(self, app: Any, limit: int):
        self.app = app
        self.limit = limit

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._reject(send, int(declared))
            return
        if declared is not None:
            await self.app(scope, receive, send)
            return
        # no declared length (chunked): read the body up to the limit, then replay it
        chunks, seen = [], 0
        while True:
            msg = await receive()
            if msg["type"] != "http.request":
                break
            chunks.append(msg.get("body", b""))
            seen += len(chunks[-1])
            if seen > self.limit:
                await self._reject(send, seen)
                return
            if not msg.get("more_body", False):
                break
        body = b"".join(chunks)
        sent = False

        async def replay() -> dict:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _message(self, n: int) -> str:
        return (
            f"request body too large: expected at most {self.limit} bytes, found {n}. "
            f"Fix: send fewer tracks per request"
        )

    async def _reject(self, send: Callable, n: int) -> None:
        import json

        body = json.dumps(
            error_body(413, "PayloadTooLargeError", self._message(n), "body")
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def create_app(
    specs: Sequence[ModelSpec] = (),
    *,
    recommenders: dict[str, Recommender] | None = None,
    api_key: str | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY,
    background_load: bool = True,
    explorer: ExplorerBuilder | None = None,
) -> Any:
    """The FastAPI application. Pass ``specs`` (loaded at startup, reloadable) or ready
    ``recommenders`` (tests). ``api_key`` defaults to ``$SONGSPACE_API_KEY``.
    ``explorer`` builds the ``/explore`` page (default :func:`default_explorer`)."""
    fastapi = _fastapi()
    from fastapi import Body, Depends, FastAPI, Header, Query, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import HTMLResponse, JSONResponse, Response
    from pydantic import BaseModel, ConfigDict, Field
    from starlette.exceptions import HTTPException as StarletteHTTPException

    key = api_key if api_key is not None else os.environ.get(API_KEY_ENV) or None
    check_api_key(key)
    state = ServerState(specs, recommenders)
    if explorer is not None:
        state.explorer = explorer

    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(app: Any):
        if state.models is None:
            if background_load:
                threading.Thread(target=state.load_all, name="songspace-load", daemon=True).start()
            else:
                state.load_all()
        yield

    app = FastAPI(
        title="songspace",
        description="Track embeddings served: similar tracks, playlist continuation, new "
        "tracks embedded on arrival (inductive models).",
        lifespan=lifespan,
    )
    app.state.songspace = state

    # ---------------------------------------------------------------- errors
    @app.exception_handler(SongspaceError)
    async def _songspace_error(request: Request, exc: SongspaceError) -> JSONResponse:
        status = _status(exc)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return JSONResponse(
            error_body(status, type(exc).__name__, str(exc), _field(exc)),
            status_code=status,
            headers=headers,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errs = exc.errors()
        first = errs[0] if errs else {}
        if first.get("type") == "json_invalid":  # loc is ("body", character offset)
            msg = json_body_message(first, exc.body)
            return JSONResponse(error_body(422, "ValidationError", msg, "body"), status_code=422)
        loc = [str(x) for x in first.get("loc", ()) if x not in ("body", "query", "path")]
        field = ".".join(loc) or None
        found = first.get("input")
        text = repr(found)
        if len(text) > 120:
            text = text[:117] + "..."
        expected = str(first.get("msg", "a valid value"))
        expected = expected[:1].lower() + expected[1:]
        msg = (
            f"field '{field}': {expected}"
            f"{'' if first.get('type') == 'missing' else f', found {text}'}"
        )
        if len(errs) > 1:
            msg += f" (and {len(errs) - 1} more problem{'s' if len(errs) > 2 else ''})"
        msg += ". Fix: see the request schema at /docs"
        return JSONResponse(error_body(422, "ValidationError", msg, field), status_code=422)

    def _body_error(found: str) -> JSONResponse:
        msg = (
            f"request body: expected a JSON object, found {found}. Fix: send valid JSON (see /docs)"
        )
        return JSONResponse(error_body(422, "ValidationError", msg, "body"), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and exc.__cause__ is not None:
            # FastAPI's "error parsing the body": JSON nested beyond the parser's recursion
            # limit, or bytes that are not UTF-8/16/32 text
            cause = exc.__cause__
            return _body_error(
                "JSON nested too deeply to parse"
                if isinstance(cause, RecursionError)
                else f"bytes that are not JSON text ({type(cause).__name__}: {cause})"[:300]
            )
        msg = str(exc.detail)
        if exc.status_code == 404:
            msg = (
                f"no endpoint {request.method} {request.url.path}: expected one of the "
                f"routes listed at /docs, found none. Fix: check the path"
            )
        elif exc.status_code == 405:
            msg = f"method {request.method} not allowed on {request.url.path}: see /docs"
        return JSONResponse(
            error_body(exc.status_code, "HTTPError", msg, None), status_code=exc.status_code
        )

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("internal error on %s", request.url.path)
        return JSONResponse(
            error_body(500, type(exc).__name__, f"internal error: {exc}", None), status_code=500
        )

    # ------------------------------------------------------------------ auth
    def given_key(x_api_key: str | None, authorization: str | None) -> str | None:
        if x_api_key is None and authorization and authorization.lower().startswith("bearer "):
            return authorization[7:]
        return x_api_key

    def has_key(
        x_api_key: str | None = Header(default=None),
        authorization: str | None = Header(default=None),
    ) -> bool:
        """Whether the request carries the right key (for what only the key holder sees)."""
        given = given_key(x_api_key, authorization)
        return (
            key is not None
            and given is not None
            and hmac.compare_digest(given.encode(), key.encode())
        )

    def require_key(
        x_api_key: str | None = Header(default=None),
        authorization: str | None = Header(default=None),
    ) -> None:
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

    # --------------------------------------------------------------- schemas
    class Strict(BaseModel):
        # strict: 2.0, "2" and true are not integers, "yes" and 1 are not booleans
        model_config = ConfigDict(extra="forbid", strict=True)

    class BatchRequest(Strict):
        track_ids: list[str] = Field(min_length=1, max_length=MAX_BATCH)
        k: int = Field(default=20, ge=1, le=MAX_K)
        max_per_artist: int | None = Field(default=None, ge=1)
        model: str | None = None

    class CompleteRequest(Strict):
        seed_track_ids: list[str] = Field(min_length=1, max_length=MAX_BATCH)
        k: int = Field(default=20, ge=1, le=MAX_K)
        exclude_seeds: bool = True
        max_per_artist: int | None = Field(default=None, ge=1)
        model: str | None = None

    class TracksRequest(Strict):
        tracks: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_BATCH)
        k: int = Field(default=10, ge=1, le=MAX_K)
        model: str | None = None

    class ReloadRequest(Strict):
        model: str | None = None
        run: str | None = None

    # ------------------------------------------------------------- endpoints
    @app.get("/health", summary="Liveness")
    def health() -> dict[str, Any]:
        return {"status": "ok"}

    @app.get("/ready", summary="Readiness: every model and its index loaded")
    def ready(keyed: bool = Depends(has_key)) -> Any:
        if state.models is None:
            body = error_body(503, "NotReadyError", state.not_ready(keyed), None)
            return JSONResponse(body, status_code=503)
        return {"status": "ready", "models": list(state.models)}

    @app.get(
        "/models",
        summary="Served models, their sizes and index statistics (the run's path only "
        "with the API key, else its name)",
    )
    def models(keyed: bool = Depends(has_key)) -> dict[str, Any]:
        state.get(None)
        snapshot = state.models or {}
        infos = [m.info() for m in snapshot.values()]
        if not keyed:
            infos = [{**i, "run": Path(i["run"]).name} for i in infos]
        return {"default": state.order[0], "models": infos}

    # `:path` so that ids holding "/" (raw or sent as %2F, which the server decodes) are
    # reachable. /similar is matched first: the metadata of an id that itself ends in
    # "/similar" is out of reach (GET /tracks/{id}/similar still works for it)
    @app.get("/tracks/{track_id:path}/similar", summary="The k most similar tracks")
    def similar(
        track_id: str,
        k: int = Query(default=20, ge=1, le=MAX_K),
        model: str | None = None,
        max_per_artist: int | None = Query(default=None, ge=1),
    ) -> Any:
        rec = state.get(model)
        res = rec.similar(track_id, k, max_per_artist=max_per_artist)
        # plain JSON types already: skip FastAPI's per-item jsonable_encoder on hot routes
        return JSONResponse(
            {"model": rec.name, "track_id": track_id, "results": [r.to_dict() for r in res]}
        )

    @app.get("/tracks/{track_id:path}", summary="A served track's metadata")
    def get_track(track_id: str, model: str | None = None) -> dict[str, Any]:
        rec = state.get(model)
        return {"model": rec.name, **rec.track(track_id)}

    @app.post("/similar:batch", summary="Similar tracks for many tracks at once")
    def similar_batch(req: BatchRequest) -> dict[str, Any]:
        rec = state.get(req.model)
        for t in req.track_ids:
            rec.vector(t, field="track_ids")
        out = {
            t: [r.to_dict() for r in rec.similar(t, req.k, max_per_artist=req.max_per_artist)]
            for t in req.track_ids
        }
        return {"model": rec.name, "results": out}

    @app.post("/complete", summary="Continue a playlist from its seed tracks")
    def complete(req: CompleteRequest) -> Any:
        rec = state.get(req.model)
        res = rec.complete(
            req.seed_track_ids,
            req.k,
            exclude_seeds=req.exclude_seeds,
            max_per_artist=req.max_per_artist,
        )
        return JSONResponse({"model": rec.name, "results": [r.to_dict() for r in res]})

    @app.get(
        "/explore",
        response_class=HTMLResponse,
        summary="The explorer page of the served models (a click asks /tracks/{id}/similar)",
    )
    def explore(genres: str | None = None, models: str | None = None) -> Any:
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

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Any:  # a browser opening /explore asks for it: no icon, no 404
        return Response(status_code=204)

    @app.post(
        "/tracks",
        status_code=201,
        dependencies=[Depends(require_key)],
        summary="Embed new tracks (inductive models) and add them to the live index",
    )
    def add_tracks(req: TracksRequest) -> dict[str, Any]:
        rec = state.get(req.model)
        with state.admin_lock:
            rec = state.get(req.model)  # a reload may have finished while we waited
            added = rec.add_tracks(req.tracks, k=req.k)
        return {
            "model": rec.name,
            "added": [a.to_dict() for a in added],
        }

    @app.post(
        "/admin/reload",
        dependencies=[Depends(require_key)],
        summary="Load a new version of a run and switch to it atomically",
    )
    def reload(req: ReloadRequest = Body(default_factory=ReloadRequest)) -> dict[str, Any]:  # noqa: B008
        state.get(None)
        current: dict[str, Any] = dict(state.models or {})
        names = [req.model] if req.model else list(current)
        for n in names:
            if n not in current:
                raise UnknownModelError(n, list(current))
        if req.run and len(names) != 1:
            raise ParameterError(
                "run", "a single model named with `model` when `run` is given", req.run
            )
        with state.admin_lock:
            fresh = {}
            for n in names:
                spec = state.specs.get(n)
                old = current[n]
                run = Path(req.run) if req.run else old.run
                if spec is None:
                    spec = ModelSpec(n, old.run, old.dataset, {})
                fresh[n] = spec.load(run)
                if req.run:
                    state.specs[n] = ModelSpec(n, run, spec.dataset, spec.options)
            state.models = {**(state.models or {}), **fresh}  # the atomic swap
        # the next /explore builds from the new models (a page being built now is from the
        # old ones: explore_page's identity check refuses it); no lock, a reload never waits
        state.pages = {}
        return {
            "reloaded": [
                {"model": n, "run": str(r.run), "embeddings_sha256": r.digest}
                for n, r in fresh.items()
            ]
        }

    del fastapi
    return _BodyLimit(app, max_body_bytes) if max_body_bytes else app


def serve(
    runs: Sequence[str | Path],
    dataset: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    api_key: str | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY,
    options: dict[str, Any] | None = None,
    log_level: str = "info",
    search_threads: int = 1,
) -> None:
    """Serve ``runs`` (one model each, named by the run folder) until interrupted."""
    from songspace.serving.index import set_search_threads

    check_api_key(api_key)
    if api_key is None and not os.environ.get(API_KEY_ENV):
        logger.warning(
            "no API key (--api-key-file, $%s): POST /tracks and /admin/reload answer 401",
            API_KEY_ENV,
        )

    set_search_threads(search_threads)
    uvicorn = optional_import("uvicorn", "`songspace serve`")
    if not runs:
        raise ParameterError("runs", "at least one run directory", [])
    names: list[str] = []
    specs = []
    for r in runs:
        p = Path(r)
        if not (p / "embeddings.npz").is_file():
            raise InputError(
                "expected a run directory with embeddings.npz, found none",
                path=p,
                fix="pass a directory written by `songspace train`",
            )
        name = p.name if p.name not in names else f"{p.name}-{len(names)}"
        names.append(name)
        specs.append(ModelSpec(name, p, Path(dataset), dict(options or {})))
    app = create_app(specs, api_key=api_key, max_body_bytes=max_body_bytes)
    # keep-alive well above any reload pause, so a pooled client connection is not closed
    # by the server just as the client reuses it (seen as httpx.ReadError under reloads)
    uvicorn.run(
        app, host=host, port=port, log_level=log_level, access_log=False, timeout_keep_alive=75
    )
