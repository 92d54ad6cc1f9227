"""Data-parallel GraphSAGE and MUSIG training with ``torch.distributed`` (DDP).

Two ways to start it, one entry point (:func:`worker_main`):

- ``songspace train graphsage DATA -o OUT --nproc N`` (or ``train_model(..., nproc=N)``)
  starts N worker processes on this machine, bound to the loopback interface
  (``127.0.0.1``, a free port), and shows rank 0's progress;
- ``torchrun`` runs the same entry point on one or many machines::

      torchrun --nnodes 2 --nproc-per-node 8 --rdzv-backend c10d \\
          --rdzv-endpoint HOST:29400 -m songspace.cli train-distributed \\
          graphsage DATA -o OUT -p epochs=20

  (every node must read ``DATA``; rank 0 writes ``OUT``).

The backend is gloo on CPU and NCCL when the model's ``device`` is ``cuda`` (each
process then uses ``cuda:LOCAL_RANK``).

What every rank does, composing the model's own parts (:mod:`songspace.models.graphsage`:
the same :class:`~songspace.models.graphsage.EpochLoop` as a one-process fit):

1. loads the dataset, takes the same training view and runs
   :meth:`~songspace.models.graphsage.GraphSAGE.start_training` with the model's seed, so
   the graph, the validation edges and pairs and the inputs are identical on every rank,
   and builds the network from the seed (identical weights; DDP also broadcasts rank 0's);
2. wraps the encoder and heads in DDP;
3. per epoch (:class:`~songspace.models.graphsage.ShardedAnchors`), shuffles the anchors
   with a permutation seeded by ``(seed, epoch)`` (the same on every rank), pads it by
   wrapping to a multiple of N and takes its own shard ``order[rank::N]``; positives,
   negatives and neighbourhood blocks are drawn from a generator seeded by
   ``(seed, rank, epoch)``. Each rank's batch is ``ceil(batch_size / N)`` anchors, so the
   global batch and the number of optimiser steps per epoch stay those of one process;
   DDP averages the gradients;
4. logs its own epoch loss (:class:`RankEpochEnd`); rank 0 gathers all ranks' losses
   into ``history_`` (``rank_losses``; ``seconds``: rank 0's time for the epoch's pass),
   runs validation, early stopping (broadcast to the other ranks), checkpoints, and the
   final layer-wise inference
   (:meth:`~songspace.models.graphsage.GraphSAGE.finish_training`), and writes ``OUT``.

Determinism: with the same N, seed, data and machine (and torch's thread count per
process, set to ``cpu_count // N`` by ``--nproc``), CPU runs give bit-identical
embeddings: every random draw is seeded by (seed, rank, epoch) and gloo's
all-reduce of N fixed summands is reproducible. A different N gives a different
(equally good) model: the shards and the per-rank draws change. NCCL on GPUs is
not bit-reproducible (non-deterministic kernels and reduction order).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import socket
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from songspace._util import check_output_free
from songspace.data.dataset import Dataset
from songspace.errors import ParameterError, SongspaceError
from songspace.progress import ProgressCallback, report

if TYPE_CHECKING:
    from songspace.models.graphsage import Monitor

logger = logging.getLogger(__name__)

#: Models that train data-parallel.
DISTRIBUTED_MODELS = ("graphsage", "musig")


class DistributedError(SongspaceError):
    """A worker process of a data-parallel run failed."""


@dataclass
class TrainJob:
    """The arguments of ``songspace train`` that every worker needs (picklable)."""

    name: str
    dataset: str
    out: str | None
    params: dict[str, Any] = field(default_factory=dict)
    config: str | None = None
    seed: int = 0
    test_fraction: float | None = None
    full: bool = False
    overwrite: bool = False


@dataclass
class Context:
    """This process's place in the process group."""

    rank: int
    world_size: int
    local_rank: int


def check_model(name: str) -> None:
    if name not in DISTRIBUTED_MODELS:
        raise ParameterError(
            "--nproc",
            f"1 for {name!r} (data-parallel training exists for {list(DISTRIBUTED_MODELS)})",
            name,
            fix="drop --nproc, or train graphsage or musig",
        )


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free on ``host`` a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


# ---------------------------------------------------------------------- the fit loop
def fit_data_parallel(
    model: Any, dataset: Dataset, ctx: Context, progress: ProgressCallback | None = None
) -> Any:
    """``model.fit(dataset)`` with this process as rank ``ctx.rank`` of an initialised
    process group: ``model.fit_with`` (the model's validation, timing and fitted
    attributes) around the data-parallel loop :class:`DataParallelLoop`. On rank 0 the
    model ends fitted as after a one-process fit (plus ``history_[i]["rank_losses"]``);
    on other ranks its embeddings are all zero and ``available_`` is False (they hold
    no result)."""
    from songspace.models.graphsage import GraphSAGE

    if not isinstance(model, GraphSAGE):
        check_model(getattr(model, "name", type(model).__name__))
    return model.fit_with(DataParallelLoop(model, ctx), dataset, progress=progress)


@dataclass
class DataParallelLoop:
    """The data-parallel training loop of a GraphSAGE or MUSIG ``model`` on rank
    ``ctx.rank`` (a :class:`songspace.models.base.TrainingLoop`): the model's own parts
    (:meth:`~songspace.models.graphsage.GraphSAGE.start_training`, the
    :class:`~songspace.models.graphsage.EpochLoop`,
    :meth:`~songspace.models.graphsage.GraphSAGE.finish_training`) with the encoder and
    heads wrapped in DDP, this rank's shard of the anchors
    (:class:`~songspace.models.graphsage.ShardedAnchors`) and :class:`RankEpochEnd` (see
    the module docstring)."""

    model: Any
    ctx: Context

    def __call__(
        self, dataset: Dataset, progress: ProgressCallback | None, /
    ) -> tuple[np.ndarray, np.ndarray]:
        return _ddp_fit(self.model, dataset, self.ctx, progress)


@dataclass
class RankEpochEnd:
    """The epoch end of rank ``ctx.rank`` (a :class:`songspace.models.graphsage.EpochEnd`):
    it logs its own losses, every rank's are gathered, rank 0 reviews the epoch with the
    model's ``monitor`` (validation, ``history_`` with ``rank_losses`` and its own
    ``seconds``, early stopping, checkpoint) and broadcasts whether to stop."""

    monitor: Monitor
    ctx: Context

    def __call__(self, epoch: int, means: dict[str, float], seconds: float, /) -> bool:
        import torch.distributed as dist

        from songspace.models.graphsage.loop import describe_losses

        rank, world = self.ctx.rank, self.ctx.world_size
        name = self.monitor.name
        logger.info(
            "%s rank %d epoch %d: %s",
            name,
            rank,
            epoch,
            describe_losses(means, self.monitor.weights),
        )
        gathered: list[Any] = [None] * world
        dist.all_gather_object(gathered, means)
        stop = [False]
        if rank == 0:
            stop = [self.monitor.review(epoch, means, rank_losses=gathered, seconds=seconds)]
        dist.broadcast_object_list(stop, src=0)
        return bool(stop[0])


def _ddp_fit(
    model: Any, dataset: Dataset, ctx: Context, progress: ProgressCallback | None
) -> tuple[np.ndarray, np.ndarray]:
    """One rank's fit: the model's run with DDP-wrapped modules, this rank's shard of the
    anchors in batches of ``ceil(batch_size / N)`` (so the global batch and the optimiser
    steps per epoch stay those of one process) and :class:`RankEpochEnd`; rank 0 alone
    embeds the tracks, the other ranks return zeros and nothing available."""
    from torch.nn.parallel import DistributedDataParallel as DDP

    from songspace.models.graphsage import EpochLoop, ShardedAnchors

    rank, world = ctx.rank, ctx.world_size
    run = model.start_training(dataset)
    ids = [run.state.device.index] if run.state.device.type == "cuda" else None
    # A head whose task weight is 0 (or whose pairs are absent from a batch) gets no
    # gradient: find_unused_parameters lets DDP skip it.
    wrapped = dataclasses.replace(
        run.state,
        encoder=DDP(run.state.encoder, device_ids=ids),
        heads=DDP(run.state.heads, device_ids=ids, find_unused_parameters=True),
    )
    anchors = ShardedAnchors(run.data.anchors, int(model.seed), rank, world)
    loop = EpochLoop(
        model.loader(run.data, batch_size=math.ceil(int(model.batch_size) / world)),
        anchors,
        int(model.epochs),
        model.task_weights_(),
        describe=lambda epoch, step, shown: (
            f"epoch {epoch}/{model.epochs} global step {step} ({world} ranks) {shown}"
        ),
    )
    logger.info(
        "%s rank %d/%d: %d anchors, shard %d, %d batches of %d per epoch",
        model.name,
        rank,
        world,
        len(run.data.anchors),
        anchors.size,
        loop.loader.n_batches(anchors.size),
        loop.loader.batch_size,
    )
    loop.run(wrapped, progress if rank == 0 else None, RankEpochEnd(run.monitor, ctx))
    del loop, wrapped
    if rank == 0:
        return model.finish_training(run, dataset)
    model.encoder_ = run.state.encoder.to("cpu").eval()
    return np.zeros((dataset.n_tracks, int(model.dim)), np.float32), np.zeros(
        dataset.n_tracks, bool
    )


# ------------------------------------------------------------------- entry points
def context_from_env() -> Context:
    """RANK, WORLD_SIZE, LOCAL_RANK as set by torchrun (or by :func:`launch_local`)."""
    try:
        rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    except KeyError as exc:
        raise DistributedError(
            f"expected the environment variable {exc.args[0]} (set by torchrun), found none; "
            "fix: start with `torchrun ... -m songspace.cli train-distributed` or use "
            "`songspace train --nproc N`"
        ) from None
    return Context(rank, world, int(os.environ.get("LOCAL_RANK", rank)))


def worker_main(job: TrainJob, progress: ProgressCallback | None = None) -> Any:
    """One rank of a data-parallel ``songspace train``: joins the process group
    described by the environment (MASTER_ADDR/MASTER_PORT, RANK, WORLD_SIZE), trains,
    and on rank 0 writes ``job.out``. Returns the fitted model (rank 0) or None."""
    import torch
    import torch.distributed as dist

    from songspace.models.run import (
        build_model,
        log_trained,
        log_training,
        training_view,
        write_run,
    )

    check_model(job.name)
    ctx = context_from_env()
    device = str(job.params.get("device", "cpu"))
    backend = "nccl" if device.startswith("cuda") else "gloo"
    params = dict(job.params)
    if backend == "nccl":
        torch.cuda.set_device(ctx.local_rank)
        params["device"] = f"cuda:{ctx.local_rank}"
    dist.init_process_group(backend, rank=ctx.rank, world_size=ctx.world_size)
    try:
        out = job.out if ctx.rank == 0 else None
        # rank 0 writes OUT (`--nproc` checked it before launching; torchrun did not)
        if out is not None:
            check_output_free(out, overwrite=job.overwrite, inputs=(job.dataset, job.config))
        model = build_model(job.name, params, job.config, inputs=(job.dataset, job.config, out))
        ds = Dataset.load(job.dataset)
        view = training_view(ds, seed=job.seed, test_fraction=job.test_fraction, full=job.full)
        log_training(job.name, view.train)
        fit_data_parallel(model, view.train, ctx, progress if ctx.rank == 0 else None)
        log_trained(model, ds)
        if out is not None:
            write_run(model, ds, view, out, source=job.dataset, overwrite=job.overwrite)
        dist.barrier()
    finally:
        dist.destroy_process_group()
    return model if ctx.rank == 0 else None


def _spawned(rank: int, nproc: int, port: int, threads: int, job: TrainJob, queue: Any) -> None:
    """Body of a process started by :func:`launch_local`."""
    os.environ.update(
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(nproc),
        LOCAL_WORLD_SIZE=str(nproc),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        GLOO_SOCKET_IFNAME=os.environ.get("GLOO_SOCKET_IFNAME", "lo"),
    )
    import torch

    torch.set_num_threads(threads)
    logging.basicConfig(level=logging.WARNING)

    def progress(done: float, total: float, message: str, /) -> None:
        queue.put(("progress", done, total, message))

    try:
        worker_main(job, progress)
    except BaseException as exc:
        queue.put(("error", rank, _portable(exc, rank)))
        raise SystemExit(1) from None
    queue.put(("done", rank, None))


def _portable(exc: BaseException, rank: int) -> BaseException:
    """``exc`` if it survives pickling (to the parent), else a DistributedError with
    its message (a songspace error's message already says expected, found and fix)."""
    import pickle

    try:
        return pickle.loads(pickle.dumps(exc))
    except Exception:
        if isinstance(exc, SongspaceError):
            return DistributedError(str(exc))
        return DistributedError(f"worker rank {rank} failed: {type(exc).__name__}: {exc}")


def launch_local(job: TrainJob, nproc: int, progress: ProgressCallback | None = None) -> None:
    """Run ``job`` in ``nproc`` worker processes on this machine (gloo or NCCL over
    127.0.0.1); rank 0's progress goes to ``progress``. A failing rank stops all."""
    import multiprocessing as mp
    import queue as queue_mod

    if nproc < 1:
        raise ParameterError("nproc", "an integer >= 1", nproc)
    check_model(job.name)
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    port = free_port()
    threads = max(1, (os.cpu_count() or 1) // nproc)
    procs = [
        ctx.Process(target=_spawned, args=(r, nproc, port, threads, job, q), daemon=False)
        for r in range(nproc)
    ]
    for p in procs:
        p.start()
    done: set[int] = set()
    error: BaseException | None = None
    try:
        while len(done) < nproc and error is None:
            try:
                msg = q.get(timeout=0.5)
            except queue_mod.Empty:
                dead = [
                    r for r, p in enumerate(procs) if r not in done and p.exitcode not in (None, 0)
                ]
                if dead:
                    # a rank died without a message (killed); give its message a moment
                    try:
                        msg = q.get(timeout=2.0)
                    except queue_mod.Empty:
                        error = DistributedError(
                            f"worker rank {dead[0]} exited with code {procs[dead[0]].exitcode} "
                            "without an error message (killed, e.g. out of memory?)"
                        )
                        break
                else:
                    continue
            if msg[0] == "progress":
                report(progress, msg[1], msg[2], msg[3])
            elif msg[0] == "done":
                done.add(msg[1])
            elif msg[0] == "error":
                error = msg[2]
    finally:
        if error is not None:
            for p in procs:
                if p.is_alive():
                    p.terminate()
        for p in procs:
            p.join()
    if error is not None:
        if isinstance(error, SongspaceError):
            raise error
        raise DistributedError(f"a worker process failed: {error!r}") from error
