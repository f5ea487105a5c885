#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: ledger
short_description: List or perform the pending reverts of chaos.engineering faults on a host
version_added: 0.1.0
description:
  - Reads the revert ledger that timed faults (for example M(chaos.engineering.container_pause)) write on the host
    where they run, and lists the reverts still pending.
  - With O(state=reverted) it performs every selected pending revert now, instead of waiting for its deadline.
    This is the emergency stop for timed faults, and works after the controller that injected them died.
  - With O(state=halted) it first leaves a halt marker (C(halt.json) in the ledger, with when, by whom and why),
    then reverts exactly like O(state=reverted). This is the way to stop the experiments that are running on this
    host - from another terminal, or with C(ansible-playbook chaos.engineering.teardown). An experiment checks for
    a halt newer than its start before every injection and between samples, reverts and ends V(aborted) with
    reason V(halted).
author:
  - chaos.engineering maintainers (@chaos-engineering)
extends_documentation_fragment:
  - chaos.engineering.ledger
attributes:
  check_mode:
    support: full
    description: Lists what would be reverted, and reverts nothing. With O(state=halted) it writes no marker either.
  diff_mode:
    support: none
    description: Nothing to diff.
options:
  state:
    description:
      - V(listed) only lists the pending reverts.
      - V(reverted) performs them now. One that the reverter is performing at that moment (its deadline came) is
        waited for, up to 30 seconds, so that every one of them is done when the task returns.
      - V(halted) leaves the halt marker, then performs them now.
    type: str
    choices: [listed, reverted, halted]
    default: listed
  reason:
    description:
      - Why the host is halted, recorded in the marker. Only with O(state=halted).
    type: str
    default: halted by chaos.engineering.ledger
  faults:
    description:
      - Only entries of these fault families, for example V(container_pause).
    type: list
    elements: str
  runtime:
    description:
      - Only entries (and untimed notes) of this container runtime's engine, the one a container module with the
        same O(runtime), O(docker_host), O(podman_socket), O(containerd_socket) and O(containerd_namespace) talks
        to. An option left out takes that module's default, so V(podman) alone means the Podman service at
        V(unix:///run/podman/podman.sock).
      - Without O(runtime), O(podman_socket) means V(podman), O(containerd_socket) or O(containerd_namespace)
        V(containerd), and O(docker_host) V(docker); options of two runtimes without O(runtime) fail.
      - With none of these five options, the entries of every engine are selected.
      - Entries are compared by engine, not by the text of the options; options of another runtime than the one
        selected are ignored, so the connection dict of the container modules can be passed as it is (the
        chaos.engineering.teardown role does).
    type: str
    choices: [docker, containerd, podman]
  docker_host:
    description:
      - Only entries for this Docker engine URL (with O(runtime=docker), or no O(runtime)).
      - With O(runtime=docker) and no O(docker_host), E(DOCKER_HOST), else the local socket, as the container modules.
    type: str
  podman_socket:
    description:
      - Only entries for the Podman service at this URL (with O(runtime=podman), or no O(runtime)).
    type: str
  containerd_socket:
    description:
      - Only entries for the containerd at this socket (with O(runtime=containerd), or no O(runtime)).
    type: path
  containerd_namespace:
    description:
      - Only entries in this containerd namespace (with O(runtime=containerd), or no O(runtime)).
    type: str
  ids:
    description:
      - Only the entries with these ids, as a fault module returns them in C(chaos.revert.entries).
      - An experiment uses this to revert its own faults, and none that another run armed in the same ledger.
      - An id with no pending entry is not an error; its revert was already done, or discarded.
      - With O(ids), the result also has C(done), the entries already done, to learn when each was reverted.
    type: list
    elements: str
'''

EXAMPLES = r'''
- name: What is still armed on this Docker host?
  chaos.engineering.ledger:
  register: armed

- name: Emergency stop - undo every pending timed fault now
  chaos.engineering.ledger:
    state: reverted

- name: Undo now the pending faults on the Podman service only, not those on the Docker engine of the host
  chaos.engineering.ledger:
    state: reverted
    runtime: podman
    podman_socket: unix:///run/podman/podman.sock

- name: Pause a database for 10 minutes
  chaos.engineering.container_pause:
    names: [db-1]
    duration: 600
  register: paused

- name: Undo that pause now, and only that one
  chaos.engineering.ledger:
    state: reverted
    ids: "{{ paused.chaos.revert.entries }}"
  register: undone

- name: When was it reverted?
  ansible.builtin.debug:
    msg: "{{ undone.done | map(attribute='finished_at') | list }}"

- name: Stop every experiment running on this host, and undo its faults now
  chaos.engineering.ledger:
    state: halted
    reason: the database team asked us to stop
'''

RETURN = r'''
pending:
  description: The pending entries that matched, before any revert, as the ledger holds them.
  returned: always
  type: list
  elements: dict
  contains: &ledger_entry
    id:
      description: The entry's id, C(<fault>-<12 hex digits>).
      type: str
    fault:
      description: The fault module that wrote it, for example V(container_pause).
      type: str
    action:
      description: The revert to perform - V(unpause), V(start), V(helper_exec), V(nsenter_exec) or V(remove_stressor).
      type: str
    target: &ledger_target
      description: The container.
      type: dict
      contains:
        id:
          description: Its ID.
          type: str
        name:
          description: Its name.
          type: str
    docker: &ledger_docker
      description: The engine, as the fault module connected to it (the reverter connects the same way).
      type: dict
      contains:
        runtime:
          description: V(docker), V(podman) or V(containerd); absent in entries older than the runtime option.
          type: str
          returned: in entries of this version
        docker_host:
          description: O(chaos.engineering.container_kill#module:docker_host).
          type: str
          returned: for Docker and Podman
        tls_hostname:
          description: O(chaos.engineering.container_kill#module:tls_hostname).
          type: str
          returned: for Docker and Podman
        api_version:
          description: O(chaos.engineering.container_kill#module:api_version).
          type: str
          returned: for Docker and Podman
        timeout:
          description: O(chaos.engineering.container_kill#module:timeout).
          type: int
          returned: for Docker and Podman
        ca_path:
          description: O(chaos.engineering.container_kill#module:ca_path).
          type: str
          returned: for Docker and Podman
        client_cert:
          description: O(chaos.engineering.container_kill#module:client_cert).
          type: str
          returned: for Docker and Podman
        client_key:
          description: O(chaos.engineering.container_kill#module:client_key).
          type: str
          returned: for Docker and Podman
        tls:
          description: O(chaos.engineering.container_kill#module:tls).
          type: bool
          returned: for Docker and Podman
        validate_certs:
          description: O(chaos.engineering.container_kill#module:validate_certs).
          type: bool
          returned: for Docker and Podman
        use_ssh_client:
          description:
            - O(chaos.engineering.container_kill#module:use_ssh_client); the reverter reconnects the same way.
            - Absent from entries written before the option existed (they are reverted over paramiko or a socket).
          type: bool
          returned: for Docker and Podman
        podman_socket:
          description: O(chaos.engineering.container_kill#module:podman_socket).
          type: str
          returned: for Podman
        containerd_socket:
          description: O(chaos.engineering.container_kill#module:containerd_socket).
          type: str
          returned: for containerd
        containerd_namespace:
          description: O(chaos.engineering.container_kill#module:containerd_namespace).
          type: str
          returned: for containerd
    details:
      description: What the revert needs, by fault.
      type: dict
      contains:
        pod:
          description:
            - For a C(container_kill) restart, the pod of a kubelet-managed container (then the reverter starts
              nothing), or null.
          type: dict
          returned: for container_kill
          contains:
            namespace:
              description: The pod's namespace.
              type: str
            pod:
              description: The pod's name.
              type: str
            uid:
              description: The pod's UID.
              type: str
            container:
              description: The container's name in the pod.
              type: str
            sandbox:
              description: Whether it is the pod's sandbox (only when the reverter looked the pod up itself).
              type: bool
              returned: sometimes
        replacement:
          description: The kubelet's replacement the reverter saw (null when none), for a kubelet-managed container.
          type: dict
          returned: for container_kill, once performed on a kubelet-managed container
          contains:
            id:
              description: Its ID.
              type: str
            name:
              description: Its name.
              type: str
            running:
              description: Whether it was running.
              type: bool
        steps:
          description: The argv that remove the network fault, in order.
          type: list
          elements: list
          returned: for container_netem
        ok_if:
          description: The error texts that mean a step's work is done already.
          type: list
          elements: str
          returned: for container_netem
        helper_id:
          description: The helper container that holds the network fault, null with nsenter.
          type: str
          returned: for container_netem
        helper_image:
          description: The helper image.
          type: str
          returned: for container_netem
        fault_id:
          description: The id of the network fault or of the stress (their modules' C(chaos.spec.fault_id)).
          type: str
          returned: for container_netem and container_stress
        fault_name:
          description: The network fault's name.
          type: str
          returned: for container_netem
        tc_interface:
          description: The interface whose tc tree the fault holds, null for an iptables-only fault.
          type: str
          returned: for container_netem
        batches:
          description: The steps as one (argv, input text) pair per tool, null when they do not fit a batch.
          type: list
          elements: list
          returned: for container_netem
        revert_path:
          description: How the reverter removed the fault (V(batched), V(steps), or nsenter when the helper was gone).
          type: str
          returned: for container_netem, once performed
        fault_gone_at:
          description: When the last undo step returned, epoch seconds.
          type: float
          returned: for container_netem and container_stress, once performed
        helper_name:
          description: The stressor helper container's name.
          type: str
          returned: for container_stress
        image:
          description: The stressor image.
          type: str
          returned: for container_stress
        argv:
          description: The stress-ng argv.
          type: list
          elements: str
          returned: for container_stress
        cgroup_parent:
          description: The stressor's cgroup parent.
          type: str
          returned: for container_stress
        child_cgroup:
          description: The child cgroup the stressor was moved into (systemd driver), or null.
          type: str
          returned: for container_stress
    deadline:
      description: When the reverter performs it, epoch seconds.
      type: float
    created_at:
      description: When it was written, epoch seconds.
      type: float
    attempts:
      description: How many times the reverter tried it and failed.
      type: int
    last_error:
      description: The error of its last failed attempt.
      type: str
      returned: after a failed attempt
    retry_at:
      description: When the reverter tries again, epoch seconds.
      type: float
      returned: after a failed attempt
    lease:
      description: The lease whose end brings the revert before its deadline.
      type: str
      returned: when the fault module was given a lease
    armed_by:
      description: The module process that wrote it ahead of its fault.
      type: dict
      returned: when written ahead by a fault module
      contains:
        pid:
          description: Its process id.
          type: int
        start:
          description: Its start time, in clock ticks since boot (to tell it from a later process of that pid).
          type: int
    applied:
      description: Whether the fault module saw its fault go in (settled the entry).
      type: bool
      returned: once the fault went in
    applied_at:
      description: When the fault went in, epoch seconds.
      type: float
      returned: once the fault went in
  sample: [{id: container_pause-3f9a0c1d2e4b, fault: container_pause, action: unpause,
            target: {id: 4f1c..., name: db-1}, docker: {runtime: docker, docker_host: 'unix:///var/run/docker.sock'},
            deadline: 1795773630.4, created_at: 1795773600.2, attempts: 0, details: {}}]
reverted:
  description: The entries performed now, as in RV(pending), with what came of them.
  returned: when O(state=reverted) or O(state=halted), and not in check mode
  type: list
  elements: dict
  contains:
    <<: *ledger_entry
    began_at:
      description: When the revert began, epoch seconds.
      type: float
    status:
      description: As in RV(done[].status).
      type: str
    finished_at:
      description: When it was done, epoch seconds.
      type: float
    error:
      description: Why it failed, or null.
      type: str
done:
  description:
    - With O(ids), the entries among them that are done (performed by the reverter, by this module, or closed
      by their fault module), so that a caller learns when each fault ended.
    - Named C(done), not C(finished), because ansible-core 2.21 takes a result's C(finished) for an async job's flag.
  returned: when O(ids) is given
  type: list
  elements: dict
  contains:
    id:
      description: The entry's id.
      type: str
    fault:
      description: The fault module that wrote it.
      type: str
    target: *ledger_target
    status:
      description:
        - V(reverted), V(already-reverted), V(target-gone), V(reverted-by-module), V(not-applied), V(replaced),
          V(kubelet-owned) (a kill's restart of a container the kubelet replaces, so nothing was started) or
          V(failed).
      type: str
    finished_at:
      description: When it was done, ISO-8601 UTC.
      type: str
    error:
      description: Why it failed, or null.
      type: str
    began_at:
      description: When the revert began, ISO-8601 UTC.
      type: str
      returned: when it ran
    fault_gone_at:
      description: For a network fault or a stress, when its last undo step returned, ISO-8601 UTC.
      type: str
      returned: when known
    ended_by:
      description: V(lease) when an expired lease brought it before its deadline.
      type: str
      returned: when it came before its deadline
  sample: [{id: container_pause-3f9a0c1d2e4b, fault: container_pause, target: {id: 4f1c..., name: db-1},
            status: reverted, finished_at: '2026-11-27T10:00:30.412Z', error: null}]
halt:
  description: The halt marker written.
  returned: when O(state=halted) and not in check mode
  type: dict
  contains:
    at:
      description: When, ISO-8601 UTC.
      type: str
    by:
      description: Who, C(user@host).
      type: str
    reason:
      description: O(reason).
      type: str
  sample: {at: '2026-11-27T10:00:12.004Z', by: root@docker-1, reason: halted by chaos.engineering.ledger}
untimed:
  description:
    - The notes of untimed faults (M(chaos.engineering.container_netem) with
      O(chaos.engineering.container_netem#module:untimed=true)) still in place as far as the ledger knows, filtered
      by O(faults) and the engine (O(runtime), O(docker_host), O(podman_socket)...), not by O(ids).
    - They have no revert to perform; O(state=reverted) leaves them alone. C(chaos.engineering.container_netem)
      O(chaos.engineering.container_netem#module:state=absent) (the teardown role runs it) removes them and closes
      their notes.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: The note's id, C(<fault>-<12 hex digits>).
      type: str
    fault:
      description: The fault module that wrote it, V(container_netem).
      type: str
    untimed:
      description: V(true).
      type: bool
    target: *ledger_target
    docker: *ledger_docker
    created_at:
      description: When the fault was noted, epoch seconds.
      type: float
    details:
      description: The fault.
      type: dict
      contains:
        fault_id:
          description: RV(chaos.engineering.container_netem#module:chaos.spec.fault_id).
          type: str
        fault_name:
          description: RV(chaos.engineering.container_netem#module:chaos.spec.fault_name).
          type: str
        method:
          description: O(chaos.engineering.container_netem#module:method).
          type: str
  sample: [{id: container_netem-0c1d2e4b3f9a, fault: container_netem, untimed: true,
            target: {id: 4f1c..., name: cache}, created_at: 1795773630.4}]
reverter_running:
  description: Whether a reverter process currently holds this ledger.
  returned: always
  type: bool
invalid:
  description:
    - Files in the ledger that are not entries this collection wrote (malformed JSON, missing fields, another
      owner), with their V(file) and V(reason). The reverter moves them to C(quarantine/) and never performs them;
      already quarantined ones are listed too.
  returned: always
  type: list
  elements: dict
  contains:
    file:
      description: The path of the file.
      type: str
      returned: always
    reason:
      description: Why it is not a valid entry.
      type: str
      returned: always
  sample: [{file: /var/lib/chaos-engineering/ledger/quarantine/x.json, reason: 'its id ''x'' does not match its file name'}]
'''

import copy
import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.chaos.engineering.plugins.module_utils import _ledger_engine, _ledger_store, _reverter
from ansible_collections.chaos.engineering.plugins.module_utils._timefmt import iso_utc


def done_entries(root, ids):
    """The done entries with these ids, as the caller needs them for fault windows."""
    done = []
    for entry_id in ids:
        if not entry_id or '/' in entry_id or entry_id.startswith('.'):
            continue  # not an id we make, and never a path out of done/
        entry, reason = _ledger_store.load_entry(os.path.join(root, 'done', entry_id + '.json'))
        if entry is None or reason is not None:
            continue
        item = dict(id=entry['id'], fault=entry.get('fault'), target=entry['target'], status=entry.get('status'),
                    finished_at=iso_utc(_number(entry.get('finished_at'))), error=entry.get('error'))
        for key, value in (('began_at', entry.get('began_at')),
                           ('fault_gone_at', (entry.get('details') or {}).get('fault_gone_at'))):
            if _number(value) is not None:
                item[key] = iso_utc(value)
        if entry.get('ended_by'):
            item['ended_by'] = entry['ended_by']
        done.append(item)
    return done


def _number(value):
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def main():
    argument_spec = dict(
        ledger_dir=dict(type='path'),
        state=dict(type='str', choices=['listed', 'reverted', 'halted'], default='listed'),
        reason=dict(type='str', default='halted by chaos.engineering.ledger'),
        faults=dict(type='list', elements='str'),
        ids=dict(type='list', elements='str'),
    )
    argument_spec.update(_ledger_engine.ARGUMENT_SPEC)
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    state = module.params['state']
    try:
        engine = _ledger_engine.engine_filter(module.params)
    except _ledger_engine.EngineFilterError as exc:
        module.fail_json(msg=str(exc))
    try:
        root = _ledger_store.check_root(module.params['ledger_dir'] or _ledger_store.default_ledger_dir(), create=False)
    except (_ledger_store.LedgerError, OSError) as exc:
        module.fail_json(msg=str(exc))
    if module.params['reason'] is None:
        module.fail_json(msg='reason must be a string, got null.')
    result = dict(changed=False)
    if state == 'halted':
        # The marker first: an experiment between two injections sees it before its faults are reverted.
        result['changed'] = True
        if not module.check_mode:
            try:
                marker = _ledger_store.write_halt(root, module.params['reason'])
            except (_ledger_store.LedgerError, OSError) as exc:
                module.fail_json(msg='Nothing was reverted: %s' % exc)
            result['halt'] = dict(marker, at=iso_utc(marker['at']))
    faults = module.params['faults']
    ids = module.params['ids']
    pending = [e for e in _ledger_store.list_entries(root)
               if (not faults or e.get('fault') in faults)
               and _ledger_engine.on_engine(engine, e.get('docker'))
               and (ids is None or e.get('id') in ids)]
    untimed = [n for n in _ledger_store.list_untimed(root)
               if (not faults or n.get('fault') in faults)
               and _ledger_engine.on_engine(engine, n.get('docker'))]
    result.update(pending=pending, untimed=untimed, reverter_running=_reverter.reverter_running(root),
                  invalid=_ledger_store.list_invalid(root))
    if state in ('reverted', 'halted') and pending:
        result['changed'] = True
        if not module.check_mode:
            # Copies: performing an entry notes in it when it began, and `pending` is as it was before.
            result['reverted'] = _reverter.revert_now(root, copy.deepcopy(pending))
    if ids is not None:
        # Not "finished": ansible-core 2.21 turns that result key into the async job's boolean.
        result['done'] = done_entries(root, ids)
    failed = [e for e in result.get('reverted', []) if e['status'] == 'failed']
    if failed:
        module.fail_json(msg='%d of %d reverts failed: %s' % (
            len(failed), len(pending), '; '.join('%s: %s' % (e['id'], e['error']) for e in failed)), **result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
