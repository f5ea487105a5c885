"""The ledger module: find and perform pending reverts, also after the reverter itself was killed."""
import os
import signal
import time

import pytest

from helpers import start_containers, status_of

pytestmark = pytest.mark.integration


def test_listed_then_reverted_even_with_the_reverter_killed(engine, run_id, run_module, ledger_dir):
    frozen = start_containers(engine, run_id, ['db-1', 'db-2'])
    paused = run_module('container_pause', dict(labels={'chaos.engineering/test-run': run_id}, duration=120))
    # Worst case: the reverter dies too (machine reboot, OOM kill). The ledger still knows.
    os.kill(paused['chaos']['revert']['reverter_pid'], signal.SIGKILL)
    time.sleep(0.2)

    listed = run_module('ledger', dict(ledger_dir=ledger_dir))
    assert listed['changed'] is False
    assert listed['reverter_running'] is False
    assert sorted(e['target']['name'] for e in listed['pending']) == sorted(
        'db-%d-%s' % (i, run_id) for i in (1, 2))

    preview = run_module('ledger', dict(ledger_dir=ledger_dir, state='reverted'), check=True)
    assert preview['changed'] is True
    assert set(status_of(engine, c) for c in frozen.values()) == {'paused'}

    reverted = run_module('ledger', dict(ledger_dir=ledger_dir, state='reverted', faults=['container_pause']))
    assert reverted['changed'] is True
    assert sorted(e['status'] for e in reverted['reverted']) == ['reverted', 'reverted']
    assert set(status_of(engine, c) for c in frozen.values()) == {'running'}

    again = run_module('ledger', dict(ledger_dir=ledger_dir, state='reverted'))
    assert again['changed'] is False and again['pending'] == []


def test_filters_leave_other_faults_pending(engine, run_id, run_module, ledger_dir):
    frozen = start_containers(engine, run_id, ['db-1'])
    run_module('container_pause', dict(names=['db-1-%s' % run_id], duration=120))
    other = run_module('ledger', dict(ledger_dir=ledger_dir, state='reverted', faults=['container_kill']))
    assert other['changed'] is False
    assert status_of(engine, frozen['db-1']) == 'paused'
    run_module('ledger', dict(ledger_dir=ledger_dir, state='reverted'))
    assert status_of(engine, frozen['db-1']) == 'running'


def test_ids_revert_only_those_entries(engine, run_id, run_module, ledger_dir):
    frozen = start_containers(engine, run_id, ['db-1', 'db-2'])
    first = run_module('container_pause', dict(names=['db-1-%s' % run_id], duration=120))
    run_module('container_pause', dict(names=['db-2-%s' % run_id], duration=120))
    ids = first['chaos']['revert']['entries']
    assert len(ids) == 1
    nothing = run_module('ledger', dict(ledger_dir=ledger_dir, state='reverted', ids=[]))
    assert nothing['changed'] is False and nothing['pending'] == []
    mine = run_module('ledger', dict(ledger_dir=ledger_dir, state='reverted', ids=ids + ['container_pause-gone']))
    assert [e['id'] for e in mine['reverted']] == ids
    assert status_of(engine, frozen['db-1']) == 'running'
    assert status_of(engine, frozen['db-2']) == 'paused'
    run_module('ledger', dict(ledger_dir=ledger_dir, state='reverted'))
    assert status_of(engine, frozen['db-2']) == 'running'
