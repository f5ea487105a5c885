"""Shared by the experiment tests: run the collection's playbooks, read the journal, read an engine's state."""
import glob
import json
import os
import random
import subprocess
import urllib.request

import docker
import yaml

from helpers import BED, ROOT, TEST_LABEL, ansible_playbook_argv, playbook_env, start_containers

PLAYBOOKS = os.path.join(ROOT, 'playbooks')
NETHELPER = 'chaos-nethelper:latest'
HELPER_LABEL = 'chaos.engineering/helper'
OURS = 'chaos.engineering:netem:'


def port_base():
    """A port range unlikely to be in use by another test on the same engine."""
    return random.randrange(20000, 40000, 10)


def write_yaml(path, data):
    with open(str(path), 'w') as handle:
        yaml.safe_dump(data, handle, default_flow_style=False, sort_keys=False)
    return str(path)


def run_playbook(name, tmp_path, extra_vars, inventory=None, env=None, check=False, timeout=900):
    """ansible-playbook playbooks/<name>.yml with these extra vars; returns the CompletedProcess."""
    extra = write_yaml(tmp_path / ('vars-%s.yml' % name), extra_vars)
    environment = playbook_env(env)
    if inventory:
        environment.pop('ANSIBLE_PYTHON_INTERPRETER', None)  # each host's interpreter comes from the inventory
    argv = ansible_playbook_argv(os.path.join(PLAYBOOKS, name + '.yml'), extra, inventory=inventory, check=check)
    return subprocess.run(argv, capture_output=True, text=True, env=environment, cwd=str(tmp_path),
                          timeout=timeout, check=False)


def start_playbook(name, tmp_path, extra_vars, inventory=None, env=None):
    """The same, started in its own process group (so a test can SIGKILL the controller and its workers)."""
    extra = write_yaml(tmp_path / ('vars-%s.yml' % name), extra_vars)
    environment = playbook_env(env)
    if inventory:
        environment.pop('ANSIBLE_PYTHON_INTERPRETER', None)
    argv = ansible_playbook_argv(os.path.join(PLAYBOOKS, name + '.yml'), extra, inventory=inventory)
    log = open(str(tmp_path / ('%s.log' % name)), 'w')
    return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=environment, cwd=str(tmp_path),
                            start_new_session=True)


def output(proc):
    return proc.stdout[-6000:] + proc.stderr[-3000:]


def journal(journal_dir):
    """The one run journal under journal_dir (journal.json of its only run directory)."""
    runs = [d for d in os.listdir(journal_dir) if os.path.isfile(os.path.join(journal_dir, d, 'journal.json'))]
    assert len(runs) == 1, runs
    with open(os.path.join(journal_dir, runs[0], 'journal.json')) as handle:
        data = json.load(handle)
    data['_dir'] = os.path.join(journal_dir, runs[0])
    return data


def samples(record, phase=None, probe=None):
    return [s for s in record.get('probes', [])
            if (phase is None or s['phase'] == phase) and (probe is None or s['probe'] == probe)]


def httpd(client, run_id, name, port=None, labels=None):
    """A busybox httpd labelled for this test, optionally publishing its port 8080 on the engine."""
    all_labels = {TEST_LABEL: run_id}
    all_labels.update(labels or {})
    return client.containers.run('chaos-busybox:latest', ['httpd', '-f', '-p', '8080', '-h', '/var/www'],
                                 name='%s-%s' % (name, run_id), detach=True, labels=all_labels,
                                 ports={'8080/tcp': port} if port else None)


def netns_state(client, container):
    """The container's qdiscs and iptables rules as its kernel shows them, read through a throwaway helper."""
    out = {}
    for key, argv in (('tc', ['tc', 'qdisc', 'show', 'dev', 'eth0']), ('iptables', ['iptables', '-S']),
                      ('ip6tables', ['ip6tables', '-S'])):
        out[key] = client.containers.run(NETHELPER, argv, network_mode='container:%s' % container.id,
                                         cap_add=['NET_ADMIN'], remove=True).decode()
    return out


def has_ours(state):
    return 'c4a0:' in state['tc'] or OURS in state['iptables'] or OURS in state['ip6tables']


def helpers_for(client, containers):
    """Our helper containers (running or not) whose target is one of these containers."""
    ids = set(c.id for c in containers)
    return [h for h in client.containers.list(all=True, filters={'label': HELPER_LABEL + '=true'}, ignore_removed=True)
            if h.labels.get('chaos.engineering/target') in ids]


def status(container):
    container.reload()
    return container.status


def pending_entries(ledger_dir, docker_host):
    """The ledger's pending reverts for one engine."""
    entries = []
    for path in glob.glob(os.path.join(ledger_dir, 'pending', '*.json')):
        with open(path) as handle:
            entry = json.load(handle)
        if entry.get('docker', {}).get('docker_host') == docker_host:
            entries.append(entry)
    return entries


# --- a fleet: the bed's engines (and the VM) as inventory hosts --------------------------------------------------

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
        # Samples every 0.5 s: at least two inside the worker kill's window (the kill to the restart 2 s later).
        experiment_duration=3, experiment_recovery_timeout=120, experiment_probe_interval=0.5,
        experiment_probes='{{ fleet_probes + (fleet_extra_probes | default([])) }}',
        fleet_probes=[
            dict(name='web answers', type='http', url='{{ fleet_url }}', timeout=10, latency_ms=8000),
            dict(name='worker runs', type='containers', selection=dict(names=['{{ fleet_worker }}']),
                 phases=['before', 'after'])],
        experiment_faults=[
            dict(name='kill worker', module='container_kill',
                 args=dict(names=['{{ fleet_worker }}'], restart_after=2)),
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


def fleet_experiment(bed, run_id, ledger_dir, tmp_path, vm=None, vm_containers=None, guest=None):
    """One experiment on every engine of the bed (and the VM host when given), checked host by host."""
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


def pick(bed, index):
    """Engine index, or the last engine when the bed has fewer."""
    return min(index, len(bed['hosts']) - 1)


def bed_client(bed, index):
    return docker.DockerClient(base_url=bed['hosts'][pick(bed, index)])


def engine_ip(bed, index):
    return bed['env']['CHAOS_BED_IP_%d' % (pick(bed, index) + 1)]


def http_ok(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (OSError, ValueError):
        return False


def base_vars(bed, index, tmp_path, ledger_dir, **extra):
    data = dict(chaos_hosts='localhost', experiment_docker_host=bed['hosts'][pick(bed, index)],
                experiment_ledger_dir=ledger_dir, experiment_journal_dir=str(tmp_path / 'journal'),
                experiment_probe_interval=0.5)
    data.update(extra)
    return data
