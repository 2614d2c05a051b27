"""Model artifacts on disk: an .npz of arrays (allow_pickle=False) plus a JSON sidecar, each swapped in atomically."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import sparse

from recs.model.als import AlsModel, AlsParams
from recs.model.baselines import EaseModel, ItemKnnModel, PopularModel
from recs.model.scoring import BlendModel, Model


def _atomic_write(path: Path, write: Any) -> None:
    """Write through *write(file)* to a temporary name in the same folder, fsync, then os.replace."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def save_model(
    path: Path,
    model: Model,
    arrays: dict[str, npt.NDArray[Any]],
    meta: dict[str, Any],
) -> Path:
    """Store *model*, extra *arrays* (id maps) and *meta* at path (.npz) and path.with_suffix('.json').

    The npz goes first and the JSON last: a reader that finds the JSON finds a whole model.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {f"model_{k}": v for k, v in model.arrays().items()}
    payload.update({f"extra_{k}": np.asarray(v) for k, v in arrays.items()})
    for k, v in payload.items():
        if v.dtype == object:
            raise ValueError(f"artifact array {k} has dtype object; only plain numeric arrays are stored")
    _atomic_write(path, lambda fh: np.savez(fh, **payload))  # type: ignore[arg-type]
    document = {"model": model.meta(), **meta}
    _atomic_write(path.with_suffix(".json"), lambda fh: fh.write(json.dumps(document, sort_keys=True).encode()))
    return path


def load_model(path: Path) -> tuple[Model, dict[str, npt.NDArray[Any]], dict[str, Any]]:
    """Read what save_model wrote: the model, the extra arrays and the metadata."""
    meta = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    with np.load(path, allow_pickle=False) as data:
        model_arrays = {k.removeprefix("model_"): data[k] for k in data.files if k.startswith("model_")}
        extra = {k.removeprefix("extra_"): data[k] for k in data.files if k.startswith("extra_")}
    return _rebuild(meta["model"], model_arrays), extra, meta


def _rebuild(meta: dict[str, Any], arrays: dict[str, npt.NDArray[Any]]) -> Model:
    kind = meta["kind"]
    if kind == "als":
        return AlsModel(arrays["user_factors"], arrays["item_factors"], AlsParams(**meta["params"]))
    if kind == "popular":
        return PopularModel(arrays["popularity"])
    if kind == "itemknn":
        shape = tuple(int(x) for x in arrays["sim_shape"])
        sim = sparse.csr_matrix((arrays["sim_data"], arrays["sim_indices"], arrays["sim_indptr"]), shape=shape)
        return ItemKnnModel(sim, int(meta["params"]["neighbours"]))
    if kind == "ease":
        n_items = int(arrays["weights"].shape[0])
        return EaseModel(
            arrays["weights"], arrays["items"], int(meta.get("n_items", n_items)), float(meta["params"]["lambda"])
        )
    if kind == "blend":
        parts: list[tuple[Model, float]] = []
        for i, part in enumerate(meta["parts"]):
            prefix = f"part{i}_"
            sub = {k.removeprefix(prefix): v for k, v in arrays.items() if k.startswith(prefix)}
            parts.append((_rebuild(part, sub), float(part["weight"])))
        return BlendModel(parts)
    raise ValueError(f"unknown model kind {kind!r} in artifact")
