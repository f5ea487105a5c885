"""One experiment across a fleet: the private engines as inventory hosts (each host's modules talk to its own
engine), and the blast radius: with serial and max_fail_percentage, a host that fails stops the rollout, and nothing
is left injected anywhere. The same fleet plus the QEMU VM over ssh is in vm/test_experiment_fleet_vm.py.
"""
import time

import pytest

from experiment_helpers import (assert_nothing_left, bed_inventory, engine_setup, experiment_vars, fleet_experiment,
                                fleet_inventory, helpers_for, journal, output, pending_entries, run_playbook)
from helpers import engine_events

pytestmark = pytest.mark.integration


def test_experiment_runs_on_every_engine_of_the_fleet(bed, run_id, ledger_dir, tmp_path):
    fleet_experiment(bed, run_id, ledger_dir, tmp_path)


def test_exceeding_max_fail_percentage_stops_the_rollout_and_leaves_nothing(bed, run_id, ledger_dir, tmp_path):
    engines = bed_inventory(bed)
    names = sorted(engines)
    if len(names) < 3:
        pytest.skip('needs 3 engines: tests/infra/docker-bed.sh up 3')
    setups = {}
    for index, name in enumerate(names):
        setups[name] = setup = engine_setup(bed, run_id, index, name)
        engines[name].update(fleet_url=setup['url'], fleet_web=setup['web'].name, fleet_worker=setup['worker'].name,
                             fleet_db=setup['db'].name)
    # The second host cannot keep its steady state while the faults are in: a probe on a port nobody serves.
    bad = names[1]
    engines[bad]['fleet_extra_probes'] = [dict(name='unserved port', type='http', timeout=2, phases=['during'],
                                               url='http://%s:1/' % bed['env']['CHAOS_BED_IP_2'])]
    since = time.time()
    proc = run_playbook('docker_experiment', tmp_path,
                        experiment_vars(run_id, tmp_path, chaos_serial=1, chaos_max_fail_percentage=0),
                        inventory=fleet_inventory(tmp_path, engines, None, ledger_dir), timeout=1800)
    assert proc.returncode != 0
    data = journal(str(tmp_path / 'journal'))
    # The rollout stopped at the failed host: the third one was never touched.
    assert sorted(data['hosts']) == names[:2], output(proc)
    assert data['hosts'][names[0]]['verdict'] == 'passed'
    assert data['hosts'][bad]['verdict'] == 'aborted'
    assert 'unserved port' in data['hosts'][bad]['reason']
    assert data['verdict'] == 'aborted'
    untouched = setups[names[2]]
    for action in ('kill', 'die', 'pause'):
        assert not engine_events(untouched['client'], untouched['worker'], since, action)
    assert not helpers_for(untouched['client'], [untouched['web'], untouched['db']])
    # Nothing is left injected on the hosts that ran.
    for index, name in enumerate(names):
        assert_nothing_left(setups[name])
        assert not pending_entries(ledger_dir, bed['hosts'][index])
