"""_netem_plan: exact argv for every fault and filter, IPv4 and IPv6; parsing of real `tc qdisc show` / `iptables -S`."""
import os

import pytest

from ansible_collections.chaos.engineering.plugins.module_utils import _netem_plan
from ansible_collections.chaos.engineering.plugins.module_utils._netem_plan import FaultSpecError, Plan

FIXTURES = os.path.join(os.path.dirname(__file__), 'fixtures')
ROOT = ['tc', 'qdisc', 'add', 'dev', 'eth0', 'root', 'handle', 'c4a0:']
REVERT_TC = [['tc', 'qdisc', 'del', 'dev', 'eth0', 'root', 'handle', 'c4a0:']]


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as handle:
        return handle.read()


@pytest.mark.parametrize('spec, args', [
    (dict(delay=dict(time='100ms')), ['delay', '100ms']),
    (dict(delay=dict(time=100)), ['delay', '100ms']),
    (dict(delay=dict(time='100ms', jitter='10ms')), ['delay', '100ms', '10ms']),
    (dict(delay=dict(time='100ms', jitter='10ms', correlation=25, distribution='pareto')),
     ['delay', '100ms', '10ms', '25%', 'distribution', 'pareto']),
    (dict(loss=dict(percent=30)), ['loss', 'random', '30%']),
    (dict(loss=dict(percent=0.5, correlation=25)), ['loss', 'random', '0.5%', '25%']),
    (dict(loss_state=dict(p13=5)), ['loss', 'state', '5%']),
    (dict(loss_state=dict(p13=5, p31=80, p32=2, p23=30, p14=1)), ['loss', 'state', '5%', '80%', '2%', '30%', '1%']),
    (dict(loss_gemodel=dict(p=1, r=10, one_h=70, one_k=0.1)), ['loss', 'gemodel', '1%', '10%', '70%', '0.1%']),
    (dict(duplicate=dict(percent=1)), ['duplicate', '1%']),
    (dict(corrupt=dict(percent=0.1, correlation=5)), ['corrupt', '0.1%', '5%']),
    (dict(delay=dict(time='10ms'), reorder=dict(percent=25, correlation=50, gap=5)),
     ['delay', '10ms', 'reorder', '25%', '50%', 'gap', '5']),
    (dict(rate=dict(rate='1mbit')), ['rate', '1mbit']),
    (dict(rate=dict(rate='1mbit', packet_overhead=20, cell_size=53, cell_overhead=5)),
     ['rate', '1mbit', '20', '53', '5']),
    (dict(delay=dict(time='50ms'), loss=dict(percent=1), duplicate=dict(percent=2), corrupt=dict(percent=3)),
     ['delay', '50ms', 'loss', 'random', '1%', 'duplicate', '2%', 'corrupt', '3%']),
])
def test_netem_argv_has_exactly_what_was_asked(spec, args):
    plan = Plan(spec)
    assert plan.apply_argv == [ROOT + ['netem'] + args]
    assert plan.revert_argv == REVERT_TC
    assert plan.needs_netem


def test_no_implied_jitter_or_correlation():
    assert Plan(dict(delay=dict(time='100ms'))).netem == ['delay', '100ms']


def test_bandwidth_is_tbf_and_needs_no_netem():
    plan = Plan(dict(bandwidth=dict(rate='8mbit', burst='32kb', latency='20ms')))
    assert plan.apply_argv == [ROOT + ['tbf', 'rate', '8mbit', 'burst', '32kb', 'latency', '20ms']]
    assert not plan.needs_netem
    # tbf needs a bucket: 10 ms of the rate by default, never below two frames.
    assert Plan(dict(bandwidth=dict(rate='8mbit'))).tbf == ['rate', '8mbit', 'burst', '10000', 'latency', '50ms']
    assert Plan(dict(bandwidth=dict(rate='64kbit'))).tbf[3] == '3200'


def test_netem_with_bandwidth_puts_tbf_under_netem():
    plan = Plan(dict(delay=dict(time='100ms'), bandwidth=dict(rate='1mbit', burst='16kb')))
    assert plan.apply_argv == [
        ROOT + ['netem', 'delay', '100ms'],
        ['tc', 'qdisc', 'add', 'dev', 'eth0', 'parent', 'c4a0:1', 'handle', 'c4a1:', 'tbf', 'rate', '1mbit',
         'burst', '16kb', 'latency', '50ms'],
    ]
    assert plan.revert_argv == REVERT_TC


HTB = [['tc', 'qdisc', 'add', 'dev', 'eth0', 'root', 'handle', 'c4a0:', 'htb', 'direct_qlen', '1000'],
       ['tc', 'class', 'add', 'dev', 'eth0', 'parent', 'c4a0:', 'classid', 'c4a0:1', 'htb', 'rate', '10gbit']]
FILTER = ['tc', 'filter', 'add', 'dev', 'eth0', 'parent', 'c4a0:']


def test_filtered_netem_is_htb_with_u32_for_ip_and_ip6():
    plan = Plan(dict(delay=dict(time='100ms')), destinations=['10.0.0.0/24', 'fd00::5'], ports=[80],
                protocol='tcp')
    assert plan.apply_argv == HTB + [
        ['tc', 'qdisc', 'add', 'dev', 'eth0', 'parent', 'c4a0:1', 'handle', 'c4a1:', 'netem', 'delay', '100ms'],
        FILTER + ['protocol', 'ip', 'prio', '1', 'u32', 'match', 'ip', 'dst', '10.0.0.0/24',
                  'match', 'ip', 'protocol', '6', '0xff', 'match', 'ip', 'dport', '80', '0xffff', 'flowid', 'c4a0:1'],
        FILTER + ['protocol', 'ipv6', 'prio', '2', 'u32', 'match', 'ip6', 'dst', 'fd00::5/128',
                  'match', 'ip6', 'protocol', '6', '0xff', 'match', 'ip6', 'dport', '80', '0xffff',
                  'flowid', 'c4a0:1'],
    ]
    assert plan.revert_argv == REVERT_TC
    assert 'prio' not in [a[8] for a in plan.apply_argv if a[1] == 'qdisc' and len(a) > 8]
    assert not any('sfq' in a for a in plan.apply_argv)


def test_filtered_netem_and_tbf_chain_below_the_htb_class():
    plan = Plan(dict(delay=dict(time='5ms'), bandwidth=dict(rate='1mbit')), source_ports=[443])
    assert plan.apply_argv[2][:10] == ['tc', 'qdisc', 'add', 'dev', 'eth0', 'parent', 'c4a0:1', 'handle', 'c4a1:',
                                       'netem']
    assert plan.apply_argv[3][:10] == ['tc', 'qdisc', 'add', 'dev', 'eth0', 'parent', 'c4a1:1', 'handle', 'c4a2:',
                                       'tbf']
    # A port filter without destinations covers both IP versions.
    assert [a[8] for a in plan.apply_argv[4:]] == ['ip', 'ipv6']
    assert ['match', 'ip', 'sport', '443', '0xffff'] == plan.apply_argv[4][12:17]


def test_ports_and_destinations_multiply_into_filters():
    plan = Plan(dict(bandwidth=dict(rate='1mbit')), destinations=['10.0.0.1', '10.0.0.2'], ports=[80, 443])
    filters = [a for a in plan.apply_argv if a[1] == 'filter']
    assert len(filters) == 4


def test_icmp_filter_uses_icmpv6_for_ip6():
    plan = Plan(dict(bandwidth=dict(rate='1mbit')), protocol='icmp')
    filters = [a for a in plan.apply_argv if a[1] == 'filter']
    assert ['match', 'ip', 'protocol', '1', '0xff'] == filters[0][12:17]
    assert ['match', 'ip6', 'protocol', '58', '0xff'] == filters[1][12:17]


def test_drop_probability_ingress_v4_and_v6_by_default():
    plan = Plan(dict(drop=dict(probability=0.3)))
    comment = plan.comment
    assert plan.iptables_apply == [
        ['iptables', '-w', '5', '-I', 'INPUT', '-i', 'eth0', '-m', 'comment', '--comment', comment,
         '-m', 'statistic', '--mode', 'random', '--probability', '0.3', '-j', 'DROP'],
        ['ip6tables', '-w', '5', '-I', 'INPUT', '-i', 'eth0', '-m', 'comment', '--comment', comment,
         '-m', 'statistic', '--mode', 'random', '--probability', '0.3', '-j', 'DROP'],
    ]
    assert plan.iptables_revert == [[a[0], '-w', '5', '-D'] + a[4:] for a in plan.iptables_apply]
    assert plan.tc_apply == [] and not plan.needs_netem
    assert comment.startswith('chaos.engineering:netem:')


def test_drop_nth_egress_to_a_v6_peer_on_a_port():
    plan = Plan(dict(drop=dict(every=5, packet=2, direction='egress')), destinations=['fd00:cb:1::5'],
                ports=[8080], protocol='tcp')
    assert plan.iptables_apply == [
        ['ip6tables', '-w', '5', '-I', 'OUTPUT', '-o', 'eth0', '-d', 'fd00:cb:1::5/128', '-p', 'tcp',
         '--dport', '8080', '-m', 'comment', '--comment', plan.comment,
         '-m', 'statistic', '--mode', 'nth', '--every', '5', '--packet', '2', '-j', 'DROP']]


def test_partition_both_ways_without_statistic():
    plan = Plan(dict(drop=dict(direction='both')), destinations=['10.0.0.9'])
    assert [(a[0], a[4], a[5], a[7]) for a in plan.iptables_apply] == [
        ('iptables', 'INPUT', '-i', '-s'), ('iptables', 'OUTPUT', '-o', '-d')]
    assert not any('statistic' in a for a in plan.iptables_apply)


def test_ports_without_a_protocol_drop_tcp_and_udp():
    plan = Plan(dict(drop={}), destinations=['10.0.0.9'], source_ports=[53])
    assert [a[a.index('-p') + 1] for a in plan.iptables_apply] == ['tcp', 'udp']
    assert all(a[a.index('-p') + 2:a.index('-p') + 4] == ['--sport', '53'] for a in plan.iptables_apply)


def test_icmp_drop_uses_ipv6_icmp_for_ip6tables():
    plan = Plan(dict(drop={}), protocol='icmp')
    assert [(a[0], a[a.index('-p') + 1]) for a in plan.iptables_apply] == [
        ('iptables', 'icmp'), ('ip6tables', 'ipv6-icmp')]


def test_fault_id_is_stable_and_changes_with_the_spec():
    one = Plan(dict(drop=dict(probability=0.3, every=None)), destinations=['10.0.0.1'])
    two = Plan(dict(drop=dict(probability=0.3)), destinations=['10.0.0.1/32'])
    three = Plan(dict(drop=dict(probability=0.4)), destinations=['10.0.0.1'])
    assert one.fault_id == two.fault_id != three.fault_id


@pytest.mark.parametrize('kwargs, message', [
    (dict(spec={}), 'Give at least one fault'),
    (dict(spec=dict(delay=dict(time='fast'))), 'delay.time must be a time'),
    (dict(spec=dict(delay=dict(time='1ms', correlation=5))), 'need delay.jitter'),
    (dict(spec=dict(delay=dict(time='1ms', jitter='1ms', distribution='cauchy'))), 'delay.distribution'),
    (dict(spec=dict(loss=dict(percent=101))), 'between 0 and 100'),
    (dict(spec=dict(loss=dict(percent=1), loss_state=dict(p13=1))), 'mutually exclusive'),
    (dict(spec=dict(loss_state=dict(p13=1, p32=2))), 'needs p31 too'),
    (dict(spec=dict(reorder=dict(percent=5))), 'reorder needs delay'),
    (dict(spec=dict(rate=dict(rate='quick'))), 'rate.rate must be a rate'),
    (dict(spec=dict(bandwidth=dict(rate='1mbit', burst='big'))), 'bandwidth.burst must be a size'),
    (dict(spec=dict(drop=dict(probability=0))), 'greater than 0'),
    (dict(spec=dict(drop=dict(probability=0.5, every=2))), 'mutually exclusive'),
    (dict(spec=dict(drop=dict(every=2, packet=2))), 'drop.packet must be between'),
    (dict(spec=dict(drop=dict(packet=1))), 'drop.packet needs drop.every'),
    (dict(spec=dict(drop={}), destinations=['web-1']), 'not an IP address'),
    (dict(spec=dict(drop={}), ports=[0]), 'at least 1'),
    (dict(spec=dict(drop={}), protocol='icmp', ports=[80]), 'need protocol tcp, udp or all'),
    (dict(spec=dict(drop={}), protocol='sctp'), 'protocol must be one of'),
    (dict(spec=dict(drop={}), interface='eth0; reboot'), 'interface must be'),
])
def test_bad_specs_say_what_is_wrong(kwargs, message):
    spec = kwargs.pop('spec')
    with pytest.raises(FaultSpecError) as caught:
        Plan(spec, **kwargs)
    assert message in str(caught.value)


def test_rate_units():
    assert _netem_plan.rate_bits_per_second('8mbit') == 8e6
    assert _netem_plan.rate_bits_per_second('1mbps') == 8e6
    assert _netem_plan.rate_bits_per_second('1kibit') == 1024


# --- parsing real captured output (from the private engines, kernel 6.18, iproute2 6.1, iptables-nft 1.8.9) ---

def test_parse_our_filtered_tree():
    qdiscs = _netem_plan.parse_qdiscs(fixture('netem_filtered_tc_qdisc_show.txt'))
    root = _netem_plan.root_qdisc(qdiscs, 'eth0')
    assert root['kind'] == 'htb' and root['handle'] == 'c4a0:' and root['ours'] and root['dev'] == 'eth0'
    leaf = [q for q in qdiscs if q['kind'] == 'tbf'][0]
    assert leaf['parent'] == 'c4a0:1' and leaf['ours'] and not leaf['root']
    lo = _netem_plan.root_qdisc(qdiscs, 'lo')
    assert lo['dev'] == 'lo' and _netem_plan.is_default_root(lo)


def test_parse_our_rules_v4_and_v6():
    rules = (_netem_plan.parse_rules(fixture('netem_filtered_iptables_-S.txt'), 'iptables')
             + _netem_plan.parse_rules(fixture('netem_filtered_ip6tables_-S.txt'), 'ip6tables'))
    assert [(r['binary'], r['chain'], r['fault_id']) for r in rules] == [
        ('iptables', 'INPUT', '2bf1b9b94244'), ('iptables', 'OUTPUT', '2bf1b9b94244'),
        ('ip6tables', 'INPUT', '2bf1b9b94244'), ('ip6tables', 'OUTPUT', '2bf1b9b94244')]
    assert rules[0]['spec'][:4] == ['-s', '10.232.1.0/24', '-i', 'eth0']
    # The comment is unquoted in the argv, as iptables -D needs it.
    assert 'chaos.engineering:netem:2bf1b9b94244' in rules[0]['spec']


def test_foreign_state_is_told_apart_from_ours():
    qdiscs = _netem_plan.parse_qdiscs(fixture('foreign_tc_qdisc_show.txt'))
    root = _netem_plan.root_qdisc(qdiscs, 'eth0')
    assert root['handle'] == '1:' and not root['ours'] and not _netem_plan.is_default_root(root)
    text = fixture('foreign_iptables_-S.txt')
    ours = _netem_plan.parse_rules(text)
    assert len(ours) == 1 and ours[0]['fault_id'] == '5ca60b25c0a6'
    assert _netem_plan.foreign_rule_count(text) == 1


def test_cleanup_removes_only_ours():
    qdiscs = _netem_plan.parse_qdiscs(fixture('foreign_tc_qdisc_show.txt'))
    rules = _netem_plan.parse_rules(fixture('foreign_iptables_-S.txt'))
    steps = _netem_plan.cleanup_argv(qdiscs, rules)
    assert steps == [['iptables', '-w', '5', '-D', 'INPUT', '-i', 'eth0', '-p', 'udp', '-m', 'udp', '--sport', '53',
                      '-m', 'comment', '--comment', 'chaos.engineering:netem:5ca60b25c0a6', '-m', 'statistic',
                      '--mode', 'nth', '--every', '4', '--packet', '1', '-j', 'DROP']]
    ours = _netem_plan.parse_qdiscs(fixture('netem_filtered_tc_qdisc_show.txt'))
    assert _netem_plan.cleanup_argv(ours, []) == [['tc', 'qdisc', 'del', 'dev', 'eth0', 'root', 'handle', 'c4a0:']]


def test_error_classification():
    assert _netem_plan.lacks_netem('Error: Specified qdisc kind is unknown.\n')
    assert _netem_plan.is_already_gone('Error: Invalid handle.\n')
    assert _netem_plan.is_already_gone('iptables: Bad rule (does a matching rule exist in that chain?).\n')
    assert not _netem_plan.is_already_gone('RTNETLINK answers: Operation not permitted\n')


def test_timed_drop_expires_in_the_kernel_at_the_deadline():
    deadline = 1795780800  # 2026-11-27T12:00:00Z
    plan = Plan(dict(drop=dict(probability=0.5)), destinations=['10.0.0.1'], expires_at=deadline)
    rule = plan.iptables_apply[0]
    # xt_time matches through --datestop's whole second: the last second that matches is the one before.
    assert rule[-4:] == ['--datestop', '2026-11-27T11:59:59', '-j', 'DROP']
    assert rule[-6:-4] == ['-m', 'time']
    assert plan.iptables_revert[0][4:] == rule[4:]
    # The deadline is not part of the fault's identity: a second identical run is the same fault.
    assert plan.fault_id == Plan(dict(drop=dict(probability=0.5)), destinations=['10.0.0.1']).fault_id


def test_duration_is_part_of_the_fault_identity():
    spec = dict(delay=dict(time='100ms'))
    assert Plan(spec, duration=60).fault_id == Plan(spec, duration=60).fault_id
    assert Plan(spec, duration=60).fault_id != Plan(spec, duration=5).fault_id
    assert Plan(spec, duration=60, expires_at=100).fault_id == Plan(spec, duration=60, expires_at=200).fault_id


def test_revert_batches_one_process_per_tool_in_the_same_order():
    plan = Plan(dict(bandwidth=dict(rate='8mbit'), drop=dict(probability=0.3, direction='both')), 'eth0',
                expires_at=2000000000, duration=10)
    batches = _netem_plan.batch_steps(plan.revert_argv)
    assert [argv for argv, dummy in batches] == [['tc', '-batch', '-'], ['iptables-restore', '--noflush'],
                                                 ['ip6tables-restore', '--noflush']]
    assert batches[0][1] == 'qdisc del dev eth0 root handle c4a0:\n'
    rule = ('-i eth0 -m comment --comment %s -m statistic --mode random --probability 0.3 '
            '-m time --datestop 2033-05-18T03:33:19 -j DROP' % plan.comment)
    expected = '*filter\n-D INPUT %s\n-D OUTPUT %s\nCOMMIT\n' % (rule, rule.replace('-i eth0', '-o eth0'))
    assert batches[1][1] == expected
    assert batches[2][1] == expected
    # Each line is its argv step without the tool and without iptables' -w (restore takes no -w).
    steps = [s for s in plan.revert_argv if s[0] == 'iptables']
    assert batches[1][1].splitlines()[1:3] == [' '.join(s[3:]) for s in steps]


def test_revert_batches_refuse_what_a_batch_cannot_carry():
    assert _netem_plan.batch_steps([['tc', 'qdisc', 'del', 'dev', 'eth 0', 'root']]) is None  # a space splits
    assert _netem_plan.batch_steps([['ip', 'link', 'set', 'eth0', 'up']]) is None  # no batch for this tool
    assert _netem_plan.batch_steps([['iptables', '-t', 'mangle', '-D', 'OUTPUT', '-j', 'DROP']]) == [
        [['iptables-restore', '--noflush'], '*mangle\n-D OUTPUT -j DROP\nCOMMIT\n']]
    assert _netem_plan.batch_steps([]) == []
