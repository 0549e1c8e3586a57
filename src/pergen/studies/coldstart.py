"""The cold-start study: each level's metric as the user's history grows.

`sweep` runs `evaluate` once per (level, profile cap) into ``OUT/<level>-cap<N>/`` (each a
normal, resumable run folder), then writes ``OUT/cold_start.json``, a Markdown table
``OUT/cold_start.md`` and a chart ``OUT/cold_start.png``: the task metric and
``gold-loglik`` against N, one line per level. Where the lines cross is the finding a
product needs: how much history a user must have before their own beats the fallback.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..reports.coldstart import write_study
from ..run.config import RunConfig
from ..run.folder import RetrieverRun
from ..run.pipeline import evaluate


def cap_name(cap: int | None) -> str:
    return "all" if cap is None else str(cap)


def sweep(data_dir: str | Path, split: str, retrievers: Iterable[str] | None,
          out_dir: str | Path, levels: Sequence[str], caps: Sequence[int | None],
          config: RunConfig | None = None, **options: Any
          ) -> dict[tuple[str, str], dict[str, RetrieverRun]]:
    """Run every (level, cap) and write the study's table and chart; returns the runs.
    `retrievers` None: the configuration's; `options` go to `evaluate`."""
    if not levels or not caps:
        raise ConfigError("a cold-start sweep needs at least one {option} and one profile cap",
                          option="level")
    out = Path(out_dir)
    specs = list(retrievers) if retrievers is not None else None
    results: dict[tuple[str, str], dict[str, RetrieverRun]] = {}
    for level in dict.fromkeys(levels):
        for cap in dict.fromkeys(caps):
            folder = out / f"{level}-cap{cap_name(cap)}"
            results[level, cap_name(cap)] = evaluate(data_dir, split, specs, folder, config,
                                                     level=level, profile_cap=cap, **options)
    table = {level: {cap: {r: run.metrics for r, run in runs.items()}
                     for (lv, cap), runs in results.items() if lv == level}
             for level in dict.fromkeys(levels)}
    write_study(out, table)
    return results


def study(data_dir: str | Path, split: str, out_dir: str | Path, config: RunConfig,
          levels: Sequence[str] = ("user", "persona", "global", "auto"),
          caps: Sequence[int | None] = (0, 1, 2, 4, 8, 16, None), **options: Any
          ) -> dict[tuple[str, str], dict[str, RetrieverRun]]:
    """The registered ``cold-start`` study: every level against the profile caps."""
    return sweep(data_dir, split, None, out_dir, levels, caps, config, **options)
