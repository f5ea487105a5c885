"""When the detached reverter acts, measured on the engine: never before an entry's settled deadline (the one counted
from the moment the fault took effect), and not long after it. The module lives to settle its entries here (no
SIGKILL: test_sigkill.py covers that), on an idle and on a loaded machine.

The engine's own 'start' and 'unpause' events, and the time the netem revert's last step returned (fault_gone_at),
are compared with the deadline of the entry in done/, which must be the settled one (applied)."""
import json
import os
import time

import docker
import pytest

from helpers import TEST_LABEL, engine_events, run_module_play, start_containers, wait_until
from test_observe import CpuLoad

TARGETS = 4
DURATION = 2
# Past its deadline, the reverter begins a revert within a poll (50 ms; 0.07 s at most measured under load)...
DISPATCH_BOUND = 3.0
# ... and the engine is done with it within a second or two (a container start took up to 5.9 s under load).
ENGINE_BOUND = 20.0
# Trials per fault type on a loaded machine, the case where arming and applying are slow; a campaign
# (CHAOS_TIMING_TRIALS=4) runs that many idle ones too.
TRIALS = int(os.environ.get('CHAOS_TIMING_TRIALS', '0'))


@pytest.fixture(scope='module')
def timing_bed(bed):
    """Busybox targets on the first engine, shared by the module's trials."""
    client = docker.DockerClient(base_url=bed['hosts'][0])
    run_id = 'rt-' + os.urandom(4).hex()
    targets = list(start_containers(client, run_id, ['rt-%d' % i for i in range(TARGETS)]).values())
    yield dict(client=client, host=bed['hosts'][0], run_id=run_id, targets=targets)
    for container in client.containers.list(all=True, filters={'label': '%s=%s' % (TEST_LABEL, run_id)}):
        container.remove(force=True)


def done_entries(ledger_dir):
    directory = os.path.join(ledger_dir, 'done')
    entries = []
    for name in sorted(os.listdir(directory)) if os.path.isdir(directory) else []:
        if name.endswith('.json'):
            with open(os.path.join(directory, name)) as handle:
                entries.append(json.load(handle))
    return entries


def run_fault(timing_bed, tmp_path, module, args, ledger_dir):
    args = dict(args, docker_host=timing_bed['host'], ledger_dir=ledger_dir,
                labels={TEST_LABEL: timing_bed['run_id']})
    result = run_module_play(tmp_path, module, args)
    assert not result.get('failed'), result
    return result


def wait_for_done(ledger_dir, count, timeout=DURATION + DISPATCH_BOUND + ENGINE_BOUND + 20):
    assert wait_until(lambda: len(done_entries(ledger_dir)) >= count, timeout=timeout), done_entries(ledger_dir)
    return done_entries(ledger_dir)


def check_ended(entry, ended_at, what):
    assert entry.get('applied'), 'the entry in done/ is not the settled one: %r' % entry
    assert entry['began_at'] >= entry['deadline'], '%s began %.3f s before the settled deadline: %r' % (
        what, entry['deadline'] - entry['began_at'], entry)
    assert ended_at is not None, '%s never happened: %r' % (what, entry)
    print('%s: began %+.3f s, ended %+.3f s after the settled deadline' % (
        what, entry['began_at'] - entry['deadline'], ended_at - entry['deadline']))
    assert entry['began_at'] <= entry['deadline'] + DISPATCH_BOUND, '%s began %.3f s late: %r' % (
        what, entry['began_at'] - entry['deadline'], entry)
    assert entry['deadline'] <= ended_at <= entry['began_at'] + ENGINE_BOUND, '%s at %+.3f s of the deadline: %r' % (
        what, ended_at - entry['deadline'], entry)


def check_engine_events(timing_bed, entries, since, action):
    by_target = dict((e['target']['id'], e) for e in entries)
    assert sorted(by_target) == sorted(c.id for c in timing_bed['targets'])
    for container in timing_bed['targets']:
        events = engine_events(timing_bed['client'], container, since, action)
        # One revert per fault: an early one, followed by the re-armed one at the settled deadline, shows as two.
        assert len(events) == 1, '%s: %s events %r' % (container.name, action, events)
        check_ended(by_target[container.id], events[0], '%s of %s' % (action, container.name))


def trial(timing_bed, tmp_path, fault_type, name):
    ledger_dir = str(tmp_path / ('ledger-%s' % name))
    since = time.time()
    if fault_type == 'kill':
        run_fault(timing_bed, tmp_path, 'container_kill', dict(restart_after=DURATION), ledger_dir)
        check_engine_events(timing_bed, wait_for_done(ledger_dir, TARGETS), since, 'start')
    elif fault_type == 'pause':
        run_fault(timing_bed, tmp_path, 'container_pause', dict(duration=DURATION), ledger_dir)
        check_engine_events(timing_bed, wait_for_done(ledger_dir, TARGETS), since, 'unpause')
    else:
        run_fault(timing_bed, tmp_path, 'container_netem', dict(bandwidth=dict(rate='1mbit'), duration=DURATION),
                  ledger_dir)
        for entry in wait_for_done(ledger_dir, TARGETS):
            check_ended(entry, entry['details'].get('fault_gone_at'), 'the qdisc removal')
    assert wait_until(lambda: all(c.reload() or (c.status == 'running') for c in timing_bed['targets']), timeout=30)


@pytest.mark.parametrize('fault_type', ['kill', 'pause', 'netem'])
def test_reverts_come_after_the_settled_deadline(timing_bed, tmp_path, fault_type):
    for number in range(max(TRIALS, 1)):
        if TRIALS:
            trial(timing_bed, tmp_path, fault_type, 'idle-%d' % number)
        with CpuLoad():
            trial(timing_bed, tmp_path, fault_type, 'loaded-%d' % number)
