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
  description: The pending entries that matched, before any revert.
  returned: always
  type: list
  elements: dict
  sample: [{id: container_pause-3f9a0c1d2e4b, fault: container_pause, action: unpause,
            target: {id: 4f1c..., name: db-1}, deadline: 1795773630.4}]
reverted:
  description: The entries performed now, with their C(status) and C(error).
  returned: when O(state=reverted) or O(state=halted), and not in check mode
  type: list
  elements: dict
done:
  description:
    - With O(ids), the entries among them that are done (performed by the reverter, by this module, or closed
      by their fault module), so that a caller learns when each fault ended.
    - V(id), V(fault), V(target) (V(id), V(name)), V(status) (V(reverted), V(already-reverted), V(target-gone),
      V(reverted-by-module), V(not-applied), V(replaced), V(kubelet-owned) (a kill's restart of a container the
      kubelet replaces, so nothing was started) or V(failed)), V(finished_at) (ISO-8601 UTC) and V(error).
    - Also V(began_at) (ISO-8601 UTC, when the revert began, if it ran), V(fault_gone_at) (for a network fault, when its
      last undo step returned) and V(ended_by) (V(lease) when an expired lease brought it before its deadline),
      when known.
    - Named C(done), not C(finished), because ansible-core 2.21 takes a result's C(finished) for an async job's flag.
  returned: when O(ids) is given
  type: list
  elements: dict
  sample: [{id: container_pause-3f9a0c1d2e4b, fault: container_pause, target: {id: 4f1c..., name: db-1},
            status: reverted, finished_at: '2026-11-27T10:00:30.412Z', error: null}]
halt:
  description: The halt marker written, with V(at) (ISO-8601 UTC), V(by) (user@host) and V(reason).
  returned: when O(state=halted) and not in check mode
  type: dict
  sample: {at: '2026-11-27T10:00:12.004Z', by: root@docker-1, reason: halted by chaos.engineering.ledger}
untimed:
  description:
    - The notes of untimed faults (M(chaos.engineering.container_netem) with
      O(chaos.engineering.container_netem#module:untimed=true)) still in place as far as the ledger knows, filtered
      by O(faults) and the engine (O(runtime), O(docker_host), O(podman_socket)...), not by O(ids). They have no revert to perform; O(state=reverted) leaves
      them alone. C(chaos.engineering.container_netem) O(chaos.engineering.container_netem#module:state=absent) (the
      teardown role runs it) removes them and closes their notes.
  returned: always
  type: list
  elements: dict
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
            result['reverted'] = _reverter.revert_now(root, pending)
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
