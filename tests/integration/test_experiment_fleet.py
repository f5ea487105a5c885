"""One experiment across a fleet: the private engines as inventory hosts (each host's modules talk to its own
engine), plus the QEMU VM (its own kernel, with netem) reached over ssh, and the blast radius: with serial and
max_fail_percentage, a host that fails stops the rollout, and nothing is left injected anywhere.

Set CHAOS_TEST_VM=0 to leave the VM out. This module boots a VM of its own (tests/infra/vm-bed.sh with its own
state dir and ports, ~35 s or more) and stops it at the end (unless CHAOS_BED_KEEP is set).
"""
import os
import socket
import subprocess
import time

import docker
import pytest
import yaml

from experiment_helpers import (has_ours, helpers_for, httpd, journal, netns_state, output, pending_entries, port_base,
                                run_playbook, samples, status, write_yaml)
from helpers import BED, ROOT, TEST_LABEL, engine_events, start_containers

pytestmark = pytest.mark.integration

VM_BED = os.path.join(ROOT, 'tests', 'infra', 'vm-bed.sh')


def _free_port(start):
    for port in range(start, start + 200):
        with socket.socket() as sock:
            try:
                sock.bind(('127.0.0.1', port))
            except OSError:
                continue
            return port
    raise RuntimeError('no free port from %d' % start)


# A VM of this module's own (its own state dir and ports): the shared one may be stopped by another suite mid-run.
VM_ENV = dict(CHAOS_VM_BED_DIR='/tmp/chaos-engineering-vm-bed-experiment')


def _vm(*args, check=False, timeout=600):
    return subprocess.run(['bash', VM_BED] + list(args), capture_output=True, text=True,
                          env=dict(os.environ, **VM_ENV), check=check, timeout=timeout)


@pytest.fixture(scope='module')
def vm():
    """The VM host's inventory entry, or None when CHAOS_TEST_VM=0. Stopped at the end unless CHAOS_BED_KEEP."""
    if os.environ.get('CHAOS_TEST_VM', '1') == '0':
        yield None
        return
    if _vm('status', check=False).returncode != 0:
        VM_ENV.update(CHAOS_VM_SSH_PORT=str(_free_port(2240)), CHAOS_VM_HTTP_PORT=str(_free_port(18180)))
        proc = _vm('up', check=False, timeout=1800)
        assert proc.returncode == 0, proc.stdout + proc.stderr[-4000:]
    inventory = yaml.safe_load(_vm('inventory', check=True).stdout)
    hosts = inventory['all']['children']['chaos_vms']['hosts']
    yield hosts
    if not os.environ.get('CHAOS_BED_KEEP'):
        _vm('down', check=False)


def guest(*argv, check=True):
    proc = _vm('ssh', '--', *argv, check=False, timeout=600)
    if check:
        assert proc.returncode == 0, (argv, proc.stdout, proc.stderr)
    return proc.stdout


@pytest.fixture
def vm_containers(vm):
    """Busybox containers in the guest for one test; removed with any helper of ours after it."""
    made = []

    def start(argv, name, run_id, labels, port=None):
        cmd = ['docker', 'run', '-d', '--name', name, '--label', '%s=%s' % (TEST_LABEL, run_id)]
        for key, value in labels.items():
            cmd += ['--label', '%s=%s' % (key, value)]
        if port:
            cmd += ['--publish', '127.0.0.1:%d:8080' % port]
        guest(*(cmd + ['chaos-busybox:latest'] + argv))
        made.append(name)
    yield start
    if made:
        guest('docker', 'rm', '-f', *made, check=False)


def bed_inventory(bed):
    out = subprocess.run(['bash', BED, 'inventory'], capture_output=True, text=True, check=True).stdout
    return yaml.safe_load(out)['all']['children']['docker_engines']['hosts']


def engine_setup(bed, run_id, index, name):
    """On engine <index>: web (httpd, published), worker and db (sleep), all labelled for this run."""
    client = docker.DockerClient(base_url=bed['hosts'][index])
    port = port_base()
    web = httpd(client, run_id, 'web-%s' % name, port=port, labels={'app': 'web-' + run_id})
    others = start_containers(client, run_id, ['worker-%s' % name, 'db-%s' % name])
    worker = others['worker-%s' % name]
    db = others['db-%s' % name]
    url = 'http://%s:%d/' % (bed['env']['CHAOS_BED_IP_%d' % (index + 1)], port)
    return dict(client=client, web=web, worker=worker, db=db, url=url)


def experiment_vars(run_id, tmp_path, **extra):
    data = dict(
        chaos_hosts='chaos_fleet', experiment_name='fleet', experiment_journal_dir=str(tmp_path / 'journal'),
        experiment_duration=3, experiment_recovery_timeout=120, experiment_probe_interval=1,
        experiment_probes='{{ fleet_probes + (fleet_extra_probes | default([])) }}',
        fleet_probes=[
            dict(name='web answers', type='http', url='{{ fleet_url }}', timeout=10, latency_ms=8000),
            dict(name='worker runs', type='containers', selection=dict(names=['{{ fleet_worker }}']),
                 phases=['before', 'after'])],
        experiment_faults=[
            dict(name='kill worker', module='container_kill',
                 args=dict(names=['{{ fleet_worker }}'], restart_after=1)),
            dict(name='limit web', module='container_netem',
                 args=dict(names=['{{ fleet_web }}'], bandwidth=dict(rate='2mbit'))),
            dict(name='delay db', module='container_netem',
                 args=dict(names=['{{ fleet_db }}'], delay=dict(time='50ms')))])
    data.update(extra)
    return data


def fleet_inventory(tmp_path, engines, vm_hosts, ledger_dir):
    inventory = dict(all=dict(children=dict(chaos_fleet=dict(children=dict(
        docker_engines=dict(hosts=engines, vars=dict(experiment_ledger_dir=ledger_dir, teardown_ledger_dir=ledger_dir)),
    )))))
    if vm_hosts:
        inventory['all']['children']['chaos_fleet']['children']['chaos_vms'] = dict(hosts=vm_hosts)
    return write_yaml(tmp_path / 'inventory.yml', inventory)


def assert_nothing_left(setup):
    client = setup['client']
    for container in (setup['web'], setup['worker'], setup['db']):
        assert status(container) == 'running', container.name
        assert not has_ours(netns_state(client, container)), container.name
    assert not helpers_for(client, [setup['web'], setup['worker'], setup['db']])


def test_experiment_runs_on_every_host_of_the_fleet(bed, vm, vm_containers, run_id, ledger_dir, tmp_path):
    engines = bed_inventory(bed)
    names = sorted(engines)
    setups = {}
    for index, name in enumerate(names):
        setups[name] = setup = engine_setup(bed, run_id, index, name)
        engines[name].update(fleet_url=setup['url'], fleet_web=setup['web'].name, fleet_worker=setup['worker'].name,
                             fleet_db=setup['db'].name)
    vm_hosts = None
    if vm is not None:
        vm_hosts = dict(vm)
        (vm_name, vm_vars), = vm_hosts.items()
        port = port_base()
        names_vm = dict((role, '%s-vm-%s' % (role, run_id)) for role in ('web', 'worker', 'db'))
        vm_containers(['httpd', '-f', '-p', '8080', '-h', '/var/www'], names_vm['web'], run_id, {}, port=port)
        vm_containers(['sleep', '3600'], names_vm['worker'], run_id, {})
        vm_containers(['sleep', '3600'], names_vm['db'], run_id, {})
        vm_vars.update(fleet_url='http://127.0.0.1:%d/' % port, fleet_web=names_vm['web'],
                       fleet_worker=names_vm['worker'], fleet_db=names_vm['db'])
    inventory = fleet_inventory(tmp_path, engines, vm_hosts, ledger_dir)
    proc = run_playbook('docker_experiment', tmp_path, experiment_vars(run_id, tmp_path), inventory=inventory,
                        timeout=1800)
    assert proc.returncode == 0, output(proc)
    data = journal(str(tmp_path / 'journal'))
    expected = set(names) | (set(vm_hosts) if vm_hosts else set())
    assert set(data['hosts']) == expected
    assert data['verdict'] == 'passed'
    for host, record in data['hosts'].items():
        assert record['verdict'] == 'passed', (host, record.get('reason'))
        vars_ = engines.get(host) or vm_hosts[host]
        hit = dict((f['name'], [t['name'] for t in f['targets']]) for f in record['faults'])
        assert hit['kill worker'] == [vars_['fleet_worker']]
        assert hit['limit web'] == [vars_['fleet_web']]
        assert samples(record, 'during', 'web answers')
        if host in engines:
            # This machine's kernel has no netem: skipped on every engine, with the reason.
            assert 'delay db' not in hit
            assert 'sch_netem' in record['skipped'][0]['reason']
        else:
            # The VM's own kernel has netem: the delay went in there.
            assert hit['delay db'] == [vars_['fleet_db']] and not record['skipped']
    for name in names:
        assert_nothing_left(setups[name])
        assert not pending_entries(ledger_dir, bed['hosts'][names.index(name)])
    if vm_hosts:
        helpers = guest('docker', 'ps', '-aq', '--filter', 'label=chaos.engineering/helper=true')
        assert helpers.strip() == ''
        for role in ('web', 'worker', 'db'):
            assert guest('docker', 'inspect', '-f', '{{.State.Status}}', vm_hosts[vm_name]['fleet_' + role]).strip() \
                == 'running'


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
