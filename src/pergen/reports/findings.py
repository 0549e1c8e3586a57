"""The findings page: ``findings.md``, ``findings.html`` and ``findings.json``.

Rendered from the summary `pergen.studies.findings` builds (what ``findings.json`` holds), so a
page can be rebuilt from the JSON alone; the study runs the claims and decides the
verdicts, this module only words and lays them out (and never imports the study). The
HTML is self-contained in the run report's style (`pergen.reports.markup.CSS`: inline CSS,
no scripts, no external URLs); every string from the summary is escaped, as the run
report escapes what it reads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..llm.base import MODELS
from ..registry import Spec
from ..run.storage import atomic_write_json, atomic_write_text
from .markup import CSS, document, h, md

JSON_NAME, MD_NAME, HTML_NAME = "findings.json", "findings.md", "findings.html"
VERDICT_CSS = """table{font-size:.85rem}body{max-width:80rem}
td.reproduced{background:#e6f4ea}td.contradicted{background:#fce8e6}"""
HEADER = ["claim (note)", "A", "B", "note says", "n", "{m}: A / B", "effect [95% CI]", "p",
          "verdict ({m})", "gold-loglik effect [95% CI]", "p", "gold-loglik verdict"]


def small_model(name: str) -> str | None:
    """The full name of a registered small model (its `ModelFacts.small`), else None: the
    page says so where it explains its verdicts."""
    spec = Spec.parse(name)
    return MODELS.facts(spec).small if spec.name in MODELS else None


def describe_model(name: str) -> str:
    small = small_model(name)
    return f"{name} ({small}, a small model)" if small else name


def limits(summary: Mapping[str, Any]) -> str:
    """What limits the verdicts, in a few sentences: the n, the interval widths it gives,
    the model, where gold-loglik sees what the task metric does not, and runs with a
    warning (one answer to nearly everything, or worse than the profile prior)."""
    metric, model, warnings = summary["metric"], summary["model"], summary["warnings"]
    alpha = summary["alpha"]
    measured = [r for c in summary["claims"] for r in c["rows"] if r["measure"]]
    text = [f"These verdicts rest on n = {summary['n']} questions answered by "
            f"{describe_model(model)}."]
    widths = sorted(w for r in measured if (w := (r["measure"]["ci"][1]
                                                  - r["measure"]["ci"][0]) / 2) > 0)
    if widths:
        text.append(f"At this n, an effect on {metric} smaller than about "
                    f"±{widths[len(widths) // 2]:.3g} (the median half-width of the 95% "
                    "intervals) cannot reach significance, so 'inconclusive at this n' is no "
                    "evidence against a claim.")
    if small_model(model):
        text.append("A small model may use little of any profile, which shrinks every "
                    "effect: a larger model (--model) may decide what this one leaves open.")
    finer = [r for r in measured if r["gold_loglik"] and r["gold_loglik"]["p"] < alpha
             and r["measure"]["p"] >= alpha]
    if finer:
        text.append(f"gold-loglik, finer than {metric}, is significant on {len(finer)} "
                    f"comparison{'s' if len(finer) != 1 else ''} where {metric} is not.")
    if warnings:
        many = len(warnings) != 1
        text.append(f"{len(warnings)} run{'s' if many else ''} ({', '.join(warnings)}) "
                    f"carr{'y' if many else 'ies'} a warning (one answer to nearly "
                    "everything, or worse than the user's most frequent label): their rows "
                    "may measure that, not the condition.")
    return " ".join(text)


def _num(x: float | None, digits: int = 4) -> str:
    return "" if x is None or x != x else f"{x:.{digits}f}"


def _effect(m: Mapping[str, Any] | None) -> str:
    if not m:
        return ""
    lo, hi = m["ci"]
    return f"{m['effect']:+.4f} [{lo:+.4f}, {hi:+.4f}]"


def _p(m: Mapping[str, Any] | None) -> str:
    return "" if not m else f"{m['p']:.3g}"


def rows(summary: Mapping[str, Any]) -> list[list[str]]:
    """The verdicts table, one row per comparison, as plain strings (escaped by the caller)."""
    out = []
    for claim in summary["claims"]:
        for r in claim["rows"]:
            m, ll = r["measure"], r["gold_loglik"]
            says = "A better" if r["expects"] == "a better" else "A worse"
            if m is None:
                out.append([f"{claim['title']} ({claim['note']})", r["a"], r["b"], says, "", "",
                            "", "", f"{r['verdict']}: {r['reason']}", "", "", ""])
                continue
            out.append([f"{claim['title']} ({claim['note']})", r["a"], r["b"], says,
                        str(m["n"]), f"{_num(m['a'])} / {_num(m['b'])}", _effect(m), _p(m),
                        r["verdict"], _effect(ll), _p(ll), ll["verdict"] if ll else ""])
    return out


REF_HEADER = ["no-LLM reference", "{m}: method / reference", "effect [95% CI]", "p",
              "what wins"]
WINNER = {"reproduced": "the method", "contradicted": "the reference"}


def reference_rows(summary: Mapping[str, Any]) -> list[list[str]]:
    """The method (the own condition) against each no-LLM reference on the same questions:
    the answer a user gets without any LLM, beside what personalizing one adds."""
    out = []
    for r in summary.get("references", []):
        m = r["measure"]
        out.append([r["name"], f"{_num(m['a'])} / {_num(m['b'])}", _effect(m), _p(m),
                    WINNER.get(m["verdict"], "no significant difference")])
    return out


def lines(summary: Mapping[str, Any]) -> list[str]:
    """One line per comparison, for a terminal: the verdict, then the figures behind it."""
    out = []
    metric = summary["metric"]
    for claim in summary["claims"]:
        for r in claim["rows"]:
            head = f"{claim['title']} ({claim['note']}): {r['a']} vs {r['b']}"
            m, ll = r["measure"], r["gold_loglik"]
            if m is None:
                out.append(f"{head}: {r['verdict']} ({r['reason']})")
                continue
            text = (f"{head}: {r['verdict']} ({metric} {_effect(m)}, p {_p(m)}, n {m['n']})")
            if ll:
                text += f"; gold-loglik {ll['verdict']} ({_effect(ll)}, p {_p(ll)})"
            out.append(text)
    for name, ab, effect, p, wins in reference_rows(summary):
        out.append(f"the method vs {name}: {summary['metric']} {ab}, {effect}, p {p}: {wins}")
    return out


def header(summary: Mapping[str, Any]) -> list[str]:
    return [x.format(m=summary["metric"]) for x in HEADER]


def intro(summary: Mapping[str, Any]) -> list[str]:
    """The paragraphs above the table: what ran, how the verdict is decided, its limits."""
    s = summary["settings"]
    method = (f"retriever {summary['retriever']} top {s.get('k')}, label mode "
              f"{s.get('label_mode')}, prompt budget {s.get('max_length')} tokens")
    return [f"Data {Path(summary['data']).name} ({summary['split']} split), task "
            f"{summary['task']}, model {summary['model']}; the method: {method}. n = "
            f"{summary['n']} questions, the same in every condition; seed {summary['seed']}.",
            f"Each verdict is decided on {summary['metric']} (the task metric): reproduced "
            f"when the difference is significant (p < {summary['alpha']}) in the direction "
            "the note states, contradicted when it is significant the other way, "
            "inconclusive at this n otherwise. gold-loglik (the mean log-probability per "
            "token of the user's real output, where the model scores text) gets its own "
            "verdict beside it, by the same rule; it does not change the verdict.",
            "What limits these verdicts: " + summary["limits"]]


def legend(summary: Mapping[str, Any]) -> list[str]:
    tests = sorted({m["test"] for c in summary["claims"] for r in c["rows"]
                    for m in (r["measure"], r["gold_loglik"]) if m})
    out = [f"effect: the metric of A minus that of B on the same questions (a difference of "
           f"means for mean metrics); 95% CI: paired percentile bootstrap over the questions "
           f"({summary['bootstrap_rounds']} resamples, seed {summary['seed']}); p: the "
           f"metric's paired test ({'; '.join(tests)}).",
           "Abstention: A is the subset of the own run's answers at or above the confidence "
           "threshold that keeps the share asked for (ties kept), B all of them; its p asks "
           "whether a random subset of that size would do as well.",
           "'Match or beat' (note 000) cannot be shown by a test of difference: there, "
           "inconclusive means no difference was found at this n."]
    if summary.get("swap_study"):
        out.append(f"The swap study's own table, with partner similarity and confidence: "
                   f"{summary['swap_study']} (the full similarity curve: pergen swap-study).")
    if summary.get("not_run"):
        out.append("Not run here (--only chose others): " + ", ".join(summary["not_run"]) + ".")
    return out


def claim_lines(summary: Mapping[str, Any]) -> list[str]:
    out = []
    for claim in summary["claims"]:
        details = [f"{r['a']}: {r['detail']}" for r in claim["rows"] if r.get("detail")]
        folders = sorted({f for r in claim["rows"] if r["measure"]
                          for f in (r["a_condition"], r["b_condition"])
                          if f in summary["conditions"]})
        where = f" Run folders: {', '.join(folders)}." if folders else ""
        out.append(f"{claim['title']} (note {claim['note']}, --only {claim['name']}): "
                   f"{claim['statement']}{where}" + "".join(f" {d}." for d in details))
    return out


def markdown(summary: Mapping[str, Any]) -> str:
    head = header(summary)
    lines = [f"# Findings: the research notes' claims on {md(Path(summary['data']).name)}", ""]
    lines += [md(p) + "\n" for p in intro(summary)]
    lines += [f"**Warning** ({md(n)}): {md(w)}\n" for n, w in summary["warnings"].items()]
    lines += ["## Verdicts", "", "| " + " | ".join(md(x) for x in head) + " |",
              "|---" * len(head) + "|"]
    lines += ["| " + " | ".join(md(c) for c in row) + " |" for row in rows(summary)]
    refs = reference_rows(summary)
    if refs:
        ref_head = [x.format(m=summary["metric"]) for x in REF_HEADER]
        lines += ["", "## Against the no-LLM answers", "", md(REFERENCES_NOTE), "",
                  "| " + " | ".join(md(x) for x in ref_head) + " |", "|---" * len(ref_head) + "|"]
        lines += ["| " + " | ".join(md(c) for c in row) + " |" for row in refs]
    lines += ["", "## The claims", ""] + [f"- {md(x)}" for x in claim_lines(summary)]
    lines += ["", "## How to read it", ""] + [f"- {md(x)}" for x in legend(summary)]
    return "\n".join(lines) + "\n"


def _table(head: Sequence[str], body: Sequence[Sequence[str]]) -> str:
    verdict_cols = {i for i, x in enumerate(head) if "verdict" in x}
    cells = []
    for row in body:
        tds = []
        for i, c in enumerate(row):
            verdict = c.split(":")[0] if i in verdict_cols else ""
            kind = verdict if verdict in ("reproduced", "contradicted") else \
                ("num" if i >= 4 and i not in verdict_cols else "")
            attr = f" class={kind}" if kind else ""
            tds.append(f"<td{attr}>{h(c)}</td>")
        cells.append("<tr>" + "".join(tds) + "</tr>\n")
    th = "".join(f"<th>{h(x)}</th>" for x in head)
    return f"<table><thead><tr>{th}</tr></thead><tbody>\n{''.join(cells)}</tbody></table>"


REFERENCES_NOTE = ("The method (the own condition) against the answers a user gets without "
                   "any LLM, on the same questions; `--no-reference` leaves them out.")


def _references_html(summary: Mapping[str, Any]) -> list[str]:
    refs = reference_rows(summary)
    if not refs:
        return []
    head = [x.format(m=summary["metric"]) for x in REF_HEADER]
    return ["<h2>Against the no-LLM answers</h2>", f"<p class=note>{h(REFERENCES_NOTE)}</p>",
            _table(head, refs)]


def render_html(summary: Mapping[str, Any]) -> str:
    title = f"Findings: the research notes' claims on {Path(summary['data']).name}"
    parts = [f"<h1>{h(title)}</h1>", *(f"<p class=note>{h(p)}</p>" for p in intro(summary)),
             *(f"<p class=warn><b>Warning</b> ({h(n)}): {h(w)}</p>"
               for n, w in summary["warnings"].items()),
             "<h2>Verdicts</h2>", _table(header(summary), rows(summary)),
             *_references_html(summary),
             "<h2>The claims</h2>", "<ul>",
             *(f"<li>{h(x)}</li>" for x in claim_lines(summary)), "</ul>",
             "<h2>How to read it</h2>", "<ul>",
             *(f"<li class=note>{h(x)}</li>" for x in legend(summary)), "</ul>"]
    return document(f"pergen {title}", "\n".join(parts), css=f"{CSS}\n{VERDICT_CSS}")


def write_page(out: Path, summary: Mapping[str, Any]) -> tuple[Path, Path, Path]:
    """``findings.json``, ``findings.md`` and ``findings.html`` in `out`; their paths."""
    paths = out / JSON_NAME, out / MD_NAME, out / HTML_NAME
    atomic_write_json(paths[0], dict(summary))
    atomic_write_text(paths[1], markdown(summary))
    atomic_write_text(paths[2], render_html(summary))
    return paths
