"""The reports made from issue 10's records: fault windows, thresholds, the JUnit schema, the template option."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from html.parser import HTMLParser
from xml.etree import ElementTree

import pytest
import xmlschema

from ansible_collections.chaos.engineering.plugins.module_utils._journal import JournalError, merge, normalize_record
from ansible_collections.chaos.engineering.plugins.module_utils._journal_views import probe_summaries, windows_of
from ansible_collections.chaos.engineering.plugins.module_utils._report_html import COLORS, render_html
from ansible_collections.chaos.engineering.plugins.module_utils._report_junit import render_junit
from ansible_collections.chaos.engineering.plugins.modules import experiment_journal

XSD = os.path.join(os.path.dirname(__file__), 'fixtures', 'junit-jenkins.xsd')
T = '2026-11-27T10:00:%06.3fZ'
EXPERIMENT = dict(name='web survives', probes=[
    dict(name='shop', type='http', url='http://shop/', latency_ms=300),
    dict(name='web', type='containers', min_running=2, phases=['before', 'after'])])


def new_record(verdict='deviated', windows=True):
    """A record as the experiment role now writes it: phases, windows, probe_summary, environment."""
    probes = []
    for second in range(0, 30):
        phase = 'before' if second < 5 else 'during' if second < 20 else 'after'
        slow = second in (8, 9)
        probes.append(dict(probe='shop', type='http', phase=phase, at=T % second, ok=not slow,
                           value=900.0 if slow else 40.0, detail='slow' if slow else 'HTTP 200'))
        probes.append(dict(probe='web', type='containers', phase=phase, at=T % (second + 0.5), ok=second != 12,
                           value=1 if second == 12 else 3, detail='running'))
    record = dict(
        started_at=T % 0, finished_at=T % 30, verdict=verdict, reason='shop over budget during kill web', halted=False,
        faults=[dict(fault='container_kill', name='kill web', iteration=1, applied_at=T % 6, targets=[dict(name='web-1')]),
                dict(fault='container_pause', name='pause db', iteration=1, applied_at=T % 12, targets=[dict(name='db-1')])],
        skipped=[dict(what='container_netem', name='slow link', iteration=1, reason='no sch_netem in this kernel')],
        probes=probes,
        phases=[dict(phase='before', start=T % 0, end=T % 5), dict(phase='during', start=T % 5, end=T % 20),
                dict(phase='after', start=T % 20, end=T % 30)],
        probe_summary=[
            dict(probe='shop', type='http', unit='ms', threshold=dict(op='<=', value=300), judged_in=['before', 'during', 'after'],
                 phases=dict(before=dict(samples=5, failed=0), during=dict(samples=15, failed=2), after=dict(samples=10, failed=0)))],
        environment=dict(controller='ctl-1', ansible_core='2.21.0', collection='0.3.0', python='3.12.1'))
    if windows:
        record['windows'] = [
            dict(name='kill web', fault='container_kill', iteration=1, targets=['web-1'], applied_at=T % 6,
                 ended_at=T % 10, end_by='restarted', seconds=4.0,
                 probes=[dict(probe='shop', samples=4, failed=2, min_samples=3, held=False, conclusive=True,
                              detected_at=T % 8, time_to_detect=2.0, recovered_at=T % 10, time_to_recover=2.0),
                         dict(probe='web', samples=4, failed=0, min_samples=3, held=True, conclusive=True)]),
            dict(name='pause db', fault='container_pause', iteration=1, targets=['db-1'], applied_at=T % 12,
                 ended_at=T % 13, end_by='reverted', seconds=1.0,
                 probes=[dict(probe='shop', samples=1, failed=0, min_samples=3, held=True, conclusive=False),
                         dict(probe='web', samples=1, failed=1, min_samples=3, held=False, conclusive=False)])]
    return record


class Tags(HTMLParser):
    def __init__(self):
        HTMLParser.__init__(self)
        self.tags = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def having(self, tag, css_class=None):
        return [a for t, a in self.tags if t == tag and (css_class is None or css_class in (a.get('class') or '').split())]


def tags_of(html):
    parser = Tags()
    parser.feed(html)
    return parser


# ---------------------------------------------------------------------------------------------
# New record keys


def test_new_keys_are_normalized_and_old_records_keep_their_shape():
    rec = normalize_record(dict(new_record(), halted='yes', windows=[dict(name='k', iteration='2', targets='web-1',
                                                                          probes=[dict(probe='shop', samples='3', failed=0,
                                                                                       min_samples=5)])]))
    assert rec['halted'] is True
    window = rec['windows'][0]
    assert window['iteration'] == 2 and window['targets'] == ['web-1']
    assert window['probes'][0]['samples'] == 3 and window['probes'][0]['conclusive'] is False
    assert window['probes'][0]['held'] is True
    assert rec['environment']['python'] == '3.12.1'
    assert 'windows' not in normalize_record(dict(verdict='passed'))


@pytest.mark.parametrize('bad, message', [
    (dict(phases='during'), 'record.phases must be a list'),
    (dict(phases=[dict(start=T % 1)]), 'record.phases[0] needs a phase'),
    (dict(phases=[dict(phase='during', start='soon')]), 'record.phases[0].start must be an ISO-8601 time or null'),
    (dict(windows=[dict(name='k', applied_at=12)]), None),  # epoch seconds are a time too
    (dict(windows=[dict(name='k', seconds='long')]), 'record.windows[0].seconds must be a number of seconds'),
    (dict(windows=[dict(name='k', seconds=float('nan'))]), 'record.windows[0].seconds must be a finite number'),
    (dict(windows=[dict(name='k', probes=[dict(probe='a', failed=-1)])]),
     'record.windows[0].probes[0].failed must be a whole number of 0 or more'),
    (dict(windows=[dict(name='k', probes='a')]), 'record.windows[0].probes must be a list'),
    (dict(probe_summary=[dict(type='http')]), 'record.probe_summary[0] needs the probe'),
    (dict(probe_summary=[dict(probe='a', threshold=dict(op='<', value=1))]),
     "record.probe_summary[0].threshold.op must be one of >=, <="),
    (dict(probe_summary=[dict(probe='a', threshold=300)]), 'record.probe_summary[0].threshold must be a dictionary'),
    (dict(probe_summary=[dict(probe='a', phases=dict(during=5))]), 'record.probe_summary[0].phases.during must be'),
    (dict(environment='laptop'), 'record.environment must be a dictionary'),
    (dict(skipped=[dict(what='x', at='later')]), 'record.skipped[0].at must be an ISO-8601 time'),
])
def test_odd_new_keys_fail_clearly(bad, message):
    record = dict(verdict='passed', **bad)
    if message is None:
        normalize_record(record)
        return
    with pytest.raises(JournalError) as info:
        normalize_record(record)
    assert message in str(info.value)


def test_thresholds_come_from_the_summary_or_the_probe_definition():
    rec = normalize_record(new_record())
    views = dict((v['probe'], v) for v in probe_summaries(rec, EXPERIMENT))
    assert views['shop']['threshold'] == dict(op='<=', value=300.0) and views['shop']['unit'] == 'ms'
    # No summary for web: its threshold and phases come from its definition (_probe.probe_threshold).
    assert views['web']['threshold'] == dict(op='>=', value=2.0) and views['web']['unit'] == 'running'
    assert views['web']['judged_in'] == ['before', 'after']
    assert views['web']['phases']['during'] == dict(samples=15, failed=1)


def test_windows_of_an_older_record_come_from_its_faults():
    rec = normalize_record(dict(new_record(windows=False), faults=[
        dict(fault='container_kill', started_at=T % 6, expires_at=T % 10, targets=[dict(name='web-1')])]))
    window, = windows_of(rec)
    assert (window['name'], window['iteration'], window['seconds']) == ('container_kill', 1, 4.0)
    shop = [p for p in window['probes'] if p['probe'] == 'shop'][0]
    assert (shop['samples'], shop['failed'], shop['time_to_detect'], shop['time_to_recover']) == (5, 2, 2.0, 2.0)


# ---------------------------------------------------------------------------------------------
# JUnit against the Jenkins/Surefire schema


@pytest.fixture(scope='module')
def schema():
    return xmlschema.XMLSchema(XSD)


@pytest.mark.parametrize('records', [
    dict(h1=new_record()),
    dict(h1=new_record('inconclusive'), h2=new_record('passed', windows=False)),
    dict(h1=dict(verdict='aborted', reason='preflight failed')),
    dict(h1=dict(new_record(), reason='bad \x00\x1b <&>')),
])
def test_junit_validates_against_the_jenkins_schema(schema, records):
    journal = None
    for host, record in records.items():
        journal = merge(journal, 'r', EXPERIMENT, host, record)
    text = render_junit(journal)
    errors = list(schema.iter_errors(text))
    assert not errors, errors[0]


def test_the_schema_check_can_fail(schema):
    text = render_junit(merge(None, 'r', EXPERIMENT, 'h', new_record()))
    assert schema.is_valid(text)
    broken = text.replace('<testsuites ', '<testsuites skipped="1" ', 1)
    assert not schema.is_valid(broken), 'the schema would accept a skipped attribute on <testsuites>'


def test_junit_windows_fail_when_a_probe_broke_and_skip_when_inconclusive():
    journal = merge(None, 'r', EXPERIMENT, 'h', new_record())
    cases = dict((c.get('name'), c) for c in ElementTree.fromstring(render_junit(journal)).iter('testcase'))
    kill = cases['window: kill web #1']
    assert kill.find('failure').get('message') == 'shop: 2 of 4 samples failed'
    # pause db: web broke, but web does not judge the during phase; shop had 1 sample of the 3 needed.
    pause = cases['window: pause db #1']
    assert pause.find('failure') is None
    assert pause.find('skipped').get('message') == 'inconclusive: shop had 1 samples, fewer than min_samples 3'
    assert cases['skipped: slow link #1'].find('skipped').get('message') == 'no sch_netem in this kernel'
    assert cases['web during'].find('failure') is None and cases['shop during'].find('failure') is not None
    assert cases['verdict'].find('failure').get('message') == 'deviated: shop over budget during kill web'
    rec = new_record('inconclusive')
    cases = dict((c.get('name'), c) for c in ElementTree.fromstring(
        render_junit(merge(None, 'r', EXPERIMENT, 'h', rec))).iter('testcase'))
    assert cases['verdict'].find('skipped') is not None and cases['verdict'].find('failure') is None


# ---------------------------------------------------------------------------------------------
# HTML: windows, thresholds, marks


def test_html_draws_windows_thresholds_skipped_faults_and_detection_marks():
    html = render_html(merge(None, 'r', EXPERIMENT, 'h', new_record()))
    page = tags_of(html)
    bars = page.having('rect', 'fault')
    assert [b['data-fault'] for b in bars] == ['container_kill', 'container_pause']
    assert all(b['fill'] == COLORS['fault'] for b in bars)
    # 4 s and 1 s windows: widths in that ratio.
    assert float(bars[0]['width']) / float(bars[1]['width']) == pytest.approx(4.0, rel=0.02)
    thresholds = page.having('line', 'threshold')
    assert [t['data-probe'] for t in thresholds] == ['shop', 'web']
    assert all(t['stroke'] == COLORS['threshold'] and t['y1'] == t['y2'] for t in thresholds)
    # The shop lane's threshold (300 ms) is above its 40 ms samples and below its 900 ms ones (SVG y grows down).
    shop = [p for p in page.having('circle', 'probe-point') if p['data-probe'] == 'shop']
    line_y = float(thresholds[0]['y1'])
    assert all(float(p['cy']) > line_y for p in shop if 'ok' in p['class'].split())
    assert all(float(p['cy']) < line_y for p in shop if 'failed' in p['class'].split())
    assert len(page.having('rect', 'skipped-fault')) == 1 and page.having('line', 'hatch')
    assert len(page.having('line', 'ttd')) == 1 and len(page.having('line', 'ttr')) == 1
    assert 'TTD 2s' in html and 'TTR 2s' in html
    assert len(page.having('rect', 'phase')) == 3
    # Real clock ticks, the environment, the verdict's reason first, the spec folded away.
    assert '10:00:05' in html and 'UTC 2026-11-27' in html
    assert 'ctl-1' in html and '2.21.0' in html
    assert html.index('id="verdict"') < html.index('shop over budget during kill web') < html.index('<svg')
    assert html.index('<details><summary>The experiment as recorded') > html.index('class="environment"')


def test_html_without_windows_has_no_fault_bar():
    page = tags_of(render_html(merge(None, 'r', EXPERIMENT, 'h', dict(new_record(windows=False), faults=[]))))
    assert page.having('rect', 'fault') == []
    assert page.having('line', 'threshold')


# ---------------------------------------------------------------------------------------------
# The template option


def test_template_option_overrides_the_report(run_module, tmp_path):
    template = tmp_path / 'mine.html.j2'
    template.write_text('<p id="v">{{ verdict.name }} / {{ hosts[0].name }} / {{ journal.run_id }} / '
                        '{{ hosts[0].reason }}</p>\n')
    out = str(tmp_path / 'out')
    result = run_module(experiment_journal, path=out, run_id='r1', host='h<1>', record=new_record(), experiment=EXPERIMENT,
                        template=str(template))
    assert not result.get('failed'), result
    with open(result['html']) as handle:
        assert handle.read() == '<p id="v">deviated / h&lt;1&gt; / r1 / shop over budget during kill web</p>\n'


@pytest.mark.parametrize('content, message', [
    (None, 'Cannot read the report template'),
    ('{% for x in %}', 'The report template is not a valid Jinja2 template'),
    ('{{ hosts[0].name.nothing.deeper }}', 'The report template failed'),
    (b'\xff\xfe', 'is not UTF-8 text'),
])
def test_a_bad_template_fails_clearly_and_writes_nothing(run_module, tmp_path, content, message):
    template = tmp_path / 'bad.j2'
    if isinstance(content, bytes):
        template.write_bytes(content)
    elif content is not None:
        template.write_text(content)
    out = tmp_path / 'out'
    result = run_module(experiment_journal, path=str(out), run_id='r', host='h', record=new_record(), template=str(template))
    assert result['failed'] is True and message in result['msg'], result['msg']
    assert not (out / 'journal.json').exists()


def test_missing_jinja2_fails_with_missing_required_lib(run_module, tmp_path, monkeypatch):
    monkeypatch.setattr(experiment_journal, 'HAS_JINJA2', False)
    result = run_module(experiment_journal, path=str(tmp_path / 'out'), run_id='r', host='h', record=new_record())
    assert result['failed'] is True and 'jinja2' in result['msg'] and 'required' in result['msg']
