"""_netem_plan: every network fault has a name (its identity), and every address filter works in both directions."""
import pytest

from ansible_collections.chaos.engineering.plugins.module_utils import _netem_plan
from ansible_collections.chaos.engineering.plugins.module_utils._netem_plan import FaultSpecError, Plan

PREFIX = _netem_plan.COMMENT_PREFIX


def rules_text(*plans):
    """What ``iptables -S`` shows once these plans' rules are in (as iptables prints them: comments quoted)."""
    lines = ['-P INPUT ACCEPT', '-P OUTPUT ACCEPT']
    for plan in plans:
        for binary, chain, spec in plan.iptables_rules:
            if binary == 'iptables':
                words = ['"%s"' % w if w.startswith(PREFIX) else w for w in spec]
                lines.append(' '.join(['-A', chain] + words))
    return '\n'.join(lines) + '\n'


# --- the default name: the kind of fault and the traffic, not its values ------------------------------------------

def test_default_name_is_the_kinds_of_fault():
    assert Plan(dict(delay=dict(time='100ms'))).name == 'delay'
    assert Plan(dict(delay=dict(time='100ms'), loss=dict(percent=5))).name == 'delay+loss'
    assert Plan(dict(bandwidth=dict(rate='1mbit'))).name == 'bandwidth'
    assert Plan(dict(drop={})).name == 'drop'


def test_a_rerun_with_other_values_keeps_the_name_and_changes_the_fault_id():
    one = Plan(dict(delay=dict(time='100ms')))
    two = Plan(dict(delay=dict(time='250ms')))
    assert one.name == two.name and one.fault_id != two.fault_id
    assert Plan(dict(delay=dict(time='100ms'))).fault_id == one.fault_id  # and the same run is the same fault


def test_other_traffic_or_direction_is_another_fault():
    names = set([
        Plan(dict(drop={})).name,
        Plan(dict(drop=dict(direction='egress'))).name,
        Plan(dict(drop=dict(direction='both'))).name,
        Plan(dict(drop={}), destinations=['10.0.0.1']).name,
        Plan(dict(drop={}), destinations=['10.0.0.2']).name,
        Plan(dict(drop={}), local_addresses=['10.0.0.1']).name,
        Plan(dict(drop={}), ports=[80]).name,
        Plan(dict(drop={}), interface='eth1').name,
    ])
    assert len(names) == 8
    assert all(n.startswith('drop') for n in names)
    # ...and the same traffic, the same name, whatever the drop's probability
    assert Plan(dict(drop=dict(probability=0.5)), ports=[80]).name == Plan(dict(drop={}), ports=[80]).name


def test_a_given_name_is_the_identity():
    plan = Plan(dict(drop={}), name='db-drop')
    assert plan.name == 'db-drop'
    assert plan.comment == PREFIX + 'db-drop:' + plan.fault_id
    assert plan.describe()['fault_name'] == 'db-drop'
    # Same spec, another name: another fault, with rules of its own.
    other = Plan(dict(drop={}), name='db-drop-2')
    assert other.fault_id != plan.fault_id


@pytest.mark.parametrize('name', ['', 'a:b', 'has space', '-lead', 'x' * 65, 'semi;colon', 'quote"'])
def test_bad_names_are_refused(name):
    with pytest.raises(FaultSpecError) as caught:
        Plan(dict(drop={}), name=name)
    assert 'fault_name must be' in str(caught.value)


# --- the markers: parse back name and fault id ------------------------------------------------------------------

def test_rules_carry_name_and_fault_id_and_parse_back():
    drop = Plan(dict(drop={}), destinations=['10.0.0.9'])
    other = Plan(dict(drop=dict(direction='egress')), name='second')
    rules = _netem_plan.parse_rules(rules_text(drop, other))
    expected = [(drop.name, drop.fault_id), (other.name, other.fault_id)]
    assert [(r['fault_name'], r['fault_id']) for r in rules] == expected


def test_rules_from_before_fault_names_have_no_name():
    rules = _netem_plan.parse_rules('-A INPUT -i eth0 -m comment --comment "%s5ca60b25c0a6" -j DROP\n' % PREFIX)
    assert rules[0]['fault_name'] is None and rules[0]['fault_id'] == '5ca60b25c0a6'


def test_cleanup_of_one_name_leaves_the_others():
    first = Plan(dict(drop={}), name='first')
    second = Plan(dict(drop={}), name='second')
    legacy = '-A INPUT -i eth0 -m comment --comment "%s5ca60b25c0a6" -j DROP\n' % PREFIX
    rules = _netem_plan.parse_rules(rules_text(first, second) + legacy)
    qdiscs = _netem_plan.parse_qdiscs('qdisc netem c4a0: dev eth0 root refcnt 2 limit 1000 delay 100ms\n')
    everything = _netem_plan.cleanup_argv(qdiscs, rules)
    assert len(everything) == 4  # the tc tree and three rules: the teardown

    def comments(steps):
        return [s[s.index('--comment') + 1] for s in steps if '--comment' in s]
    steps = _netem_plan.cleanup_argv(qdiscs, rules, 'first')
    assert comments(steps) == [first.comment, PREFIX + '5ca60b25c0a6']  # a run of "first" adopts the unnamed one
    assert not [s for s in steps if s[0] == 'tc']  # the tc tree is not first's
    steps = _netem_plan.cleanup_argv(qdiscs, rules, 'first', tc_devices=['eth0'], legacy=False)
    assert comments(steps) == [first.comment]
    assert steps[0] == ['tc', 'qdisc', 'del', 'dev', 'eth0', 'root', 'handle', 'c4a0:']


def test_derived_names_fit_the_reverters_batches():
    plan = Plan(dict(bandwidth=dict(rate='8mbit'), drop=dict(direction='both')), destinations=['10.0.0.0/24'],
                expires_at=2000000000, duration=10)
    assert '@' in plan.name and '+' in plan.name
    batches = _netem_plan.batch_steps(plan.revert_argv)
    assert batches is not None and plan.comment in batches[1][1]


# --- every address filter in both directions ---------------------------------------------------------------------

def spec_of(plan, chain):
    return [spec for dummy, c, spec in plan.iptables_rules if c == chain]


def test_local_addresses_are_the_destination_coming_in_and_the_source_going_out():
    plan = Plan(dict(drop=dict(direction='both')), local_addresses=['10.0.0.5'])
    (ingress,) = spec_of(plan, 'INPUT')
    (egress,) = spec_of(plan, 'OUTPUT')
    assert ingress[:4] == ['-i', 'eth0', '-d', '10.0.0.5/32']
    assert egress[:4] == ['-o', 'eth0', '-s', '10.0.0.5/32']
    assert [b for b, dummy, dummy2 in plan.iptables_rules] == ['iptables', 'iptables']  # IPv4 only


def test_peers_and_local_addresses_together_match_both():
    plan = Plan(dict(drop=dict(direction='both')), destinations=['10.0.1.0/24', 'fd00::1'],
                local_addresses=['10.0.0.5', '10.0.0.6'], protocol='tcp', ports=[80])
    ingress = spec_of(plan, 'INPUT')
    assert [s[:6] for s in ingress] == [['-i', 'eth0', '-s', '10.0.1.0/24', '-d', '10.0.0.5/32'],
                                        ['-i', 'eth0', '-s', '10.0.1.0/24', '-d', '10.0.0.6/32']]
    assert all(s[6:10] == ['-p', 'tcp', '--dport', '80'] for s in ingress)
    egress = spec_of(plan, 'OUTPUT')
    assert [s[2:6] for s in egress] == [['-d', '10.0.1.0/24', '-s', '10.0.0.5/32'],
                                        ['-d', '10.0.1.0/24', '-s', '10.0.0.6/32']]
    # The IPv6 peer has no IPv6 local address to pair with: no ip6tables rule.
    assert set(b for b, dummy, dummy2 in plan.iptables_rules) == set(['iptables'])


def test_ports_and_protocol_apply_in_both_directions():
    plan = Plan(dict(drop=dict(direction='both')), protocol='udp', source_ports=[53])
    for chain in ('INPUT', 'OUTPUT'):
        for spec in spec_of(plan, chain):
            assert spec[2:6] == ['-p', 'udp', '--sport', '53']


def test_address_lists_of_no_common_ip_version_are_refused():
    with pytest.raises(FaultSpecError) as caught:
        Plan(dict(drop={}), destinations=['10.0.0.1'], local_addresses=['fd00::1'])
    assert 'no IP version in common' in str(caught.value)


def test_a_tc_fault_matches_the_local_address_as_the_source():
    plan = Plan(dict(delay=dict(time='10ms')), local_addresses=['10.0.0.5'], destinations=['10.0.1.7'])
    filters = [s for s in plan.tc_apply if s[:3] == ['tc', 'filter', 'add']]
    assert len(filters) == 1
    assert filters[0][12:20] == ['match', 'ip', 'dst', '10.0.1.7/32', 'match', 'ip', 'src', '10.0.0.5/32']


def test_fault_ids_without_local_addresses_keep_their_filters():
    assert 'local_addresses' not in Plan(dict(drop={})).filters.describe()
    assert Plan(dict(drop={}), local_addresses=['10.0.0.5']).filters.describe()['local_addresses'] == ['10.0.0.5/32']
