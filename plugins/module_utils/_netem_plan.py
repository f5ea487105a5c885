# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Network fault specs -> the exact argv that applies and reverts them; parsing of tc/iptables output.

Pure: no I/O. The module runs these argv lists inside a helper container that
shares the target's network namespace (or through nsenter), never through a shell.

What we add is recognisably ours, so a re-run, a revert and a teardown can find
it in the kernel's own state without any memory of the run:

* tc: the root qdisc (and every qdisc below it) uses our handle majors c4a0:..c4a2:;
* iptables: every rule carries ``-m comment --comment chaos.engineering:netem:<fault name>:<fault id>``.

Every fault has a name (its identity, ``fault_name``): faults of different names coexist on one container, a
re-run under the same name replaces (or, when identical, keeps) that fault. One interface has one root qdisc, so
it holds the tc part of one fault at a time; which fault that is, the helpers' labels and the ledger say.

Tree shapes (egress of ``interface``):

* no filter:  root c4a0: netem | tbf | netem + child tbf c4a1:
* filtered:   root c4a0: htb (unclassified traffic passes directly, unshaped)
              class c4a0:1 -> leaf c4a1: netem | tbf (| netem c4a1: + tbf c4a2:)
              u32 filters (ip and ip6) send the matching packets to c4a0:1.
  htb and u32 exist on every kernel we know; prio and sfq do not (this CI kernel lacks both).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import hashlib
import ipaddress
import json
import re
import shlex

from ansible_collections.chaos.engineering.plugins.module_utils._errors import FaultError

ROOT_HANDLE = 'c4a0:'
LEAF_HANDLE = 'c4a1:'
CHILD_HANDLE = 'c4a2:'
OUR_MAJORS = ('c4a0', 'c4a1', 'c4a2')
COMMENT_PREFIX = 'chaos.engineering:netem:'
# A fault name goes into iptables comments (at most 256 characters) and helper labels: no ':' (it separates the
# name from the fault id in a comment), no spaces.
FAULT_NAME_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.+@-]{0,63}$')
# htb's own rate for the class that carries filtered traffic: high enough never to shape it.
UNSHAPED_CLASS_RATE = '10gbit'
# htb queues unclassified packets in its direct queue; its default length is the device's
# txqueuelen, which is 0 on some veths, and a 0-length queue would drop them (pumba#166).
DIRECT_QLEN = '1000'
IPTABLES_WAIT = ['-w', '5']

NETEM_KEYS = ('delay', 'loss', 'loss_state', 'loss_gemodel', 'duplicate', 'corrupt', 'reorder', 'rate')
FAULT_KEYS = NETEM_KEYS + ('bandwidth', 'drop')
DISTRIBUTIONS = ('uniform', 'normal', 'pareto', 'paretonormal')
PROTOCOLS = {'tcp': 6, 'udp': 17, 'icmp': 1, 'icmpv6': 58}

# Messages that mean "what the revert removes is already gone": a revert is then done, not failed.
ALREADY_GONE = (
    'Invalid handle',
    'Cannot delete qdisc with handle of zero',
    'Cannot find specified qdisc on specified device',
    'No such file or directory',
    'Bad rule (does a matching rule exist in that chain?)',
    'does a matching rule exist',
    'Cannot find device',
)
NO_NETEM_MARKERS = ('Specified qdisc kind is unknown', 'Unknown qdisc "netem"', 'qdisc kind is unknown')
NO_NETEM_MESSAGE = ('this host\'s kernel has no sch_netem (CONFIG_NET_SCH_NETEM); tbf bandwidth and '
                    'iptables drop still work')

_TIME_RE = re.compile(r'^\d+(\.\d+)?(us|usec|ms|msec|s|sec)$')
_RATE_RE = re.compile(r'^\d+(\.\d+)?([kmgt]?(bit|bps)|[kmgt]ibit|[kmgt]ibps)$', re.I)
_SIZE_RE = re.compile(r'^\d+([kmg]?b?|[kmg]bit)$', re.I)
_IFACE_RE = re.compile(r'^[A-Za-z][A-Za-z0-9.:_@-]{0,14}$')


class FaultSpecError(FaultError):
    """The fault spec is invalid; the message says which option and why."""


# --- validation helpers ---------------------------------------------------------------------------

def _time(value, what):
    text = str(value).strip()
    if re.match(r'^\d+(\.\d+)?$', text):
        text += 'ms'
    if not _TIME_RE.match(text):
        raise FaultSpecError('%s must be a time such as 100ms, 1.5s or 500us, got %r.' % (what, value))
    return text


def _percent(value, what):
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise FaultSpecError('%s must be a number between 0 and 100, got %r.' % (what, value))
    if not 0 <= number <= 100:
        raise FaultSpecError('%s must be between 0 and 100, got %s.' % (what, value))
    return '%g%%' % number


def _rate(value, what):
    text = str(value).strip()
    if not _RATE_RE.match(text):
        raise FaultSpecError('%s must be a rate such as 8mbit, 512kbit or 1mbps (bytes), got %r.' % (what, value))
    return text.lower()


def _size(value, what):
    text = str(value).strip()
    if not _SIZE_RE.match(text):
        raise FaultSpecError('%s must be a size such as 32kb, 1600 or 1mbit, got %r.' % (what, value))
    return text.lower()


def _int(value, what, minimum=0):
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise FaultSpecError('%s must be an integer, got %r.' % (what, value))
    if number < minimum:
        raise FaultSpecError('%s must be at least %d, got %d.' % (what, minimum, number))
    return number


def _given(sub, key):
    return sub is not None and sub.get(key) is not None


def rate_bits_per_second(text):
    """'8mbit' -> 8000000.0, '1mbps' -> 8000000.0 (tc: bps means bytes per second)."""
    match = re.match(r'^(\d+(?:\.\d+)?)([kmgt]?)(i?)(bit|bps)$', text.lower())
    if not match:
        raise FaultSpecError('cannot read the rate %r' % text)
    number, prefix, binary, unit = match.groups()
    base = 1024 if binary else 1000
    factor = base ** ' kmgt'.index(prefix or ' ')
    value = float(number) * factor
    return value * 8 if unit == 'bps' else value


# --- netem, tbf ----------------------------------------------------------------------------------

def netem_args(spec):
    """The netem parameters, in tc's order. Only what the user gave: no implied jitter or correlation."""
    args = []
    delay = spec.get('delay')
    if delay:
        if not _given(delay, 'time'):
            raise FaultSpecError('delay.time is required.')
        args += ['delay', _time(delay['time'], 'delay.time')]
        if _given(delay, 'jitter'):
            args.append(_time(delay['jitter'], 'delay.jitter'))
        elif _given(delay, 'correlation') or _given(delay, 'distribution'):
            raise FaultSpecError('delay.correlation and delay.distribution need delay.jitter.')
        if _given(delay, 'correlation'):
            args.append(_percent(delay['correlation'], 'delay.correlation'))
        if _given(delay, 'distribution'):
            if delay['distribution'] not in DISTRIBUTIONS:
                raise FaultSpecError('delay.distribution must be one of %s, got %r.'
                                     % (', '.join(DISTRIBUTIONS), delay['distribution']))
            args += ['distribution', delay['distribution']]
    losses = [k for k in ('loss', 'loss_state', 'loss_gemodel') if spec.get(k)]
    if len(losses) > 1:
        raise FaultSpecError('loss, loss_state and loss_gemodel are mutually exclusive; got %s.' % ', '.join(losses))
    loss = spec.get('loss')
    if loss:
        if not _given(loss, 'percent'):
            raise FaultSpecError('loss.percent is required.')
        args += ['loss', 'random', _percent(loss['percent'], 'loss.percent')]
        if _given(loss, 'correlation'):
            args.append(_percent(loss['correlation'], 'loss.correlation'))
    state = spec.get('loss_state')
    if state:
        args += ['loss', 'state'] + _ordered_percents(state, ('p13', 'p31', 'p32', 'p23', 'p14'), 'loss_state')
    gemodel = spec.get('loss_gemodel')
    if gemodel:
        args += ['loss', 'gemodel'] + _ordered_percents(gemodel, ('p', 'r', 'one_h', 'one_k'), 'loss_gemodel')
    for key in ('duplicate', 'corrupt'):
        sub = spec.get(key)
        if sub:
            if not _given(sub, 'percent'):
                raise FaultSpecError('%s.percent is required.' % key)
            args += [key, _percent(sub['percent'], '%s.percent' % key)]
            if _given(sub, 'correlation'):
                args.append(_percent(sub['correlation'], '%s.correlation' % key))
    reorder = spec.get('reorder')
    if reorder:
        if not delay:
            raise FaultSpecError('reorder needs delay: netem reorders by sending some packets without the delay.')
        if not _given(reorder, 'percent'):
            raise FaultSpecError('reorder.percent is required.')
        args += ['reorder', _percent(reorder['percent'], 'reorder.percent')]
        if _given(reorder, 'correlation'):
            args.append(_percent(reorder['correlation'], 'reorder.correlation'))
        if _given(reorder, 'gap'):
            args += ['gap', str(_int(reorder['gap'], 'reorder.gap', 1))]
    rate = spec.get('rate')
    if rate:
        if not _given(rate, 'rate'):
            raise FaultSpecError('rate.rate is required.')
        args += ['rate', _rate(rate['rate'], 'rate.rate')]
        # tc reads these positionally: a later one needs the earlier ones.
        extras = [('packet_overhead', 'rate.packet_overhead'), ('cell_size', 'rate.cell_size'),
                  ('cell_overhead', 'rate.cell_overhead')]
        values = [rate.get(k) for k, dummy in extras]
        last = max([i for i, v in enumerate(values) if v is not None] or [-1])
        for index in range(last + 1):
            key, what = extras[index]
            value = values[index] if values[index] is not None else 0
            if key == 'cell_size':
                args.append(str(_int(value, what, 0)))
            else:
                args.append(str(_int(value, what, -65535)))
    return args


def _ordered_percents(sub, keys, what):
    """tc reads Markov/GE probabilities positionally: a later one needs every earlier one."""
    values = [sub.get(k) for k in keys]
    if values[0] is None:
        raise FaultSpecError('%s.%s is required.' % (what, keys[0]))
    last = max(i for i, v in enumerate(values) if v is not None)
    missing = [keys[i] for i in range(last) if values[i] is None]
    if missing:
        raise FaultSpecError('%s.%s needs %s too (tc reads them in order %s).'
                             % (what, keys[last], ', '.join(missing), ', '.join(keys)))
    return [_percent(values[i], '%s.%s' % (what, keys[i])) for i in range(last + 1)]


def tbf_args(bandwidth):
    if not _given(bandwidth, 'rate'):
        raise FaultSpecError('bandwidth.rate is required.')
    rate = _rate(bandwidth['rate'], 'bandwidth.rate')
    if _given(bandwidth, 'burst'):
        burst = _size(bandwidth['burst'], 'bandwidth.burst')
    else:
        # tbf cannot run without a bucket: 10 ms worth of the rate, at least 2 full frames.
        burst = str(max(3200, int(rate_bits_per_second(rate) / 8 / 100)))
    latency = _time(bandwidth['latency'], 'bandwidth.latency') if _given(bandwidth, 'latency') else '50ms'
    return ['rate', rate, 'burst', burst, 'latency', latency]


# --- filters ---------------------------------------------------------------------------------------

def parse_networks(values):
    """IP addresses and CIDRs -> normalised networks; raises FaultSpecError on anything else."""
    networks = []
    for value in values or []:
        try:
            networks.append(ipaddress.ip_network(str(value).strip(), strict=False))
        except ValueError:
            raise FaultSpecError('%r is not an IP address, a CIDR or a known container name.' % value)
    return networks


def is_ip_or_cidr(value):
    try:
        ipaddress.ip_network(str(value).strip(), strict=False)
    except ValueError:
        return False
    return True


def _ports(values, what):
    ports = []
    for value in values or []:
        port = _int(value, what, 1)
        if port > 65535:
            raise FaultSpecError('%s must be between 1 and 65535, got %d.' % (what, port))
        ports.append(port)
    return sorted(set(ports))


class Filters:
    """Which egress packets a tc fault, or which packets an iptables drop, applies to.

    Addresses are named by their end, not by the packet's field, so that one filter means the same thing in both
    directions: ``destinations`` are the peers (a packet's destination going out, its source coming in),
    ``local_addresses`` the container's own end (a packet's source going out, its destination coming in). Ports
    are the packet's own fields in both directions.
    """

    def __init__(self, destinations=None, ports=None, source_ports=None, protocol=None, local_addresses=None):
        self.networks = parse_networks(destinations)
        self.local_networks = parse_networks(local_addresses)
        self.ports = _ports(ports, 'ports')
        self.source_ports = _ports(source_ports, 'source_ports')
        self.protocol = (protocol or 'all').lower()
        if self.protocol not in ('all',) + tuple(PROTOCOLS):
            raise FaultSpecError('protocol must be one of all, %s; got %r.' % (', '.join(PROTOCOLS), protocol))
        if self.protocol in ('icmp', 'icmpv6') and (self.ports or self.source_ports):
            raise FaultSpecError('ports and source_ports need protocol tcp, udp or all, not %s.' % self.protocol)

    @property
    def active(self):
        return bool(self.networks or self.local_networks or self.ports or self.source_ports
                    or self.protocol != 'all')

    def families(self):
        """IP versions to filter: those both address lists allow (a list left empty allows both)."""
        versions = set([4, 6])
        for networks in (self.networks, self.local_networks):
            if networks:
                versions &= set(n.version for n in networks)
        if not versions:
            raise FaultSpecError('destinations and local_addresses have no IP version in common (one lists only '
                                 'IPv4, the other only IPv6): no packet could match both.')
        return sorted(versions)

    def networks_of(self, version):
        return [n for n in self.networks if n.version == version] or [None]

    def local_networks_of(self, version):
        return [n for n in self.local_networks if n.version == version] or [None]

    def address_pairs(self, version):
        """(peer, local) network pairs of this IP version; a packet matching any pair is affected."""
        return [(peer, local) for peer in self.networks_of(version) for local in self.local_networks_of(version)]

    def port_matches(self):
        """(kind, port) pairs; a packet matching any of them is affected. [None] means no port filter."""
        matches = [('dport', p) for p in self.ports] + [('sport', p) for p in self.source_ports]
        return matches or [None]

    def describe(self):
        described = dict(destinations=[str(n) for n in self.networks], ports=self.ports,
                         source_ports=self.source_ports, protocol=self.protocol)
        if self.local_networks:  # only when given: fault ids of specs without it stay what they were
            described['local_addresses'] = [str(n) for n in self.local_networks]
        return described


def _u32_filter(interface, version, network, port_match, protocol, local=None):
    family = 'ip' if version == 4 else 'ip6'
    argv = ['tc', 'filter', 'add', 'dev', interface, 'parent', ROOT_HANDLE,
            'protocol', 'ip' if version == 4 else 'ipv6', 'prio', '1' if version == 4 else '2', 'u32']
    if network is not None:
        argv += ['match', family, 'dst', str(network)]
    if local is not None:
        argv += ['match', family, 'src', str(local)]  # tc shapes egress: the container's end is the source
    number = PROTOCOLS.get(protocol)
    if protocol == 'icmp' and version == 6:
        number = PROTOCOLS['icmpv6']
    if protocol == 'icmpv6' and version == 4:
        return None
    if number is not None:
        argv += ['match', family, 'protocol', str(number), '0xff']
    if port_match is not None:
        kind, port = port_match
        argv += ['match', family, kind, str(port), '0xffff']
    argv += ['flowid', ROOT_HANDLE + '1']
    return argv


# --- the plan --------------------------------------------------------------------------------------

class Plan:
    """Everything one fault spec does to one network namespace: apply and revert argv, and its id."""

    def __init__(self, spec, interface='eth0', destinations=None, ports=None, source_ports=None, protocol=None,
                 expires_at=None, duration=None, local_addresses=None, name=None):
        if not _IFACE_RE.match(interface or ''):
            raise FaultSpecError('interface must be a network interface name such as eth0, got %r.' % interface)
        self.interface = interface
        self.spec = dict((k, _clean(spec[k])) for k in FAULT_KEYS if spec.get(k) is not None)
        if not self.spec:
            raise FaultSpecError('Give at least one fault: %s.' % ', '.join(FAULT_KEYS))
        self.filters = Filters(destinations, ports, source_ports, protocol, local_addresses)
        self.filters.families()  # refuses address lists of no common IP version
        self.netem = netem_args(self.spec)
        self.tbf = tbf_args(self.spec['bandwidth']) if self.spec.get('bandwidth') else []
        self.drop = self.spec.get('drop')
        # A timed drop also expires in the kernel: the rule stops matching at the deadline by itself.
        self.expires_at = int(expires_at) if expires_at else None
        # The duration is part of what the user asked for: a re-run with another one replaces the fault (and its
        # deadline); an identical re-run keeps both.
        self.name = fault_name(name, self.spec, interface, self.filters)
        identity = dict(spec=self.spec, interface=interface, filters=self.filters.describe(), duration=duration,
                        name=self.name)
        self.fault_id = hashlib.sha256(json.dumps(identity, sort_keys=True).encode('utf-8')).hexdigest()[:12]
        self.comment = '%s%s:%s' % (COMMENT_PREFIX, self.name, self.fault_id)
        self.tc_apply = self._tc_apply()
        self.tc_revert = [['tc', 'qdisc', 'del', 'dev', interface, 'root', 'handle', ROOT_HANDLE]] if self.tc_apply else []
        self.iptables_rules = self._iptables_rules() if self.drop is not None else []

    @property
    def needs_netem(self):
        return bool(self.netem)

    @property
    def uses_tc(self):
        return bool(self.tc_apply)

    def _tc_apply(self):
        if not self.netem and not self.tbf:
            return []
        dev = ['dev', self.interface]
        steps = []
        if self.filters.active:
            steps.append(['tc', 'qdisc', 'add'] + dev + ['root', 'handle', ROOT_HANDLE, 'htb', 'direct_qlen', DIRECT_QLEN])
            steps.append(['tc', 'class', 'add'] + dev
                         + ['parent', ROOT_HANDLE, 'classid', ROOT_HANDLE + '1', 'htb', 'rate', UNSHAPED_CLASS_RATE])
            top = ['parent', ROOT_HANDLE + '1', 'handle', LEAF_HANDLE]
            below = ['parent', LEAF_HANDLE + '1', 'handle', CHILD_HANDLE]
        else:
            top = ['root', 'handle', ROOT_HANDLE]
            below = ['parent', ROOT_HANDLE + '1', 'handle', LEAF_HANDLE]
        if self.netem:
            steps.append(['tc', 'qdisc', 'add'] + dev + top + ['netem'] + self.netem)
            if self.tbf:
                steps.append(['tc', 'qdisc', 'add'] + dev + below + ['tbf'] + self.tbf)
        else:
            steps.append(['tc', 'qdisc', 'add'] + dev + top + ['tbf'] + self.tbf)
        if self.filters.active:
            for version in self.filters.families():
                for network in self.filters.networks_of(version):
                    for port_match in self.filters.port_matches():
                        for local in self.filters.local_networks_of(version):
                            argv = _u32_filter(self.interface, version, network, port_match, self.filters.protocol,
                                               local)
                            if argv:
                                steps.append(argv)
        return steps

    def _iptables_rules(self):
        """(binary, chain, rule spec) for each DROP rule; -I adds it on top, -D with the same spec removes it."""
        drop = self.drop
        direction = drop.get('direction') or 'ingress'
        if direction not in ('ingress', 'egress', 'both'):
            raise FaultSpecError('drop.direction must be ingress, egress or both, got %r.' % direction)
        statistic = _statistic(drop)
        expiry = []
        if self.expires_at:
            # xt_time compares whole UTC seconds and matches through --datestop's second, so the last
            # matching second is the one before the deadline.
            stop = datetime.datetime.fromtimestamp(self.expires_at - 1, datetime.timezone.utc)
            expiry = ['-m', 'time', '--datestop', stop.strftime('%Y-%m-%dT%H:%M:%S')]
        # (chain, interface flag, peer's address flag, our end's address flag)
        chains = [('INPUT', '-i', '-s', '-d')] if direction in ('ingress', 'both') else []
        if direction in ('egress', 'both'):
            chains.append(('OUTPUT', '-o', '-d', '-s'))
        protocols = [self.filters.protocol]
        if self.filters.protocol == 'all' and (self.filters.ports or self.filters.source_ports):
            protocols = ['tcp', 'udp']  # iptables port matches need -p tcp or -p udp
        rules = []
        for version in self.filters.families():
            binary = 'iptables' if version == 4 else 'ip6tables'
            for chain, iface_flag, peer_flag, local_flag in chains:
                for network, local in self.filters.address_pairs(version):
                    for protocol in protocols:
                        proto = _iptables_protocol(protocol, version)
                        if proto is False:
                            continue
                        for port_match in self.filters.port_matches():
                            spec = [iface_flag, self.interface]
                            if network is not None:
                                spec += [peer_flag, str(network)]
                            if local is not None:
                                spec += [local_flag, str(local)]
                            if proto:
                                spec += ['-p', proto]
                            if port_match is not None:
                                spec += ['--' + port_match[0], str(port_match[1])]
                            spec += ['-m', 'comment', '--comment', self.comment] + statistic + expiry + ['-j', 'DROP']
                            rules.append((binary, chain, spec))
        return rules

    @property
    def iptables_apply(self):
        return [[b] + IPTABLES_WAIT + ['-I', chain] + spec for b, chain, spec in self.iptables_rules]

    @property
    def iptables_revert(self):
        return [[b] + IPTABLES_WAIT + ['-D', chain] + spec for b, chain, spec in self.iptables_rules]

    @property
    def apply_argv(self):
        return self.tc_apply + self.iptables_apply

    @property
    def revert_argv(self):
        return self.tc_revert + self.iptables_revert

    def describe(self):
        return dict(fault_id=self.fault_id, fault_name=self.name, interface=self.interface, faults=self.spec,
                    filters=self.filters.describe(), needs_netem=self.needs_netem)


def fault_name(given, spec, interface, filters):
    """The fault's identity: ``given``, or one derived from what kind of fault it is on which traffic.

    The derived name leaves out the fault's parameters (a delay's time, a drop's probability): a re-run with other
    values replaces that fault, while another kind of fault, another direction or other filters coexist with it.
    """
    if given is not None:
        if not FAULT_NAME_RE.match(str(given)):
            raise FaultSpecError('fault_name must be 1 to 64 letters, digits and _ . + @ - (starting with a letter '
                                 'or digit), got %r.' % given)
        return str(given)
    kinds = [k for k in FAULT_KEYS if k in spec]
    name = '+'.join(kinds)
    where = dict(interface=interface, filters=filters.describe())
    if 'drop' in spec:
        where['direction'] = spec['drop'].get('direction') or 'ingress'
    if filters.active or interface != 'eth0' or where.get('direction', 'ingress') != 'ingress':
        name += '@' + hashlib.sha256(json.dumps(where, sort_keys=True).encode('utf-8')).hexdigest()[:8]
    return name


def _clean(value):
    """Drop None leaves, so a spec's identity does not depend on options left unset."""
    if isinstance(value, dict):
        return dict((k, _clean(v)) for k, v in value.items() if v is not None)
    return value


def _iptables_protocol(protocol, version):
    """The -p value, '' for none, or False when the protocol does not exist in this IP version."""
    if protocol == 'all':
        return ''
    if protocol == 'icmp':
        return 'icmp' if version == 4 else 'ipv6-icmp'
    if protocol == 'icmpv6':
        return 'ipv6-icmp' if version == 6 else False
    return protocol


def _statistic(drop):
    every = drop.get('every')
    probability = drop.get('probability')
    if every is not None:
        if probability is not None:
            raise FaultSpecError('drop.probability and drop.every are mutually exclusive.')
        every = _int(every, 'drop.every', 1)
        packet = _int(drop.get('packet') or 0, 'drop.packet', 0)
        if packet >= every:
            raise FaultSpecError('drop.packet must be between 0 and drop.every - 1, got %d.' % packet)
        return ['-m', 'statistic', '--mode', 'nth', '--every', str(every), '--packet', str(packet)]
    if drop.get('packet') is not None:
        raise FaultSpecError('drop.packet needs drop.every.')
    if probability is None:
        probability = 1.0
    try:
        probability = float(probability)
    except (TypeError, ValueError):
        raise FaultSpecError('drop.probability must be a number between 0 and 1, got %r.' % probability)
    if not 0 < probability <= 1:
        raise FaultSpecError('drop.probability must be greater than 0 and at most 1, got %s.' % probability)
    if probability == 1:
        return []  # a partition: every matching packet
    return ['-m', 'statistic', '--mode', 'random', '--probability', '%g' % probability]


# --- reading the kernel's state -----------------------------------------------------------------------

def parse_qdiscs(text):
    """``tc qdisc show`` output -> list of dicts: kind, handle, dev, root (bool), parent, ours (bool), line."""
    qdiscs = []
    for line in (text or '').splitlines():
        words = line.split()
        if len(words) < 3 or words[0] != 'qdisc':
            continue
        entry = dict(kind=words[1], handle=words[2], dev=None, root=False, parent=None, line=line.strip())
        for index, word in enumerate(words):
            if word == 'dev' and index + 1 < len(words):
                entry['dev'] = words[index + 1]
            elif word == 'root':
                entry['root'] = True
            elif word == 'parent' and index + 1 < len(words):
                entry['parent'] = words[index + 1]
        entry['ours'] = entry['handle'].split(':')[0] in OUR_MAJORS
        qdiscs.append(entry)
    return qdiscs


def root_qdisc(qdiscs, interface):
    for qdisc in qdiscs:
        if qdisc['root'] and qdisc['dev'] in (None, interface):
            return qdisc
    return None


def is_default_root(qdisc):
    """The kernel's own root (noqueue, pfifo_fast, mq... with handle 0:), which nobody configured."""
    return qdisc is None or qdisc['handle'] in ('0:', '0')


def parse_rules(text, binary='iptables'):
    """``iptables -S`` output -> our rules: dicts with binary, chain, fault_name, fault_id, spec (argv after the
    chain), line. A rule from before fault names has fault_name None."""
    rules = []
    for line in (text or '').splitlines():
        line = line.strip()
        if not line.startswith('-A ') or COMMENT_PREFIX not in line:
            continue
        words = shlex.split(line)
        comment = words[words.index('--comment') + 1] if '--comment' in words else ''
        if not comment.startswith(COMMENT_PREFIX):
            continue
        name, dummy, fault_id = comment[len(COMMENT_PREFIX):].rpartition(':')
        rules.append(dict(binary=binary, chain=words[1], fault_name=name or None, fault_id=fault_id,
                          spec=words[2:], line=line))
    return rules


def foreign_rule_count(text):
    return len([ln for ln in (text or '').splitlines()
                if ln.strip().startswith('-A ') and COMMENT_PREFIX not in ln])


def cleanup_argv(qdiscs, rules, name=None, tc_devices=None, legacy=True):
    """The argv that removes whatever of ours the kernel shows, whichever run put it there.

    With ``name``, only that fault's: its rules (with ``legacy``, also those from before fault names), and our
    root qdiscs on ``tc_devices``, the interfaces whose tc tree that fault holds.
    """
    if name is not None:
        rules = [r for r in rules if r.get('fault_name') == name or (legacy and r.get('fault_name') is None)]
        qdiscs = [q for q in qdiscs if q['dev'] in (tc_devices or ())]
    steps = []
    for qdisc in qdiscs:
        if qdisc['root'] and qdisc['ours'] and qdisc['dev']:
            steps.append(['tc', 'qdisc', 'del', 'dev', qdisc['dev'], 'root', 'handle', qdisc['handle']])
    for rule in rules:
        steps.append([rule['binary']] + IPTABLES_WAIT + ['-D', rule['chain']] + rule['spec'])
    return steps


# One process per tool reads a whole revert from its stdin: tc runs the lines in order, and
# iptables-restore --noflush commits all rules of a table at once (the rest of the table stays).
BATCH_ARGV = {
    'tc': ['tc', '-batch', '-'],
    'iptables': ['iptables-restore', '--noflush'],
    'ip6tables': ['ip6tables-restore', '--noflush'],
}
_BATCH_WORD = re.compile(r'^[A-Za-z0-9_.:/%+=,@-]+$')


def batch_steps(steps):
    """The same argv steps as one (argv, stdin text) per tool, or None when a step does not fit a batch.

    The reverter starts these processes shortly before a deadline, and at the deadline only has to
    write their input: no container exec is started then. Any batch failing means the steps are run
    one by one, as without batches.
    """
    tc_lines = []
    tables = {}  # binary -> {table: [lines]}
    for argv in steps:
        binary, args = argv[0], list(argv[1:])
        if binary not in BATCH_ARGV or not all(_BATCH_WORD.match(a) for a in args):
            return None
        if binary == 'tc':
            tc_lines.append(' '.join(args))
            continue
        if args[:len(IPTABLES_WAIT)] == IPTABLES_WAIT:
            args = args[len(IPTABLES_WAIT):]
        table = 'filter'
        if args[:1] == ['-t']:
            table, args = args[1], args[2:]
        tables.setdefault(binary, {}).setdefault(table, []).append(' '.join(args))
    batches = []
    if tc_lines:
        batches.append([BATCH_ARGV['tc'], '\n'.join(tc_lines) + '\n'])
    for binary in ('iptables', 'ip6tables'):
        for table, lines in sorted(tables.get(binary, {}).items()):
            batches.append([BATCH_ARGV[binary], '*%s\n%s\nCOMMIT\n' % (table, '\n'.join(lines))])
    return batches


def is_already_gone(stderr):
    return any(marker in (stderr or '') for marker in ALREADY_GONE)


def lacks_netem(stderr):
    return any(marker in (stderr or '') for marker in NO_NETEM_MARKERS)
