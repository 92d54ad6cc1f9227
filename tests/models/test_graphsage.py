import inspect
import json
from itertools import pairwise, product
from typing import ClassVar

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="GraphSAGE/MUSIG need torch (extra `graph`)")

from songspace.errors import ModelFormatError, ParameterError  # noqa: E402
from songspace.models import get_model_class  # noqa: E402
from songspace.models.base import EmbeddingModel, InductiveModel  # noqa: E402
from songspace.models.graphsage import (  # noqa: E402
    MUSIG,
    PAPER_TASK_WEIGHTS,
    GraphSAGE,
    genre_codes,
    similarity_vectors,
)
from songspace.models.graphsage.module import TaskTargets, build_network  # noqa: E402
from songspace.testing import ModelTestMixin, planted_dataset  # noqa: E402

FAST = {"dim": 16, "hidden": 32, "epochs": 3, "batch_size": 64, "fanouts": (6, 4)}


class TestGraphSAGE(ModelTestMixin):
    model_class = GraphSAGE
    fast_params = FAST


class TestMUSIG(ModelTestMixin):
    model_class = MUSIG
    fast_params: ClassVar[dict] = {
        **FAST,
        "feature_groups": ("genre", "popularity", "audio", "acoustic"),
    }


def test_musig_init_is_explicit_and_lists_graphsages_parameters_then_its_own_two():
    """MUSIG's constructor is written out (no patched ``__signature__``), and its
    parameters, kinds and defaults are GraphSAGE's, then ``task_weights`` and
    ``regression_target`` (keyword-only), so the two classes cannot drift apart."""
    assert "__signature__" not in vars(MUSIG.__init__)
    graphsage = [
        (p.name, p.kind, p.default)
        for p in inspect.signature(GraphSAGE.__init__).parameters.values()
    ]
    musig = [
        (p.name, p.kind, p.default) for p in inspect.signature(MUSIG.__init__).parameters.values()
    ]
    keyword = inspect.Parameter.KEYWORD_ONLY
    assert musig == [
        *graphsage,
        ("task_weights", keyword, (1.0, 1.0, 1.0)),
        ("regression_target", keyword, "audio"),
    ]
    model = MUSIG(2, 3, 4, task_weights="1-0-0", feature_groups=("genre",))
    assert (model.dim, model.hidden, model.num_layers) == (2, 3, 4)
    assert model.task_weights == "1-0-0" and model.feature_groups == ("genre",)


class TestFeaturesOnly(ModelTestMixin):
    model_class = GraphSAGE
    fast_params: ClassVar[dict] = {**FAST, "aggregate": False}


@pytest.fixture(scope="module")
def ds():
    return planted_dataset()


@pytest.fixture(scope="module")
def musig(ds):
    return MUSIG(**FAST, seed=3).fit(ds)


class TestDisjointSupervision(ModelTestMixin):
    """Positives only from edges kept out of the sampled neighbourhoods: still learns."""

    model_class = GraphSAGE
    fast_params: ClassVar[dict] = {**FAST, "supervision_share": 0.3}


def _edge_set(indptr, indices) -> set[tuple[int, int]]:
    return {(u, int(v)) for u in range(len(indptr) - 1) for v in indices[indptr[u] : indptr[u + 1]]}


def test_supervision_edges_are_kept_out_of_the_neighbourhoods(ds):
    rng = np.random.default_rng(0)
    full = GraphSAGE(**FAST).prepare(ds, np.random.default_rng(0))
    data = GraphSAGE(**FAST, supervision_share=0.3).prepare(ds, rng)
    mp = _edge_set(data.indptr, data.indices)
    anchors = np.repeat(data.anchors, 20)
    pos = data.positives.sample(anchors, rng)
    pairs = set(zip(anchors.tolist(), pos.tolist(), strict=True))
    assert pairs and not pairs & mp  # no positive is a neighbourhood edge
    # the validation split is the same draw; training edges = neighbourhood + supervision
    np.testing.assert_array_equal(data.held, full.held)
    n_train = full.indices.size // 2
    n_mp = data.indices.size // 2
    assert n_mp == n_train - round(0.3 * n_train)
    sup = data.positives
    assert (sup.indices.size // 2) + n_mp == n_train
    # without it, positives come from the neighbourhood graph itself
    pos0 = full.positives.sample(full.anchors, np.random.default_rng(1))
    both = set(zip(full.anchors.tolist(), pos0.tolist(), strict=True))
    assert both <= _edge_set(full.indptr, full.indices)


def test_registered_and_inductive():
    assert get_model_class("graphsage") is GraphSAGE
    assert get_model_class("musig") is MUSIG
    assert GraphSAGE.inductive and MUSIG.inductive
    assert issubclass(MUSIG, InductiveModel)


# ------------------------------------------------------------------ gradient flow
WEIGHTS = [w for w in product([0.0, 0.5], repeat=3) if any(w)]


@pytest.mark.parametrize("weights", WEIGHTS)
def test_gradient_reaches_a_head_only_when_its_weight_is_non_zero(ds, weights):
    rng = np.random.default_rng(0)
    enc, heads = build_network(5, 8, 6, 2, True)
    fanouts = (3, 2)
    a, p, n = (
        rng.integers(0, ds.n_tracks, 8),
        rng.integers(0, ds.n_tracks, 8),
        rng.integers(0, ds.n_tracks, 4),
    )
    m = len(a) + len(p) + len(n)
    xs = [torch.randn(m, 5), torch.randn(m * 3, 5), torch.randn(m * 6, 5)]
    z = enc(xs, fanouts)
    genres = torch.from_numpy(genre_codes(ds))
    v, known = similarity_vectors(ds, "audio")
    loss, parts = heads(
        z[:8],
        z[8:16],
        z[16:],
        anchors=a,
        positives=p,
        negatives=n,
        targets=TaskTargets(genres, torch.from_numpy(v), torch.from_numpy(known)),
        weights=weights,
    )
    loss.backward()
    head_params = {
        "playlist": [heads.playlist_log_scale, heads.playlist_bias],
        "genre": list(heads.genre.parameters()),
        "audio": list(heads.audio.parameters()),
    }
    for (task, params), c in zip(head_params.items(), weights, strict=True):
        got = [q.grad is not None and bool(q.grad.abs().sum() > 0) for q in params]
        assert all(got) if c > 0 else not any(got), (task, c)
        assert (task in parts) == (c > 0)
    for q in enc.parameters():
        assert q.grad is not None and q.grad.abs().sum() > 0


def test_untrained_heads_stay_at_initialisation_end_to_end(ds):
    m = MUSIG(**FAST, task_weights=(1.0, 0.0, 0.5), seed=0).fit(ds)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        _, init = build_network(m.in_dim_, 32, 16, 2, True)
    assert torch.equal(m.heads_.genre.weight, init.genre.weight)
    assert not torch.equal(m.heads_.audio.weight, init.audio.weight)
    assert not torch.equal(m.heads_.playlist_bias, init.playlist_bias)


def test_musig_with_1_0_0_is_graphsage(ds):
    a = GraphSAGE(**FAST, seed=4).fit(ds)
    b = MUSIG(**FAST, seed=4, task_weights="1-0-0").fit(ds)
    np.testing.assert_array_equal(a.embeddings_, b.embeddings_)


def test_seed_changes_embeddings(ds, musig):
    other = MUSIG(**FAST, seed=4).fit(ds)
    assert not np.array_equal(other.embeddings_, musig.embeddings_)


# --------------------------------------------------------------------- inductive
def test_embed_equals_full_graph_inference(ds, musig):
    """The receptive-field path of embed() gives the full-graph embedding."""
    tracks = np.array([5, 0, 399, 17, 17])
    np.testing.assert_allclose(musig.embed(ds, tracks), musig.embeddings_[tracks], atol=1e-6)
    np.testing.assert_allclose(musig.embed(ds), musig.embeddings_, atol=1e-6)


@pytest.mark.slow
def test_new_track_embedded_from_its_new_edges(ds):
    """Train without track x; once its sequences are back, embed(x) equals the
    embedding x gets from full-graph inference on that grown graph, as if its edges
    had been present when the model was fitted."""
    x = 7
    train = ds.subset(np.arange(ds.n_sequences), drop_tracks=np.array([x]))
    m = GraphSAGE(**FAST, seed=0).fit(train)
    before = m.embeddings_[x]  # features only: x has no edge in training
    grown = m.embed(ds, [x])[0]
    full = m.embed(ds)[x]
    np.testing.assert_allclose(grown, full, atol=1e-6)
    assert np.abs(grown - before).max() > 1e-3
    # its neighbours now agree with the graph: the nearest tracks share its genre
    g = ds.tracks["genre"].to_numpy(dtype=object)
    emb = m.embed(ds)
    top = np.argsort(-(emb @ grown))[1:11]
    assert (g[top] == g[x]).mean() > 0.5


def test_save_load_keeps_the_encoder(ds, musig, tmp_path):
    musig.save(tmp_path / "m")
    back = EmbeddingModel.load(tmp_path / "m")
    np.testing.assert_allclose(back.embed(ds, [1, 2, 3]), musig.embed(ds, [1, 2, 3]), atol=1e-7)
    assert back.history_ == musig.history_


def test_features_only_encoder_is_an_mlp_of_the_inputs(ds):
    """aggregate=False: a track's embedding is a function of its own input row only."""
    from songspace.models.graphsage import node_features

    m = GraphSAGE(**FAST, aggregate=False, seed=0).fit(ds)
    x = torch.from_numpy(node_features(ds, list(m.feature_groups), None))
    with torch.no_grad():
        h = m.encoder_.layer(1, m.encoder_.layer(0, x, None), None)
    expected = torch.nn.functional.normalize(h, dim=1).numpy()
    np.testing.assert_allclose(m.embeddings_, expected, atol=1e-6)


def test_checkpoint_and_history(ds, tmp_path):
    m = GraphSAGE(**FAST, seed=0, checkpoint_dir=str(tmp_path / "ck")).fit(ds)
    meta = json.loads((tmp_path / "ck" / "checkpoint.json").read_text())
    assert meta["epoch"] == m.best_epoch_
    assert len(m.history_) <= FAST["epochs"]
    with np.load(tmp_path / "ck" / "encoder.npz") as z:
        np.testing.assert_array_equal(
            z["layers.0.weight"], m.encoder_.state_dict()["layers.0.weight"].numpy()
        )


@pytest.mark.slow
def test_early_stopping_stops_when_validation_stalls(ds):
    m = GraphSAGE(**{**FAST, "epochs": 40}, patience=1, learning_rate=0.05, seed=0).fit(ds)
    vals = [h["val"] for h in m.history_]
    assert len(vals) < 40
    assert vals[-1] >= min(vals[:-1])
    assert m.best_epoch_ == int(np.argmin(vals)) + 1


# ---------------------------------------------------------------------- params
def test_paper_grid_by_name():
    for name, w in PAPER_TASK_WEIGHTS.items():
        assert MUSIG(task_weights=name).task_weights_() == w
        assert MUSIG(task_weights=(name,)).task_weights_() == w
    assert MUSIG(task_weights=("0.7", "0.1", "0.2")).task_weights_() == (0.7, 0.1, 0.2)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"task_weights": "2-2-2"}, "'1-1-1', '1-0-0'"),
        ({"task_weights": (1, 2)}, "a tuple of 3 numbers >= 0"),
        ({"task_weights": (0, 0, 0)}, "not all 0"),
        ({"task_weights": (1, -1, 0)}, ">= 0"),
        ({"regression_target": "lyrics"}, "regression_target"),
        ({"fanouts": (25,)}, "one fan-out per layer"),
        ({"fanouts": ("a", "b")}, "fanouts"),
        ({"feature_groups": ("mood",)}, "feature_groups"),
        ({"feature_groups": "genre"}, "feature_groups"),
        ({"feature_groups": (), "aggregate": False}, "at least one feature group"),
        ({"device": "nonsense"}, "device"),
    ],
)
def test_bad_parameters(ds, params, match):
    with pytest.raises(ParameterError, match=match):
        MUSIG(**{**FAST, **params}).fit(ds)


@pytest.mark.parametrize("name", ["graphsage", "musig"])
@pytest.mark.parametrize("device", ["meta", "xla", "cuda:x", "cuda:-1", "cuda:", "CPU", ""])
def test_a_device_torch_cannot_train_on_is_refused_with_the_choices(name, device):
    """Issue 27 item 20: `--param device=meta` passed validation, then failed with
    "this is a bug"; the constraint admits only cpu, cuda, cuda:N and mps."""
    from songspace.models import create

    with pytest.raises(
        ParameterError,
        match=r"`device`: expected one of 'cpu', 'cuda', "
        r"'cuda:N', 'mps'",
    ):
        create(name, {"device": device}, from_strings=True)


def test_an_absent_gpu_is_refused_and_cpu_accepted():
    from songspace.models import create

    create("graphsage", {"device": "cpu"}).check_params()
    n = torch.cuda.device_count() if torch.cuda.is_available() else 0
    with pytest.raises(ParameterError, match=rf"a CUDA device present on this machine \({n} found"):
        create("graphsage", {"device": f"cuda:{n}"})


def test_missing_feature_group_is_named(ds):
    no_acoustic = planted_dataset()
    del no_acoustic.features["acoustic"]
    with pytest.raises(ParameterError, match="acoustic"):
        MUSIG(**FAST, regression_target="acoustic").fit(no_acoustic)


def test_cli_strings_are_coerced():
    from songspace.models import create

    m = create(
        "musig",
        {"fanouts": "5,3", "task_weights": "0.7,0.1,0.2", "aggregate": "no"},
        from_strings=True,
    )
    assert (m.fanouts, m.task_weights, m.aggregate) == ((5, 3), (0.7, 0.1, 0.2), False)
    m = create("musig", {"task_weights": "0.4-0.2-0.4"}, from_strings=True)
    assert m.task_weights == "0.4-0.2-0.4" and m.task_weights_() == (0.4, 0.2, 0.4)
    # a one-element list is how older versions stored a preset name
    assert create("musig", {"task_weights": ["0.4-0.2-0.4"]}).task_weights == "0.4-0.2-0.4"
    m = create("musig", {"feature_groups": "genre,audio"}, from_strings=True)
    assert m.feature_groups == ("genre", "audio")
    with pytest.raises(ParameterError, match="fanouts"):
        create("musig", {"fanouts": "5,x"}, from_strings=True)


def test_features_is_no_longer_accepted_but_old_model_files_load(tmp_path, ds):
    """Issue 29 part 6: the deprecated `features` (now `feature_groups`) is refused by the
    constructor, create and set_params; a model.json saved under the old name still loads
    (without a warning) and re-saves under the new one."""
    import warnings

    from songspace.models import create

    with pytest.raises(TypeError, match="features"):
        GraphSAGE(features=("genre",))
    with pytest.raises(TypeError, match="features"):
        MUSIG(features=("genre",))
    with pytest.raises(ParameterError, match=r"`features`.*a parameter of MUSIG"):
        create("musig", {"features": ["audio"]})
    with pytest.raises(ParameterError, match="`features`"):
        GraphSAGE().set_params(features=("genre",))
    assert not hasattr(GraphSAGE(), "features")
    # a model directory saved before the rename (its model.json says `features`) loads
    fitted = GraphSAGE(**FAST, feature_groups=("genre",), seed=0).fit(ds)
    fitted.save(tmp_path / "m")
    doc = json.loads((tmp_path / "m" / "model.json").read_text())
    doc["params"]["features"] = doc["params"].pop("feature_groups")
    (tmp_path / "m" / "model.json").write_text(json.dumps(doc))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        back = EmbeddingModel.load(tmp_path / "m")
    assert back.feature_groups == ("genre",)
    np.testing.assert_array_equal(back.embed(ds), fitted.embed(ds))
    back.save(tmp_path / "again")
    params = json.loads((tmp_path / "again" / "model.json").read_text())["params"]
    assert params["feature_groups"] == ["genre"] and "features" not in params
    # a file naming both is damaged, not silently resolved
    doc["params"]["feature_groups"] = ["audio"]
    (tmp_path / "m" / "model.json").write_text(json.dumps(doc))
    with pytest.raises(ModelFormatError, match="features"):
        EmbeddingModel.load(tmp_path / "m")


def test_modules_are_module_level_with_reset_and_repr():
    enc, heads = build_network(5, 8, 6, 2, True)
    assert repr(enc) == "SAGEEncoder(5, 6, hidden=8, num_layers=2, aggregate=True)"
    assert "MultiTaskHeads(6" in repr(heads)
    before = [q.detach().clone() for q in enc.parameters()]
    with torch.no_grad():
        for q in enc.parameters():
            q.zero_()
        heads.playlist_bias.fill_(3.0)
    torch.manual_seed(1)
    enc.reset_parameters()
    heads.reset_parameters()
    assert all(q.abs().sum() > 0 for q in enc.parameters())
    assert not all(torch.equal(a, b) for a, b in zip(before, enc.parameters(), strict=True))
    assert float(heads.playlist_bias.detach()) == 0.0


def test_progress_reports_the_loss_of_every_weighted_task(ds):
    messages = []
    m = MUSIG(**FAST, task_weights=(1.0, 0.0, 0.5), seed=0)
    m.fit(ds, progress=lambda done, total, msg: messages.append((done, total, msg)))
    done, total, last = messages[-1]
    assert 0 < done <= total
    assert "playlist" in last and "audio" in last and "genre" not in last
    assert all(d1 <= d2 for (d1, _, _), (d2, _, _) in pairwise(messages))


def test_steps_per_epoch_honours_its_count(ds, monkeypatch):
    from songspace.models.graphsage import loop

    calls = []
    real = loop.batch_loss

    def counting(state, batch, *args):
        calls.append(len(batch.anchors))
        return real(state, batch, *args)

    monkeypatch.setattr(loop, "batch_loss", counting)
    params = {k: v for k, v in FAST.items() if k != "epochs"}
    params.update(validation_share=0.0, patience=0)
    full = GraphSAGE(**params, epochs=1).fit(ds)
    n_full = len(calls)
    assert n_full > 3 and full.history_
    calls.clear()
    reports = []
    m = GraphSAGE(**params, epochs=2, steps_per_epoch=3).fit(
        ds, progress=lambda d, t, msg: reports.append((d, t))
    )
    assert len(calls) == 6 and all(c == FAST["batch_size"] for c in calls)
    assert len(m.history_) == 2
    assert reports[-1] == (6, 6)  # the ETA's total counts the sampled batches
    calls.clear()
    GraphSAGE(**params, epochs=1, steps_per_epoch=10 * n_full).fit(ds)
    assert len(calls) == n_full  # never more than one pass
    with pytest.raises(ParameterError, match="steps_per_epoch"):
        GraphSAGE(steps_per_epoch=0).fit(ds)


def test_blocked_inference_equals_one_block(ds, musig, monkeypatch):
    from songspace.models.graphsage import module

    whole = musig.embed(ds)
    monkeypatch.setattr(module, "INFER_BLOCK", 7)
    np.testing.assert_allclose(musig.embed(ds), whole, atol=1e-5)
    part = musig.embed(ds, tracks=np.arange(0, ds.n_tracks, 5))
    np.testing.assert_allclose(part, whole[::5], atol=1e-5)


def _star_with_ring(n_leaves: int = 200, ring: int = 50):
    """A hub joined to ``n_leaves`` leaves (weight 1) plus a ring of ``ring`` other tracks
    (weight 3): every edge is held out, so the hub holds 80% of the held-out edges."""
    import scipy.sparse as sp

    hub_edges = [(0, i) for i in range(1, n_leaves + 1)]
    start = n_leaves + 1
    ring_edges = [(start + i, start + (i + 1) % ring) for i in range(ring)]
    edges = np.array(hub_edges + ring_edges, dtype=np.int64)
    w = np.array([1.0] * len(hub_edges) + [3.0] * len(ring_edges))
    n = start + ring
    rows, cols = np.r_[edges[:, 0], edges[:, 1]], np.r_[edges[:, 1], edges[:, 0]]
    adj = sp.coo_matrix((np.r_[w, w], (rows, cols)), shape=(n, n)).tocsr()
    held = np.sort(edges, axis=1)
    return adj, held


def test_validation_pairs_are_drawn_as_training_draws_them():
    """Issue 28 item 7: anchors uniform over tracks with a held-out edge (each once), the
    positive one of its held-out neighbours; not edges drawn uniformly (hub-heavy)."""
    from songspace.models.graphsage import validation_pairs

    adj, held = _star_with_ring()
    rng = np.random.default_rng(0)
    pairs = validation_pairs(adj, held, rng, how="anchors", n=100)
    assert pairs.shape == (100, 2)
    assert len(np.unique(pairs[:, 0])) == 100  # distinct anchors
    # every pair is a held-out edge
    edges = {tuple(e) for e in held}
    assert all(tuple(sorted(p)) in edges for p in pairs.tolist())
    # uniform anchors: the hub is 1 of 251 anchor candidates, so it anchors at most once;
    # drawn over edges, it is an end of 80% of the pairs
    all_pairs = validation_pairs(adj, held, np.random.default_rng(1), how="anchors", n=10_000)
    assert len(all_pairs) == 251 and (all_pairs[:, 0] == 0).sum() == 1
    by_edge = validation_pairs(adj, held, np.random.default_rng(0), how="edges", n=100)
    assert (by_edge == 0).any(axis=1).mean() > 0.6
    # the ring's anchors: each once, its positive one of its two ring neighbours
    ring = all_pairs[all_pairs[:, 0] > 200]
    assert len(ring) == 50 and np.isin(np.abs(ring[:, 0] - ring[:, 1]), (1, 49)).all()


def test_validation_draw_is_a_checked_parameter(ds):
    with pytest.raises(ParameterError, match=r"validation_draw.*'anchors', 'edges'"):
        GraphSAGE(validation_draw="hubs").check_params()
    a = GraphSAGE(**FAST, seed=0, validation_draw="anchors").fit(ds)
    b = GraphSAGE(**FAST, seed=0).fit(ds)
    assert b.validation_draw == "edges"  # the default: the stopping signal that measured best
    assert [h["val"] for h in a.history_] != [h["val"] for h in b.history_]
