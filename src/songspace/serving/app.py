"""The HTTP service (``songspace serve``; FastAPI + uvicorn, extra ``serve``).

Endpoints (OpenAPI at ``/docs``): ``GET /health``, ``GET /ready``, ``GET /models``,
``GET /tracks/{id}``, ``GET /tracks/{id}/similar?k=&model=``, ``POST /similar:batch``,
``POST /complete``, ``POST /next`` (both through the two-stage recommender when one is
served), ``POST /tracks`` (API key), ``POST /admin/reload`` (API key),
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
A reload (:meth:`ServerState.reload`) builds the new Recommender beside the old one and
swaps the name -> model mapping in one assignment; requests in flight keep the object
they started with. Switched to an update of the served run (``songspace update``), it
first carries the tracks added through ``POST /tracks`` over to the new run
(:func:`carry_added_tracks`).

Layout: this module holds :func:`create_app`, :class:`ServerState` and :func:`serve`; the
endpoints are in :mod:`songspace.serving.routes`, the request bodies in
:mod:`songspace.serving.schemas`, the exception handlers in
:mod:`songspace.serving.handlers` (the three import FastAPI, so they load only when
:func:`create_app` runs).
"""

import logging
import os
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from songspace._optional import optional_import
from songspace.errors import InputError, ParameterError
from songspace.serving.defaults import (
    DEFAULT_HOST,
    DEFAULT_MAX_BODY,
    DEFAULT_PORT,
    DEFAULT_SEARCH_THREADS,
)
from songspace.serving.errors import NoRecommenderError, NotReadyError, UnknownModelError
from songspace.serving.lineage import served_dataset, update_lineage
from songspace.serving.recommender import Recommender
from songspace.serving.twostage import IndexChoice, ServedRecommender

logger = logging.getLogger(__name__)

API_KEY_ENV = "SONGSPACE_API_KEY"
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
    """How to (re)load one served model. ``dataset``: the ``--data`` of ``serve`` (a
    path until :meth:`ServerState.load_all` loads it)."""

    name: str
    run: Path
    dataset: Path | Any
    options: dict[str, Any]
    _identity: Any = field(default=None, repr=False, compare=False)

    def load(self, run: Path | None = None) -> Recommender:
        """The Recommender of ``run`` (default: this spec's) over ``dataset``, grown by
        the run's updates when it is an updated run (:func:`served_dataset`)."""
        from songspace.data.dataset import Dataset
        from songspace.data.provenance import DatasetIdentity

        path = run or self.run
        data = self.dataset
        if isinstance(data, Dataset):
            ident = self._identity
            if ident is None or ident.dataset is not data:  # fingerprinted once per dataset
                ident = self._identity = DatasetIdentity(data)
            data = served_dataset(Path(path), ident)
        return Recommender.from_run(path, data, name=self.name, **self.options)


class ServerState:
    """The served models. ``models`` is replaced, never mutated, so a reader's snapshot
    stays valid for its whole request. ``recommender``: a fitted two-stage recommender
    directory to load with the models (``serve --recommender``), or one ready
    (:class:`~songspace.serving.twostage.ServedRecommender`); it answers ``/complete``
    (unless a request names a model) and ``/next``."""

    def __init__(
        self,
        specs: Sequence[ModelSpec],
        recommenders: dict[str, Recommender] | None,
        *,
        api_key: str | None = None,
        background_load: bool = True,
        recommender: Path | ServedRecommender | None = None,
    ):
        self.recommender_dir = recommender if isinstance(recommender, Path) else None
        self.recommender = None if isinstance(recommender, Path) else recommender
        self.specs = {s.name: s for s in specs}
        self.api_key = api_key  # None: the write endpoints answer 401
        self.background_load = background_load
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

    def start_loading(self) -> None:
        """Load the models (unless given ready): in a background thread, so that
        ``/health`` answers at once, unless ``background_load`` is False."""
        if self.models is not None:
            return
        if self.background_load:
            threading.Thread(target=self.load_all, name="songspace-load", daemon=True).start()
        else:
            self.load_all()

    def load_all(self) -> None:
        """Load every model (one dataset copy per path); a failure is kept for ``/ready``."""
        from songspace.data.dataset import Dataset

        try:
            cache: dict[str, Dataset] = {}
            for spec in self.specs.values():
                if not isinstance(spec.dataset, Dataset):  # one copy per dataset path
                    key = str(Path(spec.dataset).resolve())
                    if key not in cache:
                        cache[key] = Dataset.load(spec.dataset)
                    spec.dataset = cache[key]
            models = {name: self.specs[name].load() for name in self.order}
            if self.recommender_dir is not None:
                first = next(iter(self.specs.values()))
                self.recommender = ServedRecommender.from_dir(
                    self.recommender_dir,
                    first.dataset,
                    indexes=IndexChoice(first.options, list(models.values())),
                )
            self.models = models  # ready: after the recommender, which /ready reports
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
        """The served model ``name`` (None: the first); 503 while loading, 404 unknown."""
        models = self.models
        if models is None:
            raise NotReadyError(self.not_ready(False))
        if name is None:
            return models[self.order[0]]
        if name not in models:
            raise UnknownModelError(name, list(models))
        return models[name]

    def get_recommender(self, name: str | None = None) -> ServedRecommender:
        """The served two-stage recommender; 503 while loading, 404 when the server was
        started without one (or ``name`` is not its name)."""
        self.get(None)
        rec = self.recommender
        if rec is None:
            raise NoRecommenderError()
        if name is not None and name != rec.name:
            raise UnknownModelError(name, [*self.order, rec.name])
        return rec

    def reload(self, model: str | None = None, run: str | None = None) -> list[dict[str, Any]]:
        """Load ``model`` (None: every model) again, from ``run`` if given (then ``model``
        is required), and swap the name -> model mapping in one assignment. Requests in
        flight keep the models they started with. Returns what was loaded."""
        self.get(None)
        current: dict[str, Any] = dict(self.models or {})
        names = [model] if model else list(current)
        for n in names:
            if n not in current:
                raise UnknownModelError(n, list(current))
        if run and len(names) != 1:
            raise ParameterError(
                "run", "a single model named with `model` when `run` is given", run
            )
        with self.admin_lock:
            fresh = {}
            added: dict[str, dict[str, Any]] = {}
            for n in names:
                spec = self.specs.get(n)
                old = self.get(n)  # the latest: a POST /tracks may have added to it
                path = Path(run) if run else old.run
                if spec is None:
                    spec = ModelSpec(n, old.run, old.dataset, {})
                fresh[n] = spec.load(path)
                added[n] = carry_added_tracks(old, fresh[n])
                if run:
                    self.specs[n] = ModelSpec(n, path, spec.dataset, spec.options, spec._identity)
            self.models = {**(self.models or {}), **fresh}  # the atomic swap
        # the next /explore builds from the new models (a page being built now is from the
        # old ones: explore_page's identity check refuses it); no lock, a reload never waits
        self.pages = {}
        return [
            {"model": n, "run": str(r.run), "embeddings_sha256": r.digest, "added_tracks": added[n]}
            for n, r in fresh.items()
        ]


def carry_added_tracks(old: Recommender, new: Recommender) -> dict[str, Any]:
    """Carry the tracks added to ``old`` through ``POST /tracks`` over to ``new`` when
    ``new`` is another run that is an update of ``old``'s (:func:`update_lineage`,
    :meth:`Recommender.carry_over`). Returns what happened: ``{"from": old run,
    "carried", "superseded", "superseded_ids", "already"}``, or ``{"from", "not_carried":
    n, "reason"}`` (another run that is not an update: its tracks stay in ``old``'s
    store, served again by a reload back to it). The same run reloaded: its own store
    was replayed, ``{"replayed": n}``."""
    if new.run.resolve() == old.run.resolve():
        return {"replayed": new.n_added}
    records = old.store.read() if old.store is not None else []
    if not records:
        return {"from": str(old.run), "carried": 0, "superseded": 0, "already": 0}
    why = update_lineage(new.run, old.run)
    if why is not None:
        logger.warning(
            "%s: the %d tracks added to %s are not carried over to %s: %s",
            new.name,
            len(records),
            old.run,
            new.run,
            why,
        )
        return {"from": str(old.run), "not_carried": len(records), "reason": why}
    report = new.carry_over(records)
    logger.info("%s: added tracks of %s carried over to %s: %s", new.name, old.run, new.run, report)
    return {"from": str(old.run), **report}


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
    recommender: Path | ServedRecommender | None = None,
) -> Any:
    """The FastAPI application. Pass ``specs`` (loaded at startup, reloadable) or ready
    ``recommenders`` (tests). ``api_key`` defaults to ``$SONGSPACE_API_KEY``.
    ``explorer`` builds the ``/explore`` page (default :func:`default_explorer`);
    ``recommender``: a fitted two-stage recommender (its directory, loaded with the models,
    or one ready) for ``/complete`` and ``/next``."""
    _fastapi()
    from fastapi import FastAPI

    from songspace.serving.handlers import add_error_handlers
    from songspace.serving.routes import router

    key = api_key if api_key is not None else os.environ.get(API_KEY_ENV) or None
    check_api_key(key)
    state = ServerState(
        specs, recommenders, api_key=key, background_load=background_load, recommender=recommender
    )
    if explorer is not None:
        state.explorer = explorer
    app = FastAPI(
        title="songspace",
        description="Track embeddings served: similar tracks, playlist continuation, new "
        "tracks embedded on arrival (inductive models).",
        lifespan=_lifespan,
    )
    app.state.songspace = state
    add_error_handlers(app)
    app.include_router(router)
    return _BodyLimit(app, max_body_bytes) if max_body_bytes else app


@asynccontextmanager
async def _lifespan(app: Any) -> AsyncIterator[None]:
    """Start loading the models (unless given ready) when the server starts."""
    app.state.songspace.start_loading()
    yield


def serve(
    runs: Sequence[str | Path],
    dataset: str | Path,
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    api_key: str | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY,
    options: dict[str, Any] | None = None,
    log_level: str = "info",
    search_threads: int = DEFAULT_SEARCH_THREADS,
    recommender: str | Path | None = None,
) -> None:
    """Serve ``runs`` (one model each, named by the run folder) until interrupted;
    ``recommender``: a fitted two-stage recommender directory (``songspace recommender
    fit``) that answers ``/complete`` and ``/next``."""
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
    if recommender is not None:
        from songspace.reports.recommender import read_provenance

        read_provenance(recommender)  # a wrong directory fails now, not in the background
    app = create_app(
        specs,
        api_key=api_key,
        max_body_bytes=max_body_bytes,
        recommender=None if recommender is None else Path(recommender),
    )
    # keep-alive well above any reload pause, so a pooled client connection is not closed
    # by the server just as the client reuses it (seen as httpx.ReadError under reloads)
    uvicorn.run(
        app, host=host, port=port, log_level=log_level, access_log=False, timeout_keep_alive=75
    )
