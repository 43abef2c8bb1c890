"""The blind review file as one static HTML page: every pair's two records side by side,
a match / non_match / unsure choice and a reason per pair, and a button that saves the
decisions as a CSV that `cmi review import` reads (DECISION_FILE_COLUMNS). Nothing is
fetched: the style and the small script are inline, so the page works offline and sends
nothing anywhere."""

from __future__ import annotations

import html
import json
from pathlib import Path

from cmi_assets.linkage.review import DECISION_FILE_COLUMNS, DECISIONS, EXPORT_FIELDS, ReviewExport

_STYLE = """
body { font-family: sans-serif; margin: 1.5em; max-width: 70em; }
.pair { border: 1px solid #999; margin: 1em 0; padding: 0.6em; }
.pair table { border-collapse: collapse; }
.pair td, .pair th { border-bottom: 1px solid #ddd; padding: 0.2em 0.8em; text-align: left; }
.pair .differ { background: #fff3c4; }
.choice label { margin-right: 1.2em; }
.reason { width: 40em; }
"""

# Builds the decisions CSV from the page's inputs and offers it as a download (a data
# URL of a Blob: no network). A choice records the time it was made.
_SCRIPT = """
function chosen(pair) {
  const input = pair.querySelector('input[type=radio]:checked');
  return input ? input.value : '';
}
function cell(value) {
  const text = String(value == null ? '' : value);
  return /[",\\n\\r]/.test(text) ? '"' + text.replace(/"/g, '""') + '"' : text;
}
document.querySelectorAll('.pair input[type=radio]').forEach(function (input) {
  input.addEventListener('change', function () {
    input.closest('.pair').dataset.decidedAt = new Date().toISOString();
  });
});
function saveDecisions() {
  const rows = [COLUMNS.join(',')];
  document.querySelectorAll('.pair').forEach(function (pair) {
    const decision = chosen(pair);
    if (!decision) { return; }
    const d = pair.dataset;
    const reason = pair.querySelector('.reason').value;
    rows.push([d.pairId, d.uniqueIdL, d.uniqueIdR, d.recordIdL, d.recordIdR, decision, reason, d.decidedAt || '']
      .map(cell).join(','));
  });
  const blob = new Blob([rows.join('\\n') + '\\n'], {type: 'text/csv'});
  const link = document.createElement('a');
  link.href = URL.createObjectURL(blob);
  link.download = FILE_NAME;
  document.body.appendChild(link);
  link.click();
  link.remove();
  document.getElementById('saved').textContent = (rows.length - 1) + ' decisions saved as ' + FILE_NAME;
}
"""


def _pair_block(row: dict, number: int) -> str:
    cells = []
    for field in EXPORT_FIELDS:
        left, right = row.get(f"{field}_l"), row.get(f"{field}_r")
        differ = ' class="differ"' if (left or "") != (right or "") else ""
        cells.append(
            f"<tr{differ}><th>{html.escape(field)}</th><td>{html.escape(left or '')}</td>"
            f"<td>{html.escape(right or '')}</td></tr>"
        )
    choices = "".join(
        f'<label><input type="radio" name="d{number}" value="{d}"> {d.replace("_", "-")}</label>' for d in DECISIONS
    )
    data = " ".join(
        f'data-{attr}="{html.escape(str(row[column]))}"'
        for attr, column in (
            ("pair-id", "pair_id"),
            ("unique-id-l", "unique_id_l"),
            ("unique-id-r", "unique_id_r"),
            ("record-id-l", "record_id_l"),
            ("record-id-r", "record_id_r"),
        )
    )
    return (
        f'<div class="pair" {data}><h3>Pair {number} <small>({html.escape(row["pair_id"])})</small></h3>'
        f"<table><tr><th></th><th>left record</th><th>right record</th></tr>{''.join(cells)}</table>"
        f'<p class="choice">{choices}</p>'
        f'<p>Reason: <input type="text" class="reason" maxlength="500"></p></div>'
    )


def review_page(export: ReviewExport, decisions_file_name: str) -> str:
    """The page's HTML (see the module's docstring)."""
    pairs = export.pairs
    blocks = "\n".join(_pair_block(row, i) for i, row in enumerate(pairs.iter_rows(named=True), start=1))
    script = (
        f"const COLUMNS = {json.dumps(list(DECISION_FILE_COLUMNS))};\n"
        f"const FILE_NAME = {json.dumps(decisions_file_name)};\n{_SCRIPT}"
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<title>Clerical review: {html.escape(export.level)}</title>
<style>{_STYLE}</style></head>
<body>
<h1>Clerical review, linkage level {html.escape(export.level)}</h1>
<p id="about">{html.escape(export.readme())}</p>
<p>Choose match, non-match or unsure for each pair you review (rows that differ are shaded), give a reason if you
like, then save. Pairs left without a choice are not saved. Import the saved file with
<code>cmi review import {html.escape(decisions_file_name)} --reviewer NAME</code>.</p>
<p><button type="button" onclick="saveDecisions()">Save decisions</button> <span id="saved"></span></p>
{blocks}
<p><button type="button" onclick="saveDecisions()">Save decisions</button></p>
<script>{script}</script>
</body></html>
"""


def write_review_html(export: ReviewExport, path: Path) -> Path:
    """The review page at path; its decisions download as <stem>_decisions.csv."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(review_page(export, f"{path.stem}_decisions.csv"), encoding="utf-8")
    return path
