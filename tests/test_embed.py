"""The embedding model: offline resolution, weight verification, overrides, lazy loading, the cache."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from kbfixtures import ROOT, kb_env, open_kb

from kb.config import load_settings
from kb.embed import DEFAULT_WEIGHTS_SIZE, Embedder, ModelError, default_model_path, verify_default_weights


def test_default_model_resolves_offline_and_is_verified(tmp_path):
    path = default_model_path()
    verify_default_weights(path, tmp_path)
    stamp = json.loads((tmp_path / "model-verified.json").read_text())
    assert stamp["sha256"].startswith("53aa5117")


def test_tampered_weights_are_refused(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.safetensors").write_bytes(b"\0" * 1024)
    with pytest.raises(ModelError, match="bytes, expected"):
        verify_default_weights(model, None)
    # Same size, other bytes: only the hash can tell.
    with (model / "model.safetensors").open("wb") as f:
        f.truncate(DEFAULT_WEIGHTS_SIZE)
    with pytest.raises(ModelError, match="sha256"):
        verify_default_weights(model, None)


def test_kb_embed_model_names_a_local_model_directory(tmp_path):
    local = tmp_path / "my-minilm"
    shutil.copytree(default_model_path(), local)
    settings = load_settings(tmp_path / "kb", env=kb_env(tmp_path / "kb", KB_EMBED_MODEL=str(local)))
    e = Embedder(settings)
    assert e.model_id.startswith("my-minilm-") and e.dim == 384 and e.max_seq_length == 256
    default = Embedder(load_settings(tmp_path / "kb2", env=kb_env(tmp_path / "kb2")))
    a = e.encode(["knife crime among young people"])[0]
    b = default.encode(["knife crime among young people"])[0]
    assert float(a @ b) > 0.9999


def test_two_models_in_folders_of_the_same_name_have_two_identities(tmp_path):
    """Regression (issue 9): the folder name was the model's identity, so two models shared a cache and a collection."""
    a, b = tmp_path / "a" / "model", tmp_path / "b" / "model"
    shutil.copytree(default_model_path(), a)
    shutil.copytree(default_model_path(), b)
    pooling = b / "1_Pooling" / "config.json"
    pooling.write_text(
        pooling.read_text().replace('"pooling_mode_mean_tokens": true', '"pooling_mode_mean_tokens": false')
    )

    def identity(folder: Path, data: str) -> str:
        return Embedder(
            load_settings(tmp_path / data, env=kb_env(tmp_path / data, KB_EMBED_MODEL=str(folder)))
        ).model_id

    assert identity(a, "kb1") != identity(b, "kb1")
    # The same weights and configuration in another folder are the same model (and stay so once remembered).
    moved = tmp_path / "elsewhere" / "renamed"
    shutil.copytree(a, moved)
    first = identity(a, "kb1")
    assert identity(moved, "kb2").split("-")[-1] == first.split("-")[-1]
    assert identity(a, "kb1") == first


def test_vectors_are_normalised_and_cached_by_text(tmp_path):
    kb = open_kb(tmp_path / "kb")
    texts = ["Alcohol misuse and violence.", "Trusted adults protect children.", "Alcohol misuse and violence."]
    vecs, new = kb.embedder.encode_cached(texts, kb.catalogue)
    assert vecs.shape == (3, 384) and new == 2
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(vecs[0], vecs[2])
    again, new = kb.embedder.encode_cached(texts, kb.catalogue)
    assert new == 0 and np.array_equal(again, vecs)
    kb.close()


def test_commands_that_need_no_vector_do_not_load_torch(tmp_path):
    code = (
        "import sys; from click.testing import CliRunner; from kb.cli import main;"
        "r = CliRunner().invoke(main, ['stats', '--json']); assert r.exit_code == 0, r.output;"
        "bad = [m for m in ('torch', 'sentence_transformers', 'chromadb', 'spacy') if m in sys.modules];"
        "print(','.join(bad))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=kb_env(tmp_path / "kb"), capture_output=True, text=True, cwd=ROOT
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""
