#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: container_netem
short_description: Network faults on Docker containers (tc netem, tbf bandwidth, iptables drop and partitions)
version_added: 0.1.0
description:
  - Delays, loses, duplicates, corrupts, reorders or rate-limits the egress traffic of the selected running
    containers with C(tc netem); limits their bandwidth with C(tbf); drops their packets, or partitions them from
    given peers, with C(iptables)/C(ip6tables).
  - Several netem faults given together go into one netem qdisc. O(bandwidth) and O(drop) combine with them.
  - O(destinations), O(local_addresses), O(ports), O(source_ports) and O(protocol) restrict every fault to the
    matching packets, for IPv4 and IPv6, in both directions of an O(drop). A filtered tc fault is built from
    C(htb) and C(u32) filters, which every kernel we know has; it needs neither C(prio) nor C(sfq).
  - tc faults (netem, O(bandwidth)) act on the container's egress only, like Pumba's. Ingress shaping would need
    an C(ifb) device and a redirect of the interface's ingress to it, which this module does not do. To hit
    incoming traffic, use O(drop) with O(drop.direction=ingress), where every filter applies.
  - By default the commands run in a helper container that joins the target's network namespace with only the
    C(NET_ADMIN) capability. The helper stays while the fault is in place and carries labels naming the fault,
    the target and the expiry, so a teardown finds it through the engine. O(method=nsenter) runs the host's own
    C(tc) and C(iptables) in the namespace instead, when the module runs as root on the Docker host.
  - What this module adds is recognisably its own, in the kernel itself. The root qdisc has the handle C(c4a0:),
    and every iptables rule carries the comment C(chaos.engineering:netem:<fault name>:<fault id>). A root qdisc
    that is not ours is never replaced unless O(force=true), and a rule that is not ours is never touched.
  - Every fault has a name, O(fault_name). Faults of different names coexist on one container, each with its
    own helper, rules and ledger entry, each reverted at its own deadline. A second identical run under the same
    name is V(ok) and keeps its deadline; a changed fault under the same name replaces that one only.
  - One interface has one root qdisc, so it holds the tc part (netem, O(bandwidth)) of one fault at a time. A tc
    fault of another name on an interface whose tc tree a fault of ours holds is refused, naming that fault,
    before anything changes. Give several netem faults and O(bandwidth) in one task instead (they go into one
    tree), or remove the other one first. iptables faults (O(drop)) coexist with it and with each other.
  - With O(duration), the revert is armed in the ledger on the host running the module when the fault goes in, and
    it happens at the deadline even if ansible-playbook is killed.
  - O(state=absent) removes every fault of ours from the selected containers now, found from the kernel's state
    and our helpers' labels, not from memory of a run. With O(fault_name) it removes only that fault. With O(allow_all=true) and no selector it also removes
    helpers whose container is gone. This is the teardown.
  - Preflight, before anything changes, checks that the helper image is present, that the kernel has netem
    when a netem fault is asked for, that the helper gets C(NET_ADMIN), and that no target uses the host's network
    unless O(allow_host_network=true).
author:
  - chaos.engineering maintainers (@chaos-engineering)
extends_documentation_fragment:
  - chaos.engineering.docker
  - chaos.engineering.runtime
  - chaos.engineering.selection
  - chaos.engineering.ledger
  - chaos.engineering.ledger.timed_faults
  - chaos.engineering.parallelism
attributes:
  check_mode:
    support: full
    description:
      - Resolves the exact targets and returns, per target, the exact argv that would apply and revert the fault
        and the revert deadline. It reads the current qdiscs and rules (through a short-lived read-only helper when
        none of ours runs), so V(changed) is predicted truthfully, and changes nothing.
  diff_mode:
    support: full
    description: Shows each target's qdiscs and iptables rules before and after.
  action_group:
    description: Use C(group/chaos.engineering.docker) in C(module_defaults) to set the connection once for a play.
    support: full
    membership:
      - chaos.engineering.docker
options:
  state:
    description:
      - V(present) puts the fault in place; V(absent) removes every fault of ours from the selected containers.
    type: str
    choices: [present, absent]
    default: present
  fault_name:
    description:
      - The fault's identity. Faults of different names coexist on one container; a run under the name of a fault
        already there keeps it (identical) or replaces it (changed).
      - By default it is derived from the kinds of fault given and the traffic they apply to, without their
        values, for example V(delay+loss), V(bandwidth) or V(drop@1a2b3c4d) (the suffix hashes the interface,
        the filters and the drop direction). So a delay task and a drop task coexist, and re-running a task with
        another delay time replaces its earlier delay.
      - With O(state=absent), only the fault of this name is removed; without it, every fault of ours.
      - 1 to 64 letters, digits and C(_ . + @ -), starting with a letter or a digit.
    type: str
  duration:
    description:
      - Seconds the fault stays. The revert is armed in the ledger when the fault goes in.
      - Required with O(state=present), unless O(untimed=true).
      - A second identical run keeps the deadline of the first.
      - The deadline is rounded up to a whole second. A timed O(drop) also carries an iptables C(time) match
        (C(--datestop)), so its rules stop matching at the deadline in the kernel itself, even if the reverter
        and the controller are gone; the reverter then removes them.
      - From 1 to 604800 seconds (7 days).
    type: int
  untimed:
    description:
      - Keep the fault, on purpose, until O(state=absent) or the C(chaos.engineering.teardown) role
        removes it. Safe by default (as Pumba), without O(duration) and without
        O(untimed=true), O(state=present) fails and changes nothing.
      - An untimed fault has no revert in the ledger, no deadline and no lease; it leaves a note in the ledger's
        C(untimed/) directory (target, engine, fault id), which O(state=absent) and the teardown close into
        C(done/). The teardown role removes untimed faults like any other fault of ours (it reads the kernel's
        state, not the ledger).
      - Not with O(duration).
    type: bool
    default: false
  interface:
    description:
      - The network interface inside the container.
    type: str
    default: eth0
  delay:
    description:
      - netem delay. Nothing is implied; there is no jitter or correlation unless you give it.
    type: dict
    suboptions:
      time:
        description: The delay, such as V(100ms), V(1s) or V(500us). A bare number is milliseconds.
        type: str
        required: true
      jitter:
        description: Random variation added to the delay, in the same units.
        type: str
      correlation:
        description: Percent correlation of each delay with the previous one. Needs O(delay.jitter).
        type: float
      distribution:
        description: The distribution of the jitter. Needs O(delay.jitter).
        type: str
        choices: [uniform, normal, pareto, paretonormal]
  loss:
    description:
      - netem random loss. Mutually exclusive with O(loss_state) and O(loss_gemodel).
    type: dict
    suboptions:
      percent:
        description: Percent of packets lost.
        type: float
        required: true
      correlation:
        description: Percent correlation with the previous packet.
        type: float
  loss_state:
    description:
      - netem loss by the 4-state Markov model. Give the probabilities (percent) in order; a later one needs every
        earlier one.
    type: dict
    suboptions:
      p13:
        description: Probability of going from the good state to the bad state.
        type: float
        required: true
      p31:
        description: Probability of going from the bad state back to the good state.
        type: float
      p32:
        description: Probability of going from the bad state to the burst-loss state.
        type: float
      p23:
        description: Probability of going from the burst-loss state back to the bad state.
        type: float
      p14:
        description: Probability of an isolated loss.
        type: float
  loss_gemodel:
    description:
      - netem loss by the Gilbert-Elliott model, as percentages. A later one needs every earlier one.
    type: dict
    suboptions:
      p:
        description: Probability of going to the bad state.
        type: float
        required: true
      r:
        description: Probability of going back to the good state.
        type: float
      one_h:
        description: Loss probability in the bad state (tc's C(1-h)).
        type: float
      one_k:
        description: Loss probability in the good state (tc's C(1-k)).
        type: float
  duplicate:
    description: netem duplication.
    type: dict
    suboptions:
      percent:
        description: Percent of packets duplicated.
        type: float
        required: true
      correlation:
        description: Percent correlation with the previous packet.
        type: float
  corrupt:
    description: netem corruption (a random bit error).
    type: dict
    suboptions:
      percent:
        description: Percent of packets corrupted.
        type: float
        required: true
      correlation:
        description: Percent correlation with the previous packet.
        type: float
  reorder:
    description:
      - netem reordering. It needs O(delay), because netem reorders by sending some packets without the delay.
    type: dict
    suboptions:
      percent:
        description: Percent of packets sent at once (out of order).
        type: float
        required: true
      correlation:
        description: Percent correlation with the previous packet.
        type: float
      gap:
        description: Reorder every O(reorder.gap)th packet.
        type: int
  rate:
    description: netem rate limit, with the link-layer overheads netem can model.
    type: dict
    suboptions:
      rate:
        description: The rate, such as V(1mbit) or V(100kbps) (bytes).
        type: str
        required: true
      packet_overhead:
        description: Bytes added to (or, if negative, removed from) each packet.
        type: int
      cell_size:
        description: Link-layer cell size in bytes (for ATM, for example).
        type: int
      cell_overhead:
        description: Bytes added to each cell.
        type: int
  bandwidth:
    description:
      - Limit the egress bandwidth with a token bucket (C(tbf)). It works on kernels without netem.
    type: dict
    suboptions:
      rate:
        description: The rate, such as V(8mbit) or V(1mbps) (bytes).
        type: str
        required: true
      burst:
        description:
          - The bucket size, such as V(32kb) or V(1600) (bytes). tbf needs one; the default is 10 ms at the rate,
            at least 3200 bytes.
        type: str
      latency:
        description: How long a packet may wait in the bucket before it is dropped. Default V(50ms).
        type: str
  drop:
    description:
      - Drop packets with iptables (and ip6tables). Without O(drop.probability) and O(drop.every) every matching
        packet is dropped; with O(destinations) that partitions the containers from those peers.
    type: dict
    suboptions:
      probability:
        description: Drop each matching packet with this probability, greater than 0 and at most 1.
        type: float
      every:
        description: Drop every nth matching packet (the statistic module's nth mode).
        type: int
      packet:
        description: The first packet of the nth mode, from 0 to O(drop.every) - 1.
        type: int
      direction:
        description:
          - V(ingress) drops packets coming in (INPUT), V(egress) packets going out (OUTPUT), V(both) both ways,
            which is what a partition needs.
          - Every filter applies in either direction. O(destinations) are the peers (the source of an incoming
            packet, the destination of an outgoing one), O(local_addresses) the container's end (the destination
            of an incoming packet, the source of an outgoing one); O(ports) and O(source_ports) are the packet's
            own ports.
        type: str
        choices: [ingress, egress, both]
        default: ingress
  destinations:
    description:
      - Only packets exchanged with these peers are affected. Going out, they are the packets' destination;
        coming in (O(drop) with O(drop.direction=ingress) or V(both)), the packets' source.
      - IPv4 or IPv6 addresses, CIDRs, or names of containers on the same engine, which are resolved to all their
        addresses.
    type: list
    elements: str
  local_addresses:
    description:
      - Only packets with one of these addresses on the container's own end are affected. Coming in, they are the
        packets' destination (what Pumba's C(iptables --destination) matches on INPUT); going out, the packets'
        source (a tc fault matches it with C(u32 match ip src)).
      - Useful on a container with several addresses (several networks, or IPv4 and IPv6), or for broadcast and
        multicast destinations.
      - With O(destinations) too, a packet must match both. The two must share an IP version.
      - IPv4 or IPv6 addresses, CIDRs, or names of containers on the same engine, which are resolved to all their
        addresses.
    type: list
    elements: str
  ports:
    description:
      - Only packets to these destination ports are affected, in either direction. Coming in, they are the
        container's own ports; going out, the peers' ports.
      - Each from 1 to 65535.
    type: list
    elements: int
  source_ports:
    description:
      - Only packets from these source ports are affected. With O(ports) too, a packet matching either is affected.
      - Each from 1 to 65535.
    type: list
    elements: int
  protocol:
    description:
      - Only packets of this IP protocol are affected.
    type: str
    choices: [all, tcp, udp, icmp, icmpv6]
    default: all
  method:
    description:
      - V(helper) runs the commands in a helper container from O(helper_image) that joins the target's network
        namespace with only C(NET_ADMIN).
      - V(nsenter) runs the host's own C(tc) and C(iptables) in the target's namespace with C(nsenter). The module
        must then run as root on the Docker host itself.
    type: str
    choices: [helper, nsenter]
    default: helper
  helper_image:
    description:
      - The image of the helper container. It needs C(tc), C(ip), C(iptables), C(ip6tables) and C(sleep), and no
        registry; the P(chaos.engineering.nethelper_image#role) role builds one from the Docker host's own binaries.
    type: str
    default: chaos-nethelper:latest
  allow_host_network:
    description:
      - Allow targets whose network mode is C(host). Their fault would hit the whole host, so they are refused by
        default.
    type: bool
    default: false
  force:
    description:
      - Replace a root qdisc that is not ours. It is not restored when our fault is reverted.
    type: bool
    default: false
notes:
  - Containers that share the target's network namespace (C(network_mode=container:...)) are hit too; they are
    listed in C(chaos.targets[].shares_network_with).
  - A pod's containers share its sandbox's network namespace (C(network_mode=container:<sandbox>)), so a fault on
    one container of a pod (by its kubelet name or labels) affects the whole pod; the sandbox (C(k8s_POD_*)) itself,
    kube-system and other protected pods are never targets.
  - netem is missing from some kernels (minikube's, and the CI kernel of this collection). The module says so
    before changing anything; tbf bandwidth and iptables drop still work there.
seealso:
  - module: chaos.engineering.ledger
'''

EXAMPLES = r'''
- name: Add 100 ms (+-10 ms) of delay to one web replica for 60 seconds
  chaos.engineering.container_netem:
    labels:
      app: web
    count: 1
    delay:
      time: 100ms
      jitter: 10ms
    duration: 60

- name: Limit the database's egress to 1 Mbit/s towards the web tier only
  chaos.engineering.container_netem:
    names: [db]
    bandwidth:
      rate: 1mbit
    destinations: [web-1, 10.0.5.0/24, "fd00:5::/64"]
    duration: 120

- name: Drop 30 % of incoming packets on port 8080
  chaos.engineering.container_netem:
    name_pattern: '^api-'
    drop:
      probability: 0.3
    protocol: tcp
    ports: [8080]
    duration: 30

- name: Partition the cache from the api containers, both ways
  chaos.engineering.container_netem:
    names: [cache]
    drop:
      direction: both
    destinations: [api-1, api-2]
    duration: 45

- name: Keep 200 ms of delay on the cache until a later task removes it (untimed, on purpose)
  chaos.engineering.container_netem:
    names: [cache]
    delay:
      time: 200ms
    untimed: true

- name: Add a drop next to the bandwidth limit above; both stay, each until its own deadline
  chaos.engineering.container_netem:
    names: [db]
    fault_name: db-drop
    drop:
      probability: 0.1
    duration: 60

- name: Drop incoming packets to one of the container's addresses only (Pumba's iptables --destination)
  chaos.engineering.container_netem:
    names: [api-1]
    drop:
      direction: ingress
    local_addresses: [10.0.7.5]
    duration: 30

- name: Remove only the fault named db-drop
  chaos.engineering.container_netem:
    names: [db]
    fault_name: db-drop
    state: absent

- name: Teardown, remove every network fault of ours on this engine
  chaos.engineering.container_netem:
    state: absent
    allow_all: true
    allow_no_targets: true
'''

RETURN = r'''
chaos:
  description:
    - The common result of every chaos.engineering fault module. See the result schema in the collection docs.
  returned: always
  type: dict
  contains:
    fault:
      description: "The fault family: the module's name, V(container_netem)."
      type: str
      returned: always
      sample: 'container_netem'
    spec:
      description: The normalised fault.
      type: dict
      returned: with O(state=present)
      contains:
        fault_id:
          description: The fault's id, a hash of what it does; the same options give the same id.
          type: str
        fault_name:
          description: O(fault_name), or the name derived from the kind of fault and the traffic it applies to.
          type: str
          sample: delay
        interface:
          description: O(interface).
          type: str
          sample: eth0
        faults:
          description:
            - The fault options given (O(delay), O(loss), O(loss_state), O(loss_gemodel), O(duplicate), O(corrupt),
              O(reorder), O(rate), O(bandwidth), O(drop)), each as a dict of its suboptions without the unset ones.
          type: dict
          contains:
            delay:
              description: O(delay), without its unset suboptions.
              type: dict
              returned: when given
              contains:
                time:
                  description: O(delay.time).
                  type: str
                jitter:
                  description: O(delay.jitter).
                  type: str
                  returned: when given
                correlation:
                  description: O(delay.correlation).
                  type: float
                  returned: when given
                distribution:
                  description: O(delay.distribution).
                  type: str
                  returned: when given
            loss:
              description: O(loss), without its unset suboptions.
              type: dict
              returned: when given
              contains:
                percent:
                  description: O(loss.percent).
                  type: float
                correlation:
                  description: O(loss.correlation).
                  type: float
                  returned: when given
            loss_state:
              description: O(loss_state), without its unset suboptions.
              type: dict
              returned: when given
              contains:
                p13:
                  description: O(loss_state.p13).
                  type: float
                p31:
                  description: O(loss_state.p31).
                  type: float
                  returned: when given
                p32:
                  description: O(loss_state.p32).
                  type: float
                  returned: when given
                p23:
                  description: O(loss_state.p23).
                  type: float
                  returned: when given
                p14:
                  description: O(loss_state.p14).
                  type: float
                  returned: when given
            loss_gemodel:
              description: O(loss_gemodel), without its unset suboptions.
              type: dict
              returned: when given
              contains:
                p:
                  description: O(loss_gemodel.p).
                  type: float
                r:
                  description: O(loss_gemodel.r).
                  type: float
                  returned: when given
                one_h:
                  description: O(loss_gemodel.one_h).
                  type: float
                  returned: when given
                one_k:
                  description: O(loss_gemodel.one_k).
                  type: float
                  returned: when given
            duplicate:
              description: O(duplicate), without its unset suboptions.
              type: dict
              returned: when given
              contains:
                percent:
                  description: O(duplicate.percent).
                  type: float
                correlation:
                  description: O(duplicate.correlation).
                  type: float
                  returned: when given
            corrupt:
              description: O(corrupt), without its unset suboptions.
              type: dict
              returned: when given
              contains:
                percent:
                  description: O(corrupt.percent).
                  type: float
                correlation:
                  description: O(corrupt.correlation).
                  type: float
                  returned: when given
            reorder:
              description: O(reorder), without its unset suboptions.
              type: dict
              returned: when given
              contains:
                percent:
                  description: O(reorder.percent).
                  type: float
                correlation:
                  description: O(reorder.correlation).
                  type: float
                  returned: when given
                gap:
                  description: O(reorder.gap).
                  type: int
                  returned: when given
            rate:
              description: O(rate), without its unset suboptions.
              type: dict
              returned: when given
              contains:
                rate:
                  description: O(rate.rate).
                  type: str
                packet_overhead:
                  description: O(rate.packet_overhead).
                  type: int
                  returned: when given
                cell_size:
                  description: O(rate.cell_size).
                  type: int
                  returned: when given
                cell_overhead:
                  description: O(rate.cell_overhead).
                  type: int
                  returned: when given
            bandwidth:
              description: O(bandwidth), without its unset suboptions.
              type: dict
              returned: when given
              contains:
                rate:
                  description: O(bandwidth.rate).
                  type: str
                burst:
                  description: O(bandwidth.burst).
                  type: str
                  returned: when given
                latency:
                  description: O(bandwidth.latency).
                  type: str
                  returned: when given
            drop:
              description: O(drop), without its unset suboptions.
              type: dict
              returned: when given
              contains:
                probability:
                  description: O(drop.probability).
                  type: float
                  returned: when given
                every:
                  description: O(drop.every).
                  type: int
                  returned: when given
                packet:
                  description: O(drop.packet).
                  type: int
                  returned: when given
                direction:
                  description: O(drop.direction).
                  type: str
          sample: {delay: {time: 100ms}}
        filters:
          description: The traffic the fault applies to.
          type: dict
          contains:
            destinations:
              description: O(destinations), resolved to networks.
              type: list
              elements: str
              sample: [10.0.0.5/32]
            local_addresses:
              description: O(local_addresses), resolved to networks.
              type: list
              elements: str
              returned: when O(local_addresses) is given
            ports:
              description: O(ports).
              type: list
              elements: int
            source_ports:
              description: O(source_ports).
              type: list
              elements: int
            protocol:
              description: O(protocol).
              type: str
        needs_netem:
          description: Whether the fault needs the C(sch_netem) kernel module (every fault but O(drop)).
          type: bool
    targets:
      description:
        - One entry per selected container. With O(state=absent) and O(allow_all=true), one more entry (V(id) null,
          V(name) V((orphaned helpers))) lists in V(removed) the helpers whose container is gone.
      type: list
      elements: dict
      returned: always
      contains:
        id:
          description: The container's ID.
          type: str
        name:
          description: The container's name.
          type: str
        action:
          description:
            - V(netem) (the fault went in), V(unchanged) (this fault was in place already), V(remove) (O(state=absent)
              found faults of ours to remove) or V(none) (nothing of ours there).
          type: str
        shares_network_with:
          description: The names of the containers that share this container's network namespace (and so the fault).
          type: list
          elements: str
        fault_id:
          description: RV(chaos.spec.fault_id).
          type: str
          returned: with O(state=present), unless it failed
        apply:
          description: The argv that put the fault in (C(tc) and C(iptables) commands), in order.
          type: list
          elements: list
          returned: with O(state=present), unless it failed
        revert:
          description: The argv that remove this fault (with O(state=absent), that removed the faults found).
          type: list
          elements: list
          returned: with O(state=present) or V(action=remove), unless it failed
        removes:
          description: The argv that removed what of ours was there before the fault went in.
          type: list
          elements: list
          returned: with V(action=netem)
        helper:
          description: The ID of the helper container that holds the fault (null with O(method=nsenter)).
          type: str
          returned: with V(action=netem) (not in check mode) or V(action=unchanged)
        helpers:
          description: The names of the helpers removed.
          type: list
          elements: str
          returned: with V(action=remove)
        removed:
          description: The names of the helpers removed because their container is gone.
          type: list
          elements: str
          returned: in the V((orphaned helpers)) entry
        revert_at:
          description: When the reverter removes the fault, ISO-8601 UTC.
          type: str
          returned: with O(duration), when a fault went in or stays
        note:
          description: Why nothing was changed.
          type: str
          returned: with V(action=unchanged) or V(action=none)
        error:
          description: Why the fault could not go in or be removed.
          type: str
          returned: when it failed
      sample: [{id: 4f1c2a..., name: web-1, action: netem, apply: [[tc, qdisc, add, dev, eth0, root, handle, 'c4a0:',
               netem, delay, 100ms]], revert: [[tc, qdisc, del, dev, eth0, root, handle, 'c4a0:']],
               revert_at: '2026-11-27T10:01:00.000Z'}]
    selection:
      description: How the targets were chosen.
      type: dict
      returned: always
      contains:
        candidates:
          description: How many targets were listed in an eligible state.
          type: int
          returned: always
        matched:
          description: How many candidates matched the selectors, minus the protected ones.
          type: int
          returned: always
        selected:
          description: How many were selected, after O(count) or O(percent).
          type: int
          returned: always
        protected:
          description: The names of candidates that matched but are protected, never touched.
          type: list
          elements: str
          returned: always
        missing:
          description: The names asked for in O(names) that were not found.
          type: list
          elements: str
          returned: always
        seed:
          description:
            - The seed of the random choice for O(count) or O(percent). Reuse it to repeat the choice.
            - Null when every match was selected and O(seed) was not given.
          type: int
          returned: always
      sample: {candidates: 12, matched: 4, selected: 1, protected: [db-guard], missing: [], seed: 42}
    orphans_removed:
      description: Names of helpers removed because their container is gone (teardown with O(allow_all=true)).
      type: list
      elements: str
      returned: with O(state=absent)
    untimed:
      description: V(true) when this untimed fault went in (noted in the ledger's C(untimed/), no revert armed).
      type: bool
      returned: with O(untimed=true), when something changed
    started_at:
      description: When the module started, ISO-8601 UTC.
      type: str
      returned: always
      sample: '2026-11-27T10:00:00.000Z'
    applied_at:
      description:
        - When the first target's fault went in, ISO-8601 UTC. The fault's window starts there.
        - Absent in check mode and when nothing went in.
      type: str
      returned: when a fault went in
      sample: '2026-11-27T10:00:00.231Z'
    finished_at:
      description: When the module finished, ISO-8601 UTC.
      type: str
      returned: always
      sample: '2026-11-27T10:00:00.412Z'
    dry_run:
      description: Whether this was a check-mode run that changed nothing.
      type: bool
      returned: always
      sample: false
    expires_at:
      description: When the last target's revert is due, ISO-8601 UTC.
      type: str
      returned: with O(duration)
      sample: '2026-11-27T10:00:30.401Z'
    revert:
      description:
        - What undoes the timed fault (a kill's restart, a pause's unpause, a network fault's removal), and when.
        - M(chaos.engineering.ledger) with O(chaos.engineering.ledger#module:ids) set to V(entries) tells when each
          revert was done.
      type: dict
      returned: with O(duration)
      contains:
        armed:
          description: Whether a live reverter holds the entries (V(false) in check mode, where nothing was armed).
          type: bool
          returned: always
        method:
          description: What performs the revert, V(ledger-reverter).
          type: str
          returned: always
        deadline:
          description: When the last revert is due, ISO-8601 UTC.
          type: str
          returned: always
        ledger_dir:
          description: The ledger that holds the entries.
          type: str
          returned: when this run armed entries (not in check mode)
        reverter_pid:
          description: The process ID of the reverter that holds the ledger.
          type: int
          returned: when this run armed entries (not in check mode)
        entries:
          description: The IDs of the ledger entries this run armed.
          type: list
          elements: str
          returned: when this run armed entries (not in check mode)
      sample:
        armed: true
        method: ledger-reverter
        deadline: '2026-11-27T10:00:30.401Z'
        ledger_dir: /var/lib/chaos-engineering/ledger
        reverter_pid: 4242
        entries: ['container_netem-3f9a0c1d2e4b']
    docker_debug:
      description:
        - With O(debug=true), how the Docker engine was reached and every Docker API call this module made (not the
          detached reverter's). As community.docker's O(debug) keeps the actions taken in the result.
        - Connection options and file paths only; never the content of a key, nor request bodies or headers.
      type: dict
      returned: with O(debug=true) and a Docker API engine (O(runtime=docker) or O(runtime=podman))
      contains:
        connection:
          description: The connection as used.
          type: dict
          returned: always
          contains:
            docker_host:
              description: The engine's URL, as given (or from E(DOCKER_HOST)).
              type: str
              returned: always
            transport:
              description: >-
                How the engine was reached: V(unix socket), V(http (no TLS)), V(https (certificate verified)),
                V(https (certificate not verified)), V(ssh (the ssh command)) or V(ssh (paramiko)).
              type: str
              returned: always
            api_version:
              description: The Docker API version used (negotiated with V(auto)).
              type: str
              returned: always
            timeout:
              description: Seconds to wait for a response, O(timeout).
              type: int
              returned: always
            use_ssh_client:
              description: O(use_ssh_client).
              type: bool
              returned: always
            tls:
              description: O(tls).
              type: bool
              returned: always
            validate_certs:
              description: O(validate_certs).
              type: bool
              returned: always
            tls_hostname:
              description: O(tls_hostname), with TLS; null without.
              type: str
              returned: always
            ca_path:
              description: The path of the CA file, with TLS; null without.
              type: str
              returned: always
            client_cert:
              description: The path of the client certificate, with TLS; null without.
              type: str
              returned: always
            client_key:
              description: The path of the client key (never its content), with TLS; null without.
              type: str
              returned: always
            ssh_command:
              description: With O(use_ssh_client=true), the command line of each ssh connection; null otherwise.
              type: list
              elements: str
              returned: always
        api_calls:
          description: The Docker API calls, in order, as C(METHOD /path?query -> HTTP status).
          type: list
          elements: str
          returned: always
      sample:
        connection: {docker_host: 'ssh://root@192.0.2.7', transport: ssh (the ssh command), api_version: '1.47',
                     timeout: 60, use_ssh_client: true, tls: false, validate_certs: false, tls_hostname: null,
                     ca_path: null, client_cert: null, client_key: null,
                     ssh_command: [ssh, -o, BatchMode=yes, -o, ConnectTimeout=60, -l, root, --, 192.0.2.7,
                                   docker system dial-stdio]}
        api_calls: ['GET /v1.47/_ping -> 200', 'GET /v1.47/containers/json -> 200',
                    'POST /v1.47/containers/3f9a0c1d2e4b/kill?signal=SIGKILL -> 204']
'''

from ansible_collections.chaos.engineering.plugins.module_utils import _validate
from ansible_collections.chaos.engineering.plugins.module_utils._container_fault import ContainerFaultModule
from ansible_collections.chaos.engineering.plugins.module_utils._netem_plan import FAULT_KEYS
from ansible_collections.chaos.engineering.plugins.module_utils._netem_apply import NetworkFault

FAULT = 'container_netem'


# The documented ranges (see _validate.py), checked before anything connects. Ports are checked once, with the
# rest of the fault spec, by _netem_plan.Plan (also before connecting).
BOUNDS = dict(duration=_validate.seconds(_validate.DURATION))


def _sub(**options):
    return dict(type='dict', options=options)


def main():
    fault = ContainerFaultModule(
        FAULT,
        dict(
            state=dict(type='str', choices=['present', 'absent'], default='present'),
            fault_name=dict(type='str'),
            duration=dict(type='int'),
            untimed=dict(type='bool', default=False),
            interface=dict(type='str', default='eth0'),
            delay=_sub(time=dict(type='str', required=True), jitter=dict(type='str'),
                       correlation=dict(type='float'),
                       distribution=dict(type='str', choices=['uniform', 'normal', 'pareto', 'paretonormal'])),
            loss=_sub(percent=dict(type='float', required=True), correlation=dict(type='float')),
            loss_state=_sub(p13=dict(type='float', required=True), p31=dict(type='float'), p32=dict(type='float'),
                            p23=dict(type='float'), p14=dict(type='float')),
            loss_gemodel=_sub(p=dict(type='float', required=True), r=dict(type='float'),
                              one_h=dict(type='float'), one_k=dict(type='float')),
            duplicate=_sub(percent=dict(type='float', required=True), correlation=dict(type='float')),
            corrupt=_sub(percent=dict(type='float', required=True), correlation=dict(type='float')),
            reorder=_sub(percent=dict(type='float', required=True), correlation=dict(type='float'),
                         gap=dict(type='int')),
            rate=_sub(rate=dict(type='str', required=True), packet_overhead=dict(type='int'),
                      cell_size=dict(type='int'), cell_overhead=dict(type='int')),
            bandwidth=_sub(rate=dict(type='str', required=True), burst=dict(type='str'), latency=dict(type='str')),
            drop=_sub(probability=dict(type='float'), every=dict(type='int'), packet=dict(type='int'),
                      direction=dict(type='str', choices=['ingress', 'egress', 'both'], default='ingress')),
            destinations=dict(type='list', elements='str'),
            local_addresses=dict(type='list', elements='str'),
            ports=dict(type='list', elements='int'),
            source_ports=dict(type='list', elements='int'),
            protocol=dict(type='str', choices=['all', 'tcp', 'udp', 'icmp', 'icmpv6'], default='all'),
            method=dict(type='str', choices=['helper', 'nsenter'], default='helper'),
            helper_image=dict(type='str', default='chaos-nethelper:latest'),
            allow_host_network=dict(type='bool', default=False),
            force=dict(type='bool', default=False),
        ),
        mutually_exclusive=[('loss', 'loss_state', 'loss_gemodel')],
        required_if=[('state', 'present', FAULT_KEYS, True)],
        bounds=BOUNDS,
    )

    def act():
        netem = NetworkFault(fault)
        if fault.params['state'] == 'present':
            netem.present()
        else:
            netem.absent()
    fault.run(act)


if __name__ == '__main__':
    main()
