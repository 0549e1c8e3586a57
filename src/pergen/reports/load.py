"""Reading a `pergen evaluate --out` folder for the run report: `load_run` -> `RunFolder`.

Why apart from the analysis and the rendering: everything that can be wrong with a
folder (a missing file, bad JSON, a selector naming no retriever) is found here, before
anything is computed or written, and each error names the file at fault. Nothing here
trusts a string it reads: the renderers escape them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import DataError
from ..run.folder import WARNINGS, slug
from ..run.references import is_reference
from .comparison import BASELINE

SELECTION_NAME = "selection.json"


@dataclass(frozen=True)
class RunFolder:
    """What a run folder holds: metrics, per-question scores, baseline and selections."""

    path: Path
    metrics: dict[str, dict[str, float]]
    scores: dict[str, dict[str, dict[str, float]]]  # retriever -> question -> metric -> value
    files: dict[str, Path]  # retriever -> its scores.json, to name it in errors
    baseline: str | None
    settings: dict[str, Any]
    selectors: dict[str, dict[str, str]]
    pool: list[str]  # the retrievers selectors choose among: winning rates and bounds
    warnings: dict[str, str] = field(default_factory=dict)  # retriever -> warning


def _read_json(path: Path, what: str) -> Any:
    if not path.is_file():
        raise DataError(f"{what} not found: is this a `pergen evaluate --out` folder?", file=str(path))
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"not valid JSON ({e})", file=str(path)) from None


def _folders(run_dir: Path) -> dict[str, Path]:
    """Retriever spec -> its folder, from each folder's run.json (slugs are lossy)."""
    found: dict[str, Path] = {}
    for run_json in sorted(run_dir.glob("*/run.json")):
        spec = _read_json(run_json, "run.json").get("retriever")
        if isinstance(spec, str):
            found[spec] = run_json.parent
    return found


def _dict_of_dicts(obj: Any, path: Path, what: str) -> dict[str, dict[str, Any]]:
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, dict) for v in obj.values()):
        raise DataError(f"expected a non-empty object of {what}", file=str(path))
    return obj


def _selectors(run_dir: Path) -> dict[str, dict[str, str]]:
    path = run_dir / SELECTION_NAME
    if not path.exists():
        return {}
    obj = _read_json(path, SELECTION_NAME)
    selectors = _dict_of_dicts(obj.get("selectors") if isinstance(obj, dict) else None, path,
                               '"selectors": {name: {question_id: retriever}}')
    for name, chosen in selectors.items():
        if not all(isinstance(v, str) for v in chosen.values()):
            raise DataError(f"selector {name!r}: every choice must be a retriever name", file=str(path))
    return selectors


def load_run(run_dir: str | Path) -> RunFolder:
    """Read a run folder written by `pergen evaluate --out`."""
    run_dir = Path(run_dir)
    metrics_path = run_dir / "metrics.json"
    metrics = _dict_of_dicts(_read_json(metrics_path, "metrics.json"), metrics_path,
                             "{retriever: {metric: value}}")
    folders = _folders(run_dir)
    scores: dict[str, dict[str, dict[str, float]]] = {}
    files: dict[str, Path] = {}
    for name in metrics:
        path = files[name] = folders.get(name, run_dir / slug(name)) / "scores.json"
        scores[name] = _dict_of_dicts(_read_json(path, f"scores.json of retriever {name!r}"), path,
                                      "{question_id: {metric: value}}")
    sig_path = run_dir / "significance.json"
    significance = _read_json(sig_path, "significance.json") if sig_path.exists() else {}
    baseline = significance.get("baseline") if isinstance(significance, dict) and significance \
        else BASELINE  # what `pergen evaluate` compares against by default
    first = folders.get(next(iter(metrics)))
    run_json = _read_json(first / "run.json", "run.json") if first else {}
    settings = run_json.get("settings") if isinstance(run_json, dict) else None
    selectors = _selectors(run_dir)
    return RunFolder(run_dir, metrics, scores, files, baseline if baseline in metrics else None,
                     settings if isinstance(settings, dict) else {}, selectors,
                     _pool(folders, metrics, selectors), _warnings(run_dir))


def _warnings(run_dir: Path) -> dict[str, str]:
    path = run_dir / WARNINGS
    if not path.exists():
        return {}
    found = _read_json(path, WARNINGS)
    if not isinstance(found, dict) or not all(isinstance(v, str) for v in found.values()):
        raise DataError("expected {retriever: warning}", file=str(path))
    return found


def _pool(folders: Mapping[str, Path], metrics: Mapping[str, Any],
          selectors: Mapping[str, Any]) -> list[str]:
    """The selectors' pools (from their run.json) when they name one, else every retriever
    that is not itself a selector: a selector repeats its pool's values, so counting it
    would only add ties."""
    pools: dict[str, None] = {}
    for name in selectors:
        folder = folders.get(name)
        run_json = _read_json(folder / "run.json", "run.json") if folder else {}
        for spec in run_json.get("pool") or ():
            pools[spec] = None
    methods = [r for r in metrics if not is_reference(r)]  # references choose no retriever
    pool = [r for r in pools if r in metrics] or [r for r in methods if r not in selectors]
    return pool or methods
