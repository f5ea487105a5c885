"""Real netem: container_netem on a Debian VM (QEMU, its own kernel with sch_netem), reached over ssh as an
ordinary inventory host: the "remote Docker host" case. The module and its reverter run in the guest.

Measured, in the guest: netem delay 100ms raises the round trip by 100 ms +-15 %; netem loss is within
tolerance; a delay filtered to one destination leaves another unaffected; the revert comes at the deadline.
"""
import os
import re
import subprocess
import uuid

import pytest

from helpers import ROOT, playbook_env, run_module_play, wait_until, write

pytestmark = pytest.mark.integration

VM_BED = os.path.join(ROOT, 'tests', 'infra', 'vm-bed.sh')


def _vm(*args, check=False, timeout=None):
    return subprocess.run(['bash', VM_BED] + list(args), capture_output=True, text=True, check=check,
                          timeout=timeout)


@pytest.fixture(scope='module')
def vm():
    """The VM bed: started here unless it is up, and stopped again if this module started it."""
    started = False
    if _vm('status', check=False).returncode != 0:
        proc = _vm('up', check=False, timeout=1500)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        started = True
    inventory = _vm('inventory', check=True).stdout
    yield dict(inventory=inventory)
    if started and not os.environ.get('CHAOS_BED_KEEP'):
        _vm('down', check=False)


def guest(*argv, check=True, timeout=300):
    """Run argv in the guest (each argument stays one argument)."""
    proc = _vm('ssh', '--', *argv, check=False, timeout=timeout)
    if check:
        assert proc.returncode == 0, (argv, proc.stdout, proc.stderr)
    return proc


@pytest.fixture
def boxes(vm):
    """Busybox containers in the guest, labelled for this test and removed after it."""
    run_id = uuid.uuid4().hex[:8]
    made = []

    def start(name):
        full = '%s-%s' % (name, run_id)
        guest('docker', 'run', '-d', '--name', full, '--label', 'chaos.engineering/test-run=%s' % run_id,
              'chaos-busybox:latest', 'sleep', '3600')
        made.append(full)
        return full
    yield start
    for name in made:
        guest('docker', 'rm', '-f', name, check=False)
    guest('sh', '-c', 'docker ps -aq --filter label=chaos.engineering/helper=true | xargs -r docker rm -f',
          check=False)


def ip_of(name):
    return guest('docker', 'inspect', '-f', '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}',
                 name).stdout.strip()


def rtt_ms(client, target_ip, count=20):
    """Average ping round trip in the guest, from busybox ping's summary."""
    out = guest('docker', 'exec', client, 'ping', '-q', '-c', str(count), '-i', '0.2', target_ip).stdout
    match = re.search(r'min/avg/max = [\d.]+/([\d.]+)/', out)
    assert match, out
    return float(match.group(1))


def loss_percent(client, target_ip, count):
    out = guest('docker', 'exec', client, 'ping', '-q', '-c', str(count), '-i', '0.05', '-W', '2',
                target_ip, check=False).stdout
    match = re.search(r'(\d+) packets transmitted, (\d+) packets received', out)
    assert match, out
    return 100.0 * (int(match.group(1)) - int(match.group(2))) / int(match.group(1))


def run_on_vm(vm, tmp_path, module_args):
    """Run container_netem on the VM over ssh; returns the module result."""
    env = playbook_env()
    env.pop('ANSIBLE_PYTHON_INTERPRETER', None)  # the guest's own python3, from the inventory
    return run_module_play(tmp_path, 'container_netem', module_args, hosts='vm1', env=env, timeout=900,
                           inventory=write(str(tmp_path / 'inventory.yml'), vm['inventory']))


def test_netem_delay_raises_the_round_trip_by_100ms_and_reverts_at_the_deadline(vm, boxes, tmp_path):
    target, peer = boxes('delay-target'), boxes('delay-peer')
    baseline = rtt_ms(peer, ip_of(target))
    result = run_on_vm(vm, tmp_path, dict(names=[target], delay=dict(time='100ms'), duration=60))
    assert result['changed'] is True, result
    delayed = rtt_ms(peer, ip_of(target))
    added = delayed - baseline
    assert 85 <= added <= 115, 'netem delay 100ms added %.1f ms (baseline %.1f ms)' % (added, baseline)

    again = run_on_vm(vm, tmp_path, dict(names=[target], delay=dict(time='100ms'), duration=60))
    assert again['changed'] is False, again

    # A short fault now replaces it; the reverter in the guest removes it at its deadline.
    short = run_on_vm(vm, tmp_path, dict(names=[target], delay=dict(time='100ms'), duration=5))
    assert short['changed'] is True

    def reverted():
        shown = guest('docker', 'run', '--rm', '--network', 'container:' + target, '--cap-add', 'NET_ADMIN',
                      'chaos-nethelper:latest', 'tc', 'qdisc', 'show', 'dev', 'eth0').stdout
        return 'c4a0:' not in shown

    assert wait_until(reverted, timeout=120, interval=1)
    after = rtt_ms(peer, ip_of(target))
    assert after < baseline + 50, 'RTT %.1f ms after the revert (baseline %.1f ms)' % (after, baseline)


def test_netem_loss_is_within_tolerance(vm, boxes, tmp_path):
    target, peer = boxes('loss-target'), boxes('loss-peer')
    result = run_on_vm(vm, tmp_path, dict(names=[target], loss=dict(percent=20), untimed=True))
    assert result['changed'] is True, result
    try:
        # Egress loss hits the echo replies: 400 samples at p=0.2, sd 2 points; 8 points is 4 sigma.
        loss = loss_percent(peer, ip_of(target), 400)
        assert 12 <= loss <= 28, 'netem loss 20%% gave %.1f %%' % loss
    finally:
        run_on_vm(vm, tmp_path, dict(names=[target], state='absent'))
    assert loss_percent(peer, ip_of(target), 50) == 0


def test_delay_filtered_to_one_destination_leaves_others_alone(vm, boxes, tmp_path):
    target, near, far = boxes('flt-target'), boxes('flt-a'), boxes('flt-b')
    base_a, base_b = rtt_ms(near, ip_of(target)), rtt_ms(far, ip_of(target))
    result = run_on_vm(vm, tmp_path, dict(names=[target], delay=dict(time='100ms'), destinations=[near],
                                          untimed=True))
    assert result['changed'] is True, result
    try:
        delayed_a, delayed_b = rtt_ms(near, ip_of(target)), rtt_ms(far, ip_of(target))
    finally:
        run_on_vm(vm, tmp_path, dict(names=[target], state='absent'))
    assert 85 <= delayed_a - base_a <= 115, (base_a, delayed_a)
    assert delayed_b - base_b < 30, 'an unfiltered destination was delayed: %.1f -> %.1f ms' % (base_b, delayed_b)
