"""Shared by the experiment tests: run the collection's playbooks, read the journal, read an engine's state."""
import glob
import json
import os
import random
import subprocess

import yaml

from helpers import ROOT, TEST_LABEL, ansible_playbook_argv, playbook_env

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
    return [h for h in client.containers.list(all=True, filters={'label': HELPER_LABEL + '=true'})
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
