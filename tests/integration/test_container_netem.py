"""container_netem on this machine's kernel (no sch_netem): tbf bandwidth, iptables drop and partitions, IPv6
filters, idempotence, foreign state left alone, teardown, and a revert that survives a SIGKILLed controller.

Traffic is measured, not assumed: transfers between containers on two engines, pings counted per packet.
"""
import json
import os
import re
import signal
import subprocess
import time

import pytest

from helpers import (ansible_playbook_argv, engine_events, kill_controller, parse_iso, playbook_env, start_containers,
                     wait_until, write)

pytestmark = pytest.mark.integration

NETHELPER = 'chaos-nethelper:latest'
GRACE_SECONDS = 1.5
OURS = 'chaos.engineering:netem:'


def netns_state(engine, container):
    """The target's qdiscs and rules as its kernel shows them, read through a throwaway helper."""
    out = {}
    for key, argv in (('tc', ['tc', 'qdisc', 'show', 'dev', 'eth0']), ('iptables', ['iptables', '-S']),
                      ('ip6tables', ['ip6tables', '-S'])):
        out[key] = engine.containers.run(NETHELPER, argv, network_mode='container:%s' % container.id,
                                         cap_add=['NET_ADMIN'], remove=True).decode()
    return out


def in_netns(engine, container, argv):
    engine.containers.run(NETHELPER, argv, network_mode='container:%s' % container.id, cap_add=['NET_ADMIN'],
                          remove=True)


def has_ours(state):
    return 'c4a0:' in state['tc'] or OURS in state['iptables'] or OURS in state['ip6tables']


def our_helpers(engine, container):
    return engine.containers.list(all=True, filters={'label': 'chaos.engineering/target=%s' % container.id},
                                  ignore_removed=True)  # a helper may vanish between list and inspect


def address(container, v6=False):
    container.reload()
    network = list(container.attrs['NetworkSettings']['Networks'].values())[0]
    return network['GlobalIPv6Address' if v6 else 'IPAddress']


def ping_loss(client_container, target_ip, count, interval='0.01'):
    """Percent of echo requests without a reply, from busybox ping's own summary."""
    argv = ['timeout', '60', 'ping', '-q', '-c', str(count), '-i', interval, '-W', '2', target_ip]
    out = client_container.exec_run(argv).output.decode()
    match = re.search(r'(\d+) packets transmitted, (\d+) packets received', out)
    assert match, out
    sent, received = int(match.group(1)), int(match.group(2))
    return 100.0 * (sent - received) / sent


def reachable(client_container, target_ip):
    return client_container.exec_run(['ping', '-c', '2', '-i', '0.2', '-W', '1', target_ip]).exit_code == 0


def tcp_ok(client_container, url):
    return client_container.exec_run(['timeout', '5', 'wget', '-q', '-O', '/dev/null', url]).exit_code == 0


def web_server(engine, run_id, name, size_mb=0, publish=None, port=8080):
    kwargs = dict(ports={'%d/tcp' % port: publish}) if publish else {}
    server = start_containers(engine, run_id, [name], command=('httpd', '-f', '-p', str(port), '-h', '/var/www'),
                              **kwargs)[name]
    if size_mb:
        assert server.exec_run(['dd', 'if=/dev/urandom', 'of=/var/www/big', 'bs=1048576',
                                'count=%d' % size_mb]).exit_code == 0
    return server


def transfer_seconds(client_container, url):
    """Wall time of one download inside the client container (exec overhead is ~0.1 s of several seconds)."""
    started = time.monotonic()
    result = client_container.exec_run(['timeout', '120', 'wget', '-q', '-O', '/dev/null', url])
    elapsed = time.monotonic() - started
    assert result.exit_code == 0, result.output
    return elapsed


# --- bandwidth (tbf) across two engines ------------------------------------------------------------------

def test_bandwidth_limits_a_transfer_between_engines_and_revert_restores_it(bed, engine, run_id, run_module):
    import docker
    engine2 = docker.DockerClient(base_url=bed['hosts'][1])
    server = web_server(engine, run_id, 'bw-server', size_mb=4, publish=18080)
    client = start_containers(engine2, run_id, ['bw-client'])['bw-client']
    url = 'http://%s:18080/big' % bed['env']['CHAOS_BED_IP_1']
    baseline = transfer_seconds(client, url)

    result = run_module('container_netem', dict(untimed=True, names=[server.name], bandwidth=dict(rate='8mbit')))
    assert result['changed'] is True, result
    limited = transfer_seconds(client, url)
    expected = 4 * 1048576 * 8 / 8e6
    rate = 4 * 1048576 * 8 / limited
    assert 0.85 * 8e6 <= rate <= 1.15 * 8e6, 'transfer ran at %.2f Mbit/s (%.2f s, expected %.2f s)' % (
        rate / 1e6, limited, expected)

    removed = run_module('container_netem', dict(names=[server.name], state='absent'))
    assert removed['changed'] is True
    restored = transfer_seconds(client, url)
    assert restored < limited / 3, 'after the revert the transfer took %.2f s (limited %.2f, baseline %.2f)' % (
        restored, limited, baseline)
    assert not has_ours(netns_state(engine, server))
    assert our_helpers(engine, server) == []


# --- iptables drop -------------------------------------------------------------------------------------------

def test_drop_probability_is_measured_on_real_packets(engine, run_id, run_module):
    boxes = start_containers(engine, run_id, ['drop-target', 'drop-peer'])
    target, peer = boxes['drop-target'], boxes['drop-peer']
    result = run_module('container_netem', dict(untimed=True, names=[target.name], drop=dict(probability=0.3)))
    assert result['changed'] is True, result
    loss = ping_loss(peer, address(target), 600)
    # 600 echo requests at p=0.3: the standard deviation is 1.9 points; 7.5 points is ~4 sigma.
    assert 22.5 <= loss <= 37.5, 'measured %.1f %% loss for p=0.3' % loss
    run_module('container_netem', dict(names=[target.name], state='absent'))
    assert ping_loss(peer, address(target), 100) == 0


def test_partition_blackholes_only_the_filtered_peer_and_port(engine, run_id, run_module):
    target = web_server(engine, run_id, 'part-target')
    in_netns(engine, target, ['sleep', '0'])
    peers = start_containers(engine, run_id, ['part-a', 'part-b'])
    peer_a, peer_b = peers['part-a'], peers['part-b']
    result = run_module('container_netem', dict(names=[target.name], destinations=[peer_a.name],
                                                drop=dict(direction='both'), duration=60))
    assert result['changed'] is True, result
    assert not reachable(peer_a, address(target)), 'the partitioned peer still gets through'
    assert reachable(peer_b, address(target)), 'an unfiltered peer lost the target'
    assert target.exec_run(['ping', '-c', '1', '-W', '1', address(peer_a)]).exit_code != 0, 'egress not cut'
    run_module('container_netem', dict(names=[target.name], state='absent'))
    assert reachable(peer_a, address(target))

    # Port filter: only TCP 8080 is cut; the same peer still reaches another port.
    second = web_server(engine, run_id, 'part-port', port=8081)
    result = run_module('container_netem', dict(untimed=True, names=[target.name], protocol='tcp', ports=[8080],
                                                drop={}))
    assert result['changed'] is True
    assert not tcp_ok(peer_b, 'http://%s:8080/' % address(target))
    assert reachable(peer_b, address(target)), 'ICMP was cut by a TCP port filter'
    assert tcp_ok(peer_b, 'http://%s:8081/' % address(second))
    run_module('container_netem', dict(names=[target.name], state='absent'))
    assert tcp_ok(peer_b, 'http://%s:8080/' % address(target))


def test_ipv6_filter_cuts_only_the_ipv6_peer(engine, run_id, run_module):
    boxes = start_containers(engine, run_id, ['v6-target', 'v6-a', 'v6-b'])
    target, peer_a, peer_b = boxes['v6-target'], boxes['v6-a'], boxes['v6-b']
    if not address(target, v6=True):
        pytest.fail('the bed engine has no IPv6 on its default network')
    assert reachable(peer_a, address(target, v6=True))
    result = run_module('container_netem', dict(untimed=True, names=[target.name],
                                                destinations=[address(peer_a, v6=True)],
                                                drop=dict(direction='both')))
    assert result['changed'] is True
    argv = result['chaos']['targets'][0]['apply']
    assert argv and all(a[0] == 'ip6tables' for a in argv)
    assert not reachable(peer_a, address(target, v6=True)), 'the IPv6 peer still gets through'
    assert reachable(peer_b, address(target, v6=True))
    assert reachable(peer_a, address(target)), 'an IPv6 filter cut IPv4'
    run_module('container_netem', dict(names=[target.name], state='absent'))
    assert reachable(peer_a, address(target, v6=True))


def test_filtered_bandwidth_uses_htb_and_u32_for_ip_and_ip6(engine, run_id, run_module):
    boxes = start_containers(engine, run_id, ['flt-target', 'flt-peer'])
    target, peer = boxes['flt-target'], boxes['flt-peer']
    result = run_module('container_netem', dict(
        untimed=True, names=[target.name], bandwidth=dict(rate='1mbit'),
        destinations=[address(peer), address(peer, v6=True)], ports=[80]))
    assert result['changed'] is True, result
    state = netns_state(engine, target)
    assert 'qdisc htb c4a0: root' in state['tc'] and 'qdisc tbf c4a1:' in state['tc'], state['tc']
    filters = engine.containers.run(NETHELPER, ['tc', 'filter', 'show', 'dev', 'eth0'], remove=True,
                                    network_mode='container:%s' % target.id, cap_add=['NET_ADMIN']).decode()
    assert 'u32' in filters and 'ip' in filters
    assert 'protocol ipv6' in filters or 'ipv6' in filters, filters
    # Unfiltered traffic still flows unshaped.
    assert reachable(peer, address(target))
    run_module('container_netem', dict(names=[target.name], state='absent'))
    assert not has_ours(netns_state(engine, target))


# --- idempotence, ownership, check and diff mode -----------------------------------------------------------

def test_identical_second_run_is_ok_and_a_changed_spec_replaces_ours(engine, run_id, run_module):
    target = start_containers(engine, run_id, ['idem'])['idem']
    args = dict(names=[target.name], bandwidth=dict(rate='2mbit'), drop=dict(probability=0.1), duration=60)
    first = run_module('container_netem', args)
    second = run_module('container_netem', args)
    assert first['changed'] is True
    assert second['changed'] is False, second
    assert second['chaos']['targets'][0]['action'] == 'unchanged'
    assert second['chaos']['expires_at'] == first['chaos']['expires_at']
    assert len(our_helpers(engine, target)) == 1

    changed = dict(args, bandwidth=dict(rate='4mbit'))
    third = run_module('container_netem', changed)
    assert third['changed'] is True
    state = netns_state(engine, target)
    assert state['tc'].count('c4a0:') == 1 and '4Mbit' in state['tc'], state['tc']
    assert state['iptables'].count(OURS) == 1, state['iptables']
    assert len(our_helpers(engine, target)) == 1
    run_module('container_netem', dict(names=[target.name], state='absent'))


def test_foreign_qdisc_and_rule_are_left_alone(engine, run_id, run_module):
    target = start_containers(engine, run_id, ['foreign'])['foreign']
    in_netns(engine, target, ['iptables', '-A', 'INPUT', '-p', 'udp', '--dport', '9', '-m', 'comment',
                              '--comment', 'theirs', '-j', 'DROP'])
    in_netns(engine, target, ['tc', 'qdisc', 'add', 'dev', 'eth0', 'root', 'handle', '1:', 'tbf', 'rate',
                              '100mbit', 'burst', '32kb', 'latency', '100ms'])
    before = netns_state(engine, target)

    refused = run_module('container_netem', dict(untimed=True, names=[target.name], bandwidth=dict(rate='1mbit')))
    assert refused['failed'] is True
    assert 'not ours' in refused['msg'] and 'force' in refused['msg'], refused['msg']
    assert netns_state(engine, target) == before
    assert our_helpers(engine, target) == []

    # A drop adds rules of ours beside theirs, and removing ours keeps theirs.
    run_module('container_netem', dict(untimed=True, names=[target.name], drop=dict(probability=0.5)))
    during = netns_state(engine, target)
    assert '--comment theirs' in during['iptables'] and OURS in during['iptables']
    run_module('container_netem', dict(names=[target.name], state='absent'))
    assert netns_state(engine, target) == before


def test_check_mode_returns_exact_argv_and_changes_nothing(engine, run_id, run_module):
    target = start_containers(engine, run_id, ['check'])['check']
    before = netns_state(engine, target)
    result = run_module('container_netem', dict(names=[target.name], bandwidth=dict(rate='8mbit', burst='32kb'),
                                                duration=30), check=True, diff=True)
    assert result['changed'] is True, result
    entry = result['chaos']['targets'][0]
    assert entry['apply'] == [['tc', 'qdisc', 'add', 'dev', 'eth0', 'root', 'handle', 'c4a0:', 'tbf', 'rate',
                               '8mbit', 'burst', '32kb', 'latency', '50ms']]
    assert entry['revert'] == [['tc', 'qdisc', 'del', 'dev', 'eth0', 'root', 'handle', 'c4a0:']]
    assert parse_iso(entry['revert_at']) > time.time()
    assert result['diff'][0]['before'].startswith('# tc qdisc show')
    assert netns_state(engine, target) == before
    assert our_helpers(engine, target) == []
    assert engine.containers.list(all=True, filters={'label': 'chaos.engineering/helper=true'}, ignore_removed=True) == [] or all(
        c.labels.get('chaos.engineering/target') != target.id
        for c in engine.containers.list(all=True, filters={'label': 'chaos.engineering/helper=true'}, ignore_removed=True))


def test_diff_mode_shows_rules_before_and_after(engine, run_id, run_module):
    target = start_containers(engine, run_id, ['diff'])['diff']
    result = run_module('container_netem', dict(untimed=True, names=[target.name], drop=dict(probability=0.2)),
                        diff=True)
    diff = result['diff'][0]
    assert OURS not in diff['before'] and OURS in diff['after']
    run_module('container_netem', dict(names=[target.name], state='absent'))


# --- preflight and bad input --------------------------------------------------------------------------------

def test_netem_on_a_kernel_without_it_fails_clearly_before_touching_anything(engine, run_id, run_module):
    target = start_containers(engine, run_id, ['nonetem'])['nonetem']
    result = run_module('container_netem', dict(untimed=True, names=[target.name], delay=dict(time='100ms')))
    assert result['failed'] is True
    assert 'sch_netem' in result['msg'] and 'CONFIG_NET_SCH_NETEM' in result['msg'], result['msg']
    assert 'Specified qdisc kind is unknown' not in result['msg']
    assert not has_ours(netns_state(engine, target))
    assert engine.containers.list(all=True, filters={'label': 'chaos.engineering/helper=true'}, ignore_removed=True) == []


@pytest.mark.parametrize('args, message', [
    (dict(delay=dict(time='soon')), 'delay.time must be a time'),
    (dict(bandwidth=dict(rate='fast')), 'bandwidth.rate must be a rate'),
    (dict(drop=dict(probability=1.5)), 'drop.probability must be greater than 0'),
    (dict(drop={}, destinations=['no-such-container']), 'no container of that name'),
    (dict(drop={}, ports=[70000]), 'between 1 and 65535'),
    (dict(reorder=dict(percent=10)), 'reorder needs delay'),
    (dict(drop={}, helper_image='no-such-image:1'), 'is not on docker_host'),
])
def test_bad_input_fails_clearly(engine, run_id, run_module, args, message):
    target = start_containers(engine, run_id, ['bad'])['bad']
    result = run_module('container_netem', dict(args, untimed=True, names=[target.name]))
    assert result['failed'] is True
    assert message in result['msg'], result['msg']
    assert 'Traceback' not in json.dumps(result)
    assert our_helpers(engine, target) == []


def test_a_fault_without_duration_is_refused_unless_untimed_and_changes_nothing(engine, run_id, run_module):
    target = start_containers(engine, run_id, ['no-deadline'])['no-deadline']
    result = run_module('container_netem', dict(names=[target.name], drop=dict(probability=0.5)))
    assert result['failed'] is True and result.get('changed') is not True
    assert 'needs a duration' in result['msg'] and 'untimed=true' in result['msg'], result['msg']
    assert not has_ours(netns_state(engine, target))
    assert engine.containers.list(all=True, filters={'label': 'chaos.engineering/target=%s' % target.id},
                                  ignore_removed=True) == []


def test_host_network_target_is_refused(engine, run_id, run_module):
    target = start_containers(engine, run_id, ['hostnet'], network_mode='host')['hostnet']
    result = run_module('container_netem', dict(untimed=True, names=[target.name], drop={}))
    assert result['failed'] is True
    assert 'allow_host_network' in result['msg']
    assert our_helpers(engine, target) == []


def test_containers_sharing_the_namespace_are_reported(engine, run_id, run_module):
    target = start_containers(engine, run_id, ['owner'])['owner']
    sidecar = start_containers(engine, run_id, ['sidecar'], network_mode='container:%s' % target.id)['sidecar']
    result = run_module('container_netem', dict(untimed=True, names=[target.name], drop=dict(probability=0.1)),
                        check=True)
    assert result['chaos']['targets'][0]['shares_network_with'] == [sidecar.name]


# --- revert: deadline, teardown, SIGKILL ----------------------------------------------------------------------

def test_teardown_finds_faults_through_the_engine_and_removes_orphans(engine, run_id, run_module, tmp_path):
    boxes = start_containers(engine, run_id, ['td-1', 'td-2', 'td-gone'])
    for box in boxes.values():
        run_module('container_netem', dict(untimed=True, names=[box.name], drop=dict(probability=0.2)))
    boxes['td-gone'].remove(force=True)
    # Another ledger dir: the teardown must not need the run's memory.
    result = run_module('container_netem', dict(state='absent', allow_all=True, allow_no_targets=True))
    assert result['changed'] is True
    assert result['chaos']['orphans_removed'], result['chaos']
    for name in ('td-1', 'td-2'):
        assert not has_ours(netns_state(engine, boxes[name]))
    assert engine.containers.list(all=True, filters={'label': 'chaos.engineering/helper=true'}, ignore_removed=True) == []
    again = run_module('container_netem', dict(state='absent', allow_all=True, allow_no_targets=True))
    assert again['changed'] is False


def done_entries(ledger_dir):
    directory = os.path.join(ledger_dir, 'done')
    entries = []
    for name in sorted(os.listdir(directory)) if os.path.isdir(directory) else []:
        with open(os.path.join(directory, name)) as handle:
            entries.append(json.load(handle))
    return entries


def assert_batched_revert(ledger_dir, helper_id, deadline):
    """The reverter fed the revert processes it had started before the deadline (tc -batch, *tables-restore)."""
    done = [e for e in done_entries(ledger_dir) if e['details'].get('helper_id') == helper_id]
    assert len(done) == 1 and done[0]['status'] == 'reverted', done
    assert done[0]['details']['revert_path'] == 'batched', done[0]
    assert deadline <= done[0]['details']['fault_gone_at'] <= deadline + GRACE_SECONDS, (done[0], deadline)


def test_fault_is_reverted_at_the_deadline(engine, run_id, run_module, ledger_dir):
    target = start_containers(engine, run_id, ['timed'])['timed']
    since = time.time()
    result = run_module('container_netem', dict(names=[target.name], drop=dict(probability=0.5, direction='both'),
                                                bandwidth=dict(rate='8mbit'), duration=5))
    entry = result['chaos']['targets'][0]
    deadline = parse_iso(entry['revert_at'])
    helper = engine.containers.get(entry['helper'])
    assert has_ours(netns_state(engine, target))
    assert wait_until(lambda: not our_helpers(engine, target), timeout=20), 'the helper outlived the deadline'
    destroyed = engine_events(engine, helper, since, 'destroy')
    assert destroyed and deadline - 0.1 <= destroyed[0] <= deadline + GRACE_SECONDS, (destroyed, deadline)
    assert not has_ours(netns_state(engine, target))
    assert_batched_revert(ledger_dir, helper.id, deadline)


def test_sigkilled_controller_still_reverts_by_the_deadline(bed, engine, run_id, ledger_dir, tmp_path):
    target = start_containers(engine, run_id, ['sigkill'])['sigkill']
    playbook = write(str(tmp_path / 'kill.yml'), '''\
        - name: A network fault, then a long wait that gets SIGKILLed
          hosts: localhost
          gather_facts: false
          tasks:
            - name: Drop half the packets for 4 seconds
              chaos.engineering.container_netem:
                docker_host: "{{ docker_host }}"
                ledger_dir: "{{ ledger_dir }}"
                names: ["{{ target }}"]
                drop:
                  probability: 0.5
                duration: 4
              register: outcome
            - name: Tell the test the fault is in
              ansible.builtin.copy:
                content: "{{ outcome | to_json }}"
                dest: "{{ marker }}"
                mode: "0600"
            - name: Wait far past the deadline
              ansible.builtin.pause:
                seconds: 60
        ''')
    marker = str(tmp_path / 'marker.json')
    extra = str(tmp_path / 'vars.json')
    with open(extra, 'w') as handle:
        json.dump(dict(docker_host=bed['hosts'][0], ledger_dir=ledger_dir, target=target.name, marker=marker), handle)
    since = time.time()
    proc = subprocess.Popen(ansible_playbook_argv(playbook, extra), env=playbook_env(), cwd=str(tmp_path),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        assert wait_until(lambda: os.path.exists(marker) and os.path.getsize(marker) > 0, timeout=120)
        kill_controller(proc.pid)
        killed_at = time.time()
    finally:
        proc.kill()
        proc.wait()
    with open(marker) as handle:
        entry = json.load(handle)['chaos']['targets'][0]
    deadline = parse_iso(entry['revert_at'])
    assert killed_at < deadline, 'the controller was not killed before the deadline'
    helper = engine.containers.get(entry['helper'])
    assert wait_until(lambda: not our_helpers(engine, target), timeout=30), 'the fault outlived the controller'
    destroyed = engine_events(engine, helper, since, 'destroy')
    assert destroyed and destroyed[0] > killed_at and destroyed[0] <= deadline + GRACE_SECONDS
    assert not has_ours(netns_state(engine, target))
    assert_batched_revert(ledger_dir, helper.id, deadline)


# --- the helper image role, and the nsenter method -----------------------------------------------------------

def test_nethelper_image_role_builds_a_working_helper_without_a_registry(bed, engine, run_id, run_module, tmp_path):
    name = 'role-helper-%s:1' % run_id
    playbook = write(str(tmp_path / 'image.yml'), '''\
        - name: Build the helper image from this host's binaries
          hosts: localhost
          gather_facts: false
          roles:
            - role: chaos.engineering.nethelper_image
              nethelper_image_name: "{{ image }}"
              nethelper_image_docker_host: "{{ docker_host }}"
        ''')
    extra = str(tmp_path / 'vars.json')
    with open(extra, 'w') as handle:
        json.dump(dict(image=name, docker_host=bed['hosts'][0]), handle)
    try:
        runs = []
        for dummy in range(2):
            proc = subprocess.run(ansible_playbook_argv(playbook, extra), env=playbook_env(), cwd=str(tmp_path),
                                  capture_output=True, text=True, timeout=300, check=False)
            assert proc.returncode == 0, proc.stdout + proc.stderr
            runs.append(re.search(r'changed=(\d+)', proc.stdout).group(1))
        assert runs == ['1', '0'], runs
        target = start_containers(engine, run_id, ['role-target'])['role-target']
        result = run_module('container_netem', dict(untimed=True, names=[target.name], drop=dict(probability=0.5),
                                                    helper_image=name))
        assert result['changed'] is True, result
        assert OURS in netns_state(engine, target)['iptables']
        run_module('container_netem', dict(names=[target.name], state='absent', helper_image=name))
        assert not has_ours(netns_state(engine, target))
    finally:
        for container in engine.containers.list(all=True, filters={'ancestor': name}):
            container.remove(force=True)
        engine.images.remove(name, force=True)


@pytest.mark.skipif(os.geteuid() != 0, reason='method=nsenter needs root on the Docker host')
def test_nsenter_method_applies_and_reverts_from_the_host(engine, run_id, run_module):
    boxes = start_containers(engine, run_id, ['ns-target', 'ns-peer'])
    target, peer = boxes['ns-target'], boxes['ns-peer']
    # One fault_name throughout: the third run is the same fault, changed (another direction is another fault by
    # default, which would coexist with the first).
    args = dict(names=[target.name], destinations=[peer.name], drop=dict(direction='both'), method='nsenter',
                duration=60, fault_name='ns-partition')
    result = run_module('container_netem', args)
    assert result['changed'] is True, result
    assert our_helpers(engine, target) == [], 'nsenter must not start a helper'
    assert not reachable(peer, address(target))
    again = run_module('container_netem', args)
    assert again['changed'] is False, again
    # A changed spec replaces ours; its short deadline is then met by the ledger's nsenter revert.
    third = run_module('container_netem', dict(args, drop=dict(direction='ingress'), duration=2))
    assert third['changed'] is True, third
    assert third['chaos']['targets'][0]['removes'], 'the changed fault did not replace the first: %s' % third
    deadline = parse_iso(third['chaos']['targets'][0]['revert_at'])
    assert wait_until(lambda: not has_ours(netns_state(engine, target)), timeout=20)
    assert time.time() >= deadline - 0.5, 'reverted before the deadline'
    assert reachable(peer, address(target))


def test_timed_drop_expires_in_the_kernel_even_without_the_reverter(engine, run_id, run_module, ledger_dir):
    boxes = start_containers(engine, run_id, ['exp-target', 'exp-peer'])
    target, peer = boxes['exp-target'], boxes['exp-peer']
    result = run_module('container_netem', dict(names=[target.name], destinations=[peer.name],
                                                drop=dict(direction='both'), duration=10))
    assert result['changed'] is True
    # Take the reverter away: only the kernel's time match can end the fault now.
    os.kill(result['chaos']['revert']['reverter_pid'], signal.SIGKILL)
    deadline = parse_iso(result['chaos']['revert_at'] if 'revert_at' in result['chaos'] else
                         result['chaos']['targets'][0]['revert_at'])
    # 10 s: a loaded CI host took more than 3.5 s from the rule going in to here (with 4 s this failed there).
    assert time.time() < deadline - 0.5, 'too slow to observe the fault before its deadline'
    assert not reachable(peer, address(target))
    assert wait_until(lambda: time.time() > deadline, timeout=30)
    assert reachable(peer, address(target)), 'the drop outlived its deadline'
    assert OURS in netns_state(engine, target)['iptables'], 'the rule is gone: this did not test the kernel expiry'
    run_module('container_netem', dict(names=[target.name], state='absent'))
    assert not has_ours(netns_state(engine, target))


def test_absent_removes_faults_from_a_paused_container(engine, run_id, run_module):
    target = start_containers(engine, run_id, ['paused'])['paused']
    run_module('container_netem', dict(untimed=True, names=[target.name], drop=dict(probability=0.5)))
    target.pause()
    try:
        result = run_module('container_netem', dict(state='absent', names=[target.name]))
        assert result['changed'] is True, result
        assert [t['action'] for t in result['chaos']['targets']] == ['remove']
    finally:
        target.unpause()
    assert not has_ours(netns_state(engine, target))
    assert our_helpers(engine, target) == []


class _InProcessFault:
    """Just enough of the module's ContainerFaultModule to drive _netem_apply on the real engine in-process."""
    fault = 'container_netem'
    check_mode = False

    def __init__(self, engine, ledger_dir):
        self.params = dict(state='absent', interface='eth0', method='helper', duration=None, force=False,
                           helper_image=NETHELPER)
        from ansible_collections.chaos.engineering.plugins.module_utils._runtime_docker import DockerRuntime
        self.runtime = DockerRuntime(engine.api)
        self.ledger_dir = ledger_dir
        self.module = type('Module', (), dict(_diff=False))()


@pytest.mark.parametrize('how', ['stop', 'remove'])
def test_cleanup_goes_on_when_our_helper_is_gone_between_read_and_cleanup(engine, run_id, run_module, ledger_dir,
                                                                          how):
    # The race the VM fleet test hit in CI: the reverter takes our helper away at the deadline after the
    # module (state=absent, or a replacement) read through it. Here the helper goes and the fault stays, so the
    # retry through a new helper has real work; the engine gives its own 409 (stopped) or 404 (removed).
    from ansible_collections.chaos.engineering.plugins.module_utils import _docker_helpers, _netem_apply, _netem_plan
    target = start_containers(engine, run_id, ['racy'])['racy']
    run_module('container_netem', dict(untimed=True, names=[target.name], drop=dict(probability=0.5),
                                       bandwidth=dict(rate='8mbit')))
    fault = _netem_apply.NetworkFault(_InProcessFault(engine, ledger_dir))
    helpers = fault._helpers_by_target()[target.id]
    reader, before = fault._read(dict(id=target.id, name=target.name), helpers)
    assert reader.helper_id == helpers[0]['Id'] and not reader.transient
    steps = _netem_plan.cleanup_argv(before['qdiscs'], before['rules'])
    assert steps
    if how == 'stop':
        engine.api.stop(reader.helper_id, timeout=0)
    else:
        engine.api.remove_container(reader.helper_id, force=True)
    finisher = fault._clear(dict(id=target.id, name=target.name), reader, steps, 'removing the fault')
    assert finisher.helper_id != reader.helper_id and finisher.transient
    _docker_helpers.remove_helper(engine.api, finisher.helper_id)
    if how == 'stop':
        _docker_helpers.remove_helper(engine.api, reader.helper_id)
    assert not has_ours(netns_state(engine, target))
    assert our_helpers(engine, target) == []
