"""The scoreboard page's inline stylesheet and script (the page loads nothing else: it works from file://).

The script only shows what the page already holds: a cell's detail (its cases, from the JSON
payload ``#scoreboard-data``, written with ``textContent``, never as markup), the view of each cell
for the chosen dtype (rendered in Python, ``.view[data-dtype]``), and the engine rows of the
checked families. It sets ``data-status`` on each ``td.cell`` to its shown view's status, so a
test reads a cell's colour from an attribute.
"""

CSS = """
:root { --pass: #2e7d32; --fail: #c62828; --defect: #ef8f00; --unsupported: #9e9e9e; --empty: #f5f5f5; }
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #212121; }
h1 { font-size: 1.5em; margin: 0 0 .3em; } h2 { font-size: 1.15em; margin: 1.4em 0 .4em; }
table { border-collapse: collapse; }
th, td { border: 1px solid #ddd; padding: 3px 6px; text-align: left; vertical-align: top; }
#runs td, #engine-versions td, #converter-table td { font-size: 12px; }
#scoreboard { font-size: 11px; }
#scoreboard th.feature { writing-mode: vertical-rl; transform: rotate(180deg); white-space: nowrap; }
#scoreboard th.engine-name { white-space: nowrap; font-size: 12px; }
#scoreboard .family { color: #757575; font-weight: normal; }
td.cell { padding: 0; min-width: 62px; cursor: pointer; }
td.cell:focus, td.cell.selected { outline: 3px solid #1565c0; outline-offset: -3px; }
.view { padding: 3px 4px; min-height: 3.2em; }
.view[hidden] { display: none; }
.status-pass { background: var(--pass); color: #fff; }
.status-fail { background: var(--fail); color: #fff; }
.status-defect { background: var(--defect); color: #000; }
.status-unsupported { background: var(--unsupported); color: #000; }
.status-empty { background: var(--empty); color: #9e9e9e; }
.status-mixed { background: linear-gradient(90deg, var(--pass) var(--share, 50%), var(--unsupported) var(--share, 50%));
  color: #fff; text-shadow: 0 0 2px #000; }
.view .error { opacity: .85; }
.conflict-flag { display: inline-block; background: #fff; color: #6a1b9a; border: 2px solid #6a1b9a;
  font-weight: bold; padding: 0 3px; margin-top: 2px; text-shadow: none; }
#conflicts-banner { border: 2px solid #6a1b9a; color: #6a1b9a; padding: .4em .8em; font-weight: bold; }
#filters { margin: 1em 0; display: flex; gap: 2em; align-items: center; flex-wrap: wrap; }
#filters fieldset { border: 1px solid #ccc; }
#legend span.swatch { display: inline-block; width: 1em; height: 1em; vertical-align: middle; margin: 0 .3em 0 1em; }
#detail { border: 2px solid #1565c0; padding: .5em 1em; margin-top: 1em; }
#detail[hidden] { display: none; }
#detail-cases { font-size: 12px; }
#detail-cases tr.conflict { background: #f3e5f5; }
#detail-cases tr[hidden] { display: none; }
.outcome { font-weight: bold; }
.outcome-pass { color: var(--pass); } .outcome-fail, .outcome-known-defect-no-longer-reproduces { color: var(--fail); }
.outcome-known-defect { color: #b26a00; } .outcome-unsupported { color: #616161; } .outcome-conflict { color: #6a1b9a; }
tr.engine-row[hidden] { display: none; }
"""

JS = r"""
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("scoreboard-data").textContent);
  var detail = document.getElementById("detail");
  var body = document.querySelector("#detail-cases tbody");
  var dtypeFilter = document.getElementById("dtype-filter");
  var shown = null;

  function element(tag, text, className) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) { node.textContent = text; }
    if (className) { node.className = className; }
    return node;
  }
  function slug(text) { return String(text).toLowerCase().replace(/[^a-z0-9]+/g, "-"); }
  function upstream(reference) {
    var match = /^([\w.-]+\/[\w.-]+)#(\d+)$/.exec(reference);
    var link = element("a", reference, "upstream");
    if (match) { link.href = "https://github.com/" + match[1] + "/issues/" + match[2]; }
    else if (/^https?:\/\//.test(reference)) { link.href = reference; }
    else { return element("span", reference, "upstream"); }
    return link;
  }
  function caseRow(entry) {
    var row = element("tr", null, "case" + (entry.runs ? " conflict" : ""));
    row.dataset.case = entry.case;
    row.dataset.kind = entry.kind;
    row.dataset.dtype = entry.dtype;
    row.dataset.outcome = entry.verdict;
    row.appendChild(element("td", entry.label, "case-id"));
    row.appendChild(element("td", entry.kind));
    row.appendChild(element("td", entry.dtype));
    row.appendChild(element("td", entry.verdict, "outcome outcome-" + slug(entry.verdict)));
    row.appendChild(element("td", entry.error, "max-error"));
    var why = element("td", entry.reason === null ? "" : data.reasons[entry.reason], "reason");
    entry.upstream.forEach(function (reference) {
      why.appendChild(document.createTextNode(" "));
      why.appendChild(upstream(reference));
    });
    row.appendChild(why);
    var runs = element("td", null, "runs");
    (entry.runs || []).forEach(function (run) {
      var info = data.runs[run.run];
      runs.appendChild(element("div", info.source + " run " + info.id + " (" + info.started + "): " + run.outcome
        + (run.error === "-" ? "" : ", max error " + run.error), "run outcome-" + slug(run.outcome)));
    });
    row.appendChild(runs);
    return row;
  }
  function applyDtype() {
    var dtype = dtypeFilter.value;
    document.querySelectorAll("td.cell").forEach(function (cell) {
      cell.querySelectorAll(".view").forEach(function (view) {
        view.hidden = view.dataset.dtype !== dtype;
        if (!view.hidden) { cell.dataset.status = view.dataset.status; }
      });
    });
    var visible = 0;
    body.querySelectorAll("tr.case").forEach(function (row) {
      row.hidden = dtype !== "all" && row.dataset.dtype !== dtype;
      if (!row.hidden) { visible += 1; }
    });
    if (shown) {
      document.getElementById("detail-summary").textContent = visible + " of " + body.rows.length
        + " case(s) shown" + (dtype === "all" ? "" : " (dtype " + dtype + ")");
    }
  }
  function show(cell) {
    if (shown) { shown.classList.remove("selected"); }
    shown = cell;
    cell.classList.add("selected");
    body.textContent = "";
    (data.cells[cell.dataset.engine + "|" + cell.dataset.feature] || []).forEach(function (index) {
      body.appendChild(caseRow(data.entries[index]));
    });
    detail.dataset.engine = cell.dataset.engine;
    detail.dataset.feature = cell.dataset.feature;
    document.getElementById("detail-title").textContent =
      cell.dataset.engine + ": " + data.features[cell.dataset.feature];
    detail.hidden = false;
    applyDtype();
  }
  function applyFamilies() {
    var checked = {};
    document.querySelectorAll("input.family-filter").forEach(function (box) { checked[box.value] = box.checked; });
    document.querySelectorAll("tr.engine-row").forEach(function (row) { row.hidden = !checked[row.dataset.family]; });
  }
  var board = document.getElementById("scoreboard");
  board.addEventListener("click", function (event) {
    var cell = event.target.closest("td.cell");
    if (cell) { show(cell); }
  });
  board.addEventListener("keydown", function (event) {
    var cell = event.target.closest("td.cell");
    if (cell && (event.key === "Enter" || event.key === " ")) { event.preventDefault(); show(cell); }
  });
  document.getElementById("detail-close").addEventListener("click", function () {
    detail.hidden = true;
    if (shown) { shown.classList.remove("selected"); shown = null; }
  });
  dtypeFilter.addEventListener("change", applyDtype);
  document.querySelectorAll("input.family-filter").forEach(function (box) {
    box.addEventListener("change", applyFamilies);
  });
  applyDtype();
  applyFamilies();
}());
"""
