"""Every option shared by several commands, declared once; commands reuse these types.

Each declaration also records its flag in `FLAGS` (Python parameter -> CLI flag), so a
library error that names a parameter is shown with the option the user typed. Values
listed in help texts come from the registries, and defaults from the configuration's
parts (`pergen.run.config`), so neither can drift from what the library accepts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ..evaluation.abstention import FALLBACKS
from ..evaluation.confidence import CONFIDENCES
from ..llm import DEVICES, MODELS
from ..memory.levels import LEVELS, PERSONA_SELECT
from ..prompts import POSITIONS, PROMPT_STYLES
from ..retrievers import RETRIEVERS
from ..rspg.selectors import SELECTORS
from ..run.settings import LABEL_MODES, MEMORIES, SUMMARIZERS
from ..tasks import PROFILE_VIEWS
from ..training.config import SELECT_BY

FLAGS: dict[str, str] = {"retriever": "--retriever", "study": "the study NAME"}
"""Python parameter -> CLI flag, filled by `option`."""


def option(param: str, flag: str, help: str = "", **kw: Any) -> Any:
    """A typer option for library parameter `param`, spelled `flag` on the command line."""
    FLAGS[param] = flag
    return typer.Option(flag, help=help, **kw)


def listed(values: Any) -> str:
    return ", ".join(values)


def _folder_specs(registry: Any) -> str:
    return listed(f"{n}:FOLDER" for n in registry.names() if registry.facts(n).folder)


RETRIEVER_HELP = (f"Retrievers: {listed(RETRIEVERS.names())} ({_folder_specs(RETRIEVERS)}; "
                  "dense and dense-cos take an optional :FOLDER, "
                  + listed(f"{n}:a+b+c" for n in RETRIEVERS.names() if RETRIEVERS.facts(n).fuses)
                  + ", random:SEED)")
SELECTOR_HELP = (f"; selectors: {listed(SELECTORS.names())} ({_folder_specs(SELECTORS)}; "
                 "qpp-* take :a+b+c, the pool)")
MODEL_HELP = (f"Models: {listed(MODELS.names())} (hf:PATH, gguf:PATH, openai:MODEL@URL[,URL2]); "
              "an embedded model on another engine: NAME:llama.cpp or NAME:transformers")

Data = Annotated[Path, option("data_dir", "--data",
                              "Folder with {split}_questions.json / _outputs.json")]
Split = Annotated[str, option("split", "--split", "Split name: train, dev or test")]
Task = Annotated[str | None, option("task", "--task", "Built-in task name or task .toml file "
                                    "(default: the outputs file's 'task')")]
Limit = Annotated[int | None, option("limit", "--limit", "Only the first N questions", min=1)]
Retrievers = Annotated[list[str], option("retrievers", "--retriever", "Repeat for several. "
                                         + RETRIEVER_HELP + SELECTOR_HELP)]
Retriever = Annotated[str, option("retriever", "--retriever", "The method's retriever. "
                                  + RETRIEVER_HELP)]
Model = Annotated[str, option("model", "--model", MODEL_HELP)]
Device = Annotated[str, option("device", "--device", f"Where a local model runs: "
                               f"{listed(DEVICES)} (auto: a GPU when there is one; "
                               "transformers: bf16; llama.cpp: all layers offloaded, where "
                               "it was built with CUDA)")]
K = Annotated[int, option("k", "--k", "Profile items in the prompt", min=0)]
MaxLength = Annotated[int, option("max_length", "--max-length", "Prompt token budget")]
View = Annotated[str, option("view", "--profile-view", listed(PROFILE_VIEWS))]
Position = Annotated[str, option("position", "--profile-position",
                                 f"Profile {' or '.join(POSITIONS)} the input")]
PromptStyle = Annotated[str, option("prompt_style", "--prompt-style", listed(PROMPT_STYLES)
                                   + " (paper: the paper's templates; chat: the user's items "
                                   "as example turns in the model's chat template; auto: the "
                                   "task's own, paper unless its task file says chat)")]
WithDate = Annotated[bool, option("with_date", "--with-date",
                                  "Append 'date: ...' to documents, as in the paper")]
LabelMode = Annotated[str, option("label_mode", "--label-mode", listed(LABEL_MODES)
                                  + " (see the README: calibrate removes the label bias over "
                                  "the run; prior adds the user's own labels; expected: the "
                                  "expected rating; fused: the LLM, the prior and the vote, "
                                  "weighted by a fit on the train split)")]
FuseTrain = Annotated[int, option("fuse_train", "--fuse-train", "Label mode fused: the train "
                                  "questions its weights are fitted on", min=10)]
MaxNewTokens = Annotated[int | None, option("max_new_tokens", "--max-new-tokens",
                                            "Longest answer (default: the task's)")]
PriorStrength = Annotated[float, option("prior_strength", "--prior-strength",
                                        "Label mode prior: weight of log p(label | user)")]
BatchSize = Annotated[int, option("batch_size", "--batch-size", "Questions per LLM call", min=1)]
References = Annotated[bool, option("references", "--reference/--no-reference",
                                    "Also run the no-LLM references that apply to the task "
                                    "(copy-input, knn, the profile prior, the votes) on the "
                                    "same questions, and say what wins")]
Baseline = Annotated[str, option("baseline", "--baseline",
                                 "Retriever the significance marks compare against")]
VoteK = Annotated[int | None, option("vote_k", "--vote-k", "Items per candidate or label vote "
                                     "(vote models; default 4)", min=1)]
GoldLoglik = Annotated[bool, option("gold_loglik", "--gold-loglik/--no-gold-loglik",
                                    "Also measure the gold output's mean log-probability per "
                                    "token (models that score text)")]
Levels = Annotated[list[str], option("level", "--level", f"Whose items: {listed(LEVELS)} "
                                     "(auto: the cold-start fallback); repeat for a sweep")]
ProfileCaps = Annotated[list[str], option("profile_cap", "--profile-cap", "Keep the N most "
                                          "recent items (0: cold start; all); repeat for a "
                                          "sweep")]
PersonaK = Annotated[int, option("persona_k", "--persona-k", "Users in a persona")]
Personas = Annotated[int | None, option("personas", "--personas",
                                        "Group users by k-means into N personas instead")]
PersonaSelect = Annotated[str, option("persona_select", "--persona-select",
                                      f"Place the persona by the {' or '.join(PERSONA_SELECT)}")]
MinProfile = Annotated[int, option("min_profile", "--min-profile",
                                   "auto: fewest own items for the user level")]
Memory = Annotated[str, option("memory", "--memory", listed(MEMORIES)
                               + " (a summary of the user before or instead of the items)")]
Summarizer = Annotated[str, option("summarizer", "--summarizer", " or ".join(SUMMARIZERS)
                                   + " (llm: the run's model writes it; stats: no LLM)")]
SummaryTokens = Annotated[int, option("summary_tokens", "--summary-tokens",
                                      "Longest summary the llm summarizer writes")]
Summaries = Annotated[Path | None, option("summaries_dir", "--summaries", "Summary cache "
                                          "folder (default: pergen's cache; `pergen "
                                          "summarize` fills one)")]
Confidence = Annotated[str, option("confidence", "--confidence", f"Confidence per answer: "
                                   f"{listed(CONFIDENCES)} (prob: the model's probability; "
                                   "verbal: the model says 0-100)")]
AbstainBelow = Annotated[float | None, option("abstain_below", "--abstain-below",
                                              "Answers below this confidence get the "
                                              "--fallback")]
Coverage = Annotated[float | None, option("coverage", "--coverage", "Answer this share, the "
                                          "most confident (picks the threshold on the run)")]
Fallback = Annotated[str, option("fallback", "--fallback", f"Below the threshold: "
                                 f"{listed(FALLBACKS)}")]
Seed = Annotated[int, option("seed", "--seed", "Random seed (same seed, same draws)")]
SelectBy = Annotated[str, option("select_by", "--select-by",
                                 f"What picks the best epoch on the held-out questions "
                                 f"({listed(SELECT_BY)}): loss, the lowest loss; feedback, the "
                                 "highest mean feedback of the candidate ranked first")]
