"""The experiment journal: merge across hosts and processes, verdicts, JUnit XML and the HTML report."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import multiprocessing
import os
import re

from html.parser import HTMLParser
from xml.etree import ElementTree

import pytest

from ansible_collections.chaos.engineering.plugins.module_utils import _journal
from ansible_collections.chaos.engineering.plugins.module_utils._journal import (
    SCHEMA,
    JournalError,
    merge,
    normalize_record,
    write_journal,
)
from ansible_collections.chaos.engineering.plugins.module_utils._journal_views import (
    recovery_time,
    worst_verdict,
)
from ansible_collections.chaos.engineering.plugins.module_utils._timefmt import to_epoch
from ansible_collections.chaos.engineering.plugins.module_utils._report_html import render_html
from ansible_collections.chaos.engineering.plugins.module_utils._report_junit import render_junit
from ansible_collections.chaos.engineering.plugins.modules import experiment_journal

EXPERIMENT = dict(name='web survives a lost replica', description='Kill one web container.', settings=dict(duration=20))


def kill_fault(start='2026-11-27T10:00:05.000Z', expires='2026-11-27T10:00:15.000Z', error=None):
    target = dict(id='a' * 64, name='web-1', action='kill', signal='SIGKILL')
    if error:
        target['error'] = error
    return dict(fault='container_kill', targets=[target], started_at=start, finished_at='2026-11-27T10:00:05.300Z',
                dry_run=False, expires_at=expires, revert=dict(armed=True, method='ledger', deadline=expires),
                selection=dict(candidates=3, matched=3, selected=1, protected=[], missing=[], seed=7))


def netem_fault():
    return dict(fault='container_netem', targets=[dict(id='b' * 64, name='web-2', action='rate')],
                started_at='2026-11-27T10:00:06.000Z', finished_at='2026-11-27T10:00:06.500Z', dry_run=False,
                expires_at='2026-11-27T10:00:18.000Z')


def sample(probe, phase, second, ok=True, value=12.5, kind='http', detail=None):
    return dict(probe=probe, type=kind, phase=phase, at='2026-11-27T10:00:%06.3fZ' % second, ok=ok, value=value,
                detail=detail or ('HTTP 200' if ok else 'HTTP 503, expected 200'))


def record(verdict='passed', reason='', faults=None, probes=None, recovery=None, skipped=None, start=0, end=30):
    return dict(
        started_at='2026-11-27T10:00:%02d.000Z' % start, finished_at='2026-11-27T10:00:%02d.000Z' % end,
        faults=[kill_fault()] if faults is None else faults,
        probes=probes if probes is not None else [
            sample('shop', 'before', 1), sample('web', 'before', 1.1, value=3, kind='containers', detail='3 running'),
            sample('shop', 'during', 7, value=40.0), sample('shop', 'during', 8, ok=False, value=900.0),
            sample('web', 'during', 8.1, value=2, kind='containers', detail='2 running'),
            sample('shop', 'after', 20, ok=False, value=None, detail='error: refused'),
            sample('shop', 'after', 21, value=11.0), sample('web', 'after', 21.1, value=3, kind='containers')],
        recovery=[dict(what='web-1', seconds=3.5, recovered=True)] if recovery is None else recovery,
        verdict=verdict, reason=reason,
        skipped=[dict(what='netem', reason='no sch_netem in this kernel')] if skipped is None else skipped)


# ---------------------------------------------------------------------------------------------
# Merge and verdicts


def test_verdict_precedence():
    assert worst_verdict([]) == 'passed'
    assert worst_verdict(['passed', 'passed']) == 'passed'
    assert worst_verdict(['passed', 'deviated', 'passed']) == 'deviated'
    assert worst_verdict(['deviated', 'aborted', 'passed']) == 'aborted'
    assert worst_verdict(['aborted', 'deviated']) == 'aborted'
    assert worst_verdict(['passed', 'inconclusive']) == 'inconclusive'
    assert worst_verdict(['inconclusive', 'deviated']) == 'deviated'
    assert worst_verdict(['aborted', 'inconclusive', 'passed']) == 'aborted'


def test_merge_across_hosts():
    journal = merge(None, 'run-1', EXPERIMENT, 'docker-1', record(start=2, end=30))
    journal = merge(journal, 'run-1', None, 'docker-2', record('deviated', 'shop slow after', start=1, end=25))
    assert journal['schema'] == SCHEMA and journal['run_id'] == 'run-1'
    assert journal['experiment'] == EXPERIMENT  # kept when a later host gives none
    assert sorted(journal['hosts']) == ['docker-1', 'docker-2']
    assert journal['verdict'] == 'deviated'
    assert journal['started_at'] == '2026-11-27T10:00:01.000Z' and journal['finished_at'] == '2026-11-27T10:00:30.000Z'
    journal = merge(journal, 'run-1', EXPERIMENT, 'docker-3', record('aborted', 'probe failed during the fault'))
    assert journal['verdict'] == 'aborted'
    # A later record for the same host (a retried batch) replaces it.
    journal = merge(journal, 'run-1', EXPERIMENT, 'docker-3', record('passed'))
    assert journal['verdict'] == 'deviated' and len(journal['hosts']) == 3


def test_a_journal_of_another_run_is_replaced():
    journal = merge(None, 'run-1', EXPERIMENT, 'docker-1', record('aborted'))
    journal = merge(journal, 'run-2', dict(name='other'), 'docker-2', record())
    assert list(journal['hosts']) == ['docker-2'] and journal['verdict'] == 'passed'
    assert journal['experiment'] == dict(name='other')


def test_times_in_any_iso_form():
    assert to_epoch('2026-11-27T10:00:00.000Z') == to_epoch('2026-11-27T11:00:00+01:00')
    assert to_epoch('2026-11-27T10:00:00.123456789Z') - to_epoch('2026-11-27T10:00:00Z') == pytest.approx(0.123456789)
    assert to_epoch('yesterday') is None and to_epoch(None) is None
    journal = merge(None, 'r', {}, 'a', dict(record(), started_at='2026-11-27T11:00:00+01:00'))
    journal = merge(journal, 'r', {}, 'b', dict(record(), started_at='2026-11-27T10:00:00.500Z'))
    assert journal['started_at'] == '2026-11-27T11:00:00+01:00'


@pytest.mark.parametrize('bad, message', [
    (dict(verdict='fine'), 'record.verdict must be one of passed, inconclusive, deviated, aborted'),
    (dict(verdict='passed', started_at='soon'), 'record.started_at must be an ISO-8601 time'),
    (dict(verdict='passed', faults='kill'), 'record.faults must be a list'),
    (dict(verdict='passed', probes=[1]), 'record.probes[0] must be a dictionary'),
    (dict(verdict='passed', recovery=[dict(what='x', seconds='long')]), 'seconds must be a number'),
])
def test_bad_records_are_refused(bad, message):
    with pytest.raises(JournalError) as info:
        normalize_record(bad)
    assert message in str(info.value)


def test_records_are_normalized():
    normalized = normalize_record(dict(
        verdict='passed', faults=[dict(changed=True, chaos=kill_fault())],
        recovery=[dict(what='web', seconds='2.5', recovered='True'), dict(what='db', seconds=None, recovered=False)],
        probes=[dict(sample('shop', 'before', 1), ok='false')], skipped=['netem'], extra='kept'))
    assert normalized['faults'][0]['fault'] == 'container_kill'  # the chaos part of a registered result
    assert normalized['recovery'] == [dict(what='web', seconds=2.5, recovered=True),
                                      dict(what='db', seconds=None, recovered=False)]
    assert normalized['probes'][0]['ok'] is False
    assert normalized['skipped'] == [dict(what='netem')] and normalized['reason'] == '' and normalized['extra'] == 'kept'


def test_recovery_marks_are_anchored():
    rec = normalize_record(record())
    # web-1 is the target of the kill at 10:00:05: back 3.5 s later.
    assert recovery_time(rec, rec['recovery'][0]) == pytest.approx(to_epoch('2026-11-27T10:00:08.500Z'))
    assert recovery_time(rec, dict(what='steady state', seconds=1.0, recovered=True)) == \
        pytest.approx(to_epoch('2026-11-27T10:00:21.000Z'))  # first after sample + 1 s
    assert recovery_time(rec, dict(what='x', seconds=9, at='2026-11-27T10:00:09.000Z')) == \
        pytest.approx(to_epoch('2026-11-27T10:00:09Z'))
    assert recovery_time(rec, dict(what='x', seconds=2, since='2026-11-27T10:00:10.000Z')) == \
        pytest.approx(to_epoch('2026-11-27T10:00:12Z'))
    assert recovery_time(rec, dict(what='x', seconds=None)) is None
    # The role's steady-state recovery names the probes, which may look like a target: steady state wins.
    assert recovery_time(rec, dict(what='steady state (shop, web-1)', seconds=2.0, recovered=True)) == \
        pytest.approx(to_epoch('2026-11-27T10:00:22.000Z'))
    # A Kubernetes workload's recovery is anchored on the fault that hit its pods (the last such fault).
    pod_fault = dict(fault='k8s_pod_chaos', started_at='2026-11-27T10:00:10.000Z', finished_at='2026-11-27T10:00:10.5Z',
                     targets=[dict(name='shop/web-abc-1', owner=dict(kind='Deployment', namespace='shop', name='web'))])
    rec = normalize_record(record(faults=[kill_fault(), pod_fault]))
    assert recovery_time(rec, dict(what='Deployment shop/web', seconds=4.0, recovered=True)) == \
        pytest.approx(to_epoch('2026-11-27T10:00:14.000Z'))
    assert recovery_time(rec, dict(what='web-1', seconds=1.0, recovered=True)) == \
        pytest.approx(to_epoch('2026-11-27T10:00:06.000Z'))


# ---------------------------------------------------------------------------------------------
# Files, locking


def _write_one(args):
    path, host, verdict = args
    return write_journal(path, 'run-par', EXPERIMENT, host, record(verdict))['host_verdict']


def test_parallel_writers_all_end_up_in_one_journal(tmp_path):
    path = str(tmp_path / 'out')
    hosts = [('h%02d' % i, 'deviated' if i == 7 else 'passed') for i in range(16)]
    with multiprocessing.get_context('fork').Pool(8) as pool:
        verdicts = pool.map(_write_one, [(path, host, verdict) for host, verdict in hosts])
    assert verdicts == [v for dummy, v in hosts]
    with open(os.path.join(path, 'journal.json')) as handle:
        journal = json.load(handle)
    assert sorted(journal['hosts']) == [h for h, dummy in hosts]
    assert journal['verdict'] == 'deviated'
    suite = ElementTree.parse(os.path.join(path, 'junit.xml')).getroot().find('testsuite')
    assert len(set(c.get('classname') for c in suite.findall('testcase'))) == 16
    assert os.path.exists(os.path.join(path, 'report.html'))


def test_rewrite_is_changed_only_when_content_changes(tmp_path):
    path = str(tmp_path / 'deep' / 'out')
    first = write_journal(path, 'r', EXPERIMENT, 'docker-1', record())
    assert first['changed'] is True and first['verdict'] == 'passed' and first['hosts'] == ['docker-1']
    assert first['journal'] == os.path.join(path, 'journal.json')
    assert write_journal(path, 'r', EXPERIMENT, 'docker-1', record())['changed'] is False
    assert write_journal(path, 'r', EXPERIMENT, 'docker-1', record('aborted', 'x'))['changed'] is True
    assert sorted(os.listdir(path)) == ['.journal.lock', 'journal.json', 'junit.xml', 'report.html']


# ---------------------------------------------------------------------------------------------
# JUnit


def junit_of(journal):
    text = render_junit(journal)
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    return ElementTree.fromstring(text.encode('utf-8'))


def test_junit_one_suite_and_a_case_per_host_probe_and_phase():
    journal = merge(None, 'run-1', EXPERIMENT, 'docker-1', record())
    journal = merge(journal, 'run-1', EXPERIMENT, 'docker-2', record('aborted', 'shop failed during the fault'))
    root = junit_of(journal)
    assert root.tag == 'testsuites'
    assert root.get('skipped') is None  # not an attribute of <testsuites> in the JUnit schema
    suites = root.findall('testsuite')
    assert len(suites) == 1
    suite = suites[0]
    assert suite.get('name') == EXPERIMENT['name'] and suite.get('id') == 'run-1'
    names = [c.get('name') for c in suite.findall('testcase') if c.get('classname') == 'docker-1']
    assert names == ['shop before', 'shop during', 'shop after', 'web before', 'web during', 'web after',
                     'window: container_kill #1', 'skipped: netem', 'recovery: web-1', 'verdict']
    cases = dict(((c.get('classname'), c.get('name')), c) for c in suite.findall('testcase'))
    # A phase with a failed sample fails, with the counts and the last failure in the message.
    during = cases[('docker-2', 'shop during')].find('failure')
    assert during.get('message') == '1 of 2 samples failed in the during phase; last: HTTP 503, expected 200'
    assert 'FAILED: HTTP 503, expected 200' in during.text
    assert cases[('docker-1', 'shop before')].find('failure') is None
    assert cases[('docker-1', 'web during')].find('failure') is None
    # The kill's window (its start to its expiry, for this older record) had the failed shop sample.
    window = cases[('docker-1', 'window: container_kill #1')].find('failure')
    assert window.get('message') == 'shop: 1 of 2 samples failed'
    assert cases[('docker-1', 'verdict')].find('failure') is None
    assert cases[('docker-2', 'verdict')].find('failure').get('message') == 'aborted: shop failed during the fault'
    assert cases[('docker-1', 'skipped: netem')].find('skipped').get('message') == 'no sch_netem in this kernel'
    failures = sum(1 for c in suite.findall('testcase') if c.find('failure') is not None)
    assert suite.get('tests') == root.get('tests') == str(len(suite.findall('testcase'))) == '20'
    assert suite.get('failures') == root.get('failures') == str(failures) == '7'
    assert suite.get('skipped') == '2'
    props = dict((p.get('name'), p.get('value')) for p in suite.find('properties'))
    assert props['verdict'] == 'aborted' and props['run_id'] == 'run-1'


def test_junit_phases_a_probe_does_not_judge_do_not_fail():
    experiment = dict(EXPERIMENT, probes=[dict(name='shop', type='http', url='http://shop/', phases=['before', 'after'])])
    cases = dict((c.get('name'), c) for c in junit_of(merge(None, 'r', experiment, 'h', record())).iter('testcase'))
    assert cases['shop during'].find('failure') is None
    assert 'does not judge the during phase: 1 of 2 samples failed' in cases['shop during'].find('system-out').text
    assert cases['shop after'].find('failure') is not None
    # Nor does its break inside a window count.
    assert cases['window: container_kill #1'].find('failure') is None


def test_junit_fault_errors_and_unrecovered_after():
    rec = record('deviated', 'web did not come back', faults=[kill_fault(error='409 conflict'), kill_fault()],
                 probes=[sample('shop', 'after', 20), sample('shop', 'after', 22, ok=False)],
                 recovery=[dict(what='web-1', seconds=30, recovered=False)])
    cases = dict((c.get('name'), c) for c in junit_of(merge(None, 'r', {}, 'h', rec)).iter('testcase'))
    assert cases['window: container_kill #1'].find('failure').get('message') == 'web-1: 409 conflict'
    assert cases['window: container_kill #2'].find('failure') is None
    assert cases['shop after'].find('failure').get('message') == \
        '1 of 2 samples failed in the after phase; last: HTTP 503, expected 200'
    assert cases['recovery: web-1'].find('failure').get('message') == 'web-1 not recovered after 30s'
    assert cases['verdict'].find('failure').get('message') == 'deviated: web did not come back'


def test_junit_strips_what_xml_cannot_hold():
    rec = record('aborted', 'bad \x00\x1b bytes <&>')
    root = junit_of(merge(None, 'r', dict(name='x & <y>'), 'h', rec))
    assert root.find('testsuite').get('name') == 'x & <y>'
    verdict = [c for c in root.iter('testcase') if c.get('name') == 'verdict'][0]
    assert verdict.find('failure').get('message') == 'aborted: bad  bytes <&>'


# ---------------------------------------------------------------------------------------------
# HTML


class Elements(HTMLParser):
    """Every start tag with its attributes, and the text inside the element with id=verdict."""

    def __init__(self):
        HTMLParser.__init__(self)
        self.tags = []
        self.verdict_text = ''
        self._in_verdict = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        self._in_verdict = attrs.get('id') == 'verdict'

    def handle_endtag(self, tag):
        self._in_verdict = False

    def handle_data(self, data):
        if self._in_verdict:
            self.verdict_text += data

    def having(self, tag, css_class=None):
        return [a for t, a in self.tags if t == tag and (css_class is None or css_class in (a.get('class') or '').split())]


def parsed(text):
    parser = Elements()
    parser.feed(text)
    parser.close()
    return parser


def test_html_has_the_verdict_and_a_timeline_with_faults_probes_and_recovery():
    rec = record(faults=[kill_fault(), netem_fault()])
    journal = merge(None, 'run-1', EXPERIMENT, 'docker-1', rec)
    journal = merge(journal, 'run-1', EXPERIMENT, 'docker-2', record('deviated', 'slow'))
    html = render_html(journal)
    page = parsed(html)
    verdicts = [a for t, a in page.tags if a.get('id') == 'verdict']
    assert len(verdicts) == 1 and verdicts[0]['class'] == 'verdict verdict-deviated'
    assert page.verdict_text.strip() == 'Verdict: DEVIATED'
    svgs = page.having('svg', 'timeline')
    assert [(a['id'], a['data-host']) for a in svgs] == [('timeline-1', 'docker-1'), ('timeline-2', 'docker-2')]
    faults = page.having('rect', 'fault')
    assert sorted(a['data-fault'] for a in faults) == ['container_kill', 'container_kill', 'container_netem']
    assert all(float(a['width']) >= 3 for a in faults)
    # The kill bar runs from its start to its expiry (10 s), the netem bar 12 s: widths in that ratio.
    kill_bar, netem_bar = faults[0], faults[1]
    assert float(netem_bar['width']) / float(kill_bar['width']) == pytest.approx(12.0 / 10.0, rel=0.01)
    points = page.having('circle', 'probe-point')
    assert len(points) == 16  # every sample of both hosts
    failed = page.having('circle', 'failed')
    assert len(failed) == 4 and all(a['fill'] == '#d62728' for a in failed)
    assert len(page.having('polyline', 'probe-line')) > 0
    assert len(page.having('path', 'recovery')) == 2 and len(page.having('line', 'recovery')) == 2
    for text in ('container_kill: web-1', 'web-1 back in 3.5s', 'no sch_netem in this kernel', 'docker-2', 'slow'):
        assert text in html


def test_html_is_self_contained_and_escaped():
    nasty = '<script>alert(1)</script>'
    journal = merge(None, 'run-1', dict(name=nasty, description='"quoted" & <b>'), nasty, record(reason=nasty))
    html = render_html(journal)
    assert '<script' not in html.lower()
    assert '&lt;script&gt;alert(1)&lt;/script&gt;' in html
    assert not re.search(r'<link\b|\bsrc=|@import|url\(', html)
    # The only URL is the SVG namespace.
    assert re.findall(r'https?://[^\s"\'<>]+', html) == ['http://www.w3.org/2000/svg']


def test_html_with_no_fault_and_no_probe_still_renders():
    journal = merge(None, 'r', {}, 'h', dict(verdict='aborted', reason='preflight failed'))
    page = parsed(render_html(journal))
    assert page.having('svg')[0]['id'] == 'timeline-1'
    assert page.having('rect', 'fault') == [] and page.having('line', 'threshold') == []
    assert page.verdict_text.strip() == 'Verdict: ABORTED'


# ---------------------------------------------------------------------------------------------
# The module


def test_module_writes_and_check_mode_does_not(run_module, tmp_path):
    path = str(tmp_path / 'out')
    preview = run_module(experiment_journal, check_mode=True, path=path, run_id='r', experiment=EXPERIMENT, host='h1', record=record())
    assert preview['changed'] is True and preview['verdict'] == 'passed' and not os.path.exists(path)
    result = run_module(experiment_journal, path=path, run_id='r', experiment=EXPERIMENT, host='h1', record=record())
    assert result['changed'] is True and os.path.exists(result['html'])
    assert (result['verdict'], result['host_verdict']) == ('passed', 'passed')
    result = run_module(experiment_journal, path=path, run_id='r', host='h2', record=record('aborted', 'x'))
    assert (result['verdict'], result['host_verdict'], result['hosts']) == ('aborted', 'aborted', ['h1', 'h2'])
    again = run_module(experiment_journal, check_mode=True, path=path, run_id='r', host='h2', record=record('aborted', 'x'))
    assert again['changed'] is False


def test_module_refuses_a_bad_record(run_module, tmp_path):
    result = run_module(experiment_journal, path=str(tmp_path), run_id='r', host='h', record=dict(verdict='ok'))
    assert result['failed'] is True and 'record.verdict must be one of passed, inconclusive, deviated, aborted' in result['msg']
    result = run_module(experiment_journal, path=str(tmp_path), run_id=' ', host='h', record=dict(verdict='passed'))
    assert result['failed'] is True and result['msg'] == 'run_id must not be empty.'


def test_module_reports_an_unwritable_path(run_module, tmp_path):
    blocker = tmp_path / 'file'
    blocker.write_text('x')
    result = run_module(experiment_journal, path=str(blocker / 'sub'), run_id='r', host='h', record=dict(verdict='passed'))
    assert result['failed'] is True and result['msg'].startswith('Cannot write the journal in ')


def test_journal_file_is_the_documented_schema(tmp_path):
    path = str(tmp_path)
    write_journal(path, 'r', EXPERIMENT, 'h', record())
    with open(os.path.join(path, 'journal.json')) as handle:
        journal = json.load(handle)
    assert sorted(journal) == ['experiment', 'finished_at', 'hosts', 'run_id', 'schema', 'started_at', 'verdict']
    assert sorted(journal['hosts']['h']) == ['faults', 'finished_at', 'probes', 'reason', 'recovery', 'skipped',
                                             'started_at', 'verdict']
    assert _journal.SCHEMA == journal['schema'] == 'chaos.engineering/journal/v1'
