"""The chaos.engineering.experiment and chaos.engineering.teardown roles, through the collection's playbooks, on the
private Docker engines: the demo, a passing and a deviated experiment, check mode, an experiment aborted by a failed
probe (reverted at once), and a controller SIGKILLed mid-experiment followed by the teardown playbook.

Every fact is read back from the engine (container states, its event stream, our helpers, the qdiscs and rules in
the target's network namespace) or from the journal the run wrote; nothing asserts on wall-clock time.
"""
import json
import os
import re
import signal
import subprocess
import time

import pytest

from experiment_helpers import (base_vars, bed_client, engine_ip, has_ours, helpers_for, http_ok, httpd, journal,
                                netns_state, output, pending_entries, pick, port_base, run_playbook, samples,
                                start_playbook, status)
from helpers import ROOT, engine_events, kill_controller, parse_iso, start_containers, wait_until

pytestmark = pytest.mark.integration


def test_demo_passes_kills_limits_skips_netem_and_leaves_nothing(bed, engine, run_id, tmp_path):
    prefix = 'demo-%s-' % run_id
    env = dict(os.environ, CHAOS_DEMO_PREFIX=prefix, CHAOS_DEMO_PORT_BASE=str(port_base()),
               CHAOS_JOURNAL_DIR=str(tmp_path / 'journal'), CHAOS_ENGINEERING_LEDGER_DIR=str(tmp_path / 'ledger'))
    env.pop('DOCKER_HOST', None)
    proc = subprocess.run(['bash', os.path.join(ROOT, 'hack', 'demo.sh')], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=900, check=False)
    assert proc.returncode == 0, output(proc)
    assert 'verdict: passed' in proc.stderr, proc.stderr[-3000:]
    # Its output fits a screen: 68 task headers and 25 skipped lines before the role's output was cut down, 49
    # and 3 after; one summary line for its one iteration.
    assert len(re.findall(r'^TASK \[', proc.stdout, re.M)) <= 49, output(proc)
    assert len(re.findall(r'^skipping: ', proc.stdout, re.M)) <= 3, output(proc)
    assert len(re.findall(r'^\s*"msg": "iteration 1 of 1: kill web-1, restart after 3 s -> %s1; ' % re.escape(prefix),
                          proc.stdout, re.M)) == 1, output(proc)
    data = journal(str(tmp_path / 'journal'))
    assert 'report:  %s/report.html' % data['_dir'] in proc.stderr
    assert os.path.getsize(os.path.join(data['_dir'], 'report.html')) > 1000
    assert data['verdict'] == 'passed'
    record = data['hosts']['localhost']
    hit = dict((f['name'], [t['name'] for t in f['targets']]) for f in record['faults'])
    assert hit['kill web-1, restart after 3 s'] == [prefix + '1']
    assert hit['limit web-2 to 1 Mbit/s (tbf)'] == [prefix + '2']
    if record['skipped']:   # this kernel has no sch_netem: the delay is skipped, and says why
        assert [s['what'] for s in record['skipped']] == ['delay web-3 by 100 ms (netem) (iteration 1)']
        assert 'sch_netem' in record['skipped'][0]['reason']
        assert 'SKIPPED' in proc.stdout and 'sch_netem' in proc.stdout
    else:                   # a kernel with netem: the delay went in
        assert hit['delay web-3 by 100 ms (netem)'] == [prefix + '3']
    # The steady state held before, during and after (every probe in the phases it judges; the sampler samples
    # them all, all the time); the bandwidth limit shows in the 128 KiB transfer: at 1 Mbit/s it cannot take less
    # than 1.05 s.
    probes = data['experiment']['probes']
    for phase in ('before', 'during', 'after'):
        judged = [p['name'] for p in probes if phase in p.get('phases', ['before', 'during', 'after'])]
        mine = [s for s in samples(record, phase) if s['probe'] in judged]
        assert mine and all(s['ok'] for s in mine), (phase, [s for s in mine if not s['ok']])
    blob = 'web-2 serves 128 KiB within 5 s'
    (limit,) = [w for w in record['windows'] if w['name'] == 'limit web-2 to 1 Mbit/s (tbf)']
    # The transfers that ran entirely inside the limit's window (a sample's `at` is when its request started).
    limited = [s for s in samples(record, probe=blob) if parse_iso(limit['applied_at']) <= parse_iso(s['at'])
               and parse_iso(s['at']) + s['value'] / 1000.0 <= parse_iso(limit['ended_at'])]
    assert len(limited) >= 2 and min(s['value'] for s in limited) >= 800, (
        limit, [(s['at'], s['value']) for s in samples(record, probe=blob)])
    assert max(s['value'] for s in samples(record, 'before', blob)) < 800
    # It passed because the probes saw the kill: inside the kill's window (the kill to the restart), the quorum
    # probe had at least two samples, and at least one of them counted only two replicas running.
    (kill,) = [w for w in record['windows'] if w['fault'] == 'container_kill']
    assert kill['end_by'] == 'restarted'
    quorum = [p for p in kill['probes'] if p['probe'] == 'a quorum of replicas runs'][0]
    assert quorum['samples'] >= 2 and quorum['held'], kill
    inside = [s for s in samples(record, probe='a quorum of replicas runs')
              if parse_iso(kill['applied_at']) <= parse_iso(s['at']) <= parse_iso(kill['ended_at'])]
    assert 2 in [s['value'] for s in inside], inside
    # Nothing left: the replicas and any helper of ours are gone.
    assert not engine.containers.list(all=True, filters={'name': prefix})
    assert not [h for h in engine.containers.list(all=True, filters={'label': 'chaos.engineering/helper=true'}, ignore_removed=True)
                if h.labels.get('chaos.engineering/target-name', '').startswith(prefix)]


def test_passing_experiment_with_iterations_and_jitter(bed, run_id, ledger_dir, tmp_path):
    client = bed_client(bed, 1)
    port = port_base()
    web = httpd(client, run_id, 'web', port=port, labels={'app': 'web-' + run_id})
    worker = start_containers(client, run_id, ['worker'], labels={'app': 'worker-' + run_id})['worker']
    url = 'http://%s:%d/' % (engine_ip(bed, 1), port)
    assert wait_until(lambda: http_ok(url), 20)
    proc = run_playbook('docker_experiment', tmp_path, base_vars(
        bed, 1, tmp_path, ledger_dir, experiment_name='iterations', experiment_duration=2, experiment_iterations=2,
        experiment_interval=1, experiment_jitter=1, experiment_seed='7', experiment_recovery_timeout=20,
        experiment_probes=[
            dict(name='web', type='http', url=url, timeout=2),
            dict(name='worker runs', type='containers', selection=dict(labels={'app': 'worker-' + run_id}),
                 phases=['before', 'after'])],
        experiment_faults=[
            # Restarted 2 s after the kill: a window the web probe (every 0.5 s) samples at least twice.
            dict(name='kill worker', module='container_kill', args=dict(names=[worker.name], restart_after=2,
                                                                        wait_for_recovery=True)),
            dict(name='drop 10 % of web egress', module='container_netem',
                 args=dict(names=[web.name], drop=dict(probability=0.1, direction='egress'), protocol='icmp'))]))
    assert proc.returncode == 0, output(proc)
    data = journal(str(tmp_path / 'journal'))
    record = data['hosts']['localhost']
    assert data['verdict'] == 'passed' and record['verdict'] == 'passed'
    assert sorted((f['name'], f['iteration']) for f in record['faults']) == [
        ('drop 10 % of web egress', 1), ('drop 10 % of web egress', 2), ('kill worker', 1), ('kill worker', 2)]
    # Each netem fault was reverted by the role when its observation ended, before its armed deadline: its window
    # ends at that revert, and the web probe was sampled at least twice inside every window.
    deadlines = dict((f['iteration'], f['revert']['deadline']) for f in record['faults'] if f['fault'] == 'container_netem')
    netem = [w for w in record['windows'] if w['fault'] == 'container_netem']
    assert sorted(w['iteration'] for w in netem) == [1, 2], record['windows']
    for window in netem:
        assert window['end_by'] == 'reverted'
        assert parse_iso(window['applied_at']) < parse_iso(window['ended_at']) < parse_iso(deadlines[window['iteration']])
    for window in record['windows']:
        assert [p['probe'] for p in window['probes']] == ['web'] and window['probes'][0]['samples'] >= 2, window
    assert status(worker) == 'running' and status(web) == 'running'
    assert not has_ours(netns_state(client, web)) and not helpers_for(client, [web])
    assert len(samples(record, 'during', 'web')) >= 2
    # The recovery container_kill measured (wait_for_recovery) is in the journal, once per iteration: back no
    # earlier than the armed start, 2 s after the kill.
    measured = [r for r in record['recovery'] if r['what'] == 'container ' + worker.name]
    assert len(measured) == 2 and all(r['recovered'] and r['seconds'] >= 2.0 for r in measured), record['recovery']
    assert os.path.isfile(os.path.join(data['_dir'], 'junit.xml'))


def test_deviated_when_the_steady_state_does_not_come_back(bed, run_id, ledger_dir, tmp_path):
    client = bed_client(bed, 1)
    victim = start_containers(client, run_id, ['victim'], labels={'app': 'victim-' + run_id})['victim']
    proc = run_playbook('docker_experiment', tmp_path, base_vars(
        bed, 1, tmp_path, ledger_dir, experiment_name='no restart', experiment_duration=1,
        experiment_recovery_timeout=2,
        experiment_probes=[dict(name='victim runs', type='containers', selection=dict(labels={'app': 'victim-' + run_id}),
                                phases=['before', 'after'])],
        experiment_faults=[dict(module='container_kill', args=dict(names=[victim.name]))]))
    assert proc.returncode != 0
    assert 'DEVIATED' in proc.stdout and 'not back 2' in proc.stdout, output(proc)
    record = journal(str(tmp_path / 'journal'))['hosts']['localhost']
    assert record['verdict'] == 'deviated'
    # Nothing measured a recovery, and nothing restarted the victim: its window lasts to the end of the observation.
    assert record['recovery'] == []
    (window,) = record['windows']
    assert window['end_by'] == 'observation-end' and window['probes'] == []
    assert samples(record, 'after') and not samples(record, 'after')[-1]['ok']
    assert status(victim) == 'exited'


def test_check_mode_names_the_targets_and_changes_nothing(bed, run_id, ledger_dir, tmp_path):
    client = bed_client(bed, 1)
    box = start_containers(client, run_id, ['box'], labels={'app': 'box-' + run_id})['box']
    since = time.time()
    extra = base_vars(
        bed, 1, tmp_path, ledger_dir, experiment_duration=30,
        experiment_probes=[dict(name='box runs', type='containers', selection=dict(labels={'app': 'box-' + run_id}))],
        experiment_faults=[dict(module='container_pause', args=dict(labels={'app': 'box-' + run_id})),
                           dict(module='container_netem', args=dict(names=[box.name], bandwidth=dict(rate='1mbit')))])
    proc = run_playbook('docker_experiment', tmp_path, extra, check=True)
    assert proc.returncode == 0, output(proc)
    assert 'check mode: nothing was injected; the faults would hit: %s, %s' % (box.name, box.name) in proc.stdout
    assert status(box) == 'running'
    assert not engine_events(client, box, since, 'pause')
    assert not has_ours(netns_state(client, box)) and not helpers_for(client, [box])
    assert not os.path.exists(str(tmp_path / 'journal'))


def test_failed_probe_aborts_and_reverts_at_once(bed, run_id, ledger_dir, tmp_path, run_module):
    client = bed_client(bed, 1)
    port = port_base()
    web = httpd(client, run_id, 'web', port=port)
    boxes = start_containers(client, run_id, ['worker', 'elsewhere'])
    url = 'http://%s:%d/' % (engine_ip(bed, 1), port)
    assert wait_until(lambda: http_ok(url), 20)
    # Another run's pending restart in the same ledger: the experiment's revert must leave it alone.
    foreign = run_module('container_kill', dict(names=[boxes['elsewhere'].name], restart_after=600),
                         docker_host=bed['hosts'][pick(bed, 1)])['chaos']['revert']['entries']
    since = time.time()
    proc = run_playbook('docker_experiment', tmp_path, base_vars(
        bed, 1, tmp_path, ledger_dir, experiment_name='abort', experiment_duration=60, experiment_iterations=3,
        experiment_recovery_timeout=20,
        experiment_probes=[dict(name='web answers', type='http', url=url, timeout=1)],
        experiment_faults=[
            dict(name='kill worker', module='container_kill', args=dict(names=[boxes['worker'].name],
                                                                        restart_after=600)),
            dict(name='limit web', module='container_netem', args=dict(names=[web.name], bandwidth=dict(rate='2mbit'))),
            dict(name='freeze web', module='container_pause', args=dict(names=[web.name]))]))
    assert proc.returncode != 0
    assert 'ABORTED' in proc.stdout, output(proc)
    data = journal(str(tmp_path / 'journal'))
    record = data['hosts']['localhost']
    assert data['verdict'] == 'aborted' and record['verdict'] == 'aborted'
    assert 'broke during iteration 1: web answers failed' in record['reason']
    # No further iteration was started.
    assert sorted(f['iteration'] for f in record['faults']) == [1, 1, 1]
    # The killed worker was started again at once; the other run's killed container still waits for its restart.
    assert status(boxes['worker']) == 'running' and status(boxes['elsewhere']) == 'exited'
    assert [e['id'] for e in pending_entries(ledger_dir, bed['hosts'][pick(bed, 1)])] == foreign
    # The sampler goes on through the revert: the first failed sample of the during phase ended it.
    during = samples(record, 'during')
    first_bad = [i for i, s in enumerate(during) if not s['ok']][0]
    assert all(s['ok'] for s in during[:first_bad])
    pause = [f for f in record['faults'] if f['fault'] == 'container_pause'][0]
    netem = [w for w in record['windows'] if w['fault'] == 'container_netem'][0]
    first_after = min(parse_iso(s['at']) for s in samples(record, 'after'))
    # The engine's own events: web was unpaused after the failed sample, before the after-probes began and long
    # before the armed deadline; the network fault was gone by then too.
    unpaused = engine_events(client, web, since, 'unpause')
    assert len(unpaused) == 1
    assert parse_iso(during[first_bad]['at']) < unpaused[0] < first_after < parse_iso(pause['revert']['deadline'])
    assert netem['end_by'] == 'reverted' and parse_iso(netem['ended_at']) < first_after
    assert status(web) == 'running'
    assert not has_ours(netns_state(client, web)) and not helpers_for(client, [web])
    # The steady state came back after the revert: the last after-samples passed.
    assert all(s['ok'] for s in samples(record, 'after')[-2:])


def test_sigkilled_controller_then_teardown_leaves_nothing_of_ours(bed, run_id, ledger_dir, tmp_path, run_module):
    client = bed_client(bed, 2)
    host = bed['hosts'][pick(bed, 2)]
    boxes = start_containers(client, run_id, ['frozen', 'worker', 'untimed'], labels={'app': 'kill-' + run_id})
    web = httpd(client, run_id, 'shaped')
    extra = base_vars(
        bed, 2, tmp_path, ledger_dir, experiment_name='sigkill', experiment_duration=300, experiment_revert_grace=300,
        # No lease: the faults stay after the controller's death, so that the teardown must find them all (the
        # lease's own promise is tested in test_observe.py).
        experiment_lease=0,
        experiment_probes=[dict(name='shaped runs', type='containers', selection=dict(names=[web.name]))],
        experiment_faults=[
            dict(module='container_kill', args=dict(names=[boxes['worker'].name], restart_after=600)),
            dict(module='container_pause', args=dict(names=[boxes['frozen'].name])),
            dict(module='container_netem',
                 args=dict(names=[web.name], bandwidth=dict(rate='1mbit'), drop=dict(), protocol='tcp', ports=[8080]))])
    proc = start_playbook('docker_experiment', tmp_path, extra)
    log_path = str(tmp_path / 'docker_experiment.log')

    def observing():
        with open(log_path) as handle:
            return 'while the faults are in place' in handle.read()
    try:
        assert wait_until(observing, 300, interval=0.5), open(log_path).read()[-4000:]
        # Everything is in place, in the engine and in the kernel.
        assert status(boxes['worker']) == 'exited' and status(boxes['frozen']) == 'paused'
        state = netns_state(client, web)
        assert 'c4a0:' in state['tc'] and 'chaos.engineering:netem:' in state['iptables'], state
        assert helpers_for(client, [web])
        assert len(pending_entries(ledger_dir, host)) >= 3
    finally:
        kill_controller(proc.pid)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    # The controller is gone; the faults are still there (the armed reverts are minutes away).
    assert status(boxes['frozen']) == 'paused' and status(boxes['worker']) == 'exited'
    # And one fault with no deadline at all, on purpose: the teardown must find it too.
    kept = run_module('container_netem', dict(names=[boxes['untimed'].name], drop=dict(probability=0.5),
                                              untimed=True), docker_host=host)
    assert kept['changed'] is True and kept['chaos']['untimed'] is True, kept
    assert has_ours(netns_state(client, boxes['untimed']))
    assert os.listdir(os.path.join(ledger_dir, 'untimed'))

    teardown = dict(chaos_hosts='localhost', teardown_docker_host=host, teardown_ledger_dir=ledger_dir)
    done = run_playbook('teardown', tmp_path, teardown)
    assert done.returncode == 0, output(done)
    assert status(boxes['frozen']) == 'running'
    assert status(boxes['worker']) == 'running'
    assert not helpers_for(client, [web])
    assert not has_ours(netns_state(client, web))
    assert not has_ours(netns_state(client, boxes['untimed'])) and not helpers_for(client, [boxes['untimed']])
    assert not os.listdir(os.path.join(ledger_dir, 'untimed'))  # its note is closed into done/
    assert not pending_entries(ledger_dir, host)
    # It halted the host first: the marker stops any experiment still running against it.
    with open(os.path.join(ledger_dir, 'halt.json')) as handle:
        marker = json.load(handle)
    assert marker['reason'] == 'halted by chaos.engineering.teardown' and marker['at'] <= time.time()
    # A second teardown finds nothing to do.
    again = run_playbook('teardown', tmp_path, teardown)
    assert again.returncode == 0, output(again)
    assert 'changed=0' in again.stdout and 'failed=0' in again.stdout, output(again)
