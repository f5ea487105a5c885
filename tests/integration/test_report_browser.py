"""The HTML report, as made by chaos.engineering.experiment_journal, rendered by headless Chromium.

Chromium comes from Debian's `chromium` package; hack/chromium.sh installs it when it is missing, so this test
runs in CI rather than being skipped. The screenshot is decoded with a small PNG reader (zlib only) to check that
the verdict box and the fault bars were painted, and the DOM Chromium dumps must hold the chart and the verdict.
"""
import datetime
import json
import os
import struct
import subprocess
import zlib

from html.parser import HTMLParser

import pytest

from helpers import ROOT, ansible_playbook_argv, playbook_env, write

pytestmark = pytest.mark.integration

VERDICT_ABORTED_RGB = (0xc6, 0x28, 0x28)   # .verdict-aborted background
KILL_BAR_RGB = (0xf2, 0xa5, 0x41)          # the first fault bar's fill
NETEM_BAR_RGB = (0xe0, 0x7b, 0x91)         # the second fault bar's fill


@pytest.fixture(scope='module')
def chromium():
    proc = subprocess.run(['bash', os.path.join(ROOT, 'hack', 'chromium.sh')], capture_output=True, text=True,
                          timeout=900, check=False)
    assert proc.returncode == 0, 'hack/chromium.sh could not provide chromium:\n' + proc.stderr[-3000:]
    return proc.stdout.strip().splitlines()[-1]


def at(base, seconds):
    moment = base + datetime.timedelta(seconds=seconds)
    return moment.isoformat(timespec='milliseconds').replace('+00:00', 'Z')


def host_record(base, host, aborted):
    """What the experiment role records for one Docker host: a kill, a bandwidth limit, probes, recovery."""
    probes = []
    for second in (0.0, 1.0, 2.0):
        probes.append(dict(probe='shop', type='http', phase='before', at=at(base, second), ok=True,
                           value=11.0 + second, detail='HTTP 200'))
        probes.append(dict(probe='web replicas', type='containers', phase='before', at=at(base, second + 0.1),
                           ok=True, value=3, detail='3 running (min 2)'))
    for index in range(12):
        second = 5.0 + index
        slow = aborted and index == 6
        probes.append(dict(probe='shop', type='http', phase='during', at=at(base, second), ok=not slow,
                           value=950.0 if slow else 40.0 + 15 * (index % 4),
                           detail='HTTP 200 in 950 ms, over the 500 ms budget' if slow else 'HTTP 200'))
        probes.append(dict(probe='web replicas', type='containers', phase='during', at=at(base, second + 0.1),
                           ok=True, value=2 if index < 4 else 3, detail='running'))
        if slow:
            break
    for second, ok in ((20.0, False), (21.0, True), (22.0, True)):
        probes.append(dict(probe='shop', type='http', phase='after', at=at(base, second), ok=ok,
                           value=None if not ok else 12.0, detail='HTTP 200' if ok else 'error: connection refused'))
    faults = [
        dict(fault='container_kill', started_at=at(base, 4.0), finished_at=at(base, 4.3), expires_at=at(base, 9.0),
             dry_run=False, targets=[dict(id='a' * 64, name='%s-web-2' % host, action='kill', signal='SIGKILL')],
             revert=dict(armed=True, method='ledger', deadline=at(base, 9.0)),
             selection=dict(candidates=3, matched=3, selected=1, protected=[], missing=[], seed=42)),
        dict(fault='container_netem', started_at=at(base, 6.0), finished_at=at(base, 6.4),
             expires_at=at(base, 11.0 if aborted else 16.0), dry_run=False,
             targets=[dict(id='b' * 64, name='%s-web-1' % host, action='rate')]),
    ]
    return dict(
        started_at=at(base, 0), finished_at=at(base, 23.0), faults=faults, probes=probes,
        recovery=[dict(what='%s-web-2' % host, seconds=3.4, recovered=True),
                  dict(what='steady state after', seconds=1.0, recovered=True)],
        verdict='aborted' if aborted else 'passed',
        reason='shop over its latency budget during the fault; reverted at once' if aborted else '',
        skipped=[] if aborted else [dict(what='container_netem loss', reason='no sch_netem in this kernel')])


@pytest.fixture(scope='module')
def report(tmp_path_factory):
    """report.html written by the module, for two hosts running in parallel forks."""
    work = tmp_path_factory.mktemp('report')
    base = datetime.datetime(2026, 11, 27, 10, 0, 0, tzinfo=datetime.timezone.utc)
    records = {'docker-1': host_record(base, 'docker-1', False), 'docker-2': host_record(base, 'docker-2', True)}
    playbook = write(str(work / 'journal.yml'), '''\
        - name: Journal an experiment run on two hosts
          hosts: docker-1,docker-2
          gather_facts: false
          tasks:
            - name: Record this host
              chaos.engineering.experiment_journal:
                path: "{{ out }}"
                run_id: browser-test
                experiment:
                  name: web survives a lost replica and a slow link
                  description: Kill one web container and limit bandwidth; the shop must answer within 500 ms.
                  settings: {duration: 12, interval: 1}
                host: "{{ inventory_hostname }}"
                record: "{{ records[inventory_hostname] }}"
              delegate_to: localhost
              register: journal
            - name: Keep the result
              ansible.builtin.copy:
                content: "{{ journal | to_json }}"
                dest: "{{ out }}/result-{{ inventory_hostname }}.json"
                mode: "0600"
              delegate_to: localhost
        ''')
    extra = str(work / 'vars.json')
    out = str(work / 'out')
    with open(extra, 'w') as handle:
        json.dump(dict(out=out, records=records), handle)
    argv = ansible_playbook_argv(playbook, extra, inventory='docker-1,docker-2') + ['-c', 'local']
    proc = subprocess.run(argv, capture_output=True, text=True, env=playbook_env(), cwd=str(work), timeout=300,
                          check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with open(os.path.join(out, 'result-docker-2.json')) as handle:
        result = json.load(handle)
    assert result['html'] == os.path.join(out, 'report.html')
    return dict(html=result['html'], work=work, records=records)


# ---------------------------------------------------------------------------------------------
# A tiny PNG reader: 8-bit RGB or RGBA, non-interlaced (what Chromium writes).


def read_png(path):
    with open(path, 'rb') as handle:
        data = handle.read()
    assert data[:8] == b'\x89PNG\r\n\x1a\n', 'not a PNG'
    pos, idat, header = 8, [], None
    while pos < len(data):
        length, kind = struct.unpack('>I4s', data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b'IHDR':
            header = struct.unpack('>IIBBBBB', body)
        elif kind == b'IDAT':
            idat.append(body)
        elif kind == b'IEND':
            break
        pos += 12 + length
    width, height, depth, color, dummy, dummy2, interlace = header
    assert depth == 8 and color in (2, 6) and interlace == 0, header
    channels = 3 if color == 2 else 4
    raw = zlib.decompress(b''.join(idat))
    stride = width * channels
    rows, prev, pos = [], bytearray(stride), 0
    for dummy in range(height):
        kind = raw[pos]
        line = bytearray(raw[pos + 1:pos + 1 + stride])
        pos += 1 + stride
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = prev[i]
            upper_left = prev[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xff
            elif kind == 2:
                line[i] = (line[i] + up) & 0xff
            elif kind == 3:
                line[i] = (line[i] + ((left + up) >> 1)) & 0xff
            elif kind == 4:
                p = left + up - upper_left
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - upper_left)
                pred = left if pa <= pb and pa <= pc else (up if pb <= pc else upper_left)
                line[i] = (line[i] + pred) & 0xff
        rows.append(bytes(line))
        prev = line
    pixels = []
    for line in rows:
        pixels.extend(tuple(line[i:i + 3]) for i in range(0, stride, channels))
    return width, height, pixels


def near(pixel, rgb, tolerance=6):
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, rgb))


class Dom(HTMLParser):
    def __init__(self):
        HTMLParser.__init__(self)
        self.tags = []
        self.text = []
        self._verdict = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._verdict = dict(attrs).get('id') == 'verdict'

    def handle_endtag(self, tag):
        self._verdict = False

    def handle_data(self, data):
        if self._verdict:
            self.text.append(data)

    def having(self, tag, css_class=None):
        return [a for t, a in self.tags if t == tag and (css_class is None or css_class in (a.get('class') or '').split())]


def chromium_argv(chromium, profile):
    return [chromium, '--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
            '--disable-background-networking', '--user-data-dir=%s' % profile, '--window-size=1400,1000']


# ---------------------------------------------------------------------------------------------


def test_screenshot_shows_the_verdict_and_the_fault_bars(chromium, report):
    shot = str(report['work'] / 'report.png')
    argv = chromium_argv(chromium, report['work'] / 'profile-shot') + [
        '--screenshot=%s' % shot, 'file://%s' % report['html']]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=180, check=False)
    assert proc.returncode == 0 and os.path.exists(shot), proc.stdout + proc.stderr[-3000:]
    assert os.path.getsize(shot) > 20000, 'suspiciously small screenshot'
    width, height, pixels = read_png(shot)
    assert (width, height) == (1400, 1000)
    # Not a blank page: many colours, and neither white nor any one colour covers nearly everything.
    counts = {}
    for pixel in pixels:
        counts[pixel] = counts.get(pixel, 0) + 1
    assert len(counts) > 50, 'only %d distinct colours' % len(counts)
    assert max(counts.values()) < 0.9 * len(pixels)
    # The verdict box (ABORTED: the worst host wins) and both fault bars were painted.
    assert sum(1 for p in pixels if near(p, VERDICT_ABORTED_RGB)) > 3000
    assert sum(1 for p in pixels if near(p, KILL_BAR_RGB)) > 300
    assert sum(1 for p in pixels if near(p, NETEM_BAR_RGB)) > 300


def test_dumped_dom_holds_the_timeline_and_the_verdict(chromium, report):
    argv = chromium_argv(chromium, report['work'] / 'profile-dom') + ['--dump-dom', 'file://%s' % report['html']]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=180, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    dom = Dom()
    dom.feed(proc.stdout)
    verdicts = [a for t, a in dom.tags if a.get('id') == 'verdict']
    assert len(verdicts) == 1 and 'verdict-aborted' in verdicts[0]['class'].split()
    assert ''.join(dom.text).strip() == 'Verdict: ABORTED'
    svgs = [a for t, a in dom.tags if t == 'svg']
    assert [a.get('id') for a in svgs] == ['timeline']
    faults = dom.having('rect', 'fault')
    assert sorted(a['data-fault'] for a in faults) == ['container_kill', 'container_kill', 'container_netem',
                                                       'container_netem']
    samples = sum(len(r['probes']) for r in report['records'].values())
    assert len(dom.having('circle', 'probe-point')) == samples
    failed = sum(1 for r in report['records'].values() for s in r['probes'] if not s['ok'])
    assert len(dom.having('circle', 'failed')) == failed == 3
    assert len(dom.having('path', 'recovery')) == 4
    # Nothing to fetch: no script, stylesheet link or image source.
    assert not dom.having('script') and not dom.having('link') and not dom.having('img')
