# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""junit.xml from a journal: what a CI system shows as tests.

Per host (the test cases' classname): one case per probe and phase ("shop during"), one per fault window
("window: kill web #1"), one per skipped fault, and the host's verdict. The XML follows the JUnit
format Jenkins and Surefire read (no `skipped` on <testsuites>); the unit tests validate it against a schema of it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re

from xml.etree import ElementTree

from ansible_collections.chaos.engineering.plugins.module_utils._journal_views import (
    PHASE_ORDER,
    SCHEMA,
    format_number,
    phase_spans,
    probe_summaries,
    fault_errors,
    fault_label,
    window_title,
    windows_of,
)
from ansible_collections.chaos.engineering.plugins.module_utils._timefmt import to_epoch
from ansible_collections.chaos.engineering.plugins.module_utils._redact import redact

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


class Case(object):
    """One test case: a name, seconds, and at most one of failure (message, text) and skipped (message)."""

    def __init__(self, name, seconds=0.0, failure=None, skipped=None, out=None):
        self.name = name
        self.seconds = seconds
        self.failure = failure
        self.skipped = skipped
        self.out = out


def _probe_phase_cases(record, experiment):
    cases = []
    samples_of = {}
    for sample in record.get('probes') or []:
        samples_of.setdefault((str(sample.get('probe')), str(sample.get('phase') or 'steady')), []).append(sample)
    seen_phases = [p for p, dummy, dummy2 in phase_spans(record)]
    for view in probe_summaries(record, experiment):
        name = view['probe']
        phases = [p for p in PHASE_ORDER if p in view['phases'] or p in seen_phases]
        phases += [p for p in view['phases'] if p not in phases]
        for phase in phases:
            counts = view['phases'].get(phase) or dict(samples=0, failed=0)
            mine = samples_of.get((name, phase), [])
            times = [t for t in (to_epoch(s.get('at')) for s in mine) if t is not None]
            seconds = _duration(min(times) if times else None, max(times) if times else None)
            judged = phase in view['judged_in']
            case = Case('%s %s' % (name, phase), seconds)
            if not judged:
                case.out = '%s does not judge the %s phase: %d of %d samples failed, not counted.' % (
                    name, phase, counts['failed'], counts['samples'])
            elif counts['samples'] == 0:
                case.skipped = 'no sample of %s in the %s phase' % (name, phase)
            elif counts['failed']:
                failed = [s for s in mine if not s.get('ok')]
                last = ('; last: %s' % failed[-1].get('detail')) if failed and failed[-1].get('detail') else ''
                case.failure = ('%d of %d samples failed in the %s phase%s' % (
                    counts['failed'], counts['samples'], phase, last), '\n'.join(_sample_line(s) for s in failed))
            else:
                case.out = '%d samples, none failed.' % counts['samples']
            cases.append(case)
    return cases


def _window_cases(record, experiment):
    cases = []
    judging = dict((v['probe'], v['judged_in']) for v in probe_summaries(record, experiment))
    for window in windows_of(record):
        case = Case('window: %s' % window_title(window), window.get('seconds') or 0.0)
        lines = []
        broke = []
        short = []
        for probe in window.get('probes') or []:
            name = str(probe.get('probe'))
            lines.append('%s: %s samples, %s failed%s%s' % (
                name, probe.get('samples'), probe.get('failed'),
                '' if probe.get('time_to_detect') is None else ', detected after %ss' % format_number(probe['time_to_detect']),
                '' if probe.get('time_to_recover') is None else ', recovered after %ss' % format_number(probe['time_to_recover'])))
            if 'during' not in judging.get(name, PHASE_ORDER):
                continue
            if not probe.get('held', not probe.get('failed')):
                broke.append('%s: %s of %s samples failed' % (name, probe.get('failed'), probe.get('samples')))
            elif probe.get('conclusive') is False:
                short.append('%s had %s samples, fewer than min_samples %s' % (
                    name, probe.get('samples'), probe.get('min_samples')))
        case.out = '\n'.join(['targets: %s' % ', '.join(window.get('targets') or []) or 'none',
                              'applied %s, ended %s (%s)' % (window.get('applied_at'), window.get('ended_at'),
                                                             window.get('end_by') or 'end unknown')] + lines)
        if broke or window.get('errors'):
            case.failure = ('; '.join(window.get('errors', []) + broke), case.out)
        elif short:
            case.skipped = 'inconclusive: ' + '; '.join(short)
        cases.append(case)
    # A fault that failed to go in has no window (the record has its own windows): its error is a case of its own.
    if record.get('windows'):
        titles = set(window_title(w) for w in windows_of(record))
        for fault in record.get('faults') or []:
            title = window_title(dict(name=fault_label(fault), iteration=fault.get('iteration')))
            if fault_errors(fault) and title not in titles:
                detail = json.dumps(fault, sort_keys=True, indent=2, default=str)
                cases.append(Case('fault: %s injection' % title, 0.0, ('; '.join(fault_errors(fault)), detail)))
    return cases


def host_testcases(host, record, experiment=None):
    """[Case] for one host, in the order: probes by phase, fault windows, skipped faults, recoveries, the verdict."""
    cases = _probe_phase_cases(record, experiment) + _window_cases(record, experiment)
    for item in record.get('skipped') or []:
        what = item.get('name') or item.get('what') or '?'
        if item.get('iteration') is not None:
            what = '%s #%s' % (what, item['iteration'])
        cases.append(Case('skipped: %s' % what, 0.0, skipped=str(item.get('reason') or 'skipped')))
    for item in record.get('recovery') or []:
        case = Case('recovery: %s' % (item.get('what') or '?'), item.get('seconds') or 0.0)
        if not item.get('recovered'):
            after = '' if item.get('seconds') is None else ' after %ss' % format_number(item['seconds'])
            case.failure = ('%s not recovered%s' % (item.get('what'), after), json.dumps(item, sort_keys=True, default=str))
        cases.append(case)
    verdict = record.get('verdict')
    reason = record.get('reason') or ''
    case = Case('verdict', _duration(to_epoch(record.get('started_at')), to_epoch(record.get('finished_at'))))
    if verdict == 'inconclusive':
        case.skipped = 'inconclusive: %s' % (reason or 'too few samples to judge')
    elif verdict != 'passed':
        case.failure = ('%s: %s' % (verdict, reason or 'no reason given'), reason)
    cases.append(case)
    return cases


def render_junit(journal):
    """JUnit XML: one testsuite for the run, test cases per host (classname = the host). Secrets are redacted."""
    journal = redact(journal)
    experiment = journal.get('experiment') or {}
    suite_name = str(experiment.get('name') or 'chaos experiment')
    cases = []
    for host in sorted(journal.get('hosts') or {}):
        cases.extend((host, case) for case in host_testcases(host, journal['hosts'][host], experiment))
    failures = sum(1 for dummy, case in cases if case.failure is not None)
    skipped = sum(1 for dummy, case in cases if case.skipped is not None)
    total = _duration(to_epoch(journal.get('started_at')), to_epoch(journal.get('finished_at')))
    # <testsuites> takes no `skipped` in the schema; <testsuite> does.
    root = ElementTree.Element('testsuites', dict(
        name=_xml_text(suite_name), tests=str(len(cases)), failures=str(failures), errors='0', time='%.3f' % total))
    suite = ElementTree.SubElement(root, 'testsuite', dict(
        name=_xml_text(suite_name), id=_xml_text(journal.get('run_id') or ''), tests=str(len(cases)),
        failures=str(failures), errors='0', skipped=str(skipped), time='%.3f' % total,
        timestamp=_xml_text(journal.get('started_at') or '')))
    props = ElementTree.SubElement(suite, 'properties')
    for key, value in (('run_id', journal.get('run_id')), ('verdict', journal.get('verdict')), ('schema', SCHEMA)):
        ElementTree.SubElement(props, 'property', dict(name=key, value=_xml_text(value or '')))
    for host, case in cases:
        element = ElementTree.SubElement(suite, 'testcase', dict(
            classname=_xml_text(host), name=_xml_text(case.name), time='%.3f' % max(0.0, float(case.seconds or 0))))
        if case.failure is not None:
            failure = ElementTree.SubElement(element, 'failure', dict(message=_xml_text(case.failure[0]), type='chaos'))
            failure.text = _xml_text(case.failure[1])
        if case.skipped is not None:
            ElementTree.SubElement(element, 'skipped', dict(message=_xml_text(case.skipped)))
        if case.out and (case.failure is None or case.failure[1] != case.out):
            ElementTree.SubElement(element, 'system-out').text = _xml_text(case.out)
    if hasattr(ElementTree, 'indent'):
        ElementTree.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(root, encoding='unicode') + '\n'
