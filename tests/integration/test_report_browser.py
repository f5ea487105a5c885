"""The HTML report, as made by chaos.engineering.experiment_journal, rendered by headless Chromium.

Chromium comes from Debian's `chromium` package; hack/chromium.sh installs it when it is missing (and .ci/run
does so before the tests), so this test runs in CI; it is skipped, saying why, only when chromium cannot be
installed. The screenshot is decoded with a small PNG reader (zlib only: no Pillow in the venvs) to check that the
verdict banner, the threshold lines and the fault bars were painted, and that a report without fault windows has
no fault bar; the DOM Chromium dumps must hold the verdict and nothing to fetch.
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

from ansible_collections.chaos.engineering.plugins.module_utils._journal import merge
from ansible_collections.chaos.engineering.plugins.module_utils._report_html import COLORS, render_html

pytestmark = pytest.mark.integration


def rgb(color):
    return tuple(int(color[i:i + 2], 16) for i in (1, 3, 5))


VERDICT_RGB = rgb(COLORS['deviated'])
THRESHOLD_RGB = rgb(COLORS['threshold'])
FAULT_RGB = rgb(COLORS['fault'])


@pytest.fixture(scope='module')
def chromium():
    proc = subprocess.run(['bash', os.path.join(ROOT, 'hack', 'chromium.sh')], capture_output=True, text=True,
                          timeout=900, check=False)
    if proc.returncode != 0:
        pytest.skip('chromium is not installed and could not be installed (hack/chromium.sh): ' + proc.stderr[-1500:])
    return proc.stdout.strip().splitlines()[-1]


def at(base, seconds):
    moment = base + datetime.timedelta(seconds=seconds)
    return moment.isoformat(timespec='milliseconds').replace('+00:00', 'Z')


def host_record(base, windows=True):
    """A deviated run: two probes with thresholds, two fault windows, a skipped fault."""
    probes = []
    for second in range(0, 30):
        phase = 'before' if second < 5 else 'during' if second < 20 else 'after'
        slow = second in (8, 9)
        probes.append(dict(probe='shop', type='http', phase=phase, at=at(base, second), ok=not slow,
                           value=900.0 if slow else 40.0 + 5 * (second % 3), detail='slow' if slow else 'HTTP 200'))
        probes.append(dict(probe='web replicas', type='containers', phase=phase, at=at(base, second + 0.5),
                           ok=second != 13, value=1 if second == 13 else 3, detail='running'))
    record = dict(
        started_at=at(base, 0), finished_at=at(base, 30), verdict='deviated', halted=False,
        reason='shop answered in 900 ms during kill web, over its 300 ms budget',
        faults=[dict(fault='container_kill', name='kill web', iteration=1, applied_at=at(base, 6),
                     targets=[dict(name='web-1')]),
                dict(fault='container_pause', name='pause db', iteration=1, applied_at=at(base, 12),
                     targets=[dict(name='db-1')])],
        skipped=[dict(what='container_netem', name='slow link', iteration=1, reason='no sch_netem in this kernel')],
        probes=probes,
        phases=[dict(phase='before', start=at(base, 0), end=at(base, 5)),
                dict(phase='during', start=at(base, 5), end=at(base, 20)),
                dict(phase='after', start=at(base, 20), end=at(base, 30))],
        environment=dict(controller='ctl-1', ansible_core='2.21.0', collection='0.3.0', python='3.12.1'))
    if windows:
        record['windows'] = [
            dict(name='kill web', fault='container_kill', iteration=1, targets=['web-1'], applied_at=at(base, 6),
                 ended_at=at(base, 11), end_by='restarted', seconds=5.0,
                 probes=[dict(probe='shop', samples=5, failed=2, min_samples=3, held=False, conclusive=True,
                              detected_at=at(base, 8), time_to_detect=2.0, recovered_at=at(base, 10),
                              time_to_recover=2.0)]),
            dict(name='pause db', fault='container_pause', iteration=1, targets=['db-1'], applied_at=at(base, 12),
                 ended_at=at(base, 16), end_by='reverted', seconds=4.0,
                 probes=[dict(probe='web replicas', samples=4, failed=1, min_samples=3, held=False, conclusive=True,
                              detected_at=at(base, 13.5), time_to_detect=1.5, recovered_at=at(base, 14.5),
                              time_to_recover=1.0)])]
    else:
        record['faults'] = []
    return record


EXPERIMENT = dict(
    name='web survives a lost replica and a paused database',
    description='Kill one web container, then pause the database; the shop must answer within 300 ms.',
    probes=[dict(name='shop', type='http', url='http://shop/', latency_ms=300),
            dict(name='web replicas', type='containers', min_running=2)])


@pytest.fixture(scope='module')
def report(tmp_path_factory):
    """report.html written by the module through ansible-playbook, and a control report without fault windows."""
    work = tmp_path_factory.mktemp('report')
    base = datetime.datetime(2026, 11, 27, 10, 0, 0, tzinfo=datetime.timezone.utc)
    playbook = write(str(work / 'journal.yml'), '''\
        - name: Journal an experiment run
          hosts: docker-1
          gather_facts: false
          tasks:
            - name: Record this host
              chaos.engineering.experiment_journal:
                path: "{{ out }}"
                run_id: browser-test
                experiment: "{{ experiment }}"
                host: "{{ inventory_hostname }}"
                record: "{{ record }}"
              delegate_to: localhost
              register: journal
            - name: Keep the result
              ansible.builtin.copy:
                content: "{{ journal | to_json }}"
                dest: "{{ out }}/result.json"
                mode: "0600"
              delegate_to: localhost
        ''')
    extra = str(work / 'vars.json')
    out = str(work / 'out')
    with open(extra, 'w') as handle:
        json.dump(dict(out=out, record=host_record(base), experiment=EXPERIMENT), handle)
    argv = ansible_playbook_argv(playbook, extra, inventory='docker-1,') + ['-c', 'local']
    proc = subprocess.run(argv, capture_output=True, text=True, env=playbook_env(), cwd=str(work), timeout=300,
                          check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with open(os.path.join(out, 'result.json')) as handle:
        result = json.load(handle)
    assert result['html'] == os.path.join(out, 'report.html') and result['verdict'] == 'deviated'
    control = str(work / 'control.html')
    with open(control, 'w') as handle:
        handle.write(render_html(merge(None, 'control', EXPERIMENT, 'docker-1', host_record(base, windows=False))))
    return dict(html=result['html'], control=control, work=work)


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
    return [chromium, '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
            '--disable-component-update', '--disable-sync', '--no-first-run', '--user-data-dir=%s' % profile,
            '--window-size=1400,1800']


def screenshot(chromium, work, html, name):
    shot = str(work / ('%s.png' % name))
    argv = chromium_argv(chromium, work / ('profile-%s' % name)) + ['--screenshot=%s' % shot, 'file://%s' % html]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=180, check=False)
    assert proc.returncode == 0 and os.path.exists(shot), proc.stdout + proc.stderr[-3000:]
    width, height, pixels = read_png(shot)
    assert (width, height) == (1400, 1800)
    return width, [pixels[row * width:(row + 1) * width] for row in range(height)]


def runs(line, color, minimum):
    """[(start, end)] of the runs of at least ``minimum`` pixels of ``color`` in one row."""
    found, start = [], None
    for column, pixel in enumerate(list(line) + [None]):
        if pixel is not None and near(pixel, color, 4):
            if start is None:
                start = column
        elif start is not None:
            if column - start >= minimum:
                found.append((start, column))
            start = None
    return found


def filled_rectangles(rows, color, min_width=20, min_height=12):
    """Rectangles of ``color`` at least min_width x min_height, as (top, left, right): a run of the same columns in
    min_height consecutive rows."""
    found = []
    open_runs = {}
    for number, line in enumerate(rows):
        current = {}
        for span in runs(line, color, min_width):
            current[span] = open_runs.get(span, number)
        for span, top in open_runs.items():
            if span not in current and number - top >= min_height:
                found.append((top, span[0], span[1]))
        open_runs = current
    return found


def test_screenshot_shows_the_verdict_thresholds_and_fault_bars(chromium, report):
    width, rows = screenshot(chromium, report['work'], report['html'], 'report')
    pixels = [p for line in rows for p in line]
    counts = {}
    for pixel in pixels:
        counts[pixel] = counts.get(pixel, 0) + 1
    assert len(counts) > 50, 'only %d distinct colours: a blank page?' % len(counts)
    # The verdict banner, in the deviated colour.
    assert sum(1 for p in pixels if near(p, VERDICT_RGB)) > 3000
    # A threshold line per probe: long horizontal runs of the threshold colour, in two separate lanes.
    line_rows = [number for number, line in enumerate(rows) if runs(line, THRESHOLD_RGB, 300)]
    assert line_rows, 'no threshold line painted'
    groups = [line_rows[0]] + [b for a, b in zip(line_rows, line_rows[1:]) if b - a > 10]
    assert len(groups) == 2, line_rows
    # The two fault windows: filled rectangles of the fault colour (5 s and 4 s long, about 160 and 130 px).
    bars = filled_rectangles(rows, FAULT_RGB)
    assert len(bars) == 2, bars
    assert all(right - left > 60 for dummy, left, right in bars), bars


def test_a_report_without_windows_has_no_fault_bar(chromium, report):
    dummy, rows = screenshot(chromium, report['work'], report['control'], 'control')
    assert sum(1 for line in rows for p in line if near(p, FAULT_RGB, 4)) == 0
    # The control is not blank: its thresholds are there.
    assert any(runs(line, THRESHOLD_RGB, 300) for line in rows)


def test_dumped_dom_holds_the_verdict_and_nothing_to_fetch(chromium, report):
    argv = chromium_argv(chromium, report['work'] / 'profile-dom') + ['--dump-dom', 'file://%s' % report['html']]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=180, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    dom = Dom()
    dom.feed(proc.stdout)
    verdicts = [a for t, a in dom.tags if a.get('id') == 'verdict']
    assert len(verdicts) == 1 and 'verdict-deviated' in verdicts[0]['class'].split()
    assert ''.join(dom.text).strip() == 'Verdict: DEVIATED'
    assert [a.get('data-host') for a in dom.having('svg', 'timeline')] == ['docker-1']
    assert len(dom.having('rect', 'fault')) == 2 and len(dom.having('line', 'threshold')) == 2
    assert len(dom.having('rect', 'skipped-fault')) == 1
    assert len(dom.having('line', 'ttd')) == 2 and len(dom.having('line', 'ttr')) == 2
    assert not dom.having('script') and not dom.having('link') and not dom.having('img')
