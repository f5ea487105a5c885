# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The default Jinja2 template of report.html, kept as a string because AnsiballZ ships only .py module_utils.

Self-contained: inline CSS and inline SVG, no script, nothing to fetch. It gets the variables of
_report_html.report_view (documented in docs/docsite/rst/journal.rst); every value is escaped (autoescape).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DEFAULT_TEMPLATE = u'''<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;margin:24px;color:#222;
background:#fafafa}
h1{margin:0 0 4px;font-size:24px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
h3{font-size:16px;margin:18px 0 6px}
.meta{color:#555;font-size:13px}.meta code{background:#eee;padding:1px 4px;border-radius:3px}
.verdict{display:inline-block;margin:14px 0 4px;padding:12px 26px;border-radius:8px;font-size:28px;font-weight:700;
letter-spacing:.04em;color:#fff}
{% for name in ('passed', 'inconclusive', 'deviated', 'aborted') %}
.verdict-{{ name }}{background:{{ colors[name] }}}.pill.{{ name }}{background:{{ colors[name] }}}
{% endfor %}
.verdict-reason{font-size:16px;margin:4px 0 10px}
.pill{display:inline-block;padding:1px 8px;border-radius:10px;color:#fff;font-size:12px;font-weight:600;background:#777}
table{border-collapse:collapse;margin:6px 0 10px;font-size:13px;background:#fff}
th,td{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}th{background:#f0f0f0}
td.num{text-align:right;font-variant-numeric:tabular-nums}tr.bad td{background:#fdecea}
td.pass{color:#2e7d32}td.fail{color:#c62828;font-weight:600;background:#fdecea}td.not-judged,td.none{color:#888}
.chart{background:#fff;border:1px solid #ddd;border-radius:6px;padding:6px;overflow-x:auto}
svg text{font-family:inherit}.lane-label{font-size:13px;font-weight:600}.unit{font-size:11px;fill:#555}
.axis text{font-size:11px;fill:#555}.axis line.grid{stroke:#ececec}.row-label{font-size:12px;fill:#333}
.fault-label,.skipped-label{font-size:11px;fill:#222}.tick{font-size:10px;fill:#555}.mark-label{font-size:10px}
.recovery-label{font-size:11px}.threshold-label{font-size:10px;fill:{{ colors.threshold }}}
details{margin:6px 0}pre{background:#f4f4f4;padding:8px;overflow-x:auto;font-size:12px}
.empty{color:#888;font-style:italic}
</style></head><body>
<h1>{{ title }}</h1>
<div id="verdict" class="verdict verdict-{{ verdict.name }}">Verdict: {{ verdict.label }}</div>
<p class="verdict-reason" id="verdict-reason">{{ verdict.reason }}{% if verdict.halted %} (halted){% endif %}</p>
{% if description %}<p>{{ description }}</p>{% endif %}
<div class="meta">run <code>{{ run_id }}</code> &middot; {{ started_at or '?' }} to {{ finished_at or '?' }} &middot;
{{ hosts | length }} host{{ '' if hosts | length == 1 else 's' }}</div>

{% for host in hosts %}
{% set c = host.chart %}
<h2>{{ host.name }} <span class="pill {{ host.verdict }}">{{ host.verdict }}</span></h2>
{% if host.reason %}<p>{{ host.reason }}{% if host.halted %} (halted){% endif %}</p>{% endif %}
<div class="chart">
<svg class="timeline" id="timeline-{{ loop.index }}" data-host="{{ host.name }}" xmlns="http://www.w3.org/2000/svg"
 width="{{ c.width }}" height="{{ c.height }}" viewBox="0 0 {{ c.width }} {{ c.height }}" style="max-width:100%;height:auto"
 role="img" aria-label="Timeline of {{ host.name }}">
<title>Timeline of {{ host.name }}</title>
{% for p in c.phases %}
<rect class="phase phase-{{ p.css }}" x="{{ p.x }}" y="{{ c.top }}" width="{{ p.width }}" height="{{ c.bottom - c.top }}"
 fill="{{ p.fill }}"><title>{{ p.phase }}</title></rect>
{% endfor %}
<g class="axis">
{% for t in c.clock %}
<line class="grid" x1="{{ t.x }}" y1="{{ c.top - 4 }}" x2="{{ t.x }}" y2="{{ c.bottom + 4 }}"/>
<text x="{{ t.x }}" y="{{ c.top - 10 }}" text-anchor="middle">{{ t.label }}</text>
<text x="{{ t.x }}" y="{{ c.bottom + 18 }}" text-anchor="middle">{{ t.label }}</text>
{% endfor %}
<text x="10" y="{{ c.top - 10 }}">{{ c.clock_caption }}</text>
</g>
{% for r in c.rows %}<text class="row-label" x="10" y="{{ r.y }}">{{ r.label }}</text>
{% endfor %}
{% for b in c.bars %}
<rect class="fault{% if b.open %} open{% endif %}{% if b.errors %} fault-error{% endif %}{% if b.dry_run %} dry-run{% endif %}"
 data-fault="{{ b.fault }}" x="{{ b.x }}" y="{{ b.y }}" width="{{ b.width }}" height="{{ b.height }}"
 fill="{{ colors.fault }}" shape-rendering="crispEdges"
{%- if b.errors %} stroke="{{ colors.sample_failed }}" stroke-width="2"{% endif %}
{%- if b.dry_run %} fill-opacity="0.35"{% endif %}><title>{{ b.tip }}</title></rect>
<text class="fault-label" x="{{ b.label_x }}" y="{{ b.label_y }}" text-anchor="{{ b.anchor }}">{{ b.label }}</text>
{% endfor %}
{% for s in c.skipped %}
<rect class="skipped-fault" x="{{ s.x }}" y="{{ s.y }}" width="{{ s.width }}" height="{{ s.height }}"
 fill="#eeeeee" stroke="{{ colors.skipped }}"><title>{{ s.tip }}</title></rect>
{% for h in s.hatch %}<line class="hatch" x1="{{ h[0] }}" y1="{{ h[1] }}" x2="{{ h[2] }}" y2="{{ h[3] }}"
 stroke="{{ colors.skipped }}" stroke-width="1.5"/>{% endfor %}
<text class="skipped-label" x="{{ s.label_x }}" y="{{ s.label_y }}" text-anchor="{{ s.anchor }}">{{ s.label }}</text>
{% endfor %}
{% for m in c.recovery %}
<path class="recovery{% if not m.recovered %} not-recovered{% endif %}" d="M{{ m.x }} {{ m.y }} l6 9 l-6 9 l-6 -9 z"
 fill="{{ colors.ttr if m.recovered else colors.sample_failed }}"><title>{{ m.tip }}</title></path>
<line class="recovery{% if not m.recovered %} not-recovered{% endif %}" x1="{{ m.x }}" y1="{{ m.y + 18 }}" x2="{{ m.x }}"
 y2="{{ c.bottom }}" stroke="{{ colors.ttr if m.recovered else colors.sample_failed }}" stroke-width="1" stroke-dasharray="2 3"/>
<text class="recovery-label" x="{{ m.label_x }}" y="{{ m.label_y }}" text-anchor="{{ m.anchor }}"
 fill="{{ colors.ttr if m.recovered else colors.sample_failed }}">{{ m.label }}</text>
{% endfor %}
{% for lane in c.lanes %}
<g class="lane" data-probe="{{ lane.probe }}">
<text class="lane-label" x="10" y="{{ lane.y + 18 }}">{{ lane.probe }}</text>
<text class="unit" x="10" y="{{ lane.y + 34 }}">{{ lane.unit or 'value' }}{% if lane.type %} ({{ lane.type }}){% endif %}</text>
<rect x="{{ c.left }}" y="{{ lane.area_top }}" width="{{ c.right - c.left }}" height="{{ lane.area_bottom - lane.area_top }}"
 fill="none" stroke="#cccccc"/>
<line class="y-axis" x1="{{ c.left }}" y1="{{ lane.area_top }}" x2="{{ c.left }}" y2="{{ lane.area_bottom }}" stroke="#555"/>
{% for t in lane.ticks %}
<line x1="{{ c.left - 4 }}" y1="{{ t.y }}" x2="{{ c.left }}" y2="{{ t.y }}" stroke="#555"/>
<text class="tick" x="{{ c.left - 7 }}" y="{{ t.y + 3 }}" text-anchor="end">{{ t.label }}</text>
{% endfor %}
{% for points in lane.segments %}
<polyline class="probe-line" data-probe="{{ lane.probe }}" points="{{ points }}" fill="none" stroke="{{ colors.value_line }}"
 stroke-width="1.5"/>
{% endfor %}
{% if lane.threshold %}
<line class="threshold" data-probe="{{ lane.probe }}" x1="{{ c.left }}" y1="{{ lane.threshold.y }}" x2="{{ c.right }}"
 y2="{{ lane.threshold.y }}" stroke="{{ colors.threshold }}" stroke-width="2" shape-rendering="crispEdges"/>
<text class="threshold-label" x="{{ c.right - 2 }}" y="{{ lane.threshold.y - 4 }}" text-anchor="end">threshold {{ lane.threshold.label }} {{ lane.unit }}</text>
{% endif %}
{% for m in lane.marks %}
<line class="{{ m.kind }}" x1="{{ m.x }}" y1="{{ m.y1 }}" x2="{{ m.x }}" y2="{{ m.y2 }}" stroke="{{ colors[m.kind] }}"
 stroke-width="1.5" stroke-dasharray="4 3"><title>{{ m.tip }}</title></line>
<text class="mark-label {{ m.kind }}-label" x="{{ m.label_x }}" y="{{ m.label_y }}" fill="{{ colors[m.kind] }}">{{ m.label }}</text>
{% endfor %}
{% for p in lane.points %}
<circle class="probe-point {{ 'ok' if p.ok else 'failed' }}{% if not p.has_value %} no-value{% endif %}" data-probe="{{ lane.probe }}"
 cx="{{ p.cx }}" cy="{{ p.cy }}" r="{{ 3 if p.ok else 4.5 }}"
 fill="{{ colors.sample_ok if p.ok else colors.sample_failed }}"><title>{{ p.tip }}</title></circle>
{% endfor %}
</g>
{% endfor %}
</svg>
</div>

<h3>Probes</h3>
{% if host.probes %}
<table class="probes"><thead><tr><th>probe</th><th>type</th><th>threshold</th><th>judged in</th>
<th>before</th><th>during</th><th>after</th></tr></thead><tbody>
{% for p in host.probes %}
<tr{% if p.bad %} class="bad"{% endif %}><td>{{ p.probe }}</td><td>{{ p.type }}</td><td>{{ p.threshold }}</td><td>{{ p.judged_in }}</td>
{% for cell in p.phases[:3] %}<td class="{{ cell.status }}">{{ cell.text }}</td>{% endfor %}</tr>
{% endfor %}
</tbody></table>
{% else %}<p class="empty">no probe sampled</p>{% endif %}

<h3>Fault windows</h3>
{% if host.windows %}
<table class="windows"><thead><tr><th>fault</th><th>iteration</th><th>targets</th><th>applied</th><th>ended</th>
<th>end by</th><th>seconds</th><th>probe: samples/failed</th><th>TTD s</th><th>TTR s</th></tr></thead><tbody>
{% for w in host.windows %}
<tr{% if w.bad %} class="bad"{% endif %}><td>{{ w.fault }}{% if w.family and w.family != w.fault %} ({{ w.family }}){% endif %}
{% if w.errors %}<br>{{ w.errors }}{% endif %}</td><td class="num">{{ w.iteration }}</td><td>{{ w.targets }}</td>
<td>{{ w.applied_at }}</td><td>{{ w.ended_at }}</td><td>{{ w.end_by }}</td><td class="num">{{ w.seconds }}</td>
<td>{% for p in w.probes %}{{ p.probe }}: {{ p.samples }}/{{ p.failed }}
{%- if p.conclusive is sameas false %} (inconclusive, min {{ p.min_samples }}){% endif %}
{%- if not loop.last %}<br>{% endif %}{% endfor %}</td>
<td class="num">{% for p in w.probes %}{{ p.ttd }}{% if not loop.last %}<br>{% endif %}{% endfor %}</td>
<td class="num">{% for p in w.probes %}{{ p.ttr }}{% if not loop.last %}<br>{% endif %}{% endfor %}</td></tr>
{% endfor %}
</tbody></table>
{% else %}<p class="empty">no fault injected</p>{% endif %}

{% if host.skipped %}
<h3>Skipped</h3>
<table class="skipped"><thead><tr><th>what</th><th>iteration</th><th>at</th><th>reason</th></tr></thead><tbody>
{% for s in host.skipped %}<tr><td>{{ s.what }}</td><td class="num">{{ s.iteration }}</td><td>{{ s.at }}</td><td>{{ s.reason }}</td></tr>
{% endfor %}
</tbody></table>
{% endif %}

{% if host.recovery %}
<h3>Recovery</h3>
<table class="recovery"><thead><tr><th>what</th><th>seconds</th><th>recovered</th></tr></thead><tbody>
{% for r in host.recovery %}<tr{% if not r.recovered %} class="bad"{% endif %}><td>{{ r.what }}</td><td class="num">{{ r.seconds }}</td>
<td>{{ 'yes' if r.recovered else 'NO' }}</td></tr>
{% endfor %}
</tbody></table>
{% endif %}

<details><summary>Values per probe and phase</summary>
<table class="values"><thead><tr><th>phase</th><th>probe</th><th>samples</th><th>failed</th><th>min</th><th>median</th>
<th>max</th><th>unit</th><th>last failure, else last detail</th></tr></thead><tbody>
{% for v in host.value_rows %}<tr{% if v.bad %} class="bad"{% endif %}><td>{{ v.phase }}</td><td>{{ v.probe }}</td>
<td class="num">{{ v.samples }}</td><td class="num">{{ v.failed }}</td><td class="num">{{ v.min }}</td>
<td class="num">{{ v.median }}</td><td class="num">{{ v.max }}</td><td>{{ v.unit }}</td><td>{{ v.detail }}</td></tr>
{% endfor %}
</tbody></table>
</details>
<details><summary>Every sample</summary>
<table class="samples"><thead><tr><th>at</th><th>phase</th><th>probe</th><th>value</th><th>result</th><th>detail</th></tr></thead>
<tbody>
{% for s in host.samples %}<tr{% if not s.ok %} class="bad"{% endif %}><td>{{ s.at }}</td><td>{{ s.phase }}</td><td>{{ s.probe }}</td>
<td class="num">{{ s.value }}</td><td>{{ 'ok' if s.ok else 'FAILED' }}</td><td>{{ s.detail }}</td></tr>
{% endfor %}
</tbody></table>
</details>
{% endfor %}

<h2>Environment</h2>
{% if environment %}
<table class="environment"><thead><tr><th>host</th><th>verdict</th><th>started</th><th>finished</th><th>controller</th>
<th>ansible-core</th><th>collection</th><th>python</th></tr></thead><tbody>
{% for e in environment %}{% set h = hosts[loop.index0] %}
<tr><td>{{ e.host }}</td><td><span class="pill {{ h.verdict }}">{{ h.verdict }}</span></td><td>{{ h.started_at }}</td>
<td>{{ h.finished_at }}</td><td>{{ e.controller }}</td><td>{{ e.ansible_core }}</td><td>{{ e.collection }}</td>
<td>{{ e.python }}</td></tr>
{% endfor %}
</tbody></table>
{% else %}<p class="empty">no host recorded</p>{% endif %}

<h2>Experiment</h2>
<details><summary>The experiment as recorded</summary>
<pre>{{ experiment_json }}</pre>
</details>
<p class="meta">Journal schema {{ schema }} &middot; generated by chaos.engineering.experiment_journal</p>
</body></html>
'''
