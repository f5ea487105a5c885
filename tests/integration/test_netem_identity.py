"""container_netem faults with their own identity (fault_name) on one container, and filters in both directions.

On the real Docker bed (this kernel has no sch_netem: tbf bandwidth and iptables drop). Traffic between two bed
containers proves what is dropped: pings (ICMP) and HTTP (TCP) counted, not assumed.
"""
import json
import os
import subprocess
import time
import uuid

import pytest

from helpers import ansible_playbook_argv, parse_iso, playbook_env, start_containers, wait_until
from test_container_netem import address, has_ours, netns_state, our_helpers, reachable, tcp_ok, web_server

pytestmark = pytest.mark.integration

# The reverter's own margin beyond a deadline (as in test_container_netem), with room for a loaded machine.
GRACE_SECONDS = 3


@pytest.fixture
def run_tasks(bed, ledger_dir, tmp_path):
    """Run container_netem tasks, one after the other, in ONE playbook (an ansible-playbook start costs seconds on
    a loaded machine; the faults' deadlines must not wait for it); return their results (failed or not)."""
    def run(*task_args):
        results = str(tmp_path / ('results-%s.json' % uuid.uuid4().hex[:6]))
        tasks = [{'name': 'task %d' % i, 'chaos.engineering.container_netem': None, 'args': '{{ tasks[%d] }}' % i,
                  'register': 'outcome_%d' % i, 'ignore_errors': True} for i in range(len(task_args))]
        tasks.append({'name': 'Keep the results', 'ansible.builtin.copy': dict(
            content='{{ [%s] | to_json }}' % ', '.join('outcome_%d' % i for i in range(len(task_args))),
            dest=results, mode='0600')})
        play = dict(name='container_netem tasks', hosts='localhost', gather_facts=False, tasks=tasks,
                    module_defaults={'group/chaos.engineering.docker': '{{ connection }}'})
        playbook, extra = str(tmp_path / 'tasks.yml'), str(tmp_path / 'tasks-vars.json')
        with open(playbook, 'w') as handle:
            json.dump([play], handle)
        with open(extra, 'w') as handle:
            json.dump(dict(tasks=list(task_args),
                           connection=dict(docker_host=bed['hosts'][0], ledger_dir=ledger_dir)), handle)
        proc = subprocess.run(ansible_playbook_argv(playbook, extra), capture_output=True, text=True,
                              env=playbook_env(), cwd=str(tmp_path), timeout=300, check=False)
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
        with open(results) as handle:
            return json.load(handle)
    return run


def our_comments(state):
    return sorted(set(w.strip('"') for w in state['iptables'].split() if w.strip('"').startswith(
        'chaos.engineering:netem:')))


def done_statuses(ledger_dir):
    directory = os.path.join(ledger_dir, 'done')
    found = {}
    for name in os.listdir(directory) if os.path.isdir(directory) else []:
        with open(os.path.join(directory, name)) as handle:
            entry = json.load(handle)
        found[entry['details'].get('fault_name')] = entry
    return found


def test_two_drops_coexist_each_reverted_at_its_own_deadline_and_a_rerun_is_ok(engine, run_id, run_tasks,
                                                                               ledger_dir):
    target = web_server(engine, run_id, 'ids-target')
    peer = start_containers(engine, run_id, ['ids-peer'])['ids-peer']
    ip = address(target)
    url = 'http://%s:8080/' % ip
    target.exec_run(['sh', '-c', 'echo hi > /var/www/index.html'])
    assert reachable(peer, ip) and tcp_ok(peer, url)

    # Two iptables faults with different filters, under their default names: the second must not replace the
    # first. Then the first task again: ok, nothing removed, its deadline kept.
    icmp = dict(names=[target.name], drop={}, protocol='icmp', duration=25)
    tcp = dict(names=[target.name], drop={}, protocol='tcp', ports=[8080], duration=40)
    first, second, again = run_tasks(icmp, tcp, icmp)
    assert first['changed'] is True and second['changed'] is True, (first, second)
    names = [first['chaos']['spec']['fault_name'], second['chaos']['spec']['fault_name']]
    assert names[0] != names[1] and all(n.startswith('drop@') for n in names), names
    assert not second['chaos']['targets'][0]['removes'], 'the second fault removed something: %s' % second
    assert again['changed'] is False, again
    assert again['chaos']['targets'][0]['revert_at'] == first['chaos']['targets'][0]['revert_at']
    first_deadline = parse_iso(first['chaos']['targets'][0]['revert_at'])
    second_deadline = parse_iso(second['chaos']['targets'][0]['revert_at'])
    assert time.time() < first_deadline - 2, 'the playbook took too long to see both faults together: %s' % [
        (r['chaos']['started_at'], r['chaos']['finished_at']) for r in (first, second, again)]
    state = netns_state(engine, target)
    assert sorted(c.split(':')[2] for c in our_comments(state)) == sorted(names), state['iptables']
    assert len(our_helpers(engine, target)) == 2  # one helper per fault
    assert not reachable(peer, ip) and not tcp_ok(peer, url)

    # Each goes at its own deadline: ICMP first, TCP later.
    assert wait_until(lambda: reachable(peer, ip), timeout=first_deadline - time.time() + GRACE_SECONDS + 5)
    assert time.time() >= first_deadline - 0.5, 'the ICMP drop went before its deadline'
    assert time.time() < second_deadline - 1, 'too slow to see the TCP drop alone'
    assert not tcp_ok(peer, url), 'the TCP drop went with the ICMP one'
    assert [c.split(':')[2] for c in our_comments(netns_state(engine, target))] == [names[1]]
    assert wait_until(lambda: tcp_ok(peer, url), timeout=second_deadline - time.time() + GRACE_SECONDS + 5)
    assert time.time() >= second_deadline - 0.5, 'the TCP drop went before its deadline'
    assert wait_until(lambda: not has_ours(netns_state(engine, target)) and not our_helpers(engine, target),
                      timeout=GRACE_SECONDS + 5)
    done = done_statuses(ledger_dir)
    for name, deadline in zip(names, (first_deadline, second_deadline)):
        gone = done[name]['details']['fault_gone_at']
        assert done[name]['status'] == 'reverted' and deadline - 0.1 <= gone <= deadline + GRACE_SECONDS, done[name]


def test_bandwidth_then_drop_coexist_a_second_tc_fault_is_refused_and_absent_by_name_removes_one(
        engine, run_id, run_tasks):
    target = start_containers(engine, run_id, ['idbw-target'])['idbw-target']
    peer = start_containers(engine, run_id, ['idbw-peer'])['idbw-peer']
    ip = address(target)
    assert reachable(peer, ip)

    # The case: a bandwidth task, then a drop task, on one container, with the default names; then
    # another tc fault on the same interface, which cannot share the root qdisc: refused, naming the holder;
    # then the bandwidth task with another rate, which replaces its own limit only.
    one = dict(names=[target.name])
    bandwidth, drop, refused, replaced = run_tasks(
        dict(one, untimed=True, bandwidth=dict(rate='8mbit')), dict(one, untimed=True, drop={}, protocol='icmp'),
        dict(one, untimed=True, bandwidth=dict(rate='2mbit'), fault_name='second-limit'),
        dict(one, untimed=True, bandwidth=dict(rate='4mbit')))
    assert bandwidth['changed'] is True and drop['changed'] is True, (bandwidth, drop)
    assert bandwidth['chaos']['spec']['fault_name'] == 'bandwidth'
    assert not drop['chaos']['targets'][0]['removes'], drop
    assert refused['failed'] is True
    assert "'bandwidth'" in refused['msg'] and 'Nothing was changed' in refused['msg'], refused['msg']
    assert replaced['changed'] is True, replaced
    assert replaced['chaos']['targets'][0]['removes'] == [
        ['tc', 'qdisc', 'del', 'dev', 'eth0', 'root', 'handle', 'c4a0:']], replaced  # and not the drop's rules
    drop_name = drop['chaos']['spec']['fault_name']
    state = netns_state(engine, target)
    assert 'qdisc tbf c4a0:' in state['tc'] and 'rate 4Mbit' in state['tc'], state['tc']
    assert [c.split(':')[2] for c in our_comments(state)] == [drop_name]
    assert not reachable(peer, ip)

    # absent by name removes that fault only: its rules and its helper; the limit and its helper stay.
    removed, again = run_tasks(dict(one, state='absent', fault_name=drop_name),
                               dict(one, state='absent', fault_name=drop_name))
    assert removed['changed'] is True and again['changed'] is False, (removed, again)
    state = netns_state(engine, target)
    assert our_comments(state) == [] and 'rate 4Mbit' in state['tc'], state
    helpers = our_helpers(engine, target)
    assert [h.labels.get('chaos.engineering/fault-name') for h in helpers] == ['bandwidth']
    assert reachable(peer, ip)

    # absent without a name is the teardown: everything of ours.
    (teardown,) = run_tasks(dict(one, state='absent'))
    assert teardown['changed'] is True
    assert not has_ours(netns_state(engine, target)) and our_helpers(engine, target) == []


@pytest.fixture
def second_network(engine):
    network = engine.networks.create('chaos-ids-%s' % uuid.uuid4().hex[:8], driver='bridge')
    yield network
    network.reload()
    for container in network.containers:
        network.disconnect(container, force=True)
    network.remove()


def test_ingress_drop_by_local_address_hits_only_traffic_to_that_address(engine, run_id, run_tasks,
                                                                         second_network):
    boxes = start_containers(engine, run_id, ['idloc-target', 'idloc-peer'])
    target, peer = boxes['idloc-target'], boxes['idloc-peer']
    for box in (target, peer):
        second_network.connect(box)
    target.reload()
    first_ip = address(target)
    second_ip = target.attrs['NetworkSettings']['Networks'][second_network.name]['IPAddress']
    assert first_ip != second_ip and reachable(peer, first_ip) and reachable(peer, second_ip)

    # Pumba's `iptables --destination`: INPUT by destination address. Only pings to the second address go.
    on_eth1 = dict(names=[target.name], local_addresses=[second_ip], interface='eth1')
    (ingress,) = run_tasks(dict(on_eth1, untimed=True, drop=dict(direction='ingress')))
    assert ingress['changed'] is True, ingress
    rules = [ln for ln in netns_state(engine, target)['iptables'].splitlines() if 'chaos.engineering:netem:' in ln]
    assert len(rules) == 1 and rules[0].startswith('-A INPUT -d %s/32 -i eth1' % second_ip), rules
    assert reachable(peer, first_ip)
    assert not reachable(peer, second_ip)

    # The same filter going out, a fault of its own: replies from the second address are dropped; then the
    # ingress one goes by its name, and the egress one still drops the replies.
    egress, removed = run_tasks(dict(on_eth1, untimed=True, drop=dict(direction='egress')),
                                dict(names=[target.name], state='absent',
                                     fault_name=ingress['chaos']['spec']['fault_name']))
    assert egress['changed'] is True and not egress['chaos']['targets'][0]['removes'], egress
    assert removed['changed'] is True, removed
    rules = [ln for ln in netns_state(engine, target)['iptables'].splitlines() if 'chaos.engineering:netem:' in ln]
    assert len(rules) == 1 and rules[0].startswith('-A OUTPUT -s %s/32 -o eth1' % second_ip), rules
    assert reachable(peer, first_ip) and not reachable(peer, second_ip)
    (teardown,) = run_tasks(dict(names=[target.name], state='absent'))
    assert teardown['changed'] is True
    assert reachable(peer, second_ip)
    assert not has_ours(netns_state(engine, target)) and our_helpers(engine, target) == []
