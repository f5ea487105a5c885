# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the journal, the JUnit XML and the HTML report all read a host's record with: times, phases, fault
windows, probe summaries and thresholds. One place, so that the two reports never disagree.

Pure functions over a normalized record (see _journal.normalize_record). Records written before the phases,
windows and probe_summary keys existed get the same views, computed from their faults and samples.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import math
import re

from ansible_collections.chaos.engineering.plugins.module_utils._probe_spec import probe_threshold
from ansible_collections.chaos.engineering.plugins.module_utils._timefmt import iso_utc, to_epoch, within_range

SCHEMA = 'chaos.engineering/journal/v1'
VERDICTS = ('passed', 'inconclusive', 'deviated', 'aborted')
# Worst last: the overall verdict is the worst of the hosts'.
VERDICT_RANK = dict(passed=0, inconclusive=1, deviated=2, aborted=3)
PHASE_ORDER = ('before', 'during', 'after')


class JournalError(Exception):
    """A record that cannot be journaled, or a report template that cannot render it."""


# ---------------------------------------------------------------------------------------------
# Times

def number_or_none(value):
    """A finite float, or None for anything else (None, a bool, text that is no number, NaN)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def worst_verdict(verdicts):
    verdicts = [v for v in verdicts if v in VERDICT_RANK]
    if not verdicts:
        return 'passed'
    return max(verdicts, key=lambda v: VERDICT_RANK[v])


# ---------------------------------------------------------------------------------------------
# Samples and phases


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


def phase_spans(record):
    """[(phase, start, end)] in epoch seconds: record.phases, or else each phase's first to last sample."""
    spans = []
    for item in record.get('phases') or []:
        start, end = to_epoch(item.get('start')), to_epoch(item.get('end'))
        if start is None:
            continue
        spans.append((str(item.get('phase') or 'steady'), start, end if end is not None and end >= start else start))
    if spans:
        return spans
    for phase, samples in phases_of(record):
        times = [t for t in (to_epoch(s.get('at')) for s in samples) if t is not None]
        if times:
            spans.append((phase, min(times), max(times)))
    return spans


def _phase_start(record, phase):
    times = [to_epoch(s.get('at')) for s in record.get('probes') or [] if s.get('phase') == phase]
    times = [t for t in times if t is not None]
    return min(times) if times else None


def sample_value(sample):
    """A sample's value as a number, or None (no answer, an error, or no number at all)."""
    return number_or_none(sample.get('value'))


# ---------------------------------------------------------------------------------------------
# Faults


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
    targets = fault.get('targets') or []
    if not isinstance(targets, (list, tuple)):
        targets = [targets]
    for target in targets:
        if isinstance(target, dict):
            names.append(str(target.get('name') or target.get('id') or '?'))
        else:
            names.append(str(target))
    if limit is not None and len(names) > limit:
        return names[:limit] + ['+%d more' % (len(names) - limit)]
    return names


def fault_span(fault):
    """(start, end) epoch seconds of a fault: from when it went in (applied_at, else its start) to when it was
    reverted, else its expiry, else its finish."""
    start = to_epoch(fault.get('applied_at'))
    if start is None:
        start = to_epoch(fault.get('started_at'))
    finish = to_epoch(fault.get('finished_at'))
    end = to_epoch(fault.get('reverted_at'))
    if end is None:
        end = to_epoch(fault.get('expires_at'))
    if end is None and isinstance(fault.get('revert'), dict):
        end = to_epoch(fault['revert'].get('deadline'))
    if start is None:
        start = finish
    if end is None:
        end = finish
    if start is not None and (end is None or end < start):
        end = start
    return start, end


def fault_label(fault):
    """What a report calls a fault: its name in the experiment, else its module family."""
    return str(fault.get('name') or fault.get('fault') or 'fault')


def _fault_mentioned(fault, what):
    """Whether ``what`` names the fault, one of its targets, or a target's owner (``Kind namespace/name``)."""
    if fault.get('fault') and str(fault['fault']) in what:
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
    if to_epoch(item.get('at')) is not None:
        return to_epoch(item.get('at'))
    seconds = number_or_none(item.get('seconds'))
    if seconds is None:
        return None
    what = str(item.get('what') or '')
    anchor = to_epoch(item.get('since') or item.get('started_at'))
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
        anchor = to_epoch(record.get('started_at'))
    return None if anchor is None else within_range(anchor + seconds)


# ---------------------------------------------------------------------------------------------
# Probe definitions: units, thresholds, phases judged


def probe_definitions(experiment):
    """Probe name -> its definition in the experiment (experiment.probes), for what the samples do not say."""
    found = {}
    probes = (experiment or {}).get('probes') if isinstance(experiment, dict) else None
    for probe in probes if isinstance(probes, (list, tuple)) else []:
        if isinstance(probe, dict) and probe.get('name') is not None:
            found.setdefault(str(probe['name']), probe)
    return found


def judged_phases(definition):
    """The phases in which a probe judges the hypothesis (its ``phases``; all three by default)."""
    phases = definition.get('phases') if isinstance(definition, dict) else None
    if isinstance(phases, str):
        phases = [phases]
    if not isinstance(phases, (list, tuple)) or not phases:
        return list(PHASE_ORDER)
    return [str(p) for p in phases]


def _threshold_of_definition(definition, kind):
    if not isinstance(definition, dict):
        definition = {}
    definition = dict(definition)
    definition.setdefault('type', kind)
    found = probe_threshold(definition)
    return found.get('unit') or '', dict(op=found.get('op'), value=number_or_none(found.get('value')))


def probe_summaries(record, experiment=None):
    """One view per probe, in the order the probes were first seen:
    dict(probe, type, unit, threshold=dict(op, value), judged_in, phases={phase: dict(samples, failed)}).

    record.probe_summary wins; what it lacks (an older record has none) comes from the samples and from the
    probe's definition in the experiment (_probe.probe_threshold).
    """
    definitions = probe_definitions(experiment)
    given = dict((str(s.get('probe')), s) for s in record.get('probe_summary') or [])
    order = list(given)
    counts = {}
    kinds = {}
    for sample in record.get('probes') or []:
        name = str(sample.get('probe'))
        if name not in order:
            order.append(name)
        kinds.setdefault(name, sample.get('type'))
        phase = str(sample.get('phase') or 'steady')
        entry = counts.setdefault(name, {}).setdefault(phase, dict(samples=0, failed=0))
        entry['samples'] += 1
        entry['failed'] += 0 if sample.get('ok') else 1
    views = []
    for name in order:
        summary = given.get(name) or {}
        definition = definitions.get(name) or {}
        kind = summary.get('type') or kinds.get(name) or definition.get('type')
        unit, threshold = _threshold_of_definition(definition, kind)
        if isinstance(summary.get('threshold'), dict):
            threshold = dict(op=summary['threshold'].get('op') or threshold['op'],
                             value=number_or_none(summary['threshold'].get('value')))
        phases = dict(counts.get(name) or {})
        if isinstance(summary.get('phases'), dict) and summary['phases']:
            phases = dict((str(p), dict(samples=int(c.get('samples') or 0), failed=int(c.get('failed') or 0)))
                          for p, c in summary['phases'].items() if isinstance(c, dict))
        judged = summary.get('judged_in')
        judged = [str(p) for p in judged] if isinstance(judged, (list, tuple)) and judged else judged_phases(definition)
        views.append(dict(probe=name, type=kind, unit=summary.get('unit') or unit, threshold=threshold,
                          judged_in=judged, phases=phases))
    return views


def threshold_text(view):
    threshold = view.get('threshold') or {}
    if threshold.get('value') is None:
        return ''
    return '%s %s %s' % (threshold.get('op') or '', format_number(threshold['value']), view.get('unit') or '')


def format_number(value):
    if value is None:
        return ''
    if isinstance(value, float):
        if value == int(value) and abs(value) < 1e15:
            return str(int(value))
        return ('%.3f' % value).rstrip('0').rstrip('.')
    return str(value)


# ---------------------------------------------------------------------------------------------
# Fault windows


def _window_probe_from_samples(samples, start, end):
    """The per-probe numbers of a window (what record.windows[].probes holds), from the samples inside it."""
    inside = [s for s in samples if to_epoch(s.get('at')) is not None and start <= to_epoch(s.get('at'))
              and (end is None or to_epoch(s.get('at')) <= end)]
    inside.sort(key=lambda s: to_epoch(s.get('at')))
    failed = [s for s in inside if not s.get('ok')]
    detected = to_epoch(failed[0].get('at')) if failed else None
    recovered = None
    if detected is not None:
        for sample in samples:
            moment = to_epoch(sample.get('at'))
            if moment is not None and moment > detected and sample.get('ok'):
                recovered = moment if recovered is None else min(recovered, moment)
    return dict(samples=len(inside), failed=len(failed), min_samples=None, held=not failed, conclusive=None,
                detected_at=iso_utc(detected),
                time_to_detect=None if detected is None else round(detected - start, 3),
                recovered_at=iso_utc(recovered),
                time_to_recover=None if recovered is None else round(recovered - detected, 3))


def windows_of(record):
    """The fault windows of a record, each dict(name, fault, iteration, targets, applied_at, ended_at, end_by,
    seconds, probes, start, end (epoch; end None = never ended while observed), derived, errors).

    record.windows when given; an older record's windows are made from its faults (applied_at or started_at
    to reverted_at or expires_at) and its samples (derived=True).
    """
    windows = []
    faults = record.get('faults') or []
    given = record.get('windows') or []
    for item in given:
        start = to_epoch(item.get('applied_at'))
        end = to_epoch(item.get('ended_at'))
        probes = [dict(p) for p in item.get('probes') or []]
        errors = []
        for fault in faults:
            if fault_label(fault) == str(item.get('name')) and fault.get('iteration') == item.get('iteration'):
                errors = fault_errors(fault)
        windows.append(dict(item, name=str(item.get('name') or item.get('fault') or 'fault'), start=start,
                            end=end if end is None or start is None or end >= start else start,
                            probes=probes, targets=[str(t) for t in item.get('targets') or []], derived=False,
                            errors=errors))
    if given:
        return windows
    by_probe = {}
    for sample in record.get('probes') or []:
        by_probe.setdefault(str(sample.get('probe')), []).append(sample)
    seen = {}
    for fault in faults:
        start, end = fault_span(fault)
        label = fault_label(fault)
        seen[label] = seen.get(label, 0) + 1
        iteration = fault.get('iteration') if fault.get('iteration') is not None else seen[label]
        probes = []
        if start is not None:
            for name, samples in by_probe.items():
                probes.append(dict(_window_probe_from_samples(samples, start, end), probe=name))
        windows.append(dict(
            name=label, fault=fault.get('fault'), iteration=iteration, targets=target_names(fault),
            applied_at=iso_utc(start),
            ended_at=iso_utc(end), end_by=None,
            seconds=None if start is None or end is None else round(end - start, 3), probes=probes, start=start,
            end=end, derived=True, errors=fault_errors(fault), dry_run=bool(fault.get('dry_run'))))
    return windows


def window_title(window):
    iteration = window.get('iteration')
    return '%s #%s' % (window.get('name') or 'fault', '?' if iteration is None else iteration)


def skipped_time(record, item):
    """Where a skipped fault goes on the timeline (epoch seconds): its ``at``, else the start of its iteration's
    during phase, else the start of the experiment."""
    moment = to_epoch(item.get('at'))
    if moment is not None:
        return moment
    iteration = item.get('iteration')
    during = [start for phase, start, dummy in phase_spans(record) if phase == 'during']
    if isinstance(iteration, int) and not isinstance(iteration, bool) and 1 <= iteration <= len(during):
        return during[iteration - 1]
    started = to_epoch(record.get('started_at'))
    if started is not None:
        return started
    times = [t for t in (to_epoch(s.get('at')) for s in record.get('probes') or []) if t is not None]
    return min(times) if times else None
