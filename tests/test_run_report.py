"""`write_report` on a real (small, LLM-free) run, on hostile names, and in a real browser."""

from __future__ import annotations

import base64
import html as html_lib
import json
import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import require_program

from pergen.errors import ConfigError, DataError, MissingExtraError
from pergen.reports.comparison import write_comparison
from pergen.reports.run import write_report
from pergen.run.pipeline import evaluate, slug

RETRIEVERS = ["none", "bm25", "recency"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
DATA_URI = re.compile(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"')
BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def _scores_by_name(run_dir: Path, metric: str) -> dict[str, dict[str, float]]:
    """retriever spec -> question -> value, read straight from the run's files."""
    out = {}
    for run_json in run_dir.glob("*/run.json"):
        spec = json.loads(run_json.read_text())["retriever"]
        scores = json.loads((run_json.parent / "scores.json").read_text())
        out[spec] = {q: v[metric] for q, v in scores.items()}
    return out


@pytest.fixture(scope="module")
def run_dir(huffpost: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real run: knn answers (no LLM), 12 questions, 3 retrievers, as `pergen evaluate`
    writes it (metrics, scores, significance.json, table.md), plus a selection.json."""
    out = tmp_path_factory.mktemp("run")
    runs = evaluate(huffpost, "dev", RETRIEVERS, out, model="knn", limit=12, progress=False)
    write_comparison(runs, out)
    scores = _scores_by_name(out, "rouge-1")
    questions = list(scores["none"])
    oracle = {q: max(RETRIEVERS, key=lambda r, q=q: scores[r][q]) for q in questions}
    selection = {"oracle": oracle, "always-recency": dict.fromkeys(questions, "recency")}
    (out / "selection.json").write_text(json.dumps({"selectors": selection}))
    write_report(out)
    return out


def test_report_files(run_dir: Path):
    html_path, md_path = run_dir / "report.html", run_dir / "report.md"
    assert write_report(run_dir) == (html_path, md_path)
    md = md_path.read_text()
    for name in ("report_winning_rate.png", "report_oracle.png"):
        assert f"]({name})" in md  # relative path, beside report.md
        assert (run_dir / name).read_bytes().startswith(PNG_SIGNATURE)


def test_results_table_matches_the_runs_table(run_dir: Path):
    md = (run_dir / "report.md").read_text()
    html = (run_dir / "report.html").read_text()
    rows = [line for line in (run_dir / "table.md").read_text().splitlines() if line.startswith("| ")]
    methods = [row for row in rows[1:] if not row.startswith("| ref:")]
    assert len(methods) == len(RETRIEVERS) and len(rows) > 1 + len(RETRIEVERS)  # references
    for row in rows:
        assert row in md
    for row in rows[1:]:
        name, *cells = [c.strip() for c in row.strip("|").split("|")]
        assert f"<tr><td>{name}</td>" + "".join(f"<td class=num>{c}</td>" for c in cells) in html
    assert "significantly better / worse than <code>none</code>" in html


def test_bounds_and_winning_rate_match_scores_json(run_dir: Path):
    scores = _scores_by_name(run_dir, "rouge-1")
    questions = list(scores["none"])
    worst = sum(min(scores[r][q] for r in RETRIEVERS) for q in questions) / len(questions)
    best = sum(max(scores[r][q] for r in RETRIEVERS) for q in questions) / len(questions)
    assert worst < best  # the run is informative: retrievers differ on some question
    md = (run_dir / "report.md").read_text()
    html = (run_dir / "report.html").read_text()
    assert f"| oracle lower bound (worst retriever per question) | {worst:.4f} |" in md
    assert f"| oracle upper bound (best retriever per question) | {best:.4f} |" in md
    assert f"<td>oracle lower bound (worst retriever per question)</td><td class=num>{worst:.4f}</td>" in html
    assert f"<td>oracle upper bound (best retriever per question)</td><td class=num>{best:.4f}</td>" in html
    means = {r: sum(scores[r].values()) / len(questions) for r in RETRIEVERS}
    single = max(means, key=means.__getitem__)
    assert f"| best single retriever: {single} | {means[single]:.4f} |" in md
    # Winning rate by hand: every retriever tied at a question's best value wins it.
    wins = {r: sum(scores[r][q] == max(scores[s][q] for s in RETRIEVERS) for q in questions)
            for r in RETRIEVERS}
    total = sum(wins.values())
    for r in RETRIEVERS:
        assert f"| {r} | {wins[r] / total:.1%} | {means[r]:.4f} |" in md
        assert f"<tr><td>{r}</td><td class=num>{wins[r] / total:.1%}</td>" in html


def test_selectors_table(run_dir: Path):
    scores = _scores_by_name(run_dir, "rouge-1")
    questions = list(scores["none"])
    hits = sum(scores["recency"][q] == max(scores[r][q] for r in RETRIEVERS) for q in questions)
    best = sum(max(scores[r][q] for r in RETRIEVERS) for q in questions) / len(questions)
    recency = sum(scores["recency"].values()) / len(questions)
    md = (run_dir / "report.md").read_text()
    html = (run_dir / "report.html").read_text()
    assert f"| oracle | 100.0% | {best:.4f} |" in md
    assert f"| always-recency | {hits / len(questions):.1%} | {recency:.4f} |" in md
    assert f"<tr><td>always-recency</td><td class=num>{hits / len(questions):.1%}</td>" in html


def test_html_is_self_contained(run_dir: Path):
    html = (run_dir / "report.html").read_text()
    assert "<script" not in html.lower()
    assert "http://" not in html and "https://" not in html and "url(" not in html
    assert len(re.findall(r"\bsrc=", html)) == len(DATA_URI.findall(html)) == 2
    for data in DATA_URI.findall(html):
        assert base64.b64decode(data).startswith(PNG_SIGNATURE)


def test_other_metric(run_dir: Path, tmp_path: Path):
    copy = shutil.copytree(run_dir, tmp_path / "run")
    write_report(copy, metric="rouge-L")
    assert "Analysed metric: rouge-L (higher is better)" in (copy / "report.md").read_text()
    with pytest.raises(ConfigError, match="'bleu'.*known: rouge-1, rouge-L"):
        write_report(copy, metric="bleu")


# --- a hand-made run with hostile names ----------------------------------------------------

HOSTILE = "<script>alert(1)</script>"
LINKY = "x|y*[a](javascript:alert(1))"


def _fake_run(root: Path, scores: dict[str, dict[str, float]], metric: str = "rouge-1") -> Path:
    for spec, values in scores.items():
        folder = root / slug(spec)
        folder.mkdir(parents=True)
        (folder / "run.json").write_text(json.dumps({"retriever": spec, "settings": {"task": HOSTILE}}))
        (folder / "scores.json").write_text(json.dumps({q: {metric: v} for q, v in values.items()}))
    metrics = {spec: {metric: sum(v.values()) / len(v)} for spec, v in scores.items()}
    (root / "metrics.json").write_text(json.dumps(metrics))
    return root


def test_hostile_names_are_escaped(tmp_path: Path):
    run = _fake_run(tmp_path, {"none": {"q1": 0.1, "q2": 0.2}, HOSTILE: {"q1": 0.3, "q2": 0.0},
                               LINKY: {"q1": 0.3, "q2": 0.1}})
    (run / "selection.json").write_text(json.dumps({"selectors": {f"<b>{HOSTILE}": {"q1": HOSTILE,
                                                                                     "q2": LINKY}}}))
    html_path, md_path = write_report(run)
    html, md = html_path.read_text(), md_path.read_text()
    for text in (html, md):
        assert "<script>" not in text and "<b>" not in text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "<tr><td>x|y*[a](javascript:alert(1))</td>" in html
    assert r"| x\|y\*\[a\](javascript:alert(1)) |" in md
    assert "[a](javascript" not in md
    # q1: HOSTILE and LINKY tie at 0.3 (both win); q2: none 0.2 wins -> one win each, 1/3.
    assert "| &lt;script&gt;alert(1)&lt;/script&gt; | 33.3% | 0.1500 |" in md
    assert "| none | 33.3% | 0.1500 |" in md
    # Selector: q1 HOSTILE, a tied best (hit); q2 LINKY 0.1 < 0.2 (miss) -> 50.0%, mean 0.2.
    assert "| &lt;b&gt;&lt;script&gt;alert(1)&lt;/script&gt; | 50.0% | 0.2000 |" in md


def test_lower_is_better_run(tmp_path: Path):
    # MAE per question: q1 best bm25 (0), worst none (2); q2 best none (0), worst bm25 (1).
    # Bounds (lower = worst, upper = best): (2 + 1) / 2 = 1.5 and (0 + 0) / 2 = 0.0.
    run = _fake_run(tmp_path, {"none": {"q1": 2.0, "q2": 0.0}, "bm25": {"q1": 0.0, "q2": 1.0}}, "mae")
    md = write_report(run)[1].read_text()
    assert "| oracle lower bound (worst retriever per question) | 1.5000 |" in md
    assert "| oracle upper bound (best retriever per question) | 0.0000 |" in md
    assert "| best single retriever: bm25 | 0.5000 |" in md  # mean MAE: none 1.0, bm25 0.5
    assert "mae (lower is better)" in md
    assert "Selectors" not in md  # no selection.json


def test_missing_files_name_the_file(tmp_path: Path):
    with pytest.raises(DataError, match=r"metrics\.json.*not found"):
        write_report(tmp_path)
    run = _fake_run(tmp_path / "r", {"none": {"q1": 0.1}, "bm25": {"q1": 0.2}})
    (run / "bm25" / "scores.json").unlink()
    with pytest.raises(DataError, match=r"bm25/scores\.json.*not found"):
        write_report(run)


def test_bad_selection_names_the_file(tmp_path: Path):
    run = _fake_run(tmp_path, {"none": {"q1": 0.1}, "bm25": {"q1": 0.2}})
    (run / "selection.json").write_text(json.dumps({"selectors": {"s": {"q1": "dense"}}}))
    with pytest.raises(DataError, match=r"selection\.json.*selector 's'.*'dense' is not in the pool"):
        write_report(run)
    (run / "selection.json").write_text(json.dumps({"s": {"q1": "none"}}))
    with pytest.raises(DataError, match=r"selection\.json.*\"selectors\""):
        write_report(run)


def test_missing_matplotlib_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    run = _fake_run(tmp_path, {"none": {"q1": 0.1}, "bm25": {"q1": 0.2}})
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(MissingExtraError, match=r"pergen\[report\]"):
        write_report(run)
    assert not list(run.glob("report*"))


# --- the real browser ---------------------------------------------------------------------

WRAPPER = """<!DOCTYPE html>
<html><body>
<pre id="result">pending</pre>
<iframe id="report" src="REPORT_URI" width="1200" height="2000"></iframe>
<script>
// Test-only page (the report itself has no script): draw every image of the report onto a
// canvas. drawImage decodes synchronously and throws on a broken image, so the result is
// written inside the load handler and --dump-dom cannot catch the page before it.
window.addEventListener("load", function () {
  var out = document.getElementById("result");
  try {
    var imgs = Array.from(document.getElementById("report").contentDocument.images);
    var r = imgs.map(function (img) {
      try {
        var canvas = document.createElement("canvas");
        canvas.width = img.naturalWidth;
        canvas.height = img.naturalHeight;
        var ctx = canvas.getContext("2d");
        ctx.drawImage(img, 0, 0);
        ctx.getImageData(0, 0, 1, 1);
        return {ok: img.complete && img.naturalWidth > 0, w: img.naturalWidth, h: img.naturalHeight};
      } catch (e) {
        return {ok: false, error: String(e)};
      }
    });
    out.textContent = "RESULT" + JSON.stringify(r) + "END";
  } catch (e) {
    out.textContent = "RESULT" + JSON.stringify({error: String(e)}) + "END";
  }
});
</script>
</body></html>
"""


def _png_size(png: bytes) -> tuple[int, int]:
    assert png.startswith(PNG_SIGNATURE) and png[12:16] == b"IHDR"
    return struct.unpack(">II", png[16:24])


def test_images_decode_in_headless_chromium(run_dir: Path, tmp_path: Path):
    found_browser = next((b for b in map(shutil.which, BROWSERS) if b), None)
    browser = found_browser or require_program("chromium", "the report test opens the HTML "
                                               "report in headless Chromium")
    report = run_dir / "report.html"
    expected = [_png_size(base64.b64decode(d)) for d in DATA_URI.findall(report.read_text())]
    wrapper = tmp_path / "check.html"
    wrapper.write_text(WRAPPER.replace("REPORT_URI", report.as_uri()))
    result = None
    for attempt in range(3):  # a fresh profile each time; retried only when nothing was written
        cmd = [browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
               "--allow-file-access-from-files", "--no-first-run", "--disable-background-networking",
               "--disable-component-update", "--disable-sync",
               f"--user-data-dir={tmp_path / f'profile{attempt}'}", "--virtual-time-budget=10000",
               "--dump-dom", wrapper.as_uri()]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        found = re.search(r'<pre id="result">RESULT(.*?)END</pre>', done.stdout, re.S)
        if found:
            result = json.loads(html_lib.unescape(found.group(1)))
            break
    assert result is not None, (f"no result in the DOM (rc {done.returncode}):\n{done.stdout[-2000:]}\n"
                                f"{done.stderr[-2000:]}")
    assert isinstance(result, list), result
    assert [(r["ok"], r.get("w"), r.get("h")) for r in result] == [(True, w, h) for w, h in expected]
    assert len(result) == 2
