# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The verdict of an experiment, grounded in what was observed while each fault was in place. Pure: no I/O.

Inputs are what the experiment role gathered: the sampler's samples, the probe definitions (with the phases in
which each judges the hypothesis), the fault modules' results, the ledger's record of when each revert was done,
and the phase spans. Out come each fault's real window, what every probe saw inside it (time to detect, time to
recover), a summary per probe and phase, and the verdict with its reason.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.chaos.engineering.plugins.module_utils._probe_spec import probe_threshold
from ansible_collections.chaos.engineering.plugins.module_utils._timefmt import iso_utc, to_epoch

PHASES = ('before', 'during', 'after')
VERDICTS = ('passed', 'inconclusive', 'deviated', 'aborted')
# A fault family -> how its window ends when a ledger entry covering it is done.
ENDED_BY_ENTRY = dict(container_kill='restarted')


def judged_in(probe):
    phases = probe.get('phases')
    return list(PHASES) if phases is None else [p for p in PHASES if p in phases]


def label_phases(samples, spans):
    """Each sample with the phase of the span it falls in (before the first span: before; between spans and
    after the last: after)."""
    spans = sorted((s for s in spans if to_epoch(s.get('start')) is not None), key=lambda s: to_epoch(s['start']))
    first = to_epoch(spans[0]['start']) if spans else None
    labelled = []
    for sample in samples:
        at = to_epoch(sample.get('at'))
        phase = 'before' if first is None or (at is not None and at < first) else 'after'
        for span in spans:
            start, end = to_epoch(span['start']), to_epoch(span.get('end'))
            if at is not None and start <= at and (end is None or at <= end):
                phase = span['phase']
        labelled.append(dict(sample, phase=phase))
    return labelled


def _done_at(fault, finished):
    """When the fault ended by the ledger entries covering it (the last of them), or None.

    A pause or a network fault is certainly in place until its undo begins (``began_at``): a window that ends
    there counts no sample taken while it was going. A killed target is down until its start has returned
    (``finished_at``)."""
    ids = ((fault.get('revert') or {}).get('entries')) or []
    key = 'finished_at' if fault.get('fault') in ENDED_BY_ENTRY else 'began_at'
    times = [to_epoch(finished[i].get(key) or finished[i].get('finished_at')) for i in ids if i in finished]
    times = [t for t in times if t is not None]
    return max(times) if len(times) == len(ids) and times else None


def _recovered_at(fault, start):
    """For a kill or a pod fault measured with wait_for_recovery: when every target was back, or None."""
    items = fault.get('recovery') or []
    if not items or not all(item.get('recovered') for item in items):
        return None
    seconds = [to_epoch(item.get('seconds')) for item in items]
    return None if None in seconds else start + max(seconds)


def _span_end(spans, iteration, at):
    """The end of the 'during' span of ``iteration`` (or the one that holds ``at``)."""
    for span in spans:
        if span.get('phase') != 'during':
            continue
        start, end = to_epoch(span.get('start')), to_epoch(span.get('end'))
        if span.get('iteration') == iteration or (start is not None and start <= at and (end is None or at <= end)):
            return end
    return None


def fault_window(fault, finished, spans, observed_until):
    """(start, end, end_by) of one fault that went in."""
    start = to_epoch(fault.get('applied_at')) or to_epoch(fault.get('finished_at'))
    if start is None:
        return None, None, None
    done = _done_at(fault, finished)
    if done is not None:
        return start, max(start, done), ENDED_BY_ENTRY.get(fault.get('fault'), 'reverted')
    back = _recovered_at(fault, start)
    if back is not None:
        return start, back, 'recovered'
    end = _span_end(spans, fault.get('iteration'), start)
    return start, (observed_until if end is None else end), 'observation-end'


def _window_probe(probe, samples, start, end, min_samples):
    inside = [s for s in samples if start <= s['_at'] <= end]
    failed = [s for s in inside if not s.get('ok')]
    detected = failed[0] if failed else None
    recovered = None
    if detected is not None:
        recovered = next((s for s in samples if s['_at'] > detected['_at'] and s.get('ok')), None)
    return dict(
        probe=probe['name'], samples=len(inside), failed=len(failed), min_samples=min_samples,
        held=not failed, conclusive=len(inside) >= min_samples,
        detected_at=detected['at'] if detected else None,
        time_to_detect=round(detected['_at'] - start, 3) if detected else None,
        recovered_at=recovered['at'] if recovered else None,
        time_to_recover=round(recovered['_at'] - detected['_at'], 3) if recovered else None)


def windows(faults, samples, probes, finished, spans, min_samples, observed_until):
    """One window per fault that went in, with what each during-probe saw inside it."""
    by_probe = {}
    for sample in samples:
        at = to_epoch(sample.get('at'))
        if at is not None:
            by_probe.setdefault(sample.get('probe'), []).append(dict(sample, _at=at))
    for name in by_probe:
        by_probe[name].sort(key=lambda s: s['_at'])
    during = [p for p in probes if 'during' in judged_in(p)]
    result = []
    for fault in faults:
        targets = [t for t in fault.get('targets') or [] if not t.get('error') and t.get('action') != 'none']
        if fault.get('dry_run') or not targets:
            continue
        start, end, end_by = fault_window(fault, finished, spans, observed_until)
        if start is None:
            continue
        result.append(dict(
            name=fault.get('name') or fault.get('fault'), fault=fault.get('fault'), iteration=fault.get('iteration'),
            targets=[t.get('name') for t in targets], applied_at=iso_utc(start), ended_at=iso_utc(end), end_by=end_by,
            seconds=round(end - start, 3),
            probes=[_window_probe(p, by_probe.get(p['name'], []), start, end, min_samples) for p in during]))
    return result


def probe_summary(probes, samples):
    summary = []
    for probe in probes:
        phases = dict((phase, dict(samples=0, failed=0)) for phase in PHASES)
        for sample in samples:
            if sample.get('probe') == probe['name'] and sample.get('phase') in phases:
                phases[sample['phase']]['samples'] += 1
                phases[sample['phase']]['failed'] += 0 if sample.get('ok') else 1
        threshold = probe_threshold(probe)
        summary.append(dict(probe=probe['name'], type=probe.get('type'), unit=threshold['unit'],
                            threshold=dict(op=threshold['op'], value=threshold['value']),
                            judged_in=judged_in(probe), phases=phases))
    return summary


def _after_problems(probes, samples, spans, min_samples):
    """(failed, short): the after-probes whose last min_samples samples after the last revert did not all pass, and
    those with fewer samples than that there (not observed long enough to say)."""
    ends = [to_epoch(s.get('end')) for s in spans if s.get('phase') == 'during' and to_epoch(s.get('end')) is not None]
    since = max(ends) if ends else None
    failed, short = [], []
    for probe in probes:
        if 'after' not in judged_in(probe):
            continue
        tail = [s for s in samples if s.get('probe') == probe['name'] and s.get('phase') == 'after'
                and (since is None or (to_epoch(s.get('at')) or 0) > since)][-min_samples:]
        if not all(s.get('ok') for s in tail):
            failed.append(probe['name'])
        elif len(tail) < min_samples:
            short.append(probe['name'])
    return failed, short


def _before_problems(probes, samples):
    return [p['name'] for p in probes if 'before' in judged_in(p)
            and any(s.get('probe') == p['name'] and s.get('phase') == 'before' and not s.get('ok') for s in samples)]


def _window_label(window):
    return '%s (iteration %s)' % (window['name'], window['iteration'])


def judge(state, samples, probes, faults, finished, spans, min_samples=2, observed_until=None, injected=True,
          recovery_timeout=None):
    """The verdict: dict(verdict, reason, samples (labelled), windows, probe_summary).

    ``state`` is what the role knows for itself: aborted (a fault or revert failed, the steady state failed before
    any fault or broke under the abort policy, a halt) with its reason, and halted.
    """
    samples = label_phases(samples, spans)
    if observed_until is None:
        times = [to_epoch(s.get('at')) for s in samples if to_epoch(s.get('at')) is not None]
        observed_until = max(times) if times else None
    observed = windows(faults, samples, probes, finished, spans, min_samples, observed_until or 0)
    summary = probe_summary(probes, samples)
    result = dict(samples=samples, windows=observed, probe_summary=summary)

    broke = [(w, p) for w in observed for p in w['probes'] if not p['held']]
    after_failed, after_short = _after_problems(probes, samples, spans, min_samples)
    unseen = [(w, p) for w in observed for p in w['probes'] if p['held'] and not p['conclusive']]
    if state.get('aborted'):
        verdict, reason = 'aborted', state.get('reason') or 'The experiment was aborted.'
    elif _before_problems(probes, samples):
        verdict = 'aborted'
        reason = 'The steady state did not hold before any fault (%s).' % ', '.join(_before_problems(probes, samples))
    elif broke:
        window, probe = broke[0]
        verdict = 'deviated'
        reason = 'The steady state broke while %s was in place: %s failed %d of %d samples, first %.1f s after it ' \
                 'went in.' % (_window_label(window), probe['probe'], probe['failed'], probe['samples'],
                               probe['time_to_detect'])
        others = len(set(w['name'] for w, dummy in broke)) - 1
        if others > 0:
            reason += ' %d more fault(s) broke it too.' % others
    elif injected and after_failed:
        verdict = 'deviated'
        reason = 'The steady state was not back %safter the revert (%s).' % (
            '' if recovery_timeout is None else '%g s ' % recovery_timeout, ', '.join(after_failed))
    elif not injected or not observed:
        verdict, reason = 'inconclusive', 'No fault went in, so nothing was tested.'
    elif unseen:
        window, probe = unseen[0]
        verdict = 'inconclusive'
        reason = 'Not enough observation: %s had %d sample(s) of %s in its %.1f s window (at least %d needed).' % (
            _window_label(window), probe['samples'], probe['probe'], window['seconds'], min_samples)
        if len(unseen) > 1:
            reason += ' %d more window/probe pair(s) were short too.' % (len(unseen) - 1)
    elif injected and after_short:
        verdict = 'inconclusive'
        reason = 'Not enough observation after the revert: %s had fewer than %d samples.' % (
            ', '.join(after_short), min_samples)
    elif not any(w['probes'] for w in observed):
        # A recovery experiment: nothing is claimed about the faults' windows, only that it holds before and after.
        verdict = 'passed'
        reason = 'The steady state held before the faults and was back after them (no probe judges the during ' \
                 'phase, so the %d fault window(s) were not judged).' % len(observed)
    else:
        verdict = 'passed'
        reason = 'The steady state held in every fault window (%d), each observed with at least %d samples of ' \
                 'every probe.' % (len(observed), min_samples)
    result.update(verdict=verdict, reason=reason)
    return result
