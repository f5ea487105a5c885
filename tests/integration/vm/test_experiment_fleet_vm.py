"""The fleet experiment on the private engines plus the QEMU VM (its own kernel, with netem) reached over ssh as an
ordinary inventory host: the modules and the ledger's reverter run in the guest. There the netem delay goes in;
on this machine's kernel it is skipped with the reason.

This module boots a VM of its own (tests/infra/vm-bed.sh with its own state dir and ports, ~35 s or more under TCG)
and stops it at the end (unless CHAOS_BED_KEEP is set); the shared one may be stopped by another suite mid-run.
"""
import os
import socket
import subprocess

import pytest
import yaml

from experiment_helpers import fleet_experiment
from helpers import ROOT, TEST_LABEL

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


VM_ENV = dict(CHAOS_VM_BED_DIR='/tmp/chaos-engineering-vm-bed-experiment')


def _vm(*args, check=False, timeout=600):
    return subprocess.run(['bash', VM_BED] + list(args), capture_output=True, text=True,
                          env=dict(os.environ, **VM_ENV), check=check, timeout=timeout)


@pytest.fixture(scope='module')
def vm():
    """The VM host's inventory entry. Stopped at the end unless CHAOS_BED_KEEP."""
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


def test_experiment_runs_on_the_engines_and_the_vm(bed, vm, vm_containers, run_id, ledger_dir, tmp_path):
    fleet_experiment(bed, run_id, ledger_dir, tmp_path, vm=vm, vm_containers=vm_containers, guest=guest)
