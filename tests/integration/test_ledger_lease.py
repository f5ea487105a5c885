"""Leases, the halt marker and the ledger's ``done`` entries, on a real Docker engine.

A fault injected with a lease ends soon after its renewals stop, long before its deadline; a lease that is not held
lets nothing in; ``ledger state=halted`` leaves the marker and reverts at once; ``done`` tells when the reverts
were done. The renewals come from this test process, as the experiment's sampler would renew them.
"""
import json
import os
import threading
import time

import pytest

from ansible_collections.chaos.engineering.plugins.module_utils import _ledger_store

from helpers import engine_events, parse_iso, start_containers, status_of, wait_until

pytestmark = pytest.mark.integration

LEASE_SECONDS = 2.0
RENEW_EVERY = 0.5
# After the lease expires: the reverter's 50 ms poll, then the engine's unpause or the helper's revert on a busy
# 2-core machine.
SLACK_SECONDS = 3.0


class Renewer:
    """Renews a lease every RENEW_EVERY seconds in a thread until stopped; remembers the last renewal."""

    def __init__(self, root, name):
        self.root, self.name = root, name
        self.last = None
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self.stopped.is_set():
            self.last = _ledger_store.renew_lease(self.root, self.name, LEASE_SECONDS)['renewed_at']
            self.stopped.wait(RENEW_EVERY)

    def __enter__(self):
        self.thread.start()
        assert wait_until(lambda: self.last is not None, 10)
        return self

    def stop(self):
        self.stopped.set()
        self.thread.join(10)
        return self.last

    def __exit__(self, *exc):
        self.stop()


def done_entry(ledger_dir, entry_id):
    with open(os.path.join(ledger_dir, 'done', entry_id + '.json')) as handle:
        return json.load(handle)


def test_a_paused_container_is_unpaused_soon_after_its_lease_stops_being_renewed(engine, run_id, run_module,
                                                                                 ledger_dir):
    frozen = start_containers(engine, run_id, ['leased'])['leased']
    since = time.time()
    with Renewer(ledger_dir, 'exp-' + run_id) as renewer:
        result = run_module('container_pause', dict(names=[frozen.name], duration=120, lease='exp-' + run_id))
        assert result['changed'] is True, result
        chaos = result['chaos']
        applied_at = parse_iso(chaos['applied_at'])
        paused = engine_events(engine, frozen, since, 'pause')
        assert len(paused) == 1 and abs(paused[0] - applied_at) < 1.0, (paused, applied_at)
        # Renewed for about 3 s more: the pause holds.
        time.sleep(3)
        assert status_of(engine, frozen) == 'paused', 'reverted although the lease was held'
        last = renewer.stop()
    unpaused_seen = wait_until(lambda: status_of(engine, frozen) == 'running', LEASE_SECONDS + SLACK_SECONDS + 5)
    assert unpaused_seen, 'still paused after the lease expired'
    unpaused = engine_events(engine, frozen, since, 'unpause')
    assert len(unpaused) == 1, unpaused
    expiry = last + LEASE_SECONDS
    assert expiry - 0.1 <= unpaused[0] <= expiry + SLACK_SECONDS, 'unpaused %.2f s after the lease expired' % (
        unpaused[0] - expiry)
    deadline = parse_iso(chaos['targets'][0]['deadline'])
    assert unpaused[0] < deadline - 100, 'long before the deadline'
    entry_id = chaos['revert']['entries'][0]
    done = done_entry(ledger_dir, entry_id)
    assert done['status'] == 'reverted' and done['ended_by'] == 'lease' and done['lease'] == 'exp-' + run_id

    # The ledger tells the caller when the fault ended.
    listed = run_module('ledger', dict(ledger_dir=ledger_dir, ids=[entry_id]))
    assert listed['pending'] == []
    [finished] = listed['done']
    assert finished['id'] == entry_id and finished['status'] == 'reverted' and finished['ended_by'] == 'lease'
    assert finished['target'] == dict(id=frozen.id, name=frozen.name)
    assert unpaused[0] - 0.5 <= parse_iso(finished['finished_at']) <= unpaused[0] + 2


def test_a_lease_that_was_never_renewed_lets_nothing_in(engine, run_id, run_module, ledger_dir):
    target = start_containers(engine, run_id, ['unleased'])['unleased']
    result = run_module('container_pause', dict(names=[target.name], duration=120, lease='never-' + run_id))
    assert result['failed'] is True
    assert result['msg'] == ('Nothing was changed: the lease never-%s is not held (it expired or was never '
                             'renewed).' % run_id), result['msg']
    assert status_of(engine, target) == 'running'
    assert 'applied_at' not in result.get('chaos', {})
    assert _ledger_store.list_entries(ledger_dir) == []
    # An expired lease is refused the same way.
    _ledger_store.renew_lease(ledger_dir, 'old-' + run_id, 0.1)
    time.sleep(0.3)
    expired = run_module('container_kill', dict(names=[target.name], restart_after=60, lease='old-' + run_id))
    assert expired['failed'] is True and 'the lease old-%s is not held' % run_id in expired['msg'], expired['msg']
    assert status_of(engine, target) == 'running'


@pytest.mark.parametrize('module, args, message', [
    ('container_pause', dict(duration=60, lease='../pending/x'), 'lease must be 1 to 128 letters'),
    ('container_kill', dict(restart_after=60, lease=''), 'lease must be 1 to 128 letters'),
    ('container_netem', dict(drop={}, duration=60, lease='a b'), 'lease must be 1 to 128 letters'),
    ('container_netem', dict(drop={}, lease='fine'), 'lease needs duration'),
])
def test_bad_lease_input_fails_clearly(engine, run_id, run_module, ledger_dir, module, args, message):
    target = start_containers(engine, run_id, ['bad-lease'])['bad-lease']
    result = run_module(module, dict(args, names=[target.name]))
    assert result['failed'] is True
    assert message in result['msg'], result['msg']
    assert 'Traceback' not in json.dumps(result)
    assert status_of(engine, target) == 'running'


def test_a_network_fault_is_removed_soon_after_its_lease_expires(engine, run_id, run_module, ledger_dir):
    from test_container_netem import has_ours, netns_state, our_helpers

    target = start_containers(engine, run_id, ['shaped'])['shaped']
    with Renewer(ledger_dir, 'net-' + run_id) as renewer:
        result = run_module('container_netem', dict(names=[target.name], bandwidth=dict(rate='1mbit'), duration=120,
                                                    lease='net-' + run_id))
        assert result['changed'] is True, result
        state = netns_state(engine, target)
        assert 'c4a0:' in state['tc'], state
        last = renewer.stop()
    expiry = last + LEASE_SECONDS
    assert wait_until(lambda: not our_helpers(engine, target), LEASE_SECONDS + SLACK_SECONDS + 5), \
        'the fault outlived its lease'
    assert not has_ours(netns_state(engine, target))
    [entry_id] = result['chaos']['revert']['entries']
    done = done_entry(ledger_dir, entry_id)
    assert done['status'] == 'reverted' and done['ended_by'] == 'lease', done
    gone = done['details']['fault_gone_at']
    assert expiry - 0.1 <= gone <= expiry + SLACK_SECONDS, 'the qdisc went %.2f s after the lease expired' % (
        gone - expiry)
    assert gone < parse_iso(result['chaos']['targets'][0]['revert_at']) - 100


def test_halted_leaves_the_marker_and_reverts_at_once(engine, run_id, run_module, ledger_dir):
    frozen = start_containers(engine, run_id, ['halted'])['halted']
    paused = run_module('container_pause', dict(names=[frozen.name], duration=120))
    entry_ids = paused['chaos']['revert']['entries']
    preview = run_module('ledger', dict(ledger_dir=ledger_dir, state='halted'), check=True)
    assert preview['changed'] is True and 'halt' not in preview
    assert _ledger_store.halted_at(ledger_dir) is None, 'check mode writes no marker'
    assert status_of(engine, frozen) == 'paused'

    before = time.time()
    halted = run_module('ledger', dict(ledger_dir=ledger_dir, state='halted', reason='stop the test run'))
    assert halted['changed'] is True
    assert status_of(engine, frozen) == 'running', 'reverted at once, not at the deadline'
    assert [e['id'] for e in halted['reverted']] == entry_ids
    marker = halted['halt']
    assert marker['reason'] == 'stop the test run' and '@' in marker['by']
    at = _ledger_store.halted_at(ledger_dir)
    assert before <= at <= time.time() and abs(parse_iso(marker['at']) - at) < 0.01
    assert oct(os.stat(os.path.join(ledger_dir, 'halt.json')).st_mode & 0o777) == '0o600'


def test_done_returns_the_done_entries_with_their_time(engine, run_id, run_module, ledger_dir):
    frozen = start_containers(engine, run_id, ['db-1', 'db-2'])
    first = run_module('container_pause', dict(names=[frozen['db-1'].name], duration=120))
    run_module('container_pause', dict(names=[frozen['db-2'].name], duration=120))
    ids = first['chaos']['revert']['entries']
    assert run_module('ledger', dict(ledger_dir=ledger_dir, ids=ids))['done'] == [], 'not done yet'
    before = time.time()
    asked = ids + ['container_pause-gone', '../pending/x']
    reverted = run_module('ledger', dict(ledger_dir=ledger_dir, state='reverted', ids=asked))
    after = time.time()
    [finished] = reverted['done']
    assert finished['id'] == ids[0] and finished['fault'] == 'container_pause'
    assert finished['status'] == 'reverted' and finished['error'] is None
    assert finished['target'] == dict(id=frozen['db-1'].id, name=frozen['db-1'].name)
    assert before <= parse_iso(finished['finished_at']) <= after
    assert parse_iso(finished['began_at']) <= parse_iso(finished['finished_at'])
    assert 'ended_by' not in finished
    assert status_of(engine, frozen['db-2']) == 'paused'
    # Without ids, no done: the done/ directory of a busy host is not read whole.
    assert 'done' not in run_module('ledger', dict(ledger_dir=ledger_dir))
