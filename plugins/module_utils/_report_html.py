# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""report.html from a journal: a view of the run (every number and every SVG coordinate computed here), rendered
by a Jinja2 template with autoescape on.

The default template is _report_template.DEFAULT_TEMPLATE (a string: AnsiballZ ships only .py module_utils).
experiment_journal's ``template`` option gives another one; it gets the variables of ``report_view`` (documented
in docs/docsite/rst/journal.rst). The journal is redacted before the view is made, so no template sees a secret.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import math
import re
import traceback

from ansible_collections.chaos.engineering.plugins.module_utils._journal_views import (
    PHASE_ORDER,
    SCHEMA,
    VERDICT_RANK,
    JournalError,
    fault_errors,
    format_number,
    number_or_none,
    phase_spans,
    phases_of,
    probe_summaries,
    recovery_time,
    sample_value,
    skipped_time,
    threshold_text,
    window_title,
    windows_of,
)
from ansible_collections.chaos.engineering.plugins.module_utils._timefmt import iso_utc, to_epoch
from ansible_collections.chaos.engineering.plugins.module_utils._redact import redact
from ansible_collections.chaos.engineering.plugins.module_utils._report_template import DEFAULT_TEMPLATE

try:
    import jinja2
    HAS_JINJA2 = True
    JINJA2_IMPORT_ERROR = None
except ImportError:  # pragma: no cover - ansible-core itself needs jinja2; a bare interpreter may not have it
    jinja2 = None
    HAS_JINJA2 = False
    JINJA2_IMPORT_ERROR = traceback.format_exc()

# Distinctive colours: the browser test finds the threshold lines and the fault bars by them.
COLORS = dict(
    passed='#2e7d32', inconclusive='#546e7a', deviated='#ef6c00', aborted='#c62828',
    threshold='#d81b9c', fault='#5e35b1', sample_ok='#2e7d32', sample_failed='#d62728', value_line='#90a4ae',
    ttd='#d62728', ttr='#2e7d32', skipped='#9e9e9e',
    phase_before='#e8f5e9', phase_during='#fff3e0', phase_after='#e3f2fd', phase_other='#f3f3f3',
)
WIDTH = 1200
LEFT = 210
RIGHT = 30
AXIS_H = 30
ROW_H = 24
LANE_H = 96
LANE_GAP = 16


# ---------------------------------------------------------------------------------------------
# Scales


def _tick_step(span):
    for step in (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 43200, 86400):
        if span / step <= 10:
            return step
    return 86400 * max(1, int(math.ceil(span / 86400 / 10)))


def _clock(seconds, step):
    text = iso_utc(seconds)
    if step >= 86400:
        return text[:10]
    if step < 1:
        return text[11:21]
    return text[11:19]


def _nice_top(high):
    """(top, step) of a value axis from 0 that holds ``high``, in 1-2-2.5-5 steps, four or five ticks."""
    if high is None or high <= 0:
        return 1.0, 0.25
    raw = high / 4.0
    magnitude = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        step = factor * magnitude
        if step >= raw:
            break
    return step * math.ceil(high / step - 1e-9), step


def time_range(journal):
    """(first, last) epoch seconds of everything a journal shows, at least a second apart."""
    times = []
    for record in (journal.get('hosts') or {}).values():
        times += [to_epoch(record.get('started_at')), to_epoch(record.get('finished_at'))]
        for window in windows_of(record):
            times += [window['start'], window['end']]
        for phase, start, end in phase_spans(record):
            times += [start, end]
        times += [to_epoch(s.get('at')) for s in record.get('probes') or []]
        times += [skipped_time(record, item) for item in record.get('skipped') or []]
        times += [recovery_time(record, item) for item in record.get('recovery') or []]
    times = [t for t in times if t is not None]
    if not times:
        return 0.0, 1.0
    low, high = min(times), max(times)
    if high - low < 1.0:
        high = low + 1.0
    return low, high


# ---------------------------------------------------------------------------------------------
# The chart of one host


def _hatch(left, top, width, height, gap=5):
    """Diagonal lines inside a box (a hatched marker without an SVG pattern, which would need a url())."""
    lines = []
    offset = gap
    while offset < width + height:
        x1, x2 = max(left, left + offset - height), min(left + width, left + offset)
        if x1 < x2:
            lines.append((round(x1, 1), round(top + offset - (x1 - left), 1), round(x2, 1),
                          round(top + offset - (x2 - left), 1)))
        offset += gap
    return lines


def _label_place(right_x, left_x):
    """A timeline label's (x, text-anchor): right of its mark, or left of it when it would run off the chart."""
    if right_x > WIDTH - RIGHT - 220:
        return left_x, 'end'
    return right_x, 'start'


def _chart(record, summaries, t0, t1):
    plot = WIDTH - LEFT - RIGHT

    def x(moment):
        return round(LEFT + (moment - t0) / (t1 - t0) * plot, 1)

    windows = windows_of(record)
    skipped = record.get('skipped') or []
    recovery = record.get('recovery') or []
    y = AXIS_H
    rows = []
    bars = []
    for window in windows:
        label = window_title(window)
        rows.append(dict(label=label, y=y + 16))
        if window['start'] is not None:
            end = window['end'] if window['end'] is not None else t1
            bx = x(window['start'])
            bw = max(3.0, round(x(end) - bx, 1))
            text = '%s: %s' % (window.get('fault') or window.get('name'), ', '.join(window.get('targets') or []) or
                               'no target')
            if window.get('dry_run'):
                text += ' (check mode)'
            if window.get('errors'):
                text += ' (errors)'
            label_x, anchor = _label_place(bx + bw + 5, bx - 5)
            tip = '%s\n%s to %s%s%s' % (label, window.get('applied_at'), window.get('ended_at') or 'still in at the end',
                                        '' if not window.get('end_by') else ' (%s)' % window['end_by'],
                                        ''.join('\n' + e for e in window.get('errors') or []))
            bars.append(dict(x=bx, y=y + 3, width=bw, height=18, fault=window.get('fault') or window.get('name'),
                             label=text, label_x=round(label_x, 1), label_y=y + 16, anchor=anchor, tip=tip,
                             open=window['end'] is None, errors=bool(window.get('errors')),
                             dry_run=bool(window.get('dry_run'))))
        y += ROW_H
    skipped_marks = []
    if skipped:
        rows.append(dict(label='skipped', y=y + 16))
        for item in skipped:
            moment = skipped_time(record, item)
            if moment is None:
                continue
            what = str(item.get('name') or item.get('what') or '?')
            sx = x(moment)
            label_x, anchor = _label_place(sx + 14, sx - 4)
            skipped_marks.append(dict(x=round(sx - 5, 1), y=y + 3, width=10, height=18, hatch=_hatch(sx - 5, y + 3, 10, 18),
                                      label='skipped: %s' % what,
                                      label_x=round(label_x, 1), label_y=y + 16, anchor=anchor,
                                      tip='skipped: %s\n%s' % (what, item.get('reason') or '')))
        y += ROW_H
    recovery_marks = []
    if recovery:
        rows.append(dict(label='recovery', y=y + 16))
        for item in recovery:
            moment = recovery_time(record, item)
            if moment is None:
                continue
            good = bool(item.get('recovered'))
            rx = x(moment)
            text = '%s %s %ss' % (item.get('what'), 'back in' if good else 'not back after', format_number(item.get('seconds')))
            anchor = 'end' if rx > WIDTH - RIGHT - 220 else 'start'
            recovery_marks.append(dict(x=rx, y=y + 2, recovered=good, label=text, anchor=anchor,
                                       label_x=round(rx + (-9 if anchor == 'end' else 9), 1), label_y=y + 16,
                                       tip='%s: %s after %ss' % (item.get('what'), 'recovered' if good else 'NOT recovered',
                                                                 format_number(item.get('seconds')))))
        y += ROW_H
    if not rows:
        rows.append(dict(label='no fault injected', y=y + 16))
        y += ROW_H

    samples_of = {}
    for sample in record.get('probes') or []:
        samples_of.setdefault(str(sample.get('probe')), []).append(sample)
    lanes = []
    y += 8
    for view in summaries:
        name = view['probe']
        samples = sorted((s for s in samples_of.get(name, []) if to_epoch(s.get('at')) is not None),
                         key=lambda s: to_epoch(s.get('at')))
        values = [v for v in (sample_value(s) for s in samples) if v is not None]
        threshold = (view.get('threshold') or {}).get('value')
        top, step = _nice_top(max(values + ([threshold] if threshold is not None else [])) * 1.1
                              if values or threshold is not None else None)
        low = min([0.0] + values + ([threshold] if threshold is not None else []))
        if low < 0:
            low = -_nice_top(-low * 1.1)[0]
        area_top, area_bottom = y + 6, y + LANE_H - 8

        def y_of(value, low=low, top=top, area_top=area_top, area_bottom=area_bottom):
            return round(area_bottom - (float(value) - low) / (top - low) * (area_bottom - area_top), 1)

        ticks = []
        tick = low
        while tick <= top + 1e-9 and len(ticks) < 12:
            ticks.append(dict(y=y_of(tick), label=format_number(round(tick, 6))))
            tick += step
        line = None
        if threshold is not None:
            # Whole pixels: a crisp line of the threshold colour, that a screenshot shows unblended.
            line = dict(y=int(round(y_of(threshold))), label='%s %s' % (view['threshold'].get('op') or '',
                                                                        format_number(threshold)))
        points = []
        segments = []
        segment = []
        last_phase = None
        for sample in samples:
            value = sample_value(sample)
            if value is None or sample.get('phase') != last_phase:
                if len(segment) > 1:
                    segments.append(' '.join(segment))
                segment = []
            last_phase = sample.get('phase')
            cx = x(to_epoch(sample['at']))
            cy = y_of(value) if value is not None else area_bottom - 2
            if value is not None:
                segment.append('%.1f,%.1f' % (cx, cy))
            points.append(dict(cx=cx, cy=cy, ok=bool(sample.get('ok')), has_value=value is not None,
                               tip='%s [%s] %s: %s%s' % (name, sample.get('phase'), sample.get('at'),
                                                         sample.get('detail') or '',
                                                         '' if value is None else ' (%s %s)' % (
                                                             format_number(value), view.get('unit') or ''))))
        if len(segment) > 1:
            segments.append(' '.join(segment))
        marks = []
        for window in windows:
            for probe in window.get('probes') or []:
                if str(probe.get('probe')) != name:
                    continue
                for kind, key, seconds_key, word in (('ttd', 'detected_at', 'time_to_detect', 'TTD'),
                                                     ('ttr', 'recovered_at', 'time_to_recover', 'TTR')):
                    moment = to_epoch(probe.get(key))
                    if moment is None:
                        continue
                    seconds = number_or_none(probe.get(seconds_key))
                    label = '%s %ss' % (word, format_number(seconds)) if seconds is not None else word
                    mx = x(moment)
                    marks.append(dict(kind=kind, x=mx, y1=area_top, y2=area_bottom, label=label,
                                      label_x=round(mx + 3, 1), label_y=area_top + (9 if kind == 'ttd' else 20),
                                      tip='%s %s: %s at %s' % (window_title(window), name, label, probe.get(key))))
        lanes.append(dict(probe=name, unit=view.get('unit') or '', type=view.get('type') or '', y=y, height=LANE_H,
                          area_top=area_top, area_bottom=area_bottom, ticks=ticks, threshold=line,
                          segments=segments, points=points, marks=marks))
        y += LANE_H + LANE_GAP
    height = y + AXIS_H
    step = _tick_step(t1 - t0)
    clock = []
    moment = math.ceil(t0 / step) * step
    while moment <= t1 + 1e-9 and len(clock) < 40:
        clock.append(dict(x=x(moment), label=_clock(moment, step)))
        moment += step
    phases = []
    for phase, start, end in phase_spans(record):
        px = x(start)
        phases.append(dict(phase=phase, css=re.sub(r'[^a-z0-9_-]', '', phase.lower()), x=px,
                           width=max(2.0, round(x(end) - px, 1)),
                           fill=COLORS.get('phase_' + phase, COLORS['phase_other'])))
    return dict(width=WIDTH, height=height, left=LEFT, right=WIDTH - RIGHT, top=AXIS_H, bottom=height - AXIS_H,
                clock=clock, clock_caption='UTC %s' % iso_utc(t0)[:10], phases=phases, rows=rows, bars=bars,
                skipped=skipped_marks, recovery=recovery_marks, lanes=lanes)


# ---------------------------------------------------------------------------------------------
# The tables


def _probe_rows(summaries):
    rows = []
    for view in summaries:
        cells = []
        phases = list(PHASE_ORDER) + [p for p in view['phases'] if p not in PHASE_ORDER]
        for phase in phases:
            counts = view['phases'].get(phase)
            judged = phase in view['judged_in']
            if not counts or not counts.get('samples'):
                status, text = 'none', 'no sample'
            else:
                status = ('fail' if counts['failed'] else 'pass') if judged else 'not-judged'
                text = '%s: %d/%d failed%s' % ('FAIL' if status == 'fail' else 'pass' if status == 'pass' else 'not judged',
                                               counts['failed'], counts['samples'], '')
            cells.append(dict(phase=phase, status=status, text=text, judged=judged,
                              samples=(counts or {}).get('samples', 0), failed=(counts or {}).get('failed', 0)))
        rows.append(dict(probe=view['probe'], type=view.get('type') or '', unit=view.get('unit') or '',
                         threshold=threshold_text(view) or 'none', judged_in=', '.join(view['judged_in']),
                         phases=cells, bad=any(c['status'] == 'fail' for c in cells)))
    return rows


def _window_rows(record):
    rows = []
    for window in windows_of(record):
        probes = []
        for probe in window.get('probes') or []:
            probes.append(dict(
                probe=str(probe.get('probe')), samples=probe.get('samples'), failed=probe.get('failed'),
                held=probe.get('held', not probe.get('failed')), conclusive=probe.get('conclusive'),
                min_samples=probe.get('min_samples'),
                ttd='' if number_or_none(probe.get('time_to_detect')) is None else format_number(probe['time_to_detect']),
                ttr='' if number_or_none(probe.get('time_to_recover')) is None else format_number(probe['time_to_recover'])))
        rows.append(dict(
            fault=window.get('name') or '', family=window.get('fault') or '',
            iteration='' if window.get('iteration') is None else window['iteration'],
            targets=', '.join(window.get('targets') or []) or 'none', applied_at=window.get('applied_at') or '',
            ended_at=window.get('ended_at') or 'never, while observed', end_by=window.get('end_by') or '',
            seconds=format_number(number_or_none(window.get('seconds'))), probes=probes,
            errors='; '.join(window.get('errors') or []),
            bad=bool(window.get('errors')) or any(not p['held'] for p in probes)))
    return rows


def _stats(values):
    if not values:
        return '', '', ''
    ordered = sorted(values)
    size = len(ordered)
    middle = ordered[size // 2] if size % 2 else (ordered[size // 2 - 1] + ordered[size // 2]) / 2.0
    return tuple(format_number(round(float(v), 3)) for v in (ordered[0], middle, ordered[-1]))


def _value_rows(record, summaries):
    units = dict((v['probe'], v.get('unit') or '') for v in summaries)
    rows = []
    for phase, samples in phases_of(record):
        names = []
        for sample in samples:
            if str(sample.get('probe')) not in names:
                names.append(str(sample.get('probe')))
        for name in names:
            mine = [s for s in samples if str(s.get('probe')) == name]
            failed = [s for s in mine if not s.get('ok')]
            low, mid, high = _stats([v for v in (sample_value(s) for s in mine) if v is not None])
            rows.append(dict(phase=phase, probe=name, samples=len(mine), failed=len(failed), min=low, median=mid,
                             max=high, unit=units.get(name, ''),
                             detail=(failed[-1] if failed else mine[-1]).get('detail') or '', bad=bool(failed)))
    return rows


def _verdict_reason(hosts, verdict):
    worst = [(host, record) for host, record in sorted(hosts.items()) if record.get('verdict') == verdict]
    reasons = ['%s: %s' % (host, record.get('reason')) for host, record in worst if record.get('reason')]
    if reasons:
        return '; '.join(reasons)
    if verdict == 'passed':
        return 'The steady state held on every host.' if hosts else 'No host recorded.'
    return 'no reason given'


def report_view(journal):
    """Everything the template shows, from a journal (redacted here first). See docs/docsite/rst/journal.rst."""
    journal = redact(journal)
    experiment = journal.get('experiment') if isinstance(journal.get('experiment'), dict) else {}
    hosts = journal.get('hosts') if isinstance(journal.get('hosts'), dict) else {}
    verdict = journal.get('verdict') if journal.get('verdict') in VERDICT_RANK else 'passed'
    t0, t1 = time_range(journal)
    host_views = []
    for host in sorted(hosts):
        record = hosts[host]
        summaries = probe_summaries(record, experiment)
        host_views.append(dict(
            name=host, verdict=record.get('verdict'), reason=record.get('reason') or '',
            color=COLORS.get(record.get('verdict'), '#333'), halted=bool(record.get('halted')),
            started_at=record.get('started_at') or '', finished_at=record.get('finished_at') or '',
            environment=record.get('environment') or {}, chart=_chart(record, summaries, t0, t1),
            probes=_probe_rows(summaries), windows=_window_rows(record), value_rows=_value_rows(record, summaries),
            faults=[dict(fault=f.get('fault') or '', name=f.get('name') or '', iteration=f.get('iteration'),
                         errors='; '.join(fault_errors(f)), dry_run=bool(f.get('dry_run'))) for f in record.get('faults') or []],
            skipped=[dict(what=i.get('name') or i.get('what') or '', reason=i.get('reason') or '',
                          iteration='' if i.get('iteration') is None else i['iteration'], at=i.get('at') or '')
                     for i in record.get('skipped') or []],
            recovery=[dict(what=i.get('what') or '', seconds=format_number(i.get('seconds')),
                           recovered=bool(i.get('recovered'))) for i in record.get('recovery') or []],
            samples=[dict(at=s.get('at') or '', phase=s.get('phase') or '', probe=s.get('probe') or '',
                          value=format_number(sample_value(s)), ok=bool(s.get('ok')), detail=s.get('detail') or '')
                     for s in record.get('probes') or []]))
    environment = [dict(host=h['name'], controller=h['environment'].get('controller', ''),
                        ansible_core=h['environment'].get('ansible_core', ''),
                        collection=h['environment'].get('collection', ''), python=h['environment'].get('python', ''))
                   for h in host_views]
    return dict(
        title='Chaos experiment: %s' % (experiment.get('name') or journal.get('run_id')),
        name=experiment.get('name') or '', description=experiment.get('description') or '',
        run_id=journal.get('run_id') or '', schema=SCHEMA, started_at=journal.get('started_at') or '',
        finished_at=journal.get('finished_at') or '',
        verdict=dict(name=verdict, label=verdict.upper(), color=COLORS[verdict], reason=_verdict_reason(hosts, verdict),
                     halted=any(h['halted'] for h in host_views)),
        hosts=host_views, environment=environment,
        experiment_json=json.dumps(experiment, indent=2, sort_keys=True, default=str), colors=COLORS,
        journal=journal)


# ---------------------------------------------------------------------------------------------
# Rendering


def _environment():
    return jinja2.Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)


def compile_template(text):
    """A Jinja2 template from its text; JournalError when jinja2 is missing or the text is no template."""
    if not HAS_JINJA2:
        raise JournalError('The HTML report needs the Python library jinja2, which is not installed.')
    try:
        return _environment().from_string(text)
    except jinja2.TemplateSyntaxError as exc:
        raise JournalError('The report template is not a valid Jinja2 template: %s (line %s).' % (exc.message, exc.lineno))


def render_html(journal, template=None):
    """The report: one self-contained HTML file (the default template: inline CSS and SVG, no script, nothing
    fetched). ``template`` is the text of a Jinja2 template to use instead. Secrets are redacted."""
    compiled = compile_template(DEFAULT_TEMPLATE if template is None else template)
    try:
        return compiled.render(**report_view(journal))
    except jinja2.TemplateError as exc:
        raise JournalError('The report template failed: %s' % (exc,))
    except (TypeError, ValueError, KeyError, AttributeError, ZeroDivisionError) as exc:
        if template is None:
            raise
        raise JournalError('The report template failed: %s: %s' % (type(exc).__name__, exc))
