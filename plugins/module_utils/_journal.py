# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The experiment journal: one JSON document per run, merged across hosts, plus JUnit XML and an HTML report.

Pure functions (records in, text out) except ``write_journal``, which merges one host's record
into the journal in a directory under an fcntl lock, so parallel forks and serial batches of the
same run all end up in the one journal. The schema is documented in docs/docsite/rst/journal.rst.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import calendar
import copy
import datetime
import errno
import fcntl
import json
import math
import os
import re
import stat
import tempfile

from html import escape
from xml.etree import ElementTree

from ansible_collections.chaos.engineering.plugins.module_utils._redact import redact

SCHEMA = 'chaos.engineering/journal/v1'
VERDICTS = ('passed', 'deviated', 'aborted')
# Worst first: the overall verdict is the worst of the hosts'.
VERDICT_RANK = dict(passed=0, deviated=1, aborted=2)
PHASE_ORDER = ('before', 'during', 'after')
JOURNAL_FILE = 'journal.json'
JUNIT_FILE = 'junit.xml'
HTML_FILE = 'report.html'
LOCK_FILE = '.journal.lock'
# The files may hold what the experiment was given (URLs, headers): only their owner reads them, by default.
DEFAULT_MODE = 0o600


class JournalError(Exception):
    """A record that cannot be journaled."""


# ---------------------------------------------------------------------------------------------
# Times

# Times a journal can show: the years 1 to 9999 (what datetime and ISO-8601 can write), in epoch seconds.
TIME_MIN = -62135596800.0
TIME_MAX = 253402300799.0

_ISO = re.compile(r'^(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:\.(\d+))?(Z|[+-]\d\d:?\d\d)?$')


def _time_or_none(seconds):
    return seconds if seconds is not None and TIME_MIN <= seconds <= TIME_MAX else None


def parse_time(text):
    """Epoch seconds from an ISO-8601 time (Z, an offset or none meaning UTC; any fraction), or None.

    None too for a time outside the years 1 to 9999, or anything else that is not a time (a list, NaN).
    """
    if text is None or isinstance(text, bool):
        return None
    if isinstance(text, (int, float)):
        return _time_or_none(float(text))
    if not isinstance(text, str):
        return None
    return _time_or_none(_parse_iso(text))


def _parse_iso(text):
    match = _ISO.match(str(text).strip())
    if not match:
        return None
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    try:
        seconds = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    except (ValueError, OverflowError):
        return None
    fraction = match.group(7)
    if fraction:
        seconds += float('0.' + fraction)
    zone = match.group(8)
    if zone and zone != 'Z':
        sign = 1 if zone[0] == '+' else -1
        digits = zone[1:].replace(':', '')
        seconds -= sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
    return float(seconds)


def iso_from_epoch(seconds):
    moment = datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)
    return moment.isoformat(timespec='milliseconds').replace('+00:00', 'Z')


# ---------------------------------------------------------------------------------------------
# Records and the merged journal


def _list_of_dicts(value, what, key_for_text=None):
    if value is None:
        return []
    if not isinstance(value, (list, tuple)):
        raise JournalError('record.%s must be a list, got %r.' % (what, type(value).__name__))
    items = []
    for index, item in enumerate(value):
        if isinstance(item, str) and key_for_text:
            item = {key_for_text: item}
        if not isinstance(item, dict):
            raise JournalError('record.%s[%d] must be a dictionary, got %r.' % (what, index, item))
        items.append(item)
    return items


def _truthy(value):
    if isinstance(value, str):
        return value.strip().lower() in ('true', 'yes', 'on', '1', 'y')
    return bool(value)


def _recovery_item(item):
    """seconds as a number (None when unknown), recovered as a boolean, whatever templating made of them."""
    item = dict(item)
    seconds = item.get('seconds')
    if seconds in ('', None) or isinstance(seconds, bool):
        item['seconds'] = None
    else:
        try:
            item['seconds'] = float(seconds)
        except (TypeError, ValueError, OverflowError):
            raise JournalError('record.recovery: seconds must be a number, got %r.' % (seconds,))
        if not 0 <= item['seconds'] <= TIME_MAX - TIME_MIN:
            raise JournalError('record.recovery: seconds must be a finite number of 0 or more (within the years 1 to '
                               '9999), got %r.' % (seconds,))
    item['recovered'] = _truthy(item.get('recovered'))
    return item


def normalize_record(record):
    """A host's record with every list present; raises JournalError for what cannot be reported."""
    if not isinstance(record, dict):
        raise JournalError('record must be a dictionary.')
    record = copy.deepcopy(record)
    verdict = record.get('verdict')
    if verdict not in VERDICTS:
        raise JournalError('record.verdict must be one of %s, got %r.' % (', '.join(VERDICTS), verdict))
    for key in ('started_at', 'finished_at'):
        value = record.get(key)
        if value is not None and parse_time(value) is None:
            raise JournalError('record.%s must be an ISO-8601 time, got %r.' % (key, value))
    faults = []
    for fault in _list_of_dicts(record.get('faults'), 'faults'):
        # A registered module result instead of its `chaos` value: keep the `chaos` part.
        if 'fault' not in fault and isinstance(fault.get('chaos'), dict):
            fault = fault['chaos']
        faults.append(fault)
    record['faults'] = faults
    record['probes'] = [dict(sample, ok=_truthy(sample.get('ok'))) for sample in _list_of_dicts(record.get('probes'), 'probes')]
    record['recovery'] = [_recovery_item(item) for item in _list_of_dicts(record.get('recovery'), 'recovery')]
    record['skipped'] = _list_of_dicts(record.get('skipped'), 'skipped', key_for_text='what')
    record['reason'] = '' if record.get('reason') is None else str(record['reason'])
    return record


def worst_verdict(verdicts):
    verdicts = [v for v in verdicts if v in VERDICT_RANK]
    if not verdicts:
        return 'passed'
    return max(verdicts, key=lambda v: VERDICT_RANK[v])


def _extreme_time(values, pick):
    known = [(parse_time(v), v) for v in values if v is not None and parse_time(v) is not None]
    if not known:
        return None
    return pick(known, key=lambda pair: pair[0])[1]


def merge(existing, run_id, experiment, host, record):
    """The journal with ``host``'s record added (or replaced). A journal of another run is replaced.

    Every secret in it (see _redact) is replaced by the redaction marker: the journal never holds one.
    """
    record = normalize_record(record)
    if not isinstance(existing, dict) or existing.get('schema') != SCHEMA or existing.get('run_id') != run_id:
        existing = dict(schema=SCHEMA, run_id=run_id, experiment={}, hosts={})
    hosts = dict(existing.get('hosts') or {})
    hosts[host] = record
    if experiment is None:
        experiment = existing.get('experiment') or {}
    return redact(dict(
        schema=SCHEMA,
        run_id=run_id,
        experiment=experiment,
        started_at=_extreme_time([r.get('started_at') for r in hosts.values()], min),
        finished_at=_extreme_time([r.get('finished_at') for r in hosts.values()], max),
        verdict=worst_verdict([r.get('verdict') for r in hosts.values()]),
        hosts=hosts,
    ))


# ---------------------------------------------------------------------------------------------
# Shared views of a record


def phases_of(record):
    """Phase -> its samples, in the order before, during, after, then any other phase as first seen."""
    by_phase = {}
    order = []
    for sample in record.get('probes') or []:
        phase = str(sample.get('phase') or 'steady')
        if phase not in by_phase:
            by_phase[phase] = []
            order.append(phase)
        by_phase[phase].append(sample)
    known = [p for p in PHASE_ORDER if p in by_phase]
    return [(p, by_phase[p]) for p in known + [p for p in order if p not in PHASE_ORDER]]


def last_samples(samples):
    """The last sample of each probe, in the order the probes first appear."""
    last = {}
    order = []
    for sample in samples:
        name = sample.get('probe')
        if name not in last:
            order.append(name)
        last[name] = sample
    return [last[name] for name in order]


def fault_errors(fault):
    """Why a fault's injection failed, as short texts (empty when it did not)."""
    errors = []
    for target in fault.get('targets') or []:
        if isinstance(target, dict) and target.get('error'):
            errors.append('%s: %s' % (target.get('name') or target.get('id') or '?', target['error']))
    if fault.get('failed'):
        errors.append(str(fault.get('msg') or fault.get('error') or 'the fault module failed'))
    return errors


def target_names(fault, limit=None):
    names = []
    for target in fault.get('targets') or []:
        if isinstance(target, dict):
            names.append(str(target.get('name') or target.get('id') or '?'))
        else:
            names.append(str(target))
    if limit is not None and len(names) > limit:
        return names[:limit] + ['+%d more' % (len(names) - limit)]
    return names


def fault_span(fault):
    """(start, end) epoch seconds of a fault: from its start to its expiry, or else its finish."""
    start = parse_time(fault.get('started_at'))
    finish = parse_time(fault.get('finished_at'))
    expires = parse_time(fault.get('expires_at'))
    if expires is None and isinstance(fault.get('revert'), dict):
        expires = parse_time(fault['revert'].get('deadline'))
    if start is None:
        start = finish
    end = expires if expires is not None else finish
    if start is not None and (end is None or end < start):
        end = start
    return start, end


def _phase_start(record, phase):
    times = [parse_time(s.get('at')) for s in record.get('probes') or [] if s.get('phase') == phase]
    times = [t for t in times if t is not None]
    return min(times) if times else None


def _fault_mentioned(fault, what):
    """Whether ``what`` names the fault, one of its targets, or a target's owner (``Kind namespace/name``)."""
    if fault.get('fault') and fault['fault'] in what:
        return True
    for target in fault.get('targets') or []:
        if not isinstance(target, dict):
            continue
        name = str(target.get('name') or '')
        if name and name in what:
            return True
        owner = target.get('owner')
        if isinstance(owner, dict) and owner.get('name'):
            if '%s/%s' % (owner.get('namespace'), owner['name']) in what:
                return True
    return False


def recovery_time(record, item):
    """When a recovery happened (epoch seconds) for the chart, or None.

    ``at`` (when it recovered) wins; else ``since`` (or ``started_at``) plus ``seconds``. Otherwise the
    anchor is guessed: the first ``after`` sample for a steady-state recovery, the start of the (last)
    fault whose name, target or target's owner is in ``what``, else the start of the last fault.
    """
    if parse_time(item.get('at')) is not None:
        return parse_time(item.get('at'))
    seconds = item.get('seconds')
    try:
        seconds = float(seconds)
    except (TypeError, ValueError):
        return None
    what = str(item.get('what') or '')
    anchor = parse_time(item.get('since') or item.get('started_at'))
    if anchor is None and re.search(r'steady', what, re.I):
        anchor = _phase_start(record, 'after')
    if anchor is None:
        for fault in reversed(record.get('faults') or []):
            if _fault_mentioned(fault, what):
                anchor = fault_span(fault)[0]
                break
    if anchor is None and re.search(r'after|probe', what, re.I):
        anchor = _phase_start(record, 'after')
    if anchor is None and record.get('faults'):
        anchor = fault_span(record['faults'][-1])[0]
    if anchor is None:
        anchor = parse_time(record.get('started_at'))
    return None if anchor is None else _time_or_none(anchor + seconds)


# ---------------------------------------------------------------------------------------------
# JUnit XML

_XML_BAD = re.compile(u'[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]')


def _xml_text(value):
    return _XML_BAD.sub('', u'%s' % (value,))


def _duration(first, last):
    if first is None or last is None:
        return 0.0
    return max(0.0, last - first)


def _sample_line(sample):
    value = sample.get('value')
    return '%s %s [%s] %s: %s%s' % (
        sample.get('at') or '?', sample.get('probe'), sample.get('phase'), 'ok' if sample.get('ok') else 'FAILED',
        sample.get('detail') or '', '' if value is None else ' (value %s)' % (value,))


def host_testcases(host, record):
    """[(name, seconds, failure (message, text) or None, skipped message or None)] for one host."""
    cases = []
    verdict = record.get('verdict')
    reason = record.get('reason') or ''
    suffix = ' (verdict %s%s)' % (verdict, ': ' + reason if reason else '') if verdict != 'passed' else ''

    def phase_case(name, samples, judge_last=False, recovery=()):
        times = [parse_time(s.get('at')) for s in samples]
        times = [t for t in times if t is not None]
        judged = last_samples(samples) if judge_last else samples
        failed = [s for s in judged if not s.get('ok')]
        not_recovered = [r for r in recovery if not r.get('recovered')]
        failure = None
        if failed or not_recovered:
            parts = ['%s: %s' % (s.get('probe'), s.get('detail')) for s in failed]
            parts += ['%s not recovered%s' % (r.get('what'), '' if r.get('seconds') is None else ' after %ss' % r.get('seconds'))
                      for r in not_recovered]
            text = '\n'.join([_sample_line(s) for s in samples if not s.get('ok')] +
                             ['recovery: %s' % json.dumps(r, sort_keys=True) for r in recovery])
            failure = ('; '.join(parts) + suffix, text)
        cases.append(('%s %s' % (host, name), _duration(min(times) if times else None, max(times) if times else None),
                      failure, None))

    phases = phases_of(record)
    by_name = dict(phases)
    if 'before' in by_name:
        phase_case('steady state before', by_name['before'])
    seen = {}
    for fault in record.get('faults') or []:
        name = str(fault.get('fault') or 'fault')
        seen[name] = seen.get(name, 0) + 1
        label = '%s fault %s injection%s' % (host, name, '' if seen[name] == 1 else ' #%d' % seen[name])
        start, dummy = fault_span(fault)
        errors = fault_errors(fault)
        failure = None
        if errors:
            failure = ('; '.join(errors) + suffix, json.dumps(fault, sort_keys=True, indent=2, default=str))
        finished = parse_time(fault.get('finished_at'))
        cases.append((label, _duration(start, finished), failure, None))
    if 'during' in by_name:
        phase_case('steady state during', by_name['during'])
    if 'after' in by_name or record.get('recovery'):
        phase_case('steady state after / recovery', by_name.get('after') or [], judge_last=True,
                   recovery=record.get('recovery') or [])
    for phase, samples in phases:
        if phase not in PHASE_ORDER:
            phase_case('steady state %s' % phase, samples)
    for item in record.get('skipped') or []:
        cases.append(('%s skipped: %s' % (host, item.get('what') or '?'), 0.0, None, str(item.get('reason') or '')))
    verdict_failure = None
    if verdict != 'passed':
        verdict_failure = ('%s: %s' % (verdict, reason or 'no reason given'), reason)
    cases.append(('%s verdict' % host, _duration(parse_time(record.get('started_at')), parse_time(record.get('finished_at'))),
                  verdict_failure, None))
    return cases


def render_junit(journal):
    """JUnit XML: one testsuite for the run, a testcase per host and phase. Secrets are redacted."""
    journal = redact(journal)
    experiment = journal.get('experiment') or {}
    suite_name = str(experiment.get('name') or 'chaos experiment')
    cases = []
    for host in sorted(journal.get('hosts') or {}):
        cases.extend((host, case) for case in host_testcases(host, journal['hosts'][host]))
    failures = sum(1 for dummy, case in cases if case[2] is not None)
    skipped = sum(1 for dummy, case in cases if case[3] is not None)
    total = _duration(parse_time(journal.get('started_at')), parse_time(journal.get('finished_at')))
    root = ElementTree.Element('testsuites', dict(
        name=_xml_text(suite_name), tests=str(len(cases)), failures=str(failures), errors='0',
        skipped=str(skipped), time='%.3f' % total))
    suite = ElementTree.SubElement(root, 'testsuite', dict(
        name=_xml_text(suite_name), id=_xml_text(journal.get('run_id') or ''), tests=str(len(cases)),
        failures=str(failures), errors='0', skipped=str(skipped), time='%.3f' % total,
        timestamp=_xml_text(journal.get('started_at') or '')))
    props = ElementTree.SubElement(suite, 'properties')
    for key, value in (('run_id', journal.get('run_id')), ('verdict', journal.get('verdict')), ('schema', SCHEMA)):
        ElementTree.SubElement(props, 'property', dict(name=key, value=_xml_text(value or '')))
    for host, (name, seconds, failure, skip) in cases:
        case = ElementTree.SubElement(suite, 'testcase', dict(
            classname=_xml_text('%s.%s' % (suite_name, host)), name=_xml_text(name), time='%.3f' % seconds))
        if failure is not None:
            element = ElementTree.SubElement(case, 'failure', dict(message=_xml_text(failure[0]), type='chaos'))
            element.text = _xml_text(failure[1])
        if skip is not None:
            ElementTree.SubElement(case, 'skipped', dict(message=_xml_text(skip)))
    if hasattr(ElementTree, 'indent'):
        ElementTree.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(root, encoding='unicode') + '\n'


# ---------------------------------------------------------------------------------------------
# HTML report

PALETTE = ('#1f77b4', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22')
FAULT_COLORS = ('#f2a541', '#e07b91', '#7fa7e0', '#a0c878', '#c39bd3', '#f7dc6f')
FAILED_COLOR = '#d62728'

CSS = '''
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;margin:24px;color:#222;
background:#fafafa}
h1{margin:0 0 4px;font-size:24px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
.meta{color:#555;font-size:13px}.meta code{background:#eee;padding:1px 4px;border-radius:3px}
.verdict{display:inline-block;margin:14px 0;padding:10px 22px;border-radius:8px;font-size:26px;font-weight:700;
letter-spacing:.04em;color:#fff}
.verdict-passed{background:#2e7d32}.verdict-deviated{background:#ef6c00}.verdict-aborted{background:#c62828}
.pill{display:inline-block;padding:1px 8px;border-radius:10px;color:#fff;font-size:12px;font-weight:600}
.pill.passed{background:#2e7d32}.pill.deviated{background:#ef6c00}.pill.aborted{background:#c62828}
table{border-collapse:collapse;margin:6px 0 10px;font-size:13px;background:#fff}
th,td{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}th{background:#f0f0f0}
td.num{text-align:right;font-variant-numeric:tabular-nums}tr.bad td{background:#fdecea}
.chart{background:#fff;border:1px solid #ddd;border-radius:6px;padding:6px;overflow-x:auto}
svg text{font-family:inherit}.lane-label{font-size:13px;font-weight:600}.axis text{font-size:11px;fill:#555}
.axis line{stroke:#e3e3e3}.fault-label{font-size:11px;fill:#222}.legend{font-size:11px;fill:#333}
.phase-label{font-size:10px;fill:#777}.recovery-label{font-size:11px}
rect.fault{stroke:#444;stroke-width:.6}rect.fault.dry-run{fill-opacity:.35;stroke-dasharray:3 2}
circle.probe-point.failed{fill:#d62728;stroke:#600;stroke-width:1}
line.recovery{stroke:#2e7d32;stroke-width:1.5;stroke-dasharray:4 3}line.recovery.not-recovered{stroke:#d62728}
path.recovery{fill:#2e7d32}path.recovery.not-recovered{fill:#d62728}
details{margin:6px 0}pre{background:#f4f4f4;padding:8px;overflow-x:auto;font-size:12px}
.empty{color:#888;font-style:italic}
'''


def _e(value):
    return escape(u'%s' % ('' if value is None else value), quote=True)


def _num(value):
    if value is None:
        return ''
    if isinstance(value, float):
        return ('%.3f' % value).rstrip('0').rstrip('.')
    return str(value)


def _tick_step(span):
    for step in (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 43200, 86400):
        if span / step <= 10:
            return step
    return 86400 * max(1, int(math.ceil(span / 86400 / 10)))


def _rel(seconds):
    if seconds >= 120:
        return '+%dm%02ds' % (int(seconds) // 60, int(seconds) % 60)
    return '+%ss' % _num(round(seconds, 1))


def _time_range(journal):
    times = []
    for record in (journal.get('hosts') or {}).values():
        times += [parse_time(record.get('started_at')), parse_time(record.get('finished_at'))]
        for fault in record.get('faults') or []:
            times += list(fault_span(fault)) + [parse_time(fault.get('finished_at'))]
        times += [parse_time(s.get('at')) for s in record.get('probes') or []]
        times += [recovery_time(record, item) for item in record.get('recovery') or []]
    times = [t for t in times if t is not None]
    if not times:
        return 0.0, 1.0
    low, high = min(times), max(times)
    if high - low < 1.0:
        high = low + 1.0
    return low, high


def _probe_series(record):
    """Probe name -> (type, samples), in the order of first appearance."""
    series = {}
    order = []
    for sample in record.get('probes') or []:
        name = str(sample.get('probe'))
        if name not in series:
            series[name] = (sample.get('type'), [])
            order.append(name)
        series[name][1].append(sample)
    return [(name, series[name][0], series[name][1]) for name in order]


def _unit(kind):
    return dict(http='ms', containers='running', pods='ready').get(kind, '')


def render_timeline(journal, width=1200):
    """The timeline chart: one lane per host with fault bars, probe values over time and recovery marks."""
    left, right, top = 180, 24, 34
    t0, t1 = _time_range(journal)
    plot = width - left - right

    def x(moment):
        return left + (moment - t0) / (t1 - t0) * plot

    parts = []
    lanes = []
    y = top
    hosts = journal.get('hosts') or {}
    for host in sorted(hosts):
        record = hosts[host]
        faults = record.get('faults') or []
        series = _probe_series(record)
        fault_rows = max(1, len(faults))
        chart_h = 110 if series else 24
        legend_h = 16 * max(1, int(math.ceil(len(series) / 3.0))) if series else 0
        lane_h = 20 + fault_rows * 22 + 10 + chart_h + 8 + legend_h + 18
        lanes.append((host, record, y, lane_h, faults, series, chart_h))
        y += lane_h
    height = y + 10

    parts.append('<svg id="timeline" xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" '
                 'style="width:100%%;max-width:%dpx;height:auto" role="img" aria-label="Experiment timeline">' % (
                     width, height, width, height, width * 2))
    parts.append('<title>Timeline of run %s</title>' % _e(journal.get('run_id')))
    # Time axis and grid.
    step = _tick_step(t1 - t0)
    parts.append('<g class="axis">')
    tick = 0.0
    while t0 + tick <= t1 + 1e-9:
        tx = x(t0 + tick)
        parts.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d"/>' % (tx, top - 6, tx, height - 6))
        parts.append('<text x="%.1f" y="%d" text-anchor="middle">%s</text>' % (tx, top - 10, _e(_rel(tick))))
        tick += step
    parts.append('<text x="10" y="%d">from %s UTC</text>' % (top - 10, _e(iso_from_epoch(t0)[11:19])))
    parts.append('</g>')

    for index, (host, record, lane_y, lane_h, faults, series, chart_h) in enumerate(lanes):
        verdict = record.get('verdict')
        parts.append('<g class="lane" data-host="%s">' % _e(host))
        parts.append('<rect class="lane-bg" x="0" y="%d" width="%d" height="%d" fill="%s"/>' % (
            lane_y, width, lane_h, '#ffffff' if index % 2 == 0 else '#f6f8fa'))
        parts.append('<text class="lane-label" x="10" y="%d">%s</text>' % (lane_y + 20, _e(host)))
        parts.append('<text class="legend" x="10" y="%d" fill="%s">%s</text>' % (
            lane_y + 36, dict(passed='#2e7d32', deviated='#ef6c00', aborted='#c62828').get(verdict, '#333'),
            _e(verdict)))
        # Faults: one row each, from start to expiry (or finish).
        row_y = lane_y + 20
        if not faults:
            parts.append('<text class="legend" x="%d" y="%d">no fault injected</text>' % (left + 4, row_y + 14))
        for number, fault in enumerate(faults):
            start, end = fault_span(fault)
            if start is None:
                continue
            bx = x(start)
            bw = max(3.0, x(end) - bx)
            color = FAULT_COLORS[number % len(FAULT_COLORS)]
            names = ', '.join(target_names(fault, limit=4)) or 'no target'
            label = '%s: %s' % (fault.get('fault') or 'fault', names)
            if fault.get('dry_run'):
                label += ' (check mode)'
            if fault_errors(fault):
                label += ' (errors)'
            tip = '%s\n%s to %s%s' % (label, fault.get('started_at'), iso_from_epoch(end),
                                      '\n' + '\n'.join(fault_errors(fault)) if fault_errors(fault) else '')
            classes = 'fault' + (' dry-run' if fault.get('dry_run') else '') + (' fault-error' if fault_errors(fault) else '')
            parts.append('<rect class="%s" data-fault="%s" x="%.1f" y="%d" width="%.1f" height="18" rx="3" fill="%s">'
                         '<title>%s</title></rect>' % (classes, _e(fault.get('fault')), bx, row_y, bw, color, _e(tip)))
            text_x = bx + 4 if bw > 120 else bx + bw + 4
            anchor = 'start'
            if text_x > width - right - 160:
                text_x, anchor = bx - 4, 'end'
            parts.append('<text class="fault-label" x="%.1f" y="%d" text-anchor="%s">%s</text>' % (
                text_x, row_y + 13, anchor, _e(label)))
            row_y += 22
        # Probes: each scaled to its own maximum.
        chart_top = lane_y + 20 + max(1, len(faults)) * 22 + 10
        chart_bottom = chart_top + chart_h
        if series:
            parts.append('<rect class="chart-area" x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#ccc"/>' % (
                left, chart_top, plot, chart_h))
            for phase, samples in phases_of(record):
                times = [parse_time(s.get('at')) for s in samples if parse_time(s.get('at')) is not None]
                if not times:
                    continue
                px, pw = x(min(times)), max(2.0, x(max(times)) - x(min(times)))
                fill = dict(before='#e8f5e9', during='#fff3e0', after='#e3f2fd').get(phase, '#f3f3f3')
                parts.append('<rect class="phase phase-%s" x="%.1f" y="%d" width="%.1f" height="%d" fill="%s" '
                             'fill-opacity="0.8"/>' % (_e(re.sub(r'[^a-z0-9_-]', '', phase.lower())), px, chart_top,
                                                       pw, chart_h, fill))
                parts.append('<text class="phase-label" x="%.1f" y="%d">%s</text>' % (px + 2, chart_top + 10, _e(phase)))
        for number, (name, kind, samples) in enumerate(series):
            color = PALETTE[number % len(PALETTE)]
            values = [s.get('value') for s in samples if isinstance(s.get('value'), (int, float))
                      and not isinstance(s.get('value'), bool)]
            if kind in ('containers', 'pods'):
                scale = float(max(values) + 1) if values else 1.0  # counts: whole numbers, with headroom
            else:
                scale = max(values) * 1.15 if values and max(values) > 0 else 1.0

            def y_of(value, scale=scale):
                return chart_bottom - 4 - (float(value) / scale) * (chart_h - 16)

            segment = []
            segments = []
            last_phase = None
            for sample in samples:
                moment = parse_time(sample.get('at'))
                value = sample.get('value')
                if moment is None or not isinstance(value, (int, float)) or isinstance(value, bool) \
                        or sample.get('phase') != last_phase:
                    if len(segment) > 1:
                        segments.append(segment)
                    segment = []
                last_phase = sample.get('phase')
                if moment is not None and isinstance(value, (int, float)) and not isinstance(value, bool):
                    segment.append('%.1f,%.1f' % (x(moment), y_of(value)))
            if len(segment) > 1:
                segments.append(segment)
            for points in segments:
                parts.append('<polyline class="probe-line" data-probe="%s" points="%s" fill="none" stroke="%s" '
                             'stroke-width="1.5"/>' % (_e(name), ' '.join(points), color))
            for sample in samples:
                moment = parse_time(sample.get('at'))
                if moment is None:
                    continue
                value = sample.get('value')
                has_value = isinstance(value, (int, float)) and not isinstance(value, bool)
                cy = y_of(value) if has_value else chart_bottom - 4
                ok = bool(sample.get('ok'))
                tip = '%s [%s] %s: %s%s' % (name, sample.get('phase'), sample.get('at'), sample.get('detail') or '',
                                            '' if not has_value else ' (%s %s)' % (_num(value), _unit(kind)))
                parts.append('<circle class="probe-point %s%s" data-probe="%s" cx="%.1f" cy="%.1f" r="%s" fill="%s">'
                             '<title>%s</title></circle>' % (
                                 'ok' if ok else 'failed', '' if has_value else ' no-value', _e(name), x(moment), cy,
                                 '3' if ok else '4.5', color if ok else FAILED_COLOR, _e(tip)))
            col, row = number % 3, number // 3
            lx = left + col * (plot / 3.0)
            ly = chart_bottom + 14 + row * 16
            parts.append('<rect x="%.1f" y="%d" width="10" height="10" fill="%s"/>' % (lx, ly - 9, color))
            parts.append('<text class="legend" x="%.1f" y="%d">%s (%s, 0 to %s %s)</text>' % (
                lx + 14, ly, _e(name), _e(kind), _num(round(scale, 1)), _e(_unit(kind))))
        # Recovery marks.
        for item in record.get('recovery') or []:
            moment = recovery_time(record, item)
            if moment is None:
                continue
            rx = x(moment)
            good = bool(item.get('recovered'))
            cls = 'recovery' + ('' if good else ' not-recovered')
            parts.append('<line class="%s" x1="%.1f" y1="%d" x2="%.1f" y2="%d"/>' % (
                cls, rx, lane_y + 6, rx, chart_bottom))
            parts.append('<path class="%s" d="M%.1f %d l6 7 l-6 7 l-6 -7 z"><title>%s</title></path>' % (
                cls, rx, lane_y + 2, _e('%s: %s after %ss' % (item.get('what'), 'recovered' if good else 'NOT recovered',
                                                              _num(item.get('seconds'))))))
            text = '%s %s %ss' % (item.get('what'), 'back in' if good else 'not back after', _num(item.get('seconds')))
            anchor = 'end' if rx > width - right - 200 else 'start'
            parts.append('<text class="recovery-label" x="%.1f" y="%d" text-anchor="%s" fill="%s">%s</text>' % (
                rx + (-9 if anchor == 'end' else 9), lane_y + 12, anchor, '#2e7d32' if good else FAILED_COLOR, _e(text)))
        parts.append('</g>')
    parts.append('</svg>')
    return '\n'.join(parts)


def _table(headers, rows, empty='none'):
    if not rows:
        return '<p class="empty">%s</p>' % _e(empty)
    out = ['<table><thead><tr>%s</tr></thead><tbody>' % ''.join('<th>%s</th>' % _e(h) for h in headers)]
    for row, bad in rows:
        cells = []
        for cell in row:
            if isinstance(cell, tuple):  # (html, css class): already escaped
                cells.append('<td class="%s">%s</td>' % (cell[1], cell[0]))
            else:
                cells.append('<td>%s</td>' % _e(cell))
        out.append('<tr%s>%s</tr>' % (' class="bad"' if bad else '', ''.join(cells)))
    out.append('</tbody></table>')
    return '\n'.join(out)


def _stats(values):
    if not values:
        return '', '', ''
    ordered = sorted(values)
    middle = ordered[len(ordered) // 2] if len(ordered) % 2 else (ordered[len(ordered) // 2 - 1] + ordered[len(ordered) // 2]) / 2.0
    return _num(round(float(ordered[0]), 3)), _num(round(float(middle), 3)), _num(round(float(ordered[-1]), 3))


def render_html(journal):
    """The report: a single self-contained HTML file (inline CSS and SVG, no script, no network).
    Secrets are redacted."""
    journal = redact(journal)
    experiment = journal.get('experiment') or {}
    verdict = journal.get('verdict') or 'passed'
    hosts = journal.get('hosts') or {}
    title = 'Chaos experiment: %s' % (experiment.get('name') or journal.get('run_id'))
    out = ['<!DOCTYPE html>', '<html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           '<title>%s</title>' % _e(title), '<style>%s</style></head><body>' % CSS]
    out.append('<h1>%s</h1>' % _e(title))
    if experiment.get('description'):
        out.append('<p>%s</p>' % _e(experiment['description']))
    out.append('<div class="meta">run <code>%s</code> &middot; %s to %s &middot; %d host%s</div>' % (
        _e(journal.get('run_id')), _e(journal.get('started_at') or '?'), _e(journal.get('finished_at') or '?'),
        len(hosts), '' if len(hosts) == 1 else 's'))
    out.append('<div id="verdict" class="verdict verdict-%s">Verdict: %s</div>' % (_e(verdict), _e(verdict.upper())))

    rows = []
    for host in sorted(hosts):
        record = hosts[host]
        rows.append(((host, ('<span class="pill %s">%s</span>' % (_e(record.get('verdict')), _e(record.get('verdict'))), ''),
                      record.get('reason') or '', record.get('started_at') or '', record.get('finished_at') or ''),
                     record.get('verdict') != 'passed'))
    out.append('<h2>Hosts</h2>')
    out.append(_table(('host', 'verdict', 'reason', 'started', 'finished'), rows, 'no host recorded'))

    out.append('<h2>Timeline</h2><div class="chart">%s</div>' % render_timeline(journal))

    rows = []
    for host in sorted(hosts):
        for fault in hosts[host].get('faults') or []:
            dummy, end = fault_span(fault)
            revert = fault.get('revert') if isinstance(fault.get('revert'), dict) else {}
            revert_text = ''
            if revert:
                revert_text = '%s%s' % (revert.get('method') or '', ' (armed)' if revert.get('armed') else '')
            notes = fault_errors(fault)
            if fault.get('dry_run'):
                notes.insert(0, 'check mode: nothing changed')
            actions = sorted(set(str(t.get('action')) for t in fault.get('targets') or [] if isinstance(t, dict) and t.get('action')))
            rows.append(((host, fault.get('fault') or '', ', '.join(target_names(fault)) or 'none', ', '.join(actions),
                          fault.get('started_at') or '', fault.get('expires_at') or (iso_from_epoch(end) if end else ''),
                          revert_text, '; '.join(notes)), bool(fault_errors(fault))))
    out.append('<h2>Faults</h2>')
    out.append(_table(('host', 'fault', 'targets', 'action', 'started', 'until', 'revert', 'notes'), rows,
                      'no fault injected'))

    rows = []
    for host in sorted(hosts):
        record = hosts[host]
        for phase, samples in phases_of(record):
            names = []
            for sample in samples:
                if sample.get('probe') not in names:
                    names.append(sample.get('probe'))
            for name in names:
                mine = [s for s in samples if s.get('probe') == name]
                failed = [s for s in mine if not s.get('ok')]
                values = [s.get('value') for s in mine if isinstance(s.get('value'), (int, float))
                          and not isinstance(s.get('value'), bool)]
                low, mid, high = _stats(values)
                kind = mine[0].get('type')
                rows.append(((host, phase, name, kind, (str(len(mine)), 'num'), (str(len(failed)), 'num'),
                              (_e(low), 'num'), (_e(mid), 'num'), (_e(high), 'num'), _unit(kind),
                              (failed[-1] if failed else mine[-1]).get('detail') or ''), bool(failed)))
    out.append('<h2>Probes</h2>')
    out.append(_table(('host', 'phase', 'probe', 'type', 'samples', 'failed', 'min', 'median', 'max', 'unit',
                       'last failure, else last detail'), rows, 'no probe sampled'))

    rows = []
    for host in sorted(hosts):
        for item in hosts[host].get('recovery') or []:
            rows.append(((host, item.get('what') or '', (_e(_num(item.get('seconds'))), 'num'),
                          'yes' if item.get('recovered') else 'NO'), not item.get('recovered')))
    out.append('<h2>Recovery</h2>')
    out.append(_table(('host', 'what', 'seconds', 'recovered'), rows, 'no recovery measured'))

    rows = []
    for host in sorted(hosts):
        for item in hosts[host].get('skipped') or []:
            rows.append(((host, item.get('what') or '', item.get('reason') or ''), False))
    out.append('<h2>Skipped</h2>')
    out.append(_table(('host', 'what', 'reason'), rows, 'nothing skipped'))

    out.append('<h2>Experiment</h2><pre>%s</pre>' % _e(json.dumps(experiment, indent=2, sort_keys=True, default=str)))
    out.append('<details><summary>Every sample</summary>')
    rows = []
    for host in sorted(hosts):
        for sample in hosts[host].get('probes') or []:
            rows.append(((host, sample.get('at') or '', sample.get('phase') or '', sample.get('probe') or '',
                          (_e(_num(sample.get('value'))), 'num'), 'ok' if sample.get('ok') else 'FAILED',
                          sample.get('detail') or ''), not sample.get('ok')))
    out.append(_table(('host', 'at', 'phase', 'probe', 'value', 'result', 'detail'), rows, 'no sample'))
    out.append('</details>')
    out.append('<p class="meta">Journal schema %s &middot; generated by chaos.engineering.experiment_journal</p>' % _e(SCHEMA))
    out.append('</body></html>')
    return '\n'.join(out) + '\n'


# ---------------------------------------------------------------------------------------------
# Files


def _write_if_changed(path, text, mode=DEFAULT_MODE):
    """Write ``text`` atomically, with file mode ``mode`` whatever the umask; returns True when the content or
    the mode changed."""
    data = text.encode('utf-8')
    try:
        with open(path, 'rb') as handle:
            if handle.read() == data:
                if stat.S_IMODE(os.fstat(handle.fileno()).st_mode) == mode:
                    return False
                os.chmod(path, mode)
                return True
    except IOError as exc:
        if exc.errno != errno.ENOENT:
            raise
    directory = os.path.dirname(path)
    # mkstemp creates the file 0600: it never holds the text with wider permissions.
    fd, tmp = tempfile.mkstemp(prefix='.%s.' % os.path.basename(path), dir=directory)
    try:
        with os.fdopen(fd, 'wb') as handle:
            handle.write(data)
        os.chmod(tmp, mode)
        os.rename(tmp, path)
    except Exception:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return True


def file_changed(path, text, mode=DEFAULT_MODE):
    """Whether _write_if_changed would change the file (check mode)."""
    try:
        with open(path, 'rb') as handle:
            return handle.read() != text.encode('utf-8') or stat.S_IMODE(os.fstat(handle.fileno()).st_mode) != mode
    except IOError:
        return True


def journal_text(journal):
    """journal.json's content."""
    return json.dumps(redact(journal), indent=2, sort_keys=True, default=str) + '\n'


def write_journal(path, run_id, experiment, host, record, mode=DEFAULT_MODE):
    """Merge ``host``'s record into the journal in directory ``path`` and rewrite the three files.

    Returns dict(journal, junit, html (paths), verdict, host_verdict, changed, hosts (sorted names)).
    """
    # A record that cannot be journaled fails before anything is created.
    normalize_record(record)
    # Hosts write in parallel forks: another one may create the directory between a check and a mkdir.
    os.makedirs(path, exist_ok=True)
    files = dict(journal=os.path.join(path, JOURNAL_FILE), junit=os.path.join(path, JUNIT_FILE),
                 html=os.path.join(path, HTML_FILE))
    with os.fdopen(os.open(os.path.join(path, LOCK_FILE), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600),
                   'a') as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            existing = None
            try:
                with open(files['journal']) as handle:
                    existing = json.load(handle)
            except (IOError, ValueError):
                existing = None
            journal = merge(existing, run_id, experiment, host, record)
            changed = False
            changed |= _write_if_changed(files['journal'], journal_text(journal), mode)
            changed |= _write_if_changed(files['junit'], render_junit(journal), mode)
            changed |= _write_if_changed(files['html'], render_html(journal), mode)
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)
    result = dict(files)
    result.update(verdict=journal['verdict'], host_verdict=journal['hosts'][host]['verdict'], changed=changed,
                  hosts=sorted(journal['hosts']))
    return result
