# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The experiment journal: one JSON document per run, merged across hosts.

Pure functions (records in, journal out) except ``write_journal``, which merges one host's record
into the journal in a directory under an fcntl lock, so parallel forks and serial batches of the
same run all end up in the one journal, and rewrites the reports made from it (_report_junit,
_report_html). The schema is documented in docs/docsite/rst/journal.rst.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import errno
import fcntl
import json
import os
import stat
import tempfile

from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.chaos.engineering.plugins.module_utils._journal_views import (
    SCHEMA,
    VERDICTS,
    JournalError,
    worst_verdict,
)
from ansible_collections.chaos.engineering.plugins.module_utils._redact import redact
from ansible_collections.chaos.engineering.plugins.module_utils._report_html import render_html
from ansible_collections.chaos.engineering.plugins.module_utils._report_junit import render_junit
from ansible_collections.chaos.engineering.plugins.module_utils._timefmt import TIME_MAX, TIME_MIN, to_epoch

JOURNAL_FILE = 'journal.json'
JUNIT_FILE = 'junit.xml'
HTML_FILE = 'report.html'
LOCK_FILE = '.journal.lock'
# The files may hold what the experiment was given (URLs, headers): only their owner reads them, by default.
DEFAULT_MODE = 0o600
THRESHOLD_OPS = ('>=', '<=', '==')
ENVIRONMENT_KEYS = ('controller', 'ansible_core', 'collection', 'python')


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
    """A boolean from whatever templating made of one: Ansible's words for text, Python's truth for the rest."""
    return boolean(value, strict=False) if isinstance(value, str) else bool(value)


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
        if value is not None and to_epoch(value) is None:
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
    record['skipped'] = [_skipped_item(item, index) for index, item in
                         enumerate(_list_of_dicts(record.get('skipped'), 'skipped', key_for_text='what'))]
    record['reason'] = '' if record.get('reason') is None else str(record['reason'])
    # The keys of issue 10's records: only normalized when given, so an older record keeps its shape.
    if 'halted' in record:
        record['halted'] = _truthy(record['halted'])
    if 'phases' in record:
        record['phases'] = [_phase_item(item, index) for index, item in
                            enumerate(_list_of_dicts(record['phases'], 'phases'))]
    if 'windows' in record:
        record['windows'] = [_window_item(item, index) for index, item in
                             enumerate(_list_of_dicts(record['windows'], 'windows'))]
    if 'probe_summary' in record:
        record['probe_summary'] = [_summary_item(item, index) for index, item in
                                   enumerate(_list_of_dicts(record['probe_summary'], 'probe_summary'))]
    if 'environment' in record:
        record['environment'] = _environment(record['environment'])
    return record


def _time_field(item, key, where):
    """An ISO time (kept as given) or None; JournalError for anything else."""
    value = item.get(key)
    if value is None or value == '':
        return None
    if to_epoch(value) is None:
        raise JournalError('record.%s.%s must be an ISO-8601 time or null, got %r.' % (where, key, value))
    return value


def _count(value, where):
    """A count of samples: a whole number of 0 or more (None when not given)."""
    if value is None or value == '':
        return None
    if isinstance(value, bool):
        raise JournalError('record.%s must be a whole number of 0 or more, got %r.' % (where, value))
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise JournalError('record.%s must be a whole number of 0 or more, got %r.' % (where, value))
    if not 0 <= number <= 1e12 or number != int(number):
        raise JournalError('record.%s must be a whole number of 0 or more, got %r.' % (where, value))
    return int(number)


def _seconds(value, where):
    """A duration in seconds (None when unknown)."""
    if value is None or value == '':
        return None
    if isinstance(value, bool):
        raise JournalError('record.%s must be a number of seconds, got %r.' % (where, value))
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise JournalError('record.%s must be a number of seconds, got %r.' % (where, value))
    if not -1e12 <= number <= TIME_MAX - TIME_MIN:  # also false for NaN
        raise JournalError('record.%s must be a finite number of seconds, got %r.' % (where, value))
    return number


def _text_or_none(value):
    return None if value is None else str(value)


def _skipped_item(item, index):
    item = dict(item)
    item['at'] = _time_field(item, 'at', 'skipped[%d]' % index)
    if item['at'] is None:
        del item['at']
    if 'iteration' in item:
        item['iteration'] = _count(item['iteration'], 'skipped[%d].iteration' % index)
    return item


def _phase_item(item, index):
    where = 'phases[%d]' % index
    if not item.get('phase'):
        raise JournalError('record.%s needs a phase (before, during or after).' % where)
    return dict(item, phase=str(item['phase']), start=_time_field(item, 'start', where),
                end=_time_field(item, 'end', where))


def _window_item(item, index):
    where = 'windows[%d]' % index
    targets = item.get('targets')
    if targets is None:
        targets = []
    elif not isinstance(targets, (list, tuple)):
        targets = [targets]
    probes = []
    for number, probe in enumerate(_list_of_dicts(item.get('probes'), where + '.probes')):
        inner = '%s.probes[%d]' % (where, number)
        probe = dict(probe, probe=_text_or_none(probe.get('probe')),
                     samples=_count(probe.get('samples'), inner + '.samples') or 0,
                     failed=_count(probe.get('failed'), inner + '.failed') or 0,
                     min_samples=_count(probe.get('min_samples'), inner + '.min_samples'),
                     detected_at=_time_field(probe, 'detected_at', inner),
                     recovered_at=_time_field(probe, 'recovered_at', inner),
                     time_to_detect=_seconds(probe.get('time_to_detect'), inner + '.time_to_detect'),
                     time_to_recover=_seconds(probe.get('time_to_recover'), inner + '.time_to_recover'))
        probe['held'] = _truthy(probe['held']) if 'held' in probe else probe['failed'] == 0
        if 'conclusive' in probe:
            probe['conclusive'] = _truthy(probe['conclusive'])
        else:
            probe['conclusive'] = probe['min_samples'] is None or probe['samples'] >= probe['min_samples']
        probes.append(probe)
    return dict(item, name=_text_or_none(item.get('name') or item.get('fault')), fault=_text_or_none(item.get('fault')),
                iteration=_count(item.get('iteration'), where + '.iteration'),
                targets=[t if isinstance(t, str) else str(t.get('name') or t.get('id') or '?')
                         if isinstance(t, dict) else str(t) for t in targets],
                applied_at=_time_field(item, 'applied_at', where), ended_at=_time_field(item, 'ended_at', where),
                end_by=_text_or_none(item.get('end_by')), seconds=_seconds(item.get('seconds'), where + '.seconds'),
                probes=probes)


def _summary_item(item, index):
    where = 'probe_summary[%d]' % index
    if item.get('probe') is None:
        raise JournalError('record.%s needs the probe it summarizes.' % where)
    threshold = item.get('threshold')
    if threshold is not None:
        if not isinstance(threshold, dict):
            raise JournalError('record.%s.threshold must be a dictionary with op and value, got %r.' % (where, threshold))
        op = threshold.get('op')
        if op is not None and op not in THRESHOLD_OPS:
            raise JournalError('record.%s.threshold.op must be one of %s, got %r.' % (where, ', '.join(THRESHOLD_OPS), op))
        value = threshold.get('value')
        if value is not None and value != '':
            value = _seconds(value, where + '.threshold.value')
        threshold = dict(op=op, value=None if value == '' else value)
    phases = item.get('phases')
    if phases is None:
        phases = {}
    if not isinstance(phases, dict):
        raise JournalError('record.%s.phases must map a phase to its samples and failed counts, got %r.' % (where, phases))
    counts = {}
    for phase, numbers in phases.items():
        if not isinstance(numbers, dict):
            raise JournalError('record.%s.phases.%s must be a dictionary with samples and failed, got %r.'
                               % (where, phase, numbers))
        counts[str(phase)] = dict(numbers, samples=_count(numbers.get('samples'), '%s.phases.%s.samples' % (where, phase)) or 0,
                                  failed=_count(numbers.get('failed'), '%s.phases.%s.failed' % (where, phase)) or 0)
    judged = item.get('judged_in')
    if judged is not None:
        if isinstance(judged, str):
            judged = [judged]
        if not isinstance(judged, (list, tuple)):
            raise JournalError('record.%s.judged_in must be a list of phases, got %r.' % (where, judged))
        judged = [str(p) for p in judged]
    return dict(item, probe=str(item['probe']), type=_text_or_none(item.get('type')), unit=_text_or_none(item.get('unit')),
                threshold=threshold, judged_in=judged, phases=counts)


def _environment(value):
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise JournalError('record.environment must be a dictionary (controller, ansible_core, collection, python), '
                           'got %r.' % (type(value).__name__,))
    return dict((str(k), v if isinstance(v, (list, dict)) or v is None else str(v)) for k, v in value.items())


def _extreme_time(values, pick):
    known = [(to_epoch(v), v) for v in values if v is not None and to_epoch(v) is not None]
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


def journal_texts(journal, template=None):
    """The three files' contents: dict(journal, junit, html); ``template`` is the text of a Jinja2 template
    for the HTML report (None: the default one). Raises JournalError when the template cannot render."""
    return dict(journal=journal_text(journal), junit=render_junit(journal), html=render_html(journal, template))


def journal_files(path):
    """The paths of the journal's three files in directory ``path``."""
    return dict(journal=os.path.join(path, JOURNAL_FILE), junit=os.path.join(path, JUNIT_FILE),
                html=os.path.join(path, HTML_FILE))


def _read_journal(path):
    """The journal written so far, or None (none yet, or unreadable: the run's journal starts anew)."""
    try:
        with open(path) as handle:
            return json.load(handle)
    except (IOError, ValueError):
        return None


def _outcome(files, journal, host, changed):
    result = dict(files)
    result.update(verdict=journal['verdict'], host_verdict=journal['hosts'][host]['verdict'], changed=changed,
                  hosts=sorted(journal['hosts']))
    return result


def write_journal(path, run_id, experiment, host, record, mode=DEFAULT_MODE, template=None):
    """Merge ``host``'s record into the journal in directory ``path`` and rewrite the three files.

    Returns dict(journal, junit, html (paths), verdict, host_verdict, changed, hosts (sorted names)).
    """
    # A record that cannot be journaled fails before anything is created.
    normalize_record(record)
    # Hosts write in parallel forks: another one may create the directory between a check and a mkdir.
    os.makedirs(path, exist_ok=True)
    files = journal_files(path)
    with os.fdopen(os.open(os.path.join(path, LOCK_FILE), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600),
                   'a') as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            journal = merge(_read_journal(files['journal']), run_id, experiment, host, record)
            # Everything is rendered before anything is written: a template that fails leaves the files as they were.
            texts = journal_texts(journal, template)
            changed = False
            for key in ('journal', 'junit', 'html'):
                changed |= _write_if_changed(files[key], texts[key], mode)
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)
    return _outcome(files, journal, host, changed)


def preview_journal(path, run_id, experiment, host, record, mode=DEFAULT_MODE, template=None):
    """Check mode: what write_journal would return, and whether it would change a file; writes nothing."""
    files = journal_files(path)
    journal = merge(_read_journal(files['journal']), run_id, experiment, host, record)
    texts = journal_texts(journal, template)
    changed = False
    for key, text in texts.items():
        changed |= file_changed(files[key], text, mode)
    return _outcome(files, journal, host, changed)
