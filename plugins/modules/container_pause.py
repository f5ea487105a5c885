#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: container_pause
short_description: Pause Docker containers for a while, with an unpause that survives the controller
version_added: 0.1.0
description:
  - Freezes every process of the selected running containers for O(duration) seconds.
  - The unpause is armed in a ledger on the host running the module when the pause goes in, and a detached
    reverter performs it at the deadline, even if ansible-playbook is killed or the SSH connection drops.
  - O(state=unpaused) unpauses the selected paused containers at once and cancels their pending unpause.
  - Pausing a container that this collection already paused is V(ok); its deadline stays as it was.
    A container paused by someone else is left alone.
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
    description: Resolves and returns the exact targets and the unpause deadline, and changes nothing.
  diff_mode:
    support: none
    description: Containers have no before and after state worth a diff.
  action_group:
    description: Use C(group/chaos.engineering.docker) in C(module_defaults) to set the connection once for a play.
    support: full
    membership:
      - chaos.engineering.docker
options:
  state:
    description:
      - V(paused) pauses the selected running containers for O(duration) seconds.
      - V(unpaused) unpauses the selected paused containers now.
    type: str
    choices: [paused, unpaused]
    default: paused
  duration:
    description:
      - Seconds each container stays paused. Required with O(state=paused).
      - From 1 to 604800 seconds (7 days).
    type: int
notes:
  - On a Kubernetes node's Docker engine, pod containers can be paused by their kubelet names or labels
    (C(io.kubernetes.pod.namespace), C(io.kubernetes.pod.name), C(io.kubernetes.container.name)); the unpause comes at
    the deadline as for any container. Pod sandboxes (C(k8s_POD_*)), containers of kube-system, kube-public,
    kube-node-lease and chaos-engineering pods, and pods marked C(chaos.engineering/protected) are never paused.
'''

EXAMPLES = r'''
- name: Freeze one random database replica for 30 seconds
  chaos.engineering.container_pause:
    labels:
      app: db
    count: 1
    duration: 30

- name: Unpause everything we paused in the web tier, now
  chaos.engineering.container_pause:
    labels:
      app: web
    state: unpaused
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
      description: "The fault family: the module's name, V(container_pause)."
      type: str
      returned: always
      sample: 'container_pause'
    targets:
      description: One entry per selected container.
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
          description: V(pause), V(unpause), or V(none) for a container paused by someone else (left alone).
          type: str
        deadline:
          description: When the container is unpaused, ISO-8601 UTC.
          type: str
          returned: with V(action=pause), unless it failed
          sample: '2026-11-27T10:00:30.000Z'
        note:
          description: Why nothing was done (already paused by chaos.engineering, or by someone else).
          type: str
          returned: when nothing was done
        error:
          description: Why the container could not be paused or unpaused.
          type: str
          returned: when it failed
      sample: [{id: 4f1c2a..., name: db-1, action: pause, deadline: '2026-11-27T10:00:30.000Z'}]
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
      returned: with O(state=paused)
      sample: '2026-11-27T10:00:30.401Z'
    revert:
      description:
        - What undoes the timed fault (a kill's restart, a pause's unpause, a network fault's removal), and when.
        - M(chaos.engineering.ledger) with O(chaos.engineering.ledger#module:ids) set to V(entries) tells when each
          revert was done.
      type: dict
      returned: with O(state=paused)
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
        entries: ['container_pause-3f9a0c1d2e4b']
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

import time

from ansible_collections.chaos.engineering.plugins.module_utils import _ledger_store, _reverter, _validate
from ansible_collections.chaos.engineering.plugins.module_utils._container_fault import ContainerFaultModule
from ansible_collections.chaos.engineering.plugins.module_utils._timefmt import iso_utc as iso

FAULT = 'container_pause'
# The documented ranges (see _validate.py), checked before anything connects.
BOUNDS = dict(duration=_validate.seconds(_validate.DURATION))


def pause(fault):
    duration = fault.params['duration']
    if duration < 1:
        fault.fail('duration must be at least 1 second, got %d.' % duration)
    targets = fault.select(['running', 'paused'])
    runtime = fault.runtime
    ours = dict((e['target']['id'], e) for e in fault.pending_for([t['id'] for t in targets], 'unpause'))
    acting = [t for t in targets if t['state'] == 'running']
    # Write-ahead: each unpause is in the ledger, and a reverter has it, before its pause goes in.
    entries = dict((t['id'], _ledger_store.new_entry(FAULT, 'unpause', dict(id=t['id'], name=t['name']),
                                                     fault.connection, time.time() + duration))
                   for t in acting if t['id'] not in ours)

    def act(target):
        runtime.pause(target['id'])
        acted_at = time.time()
        fault.result.mark_applied(acted_at)
        if target['id'] in entries:
            fault.settle(entries[target['id']], acted_at + duration)
        return dict(changed=True, acted_at=acted_at)

    if fault.check_mode:
        now = fault.result.started_at.timestamp()
        outcomes = dict((t['id'], dict(changed=True, acted_at=now)) for t in acting)
    else:
        fault.arm_ahead(list(entries.values()))
        outcomes = dict(zip([t['id'] for t in acting], fault.run_each(acting, act)))
        fault.close_unapplied([e for tid, e in entries.items() if outcomes[tid].get('error')])

    armed = []
    for target in targets:
        if target['id'] in ours:
            fault.result.add_target(target['id'], target['name'], 'pause',
                                    deadline=iso(ours[target['id']]['deadline']),
                                    note='already paused by chaos.engineering; deadline unchanged')
            continue
        if target['id'] not in outcomes:
            fault.result.add_target(target['id'], target['name'], 'none',
                                    note='paused by someone else; left alone')
            continue
        outcome = outcomes[target['id']]
        if outcome.get('error'):
            fault.result.add_target(target['id'], target['name'], 'pause', **outcome)
            continue
        deadline = outcome['acted_at'] + duration
        fault.result.add_target(target['id'], target['name'], 'pause', deadline=iso(deadline), **outcome)
        entry = entries[target['id']]
        entry['deadline'] = deadline  # in check mode, the predicted one
        armed.append(entry)
    if armed:
        fault.report_revert(armed)
    elif ours:
        latest = max(e['deadline'] for e in ours.values())
        fault.result.set_revert(latest, _reverter.METHOD, armed=_reverter.reverter_running(fault.ledger_dir))


def unpause(fault):
    targets = fault.select(['paused'], what='paused container')
    runtime = fault.runtime
    ours = fault.pending_for([t['id'] for t in targets], 'unpause')

    def act(target):
        runtime.unpause(target['id'])
        return dict(changed=True)

    if fault.check_mode:
        outcomes = [dict(changed=True) for dummy in targets]
    else:
        outcomes = fault.run_each(targets, act)
        # Cancel the armed unpause of the containers we just unpaused ourselves.
        unpaused = set(t['id'] for t, o in zip(targets, outcomes) if not o.get('error'))
        _ledger_store.discard(fault.ledger_dir, [e for e in ours if e['target']['id'] in unpaused])
    for target, outcome in zip(targets, outcomes):
        fault.result.add_target(target['id'], target['name'], 'unpause', **outcome)


def main():
    fault = ContainerFaultModule(
        FAULT,
        dict(
            state=dict(type='str', choices=['paused', 'unpaused'], default='paused'),
            duration=dict(type='int'),
        ),
        required_if=[('state', 'paused', ['duration'])],
        bounds=BOUNDS,
    )
    if fault.params['state'] == 'paused':
        pause(fault)
    else:
        unpause(fault)
    fault.exit()


if __name__ == '__main__':
    main()
