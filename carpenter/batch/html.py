"""report.html: one self-contained file (inline CSS, JS and SVG; no network, opens from disk).

Totals and charts are drawn here as static SVG; the table, its sorting and filtering, and the
per-submission detail view are built by a small inline script from the embedded JSON, always
with textContent, so nothing a submission contains can become markup or script.
"""

from __future__ import annotations

import html
import json
from collections import Counter
from typing import Any

VERDICT_COLOURS = {"reproducible": "#2e7d32", "repaired": "#1565c0", "needs-human": "#c62828",
                   "pending": "#757575"}
MAX_BUILD_BARS = 60


def render_html(rows: list[dict[str, Any]]) -> str:
    verdicts = Counter(r["verdict"] for r in rows)
    categories: Counter[str] = Counter()
    for r in rows:
        categories.update(r["summary"]["categories"])
    failures = Counter(r["summary"]["failure_class"] for r in rows
                       if r["summary"]["failure_class"])
    # "<" escaped so no text in the data can close the <script> element. The rows come from
    # the state database, whose every result passed safe_text when it was stored.
    data = json.dumps(rows, sort_keys=True).replace("<", "\\u003c")
    body = "\n".join([
        "<h1>Carpenter batch report</h1>",
        f"<p class=sub>{len(rows)} submissions</p>",
        '<section class="totals">',
        _totals("Verdict", verdicts, VERDICT_COLOURS),
        _totals("Findings by category", categories),
        _totals("Build failures by class", failures),
        "</section>",
        '<section class="charts">',
        _bar_chart("Findings per category", sorted(categories.items(), key=lambda kv: -kv[1]),
                   "chart-categories", ""),
        _bar_chart("Build time of the original (s)", _build_times(rows), "chart-builds", "s"),
        "</section>",
        TABLE,
    ])
    return (f"<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
            f"<title>Carpenter batch report</title><style>{CSS}</style></head>"
            f"<body>{body}<script id=data type=application/json>{data}</script>"
            f"<script>{JS}</script></body></html>\n")


def _totals(title: str, counts: Counter[str], colours: dict[str, str] | None = None) -> str:
    items = "".join(
        f'<li><span class=dot style="background:{(colours or {}).get(k, "#546e7a")}"></span>'
        f"{html.escape(k)} <b>{v}</b></li>" for k, v in counts.most_common())
    return f"<div class=card><h2>{html.escape(title)}</h2><ul>{items or '<li>none</li>'}</ul></div>"


def _build_times(rows: list[dict[str, Any]]) -> list[tuple[str, float]]:
    times = [(r["id"], r["summary"]["build_s"]) for r in rows
             if r["summary"]["build_s"] is not None]
    return sorted(times, key=lambda kv: -kv[1])[:MAX_BUILD_BARS]


def _bar_chart(title: str, items: list[tuple[str, float]], element_id: str, unit: str) -> str:
    """A horizontal bar chart as inline SVG (no script needed to see it)."""
    if not items:
        return (f"<div class=card id={element_id}><h2>{html.escape(title)}</h2>"
                "<p>no data</p></div>")
    top = max(v for _, v in items) or 1
    bar_h, label_w, width = 18, 220, 640
    parts = []
    for i, (label, value) in enumerate(items):
        y = i * (bar_h + 4)
        w = max(1.0, (width - label_w - 60) * value / top)
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 13}" text-anchor="end">'
            f"{html.escape(str(label)[:32])}</text>"
            f'<rect class=bar x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h}">'
            f"<title>{html.escape(str(label))}: {value}{unit}</title></rect>"
            f'<text x="{label_w + w + 4:.1f}" y="{y + 13}">{value}{unit}</text>')
    height = len(items) * (bar_h + 4)
    return (f"<div class=card id={element_id}><h2>{html.escape(title)}</h2>"
            f'<svg role=img width="{width}" height="{height}" viewBox="0 0 {width} {height}">'
            f"{''.join(parts)}</svg></div>")


TABLE = """
<section class=table>
  <div class=controls>
    <input id=filter type=search placeholder="Filter: id, verdict, category, failure class">
    <select id=verdict-filter><option value="">all verdicts</option>
      <option>reproducible</option><option>repaired</option><option>needs-human</option>
      <option>pending</option></select>
    <span id=shown></span>
  </div>
  <table id=results><thead><tr>
    <th data-key=id>id</th><th data-key=track>track</th><th data-key=verdict>verdict</th>
    <th data-key=findings data-num=1>findings</th><th data-key=fix>fix</th>
    <th data-key=build>build</th><th data-key=failure_class>failure class</th>
    <th data-key=build_s data-num=1>build s</th><th data-key=smoke>smoke</th>
  </tr></thead><tbody></tbody></table>
</section>
<section id=detail hidden>
  <button id=close-detail type=button>close</button>
  <h2 id=detail-title></h2>
  <div id=detail-body></div>
</section>
"""

CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#212121;background:#fafafa}
h1{margin:0}.sub{color:#616161;margin-top:2px}
.totals,.charts{display:flex;flex-wrap:wrap;gap:12px;margin:12px 0}
.card{background:#fff;border:1px solid #e0e0e0;border-radius:6px;padding:8px 14px}
.card h2{font-size:15px;margin:4px 0 8px}.card ul{list-style:none;padding:0;margin:0}
.dot{display:inline-block;width:10px;height:10px;border-radius:5px;margin-right:6px}
svg text{font-size:12px;fill:#424242}.bar{fill:#5c6bc0}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{border-bottom:1px solid #eee;padding:4px 8px;text-align:left}
th{cursor:pointer;user-select:none;background:#f5f5f5}
th.asc::after{content:" \\25B2"}th.desc::after{content:" \\25BC"}
tbody tr{cursor:pointer}tbody tr:hover{background:#e8eaf6}
.v-reproducible{color:#2e7d32;font-weight:600}.v-repaired{color:#1565c0;font-weight:600}
.v-needs-human{color:#c62828;font-weight:600}
.controls{margin:8px 0;display:flex;gap:8px;align-items:center}
#filter{width:340px;padding:4px}
#detail{position:fixed;top:0;right:0;bottom:0;width:55%;overflow:auto;background:#fff;
  border-left:2px solid #9fa8da;padding:16px;box-shadow:-4px 0 12px rgba(0,0,0,.15)}
pre{background:#263238;color:#eceff1;padding:8px;overflow:auto;font-size:12px}
.frame .hit{background:#ffcc80;color:#000}.diff .add{color:#a5d6a7}.diff .del{color:#ef9a9a}
"""

JS = r"""
(function(){
'use strict';
var rows = JSON.parse(document.getElementById('data').textContent);
var tbody = document.querySelector('#results tbody');
var sortKey = null, sortDir = 1;
function el(tag, text, cls){var e=document.createElement(tag);
  if(text!==undefined&&text!==null)e.textContent=String(text); if(cls)e.className=cls; return e;}
function cell(r,k){var s=r.summary; if(k==='id'||k==='track'||k==='verdict')return r[k];
  return s[k]===null||s[k]===undefined?'':s[k];}
function matches(r,q,v){
  if(v&&r.verdict!==v)return false; if(!q)return true;
  var hay=[r.id,r.track,r.verdict,r.summary.failure_class,r.summary.fix,r.summary.build,
    Object.keys(r.summary.categories).join(' '),r.reasons.join(' ')].join(' ').toLowerCase();
  return hay.indexOf(q)>=0;}
function draw(){
  var q=document.getElementById('filter').value.trim().toLowerCase();
  var v=document.getElementById('verdict-filter').value;
  var list=rows.filter(function(r){return matches(r,q,v);});
  if(sortKey){var num=document.querySelector('th[data-key="'+sortKey+'"]').dataset.num;
    list.sort(function(a,b){var x=cell(a,sortKey),y=cell(b,sortKey);
      if(num){x=Number(x)||0;y=Number(y)||0;}else{x=String(x);y=String(y);}
      return x<y?-sortDir:x>y?sortDir:0;});}
  tbody.textContent='';
  list.forEach(function(r){var tr=el('tr'); tr.dataset.id=r.id;
    ['id','track','verdict','findings','fix','build','failure_class','build_s','smoke']
    .forEach(function(k){var td=el('td',cell(r,k)); if(k==='verdict')td.className='v-'+r.verdict;
      tr.appendChild(td);});
    tr.addEventListener('click',function(){show(r);}); tbody.appendChild(tr);});
  document.getElementById('shown').textContent=list.length+' of '+rows.length+' shown';}
function section(parent,title){var s=el('div');s.appendChild(el('h3',title));
  parent.appendChild(s);return s;}
function pre(parent,lines,cls){var p=el('pre',undefined,cls);
  lines.forEach(function(l){var line=el('span',l[0]+'\n',l[1]);p.appendChild(line);});
  parent.appendChild(p);}
function show(r){
  var body=document.getElementById('detail-body'); body.textContent='';
  document.getElementById('detail-title').textContent=r.id+' - '+r.verdict;
  var why=section(body,'Verdict'); var ul=el('ul');
  r.reasons.forEach(function(x){ul.appendChild(el('li',x));}); why.appendChild(ul);
  var st=r.stages;
  if(st.scan){var f=section(body,'Findings ('+(st.scan.findings||[]).length+')');
    (st.scan.findings||[]).forEach(function(x){
      f.appendChild(el('p',x.path+':'+x.line+'  '+x.rule+' ['+x.category+', '+x.severity+
        ']  '+x.message));
      pre(f,(x.frame||[]).map(function(l){return [String(l[0]).padStart(4)+' | '+l[1],
        l[0]===x.line?'hit':''];}),'frame');});}
  if(st.fix){var d=section(body,'Fix: '+st.fix.status+' ('+st.fix.applied+' applied, '+
      st.fix.skipped+' skipped)');
    if(st.fix.diff){pre(d,st.fix.diff.split('\n').map(function(l){
      return [l,l[0]==='+'?'add':l[0]==='-'?'del':''];}),'diff');}
    (st.fix.skipped_reasons||[]).forEach(function(x){d.appendChild(el('p','skipped: '+x));});}
  if(st.rebuild){var b=section(body,'Build: '+st.rebuild.status);
    ['original','repaired'].forEach(function(w){var x=st.rebuild[w]; if(!x)return;
      b.appendChild(el('p',w+': '+x.status+(x.failure_class?' ('+x.failure_class+')':'')+
        ' in '+Number(x.duration_s||0).toFixed(1)+'s'));
      if(x.evidence)pre(b,[['evidence'+(x.evidence_line?' (log line '+x.evidence_line+')':'')+
        ': '+x.evidence,'']]);});
    (st.rebuild.base_notes||[]).forEach(function(n){b.appendChild(el('p','note: '+n));});}
  if(st.smoke){var s=section(body,'Smoke: '+st.smoke.status);
    ['original','repaired'].forEach(function(w){var x=st.smoke[w]; if(!x)return;
      var t=el('table'); (x.checks||[]).forEach(function(c){var tr=el('tr');
        tr.appendChild(el('td',w));tr.appendChild(el('td',c.name));
        tr.appendChild(el('td',c.status));tr.appendChild(el('td',c.detail));t.appendChild(tr);});
      s.appendChild(t);});}
  var tm=section(body,'Timings'); var tl=el('ul');
  Object.keys(st).forEach(function(k){tl.appendChild(el('li',k+': '+
    Number(st[k].duration_s||0).toFixed(2)+'s'));}); tm.appendChild(tl);
  document.getElementById('detail').hidden=false;}
document.querySelectorAll('#results th').forEach(function(th){
  th.addEventListener('click',function(){var k=th.dataset.key;
    sortDir=(sortKey===k)?-sortDir:1; sortKey=k;
    document.querySelectorAll('#results th').forEach(function(h){h.className='';});
    th.className=sortDir>0?'asc':'desc'; draw();});});
document.getElementById('filter').addEventListener('input',draw);
document.getElementById('verdict-filter').addEventListener('change',draw);
document.getElementById('close-detail').addEventListener('click',function(){
  document.getElementById('detail').hidden=true;});
draw();
})();
"""
