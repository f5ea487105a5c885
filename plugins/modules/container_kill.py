#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: container_kill
short_description: Kill, stop or remove Docker containers, and optionally start them again later
version_added: 0.1.0
description:
  - Sends a signal to the selected running containers (SIGKILL by default), or stops them gracefully, or removes them
    (O(remove=true), in any state).
  - With O(restart_after), the killed containers are started again after that many seconds. That restart is armed
    in a ledger on the host running the module and performed by a detached reverter, so it happens even if the
    controller dies.
  - With O(wait_for_recovery=true) and O(restart_after), waits until every killed container runs again and passes
    its health check when it has one, and returns the seconds it took per container in C(chaos.recovery).
  - Refuses to run without a selector unless O(allow_all=true), and never touches protected containers.
  - On a Kubernetes node's Docker engine (a "minikube host"), pod containers are chosen by their kubelet names
    (O(name_pattern=^k8s_hello_)) or labels (C(io.kubernetes.pod.name), C(io.kubernetes.pod.namespace),
    C(io.kubernetes.container.name)). The kubelet replaces a killed container with a new one; see the notes.
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
    description: Resolves and returns the exact targets and the predicted revert deadline, and changes nothing.
  diff_mode:
    support: none
    description: Containers have no before and after state worth a diff.
  action_group:
    description: Use C(group/chaos.engineering.docker) in C(module_defaults) to set the connection once for a play.
    support: full
    membership:
      - chaos.engineering.docker
options:
  signal:
    description:
      - The signal to send, by name (V(SIGKILL), V(KILL), V(sigterm)) or number (V(9)).
      - Defaults to V(SIGKILL) when O(stop_timeout) is not given. Mutually exclusive with O(stop_timeout).
    type: str
  stop_timeout:
    description:
      - Stop gracefully instead of killing. The engine sends the container's stop signal (normally SIGTERM), waits
        this many seconds, then sends SIGKILL.
      - From 0 to 86400 seconds (1 day).
    type: int
  restart_after:
    description:
      - Start the killed containers again this many seconds after they were killed.
      - Mutually exclusive with O(remove).
      - From 1 to 604800 seconds (7 days).
    type: int
  remove:
    description:
      - Remove the containers after killing or stopping them.
      - With O(remove=true) the containers are selected in any state, as C(pumba rm) does - created, running,
        paused, restarting, exited or dead. Only running ones are killed or stopped first; the others are removed
        (forcibly), and their target entry has V(action=remove).
    type: bool
    default: false
  remove_volumes:
    description:
      - With O(remove=true), also remove the anonymous volumes of the containers.
    type: bool
    default: false
  wait_for_recovery:
    description:
      - After the kill, wait until every killed container has started again and runs, and is V(healthy) when it has
        a health check. The seconds from its kill until then are returned in C(chaos.recovery); minus
        O(restart_after), that is how long the container took to start and pass its health check.
      - Requires O(restart_after), except for containers the kubelet manages. The engine never restarts a container
        killed or stopped through its API, whatever its restart policy, because that counts as a manual stop.
        Without O(restart_after) the module fails before anything is killed.
      - A kubelet-managed container is back when the kubelet's replacement (a new container of the same pod uid and
        container name) runs and has stayed up for 1 second; the seconds count from the kill to when it was first
        seen running. The pod's readiness probe is the kubelet's and not visible on the engine, so measure the pod's
        Ready condition with M(chaos.engineering.probe) or M(chaos.engineering.k8s_pod_chaos).
      - Mutually exclusive with O(remove). In check mode C(chaos.recovery) is empty.
    type: bool
    default: false
  recovery_timeout:
    description:
      - Seconds to wait for recovery with O(wait_for_recovery=true). When it passes, the task fails with a message
        naming the containers not back, and keeps what was measured in C(chaos.recovery).
      - Must be longer than O(restart_after).
      - From 1 to 86400 seconds (1 day).
    type: int
    default: 120
notes:
  - Kubelet-managed containers (labels C(io.kubernetes.pod.uid), C(io.kubernetes.pod.name),
    C(io.kubernetes.pod.namespace)) are never started again by this collection. The kubelet creates a replacement
    rather than restarting the old one; starting the old one would run it outside the kubelet's control (and fail on
    the ports its replacement holds). With O(restart_after) the ledger records the restart, and the reverter closes
    it at its deadline with status V(kubelet-owned) and the replacement it saw, without starting anything.
  - Never touched on a Kubernetes node, whatever the selection (listed in C(chaos.selection.protected), with the
    reason in the message when nothing else matched) - the pod sandboxes (C(k8s_POD_*), label
    C(io.kubernetes.docker.type=podsandbox)), containers of pods in C(kube-system), C(kube-public),
    C(kube-node-lease) and the agent's namespace C(chaos-engineering), and pods labelled or annotated
    C(chaos.engineering/protected=true).
'''

EXAMPLES = r'''
- name: Kill one random replica of the web service
  chaos.engineering.container_kill:
    labels:
      app: web
    count: 1

- name: Send SIGTERM to every container whose name starts with worker-
  chaos.engineering.container_kill:
    name_pattern: '^worker-'
    signal: SIGTERM

- name: Stop a third of the cache containers gracefully and start them again after 30 seconds
  chaos.engineering.container_kill:
    labels:
      tier: cache
    percent: 33
    stop_timeout: 10
    restart_after: 30

- name: Kill one web replica, start it again after 5 seconds, and measure how long until it is healthy again
  chaos.engineering.container_kill:
    labels:
      app: web
    count: 1
    restart_after: 5
    wait_for_recovery: true
    recovery_timeout: 60
  register: killed

- name: Report the recovery
  ansible.builtin.debug:
    msg: "{{ item.what }} was back after {{ item.seconds }} s"
  loop: "{{ killed.chaos.recovery }}"

- name: On a minikube host, kill one hello pod's container and measure until the kubelet's replacement runs
  chaos.engineering.container_kill:
    name_pattern: '^k8s_hello_'
    labels:
      io.kubernetes.pod.namespace: default
    count: 1
    wait_for_recovery: true
    recovery_timeout: 60

- name: Preview which containers would be killed, on a remote engine over TLS
  chaos.engineering.container_kill:
    docker_host: tcp://docker.example.com:2376
    validate_certs: true
    names: [api-1, api-2]
  check_mode: true
'''

RETURN = r'''
chaos:
  description:
    - The common result of every chaos.engineering fault module. See the result schema in the collection docs.
  returned: always
  type: dict
  contains:
    fault:
      description: "The fault family: the module's name, V(container_kill)."
      type: str
      returned: always
      sample: 'container_kill'
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
          description: V(kill) or V(stop); V(remove) for a container that was not running, with O(remove=true).
          type: str
        signal:
          description: The signal sent, by its name.
          type: str
          returned: with V(action=kill)
          sample: SIGKILL
        stop_timeout:
          description: O(stop_timeout), the seconds the engine waited before it sent SIGKILL.
          type: int
          returned: with V(action=stop)
        removed:
          description: Whether the container was removed (O(remove=true), and it did not fail).
          type: bool
        kubelet:
          description: The pod of a container the kubelet manages.
          type: dict
          returned: for a kubelet-managed container
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
        restarted_by:
          description: V(kubelet), which replaces its own containers (no restart is armed for them).
          type: str
          returned: for a kubelet-managed container
        error:
          description: Why the container could not be killed.
          type: str
          returned: when it failed
      sample: [{id: 4f1c2a..., name: web-2, action: kill, signal: SIGKILL, removed: false}]
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
      returned: when O(restart_after) is set
      sample: '2026-11-27T10:00:30.401Z'
    revert:
      description:
        - What undoes the timed fault (a kill's restart, a pause's unpause, a network fault's removal), and when.
        - M(chaos.engineering.ledger) with O(chaos.engineering.ledger#module:ids) set to V(entries) tells when each
          revert was done.
      type: dict
      returned: when O(restart_after) is set
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
        entries: ['container_kill-3f9a0c1d2e4b']
    recovery:
      description:
        - With O(wait_for_recovery=true), one entry per killed container. Empty in check mode.
      type: list
      elements: dict
      returned: when O(wait_for_recovery=true)
      contains:
        what:
          description: V(container <name>).
          type: str
          sample: container web-2
        container:
          description: The harmed container.
          type: dict
          contains:
            id:
              description: Its ID.
              type: str
            name:
              description: Its name.
              type: str
        recovered:
          description: Whether it was seen back before O(recovery_timeout).
          type: bool
        seconds:
          description:
            - From its kill until it was seen running again, and healthy when it has a health check; null if not
              recovered.
          type: float
          sample: 1.12
        state:
          description: The state last seen (V(running), V(exited), V(removed)...).
          type: str
        health:
          description: The health check's status last seen, null without a health check.
          type: str
        measured_by:
          description:
            - What was watched - V(container), the killed container itself, or V(replacement), the kubelet's new
              container of the same pod.
          type: str
        replacement:
          description: The kubelet's replacement container, null until one was seen (or with containerd).
          type: dict
          returned: with V(measured_by=replacement)
          contains:
            id:
              description: Its ID.
              type: str
            name:
              description: Its name.
              type: str
        pod:
          description: The pod of the killed container.
          type: dict
          returned: with V(measured_by=replacement)
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
      sample:
        - what: container web-2
          container: {id: 4f1c2a..., name: web-2}
          recovered: true
          seconds: 1.12
          measured_by: container
          state: running
          health: healthy
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

import signal as signals
import time

from ansible_collections.chaos.engineering.plugins.module_utils import _kubelet, _ledger_store, _validate
from ansible_collections.chaos.engineering.plugins.module_utils._container_fault import ContainerFaultModule
from ansible_collections.chaos.engineering.plugins.module_utils._container_recovery import (
    measure_recovery,
    recovery_baselines,
)

FAULT = 'container_kill'
# The documented ranges (see _validate.py), checked before anything connects.
BOUNDS = dict(stop_timeout=_validate.seconds(_validate.GRACE), restart_after=_validate.seconds(_validate.DURATION),
              recovery_timeout=_validate.seconds(_validate.TIMEOUT))


# With remove=true, containers in any of these states are candidates (not one being removed already).
REMOVABLE_STATES = ['created', 'running', 'paused', 'restarting', 'exited', 'dead']


def valid_signals():
    return sorted(s.name for s in signals.Signals if s.name.startswith('SIG') and not s.name.startswith('SIG_'))


def normalize_signal(value):
    """SIGKILL, kill, KILL, 9 -> the canonical name; None when unknown."""
    text = str(value).strip()
    if text.isdigit():
        try:
            return signals.Signals(int(text)).name
        except ValueError:
            return None
    name = text.upper()
    if not name.startswith('SIG'):
        name = 'SIG' + name
    return name if name in valid_signals() else None


def main():
    fault = ContainerFaultModule(
        FAULT,
        dict(
            signal=dict(type='str'),
            stop_timeout=dict(type='int'),
            restart_after=dict(type='int'),
            remove=dict(type='bool', default=False),
            remove_volumes=dict(type='bool', default=False),
            wait_for_recovery=dict(type='bool', default=False),
            recovery_timeout=dict(type='int', default=120),
        ),
        mutually_exclusive=[('signal', 'stop_timeout'), ('restart_after', 'remove')],
        bounds=BOUNDS,
    )
    params = fault.params
    stop_timeout = params['stop_timeout']
    restart_after = params['restart_after']
    signal_name = None
    if stop_timeout is None:
        signal_name = normalize_signal(params['signal'] or 'SIGKILL')
        if signal_name is None:
            fault.fail('Unknown signal %r. Valid signals: %s (or their numbers).' % (
                params['signal'], ', '.join(valid_signals())))
    elif stop_timeout < 0:
        fault.fail('stop_timeout must be 0 or more seconds, got %d.' % stop_timeout)
    if restart_after is not None and restart_after < 1:
        fault.fail('restart_after must be at least 1 second, got %d.' % restart_after)
    wait_for_recovery = params['wait_for_recovery']
    if wait_for_recovery:
        if params['remove']:
            fault.fail('wait_for_recovery cannot be used with remove=true: a removed container never comes back.')
        if restart_after is not None and params['recovery_timeout'] <= restart_after:
            fault.fail('recovery_timeout (%d s) must be longer than restart_after (%d s): the containers start '
                       'again only then.' % (params['recovery_timeout'], restart_after))

    # Removing works in any state, as `pumba rm` does: a stopped or created container is only removed.
    targets = fault.select(REMOVABLE_STATES if params['remove'] else ['running'],
                           what='container' if params['remove'] else 'running container')
    runtime = fault.runtime
    # The kubelet's containers: it replaces them when they die, and nobody else may start them again.
    pods = dict((t['id'], _kubelet.pod_of(t['labels'])) for t in targets)
    if wait_for_recovery and restart_after is None:
        unmanaged = [t['name'] for t in targets if not pods[t['id']]]
        if unmanaged:
            fault.fail('Nothing was killed: wait_for_recovery needs restart_after for %s. The engine never restarts '
                       'a container killed or stopped through its API, whatever its restart policy: that counts as '
                       'a manual stop (only the kubelet replaces its own containers).' % ', '.join(unmanaged))
    baselines = recovery_baselines(fault, [t for t in targets if not pods[t['id']]]) if wait_for_recovery else {}

    def describe(target):
        if target['state'] != 'running':
            return dict(action='remove')
        if signal_name is not None:
            return dict(action='kill', signal=signal_name)
        return dict(action='stop', stop_timeout=stop_timeout)

    # Write-ahead: with restart_after, each restart is in the ledger, and a reverter has it, before the kill.
    entries = {}
    if restart_after is not None:
        # A kubelet container's entry carries its pod: the reverter then never starts it (see _kubelet.py).
        entries = dict((t['id'], _ledger_store.new_entry(
            FAULT, 'start', dict(id=t['id'], name=t['name']), fault.connection, time.time() + restart_after,
            pod=_kubelet.describe(pods[t['id']]) if pods[t['id']] else None)) for t in targets)

    def act(target):
        if target['state'] != 'running':
            # Nothing runs to kill (a paused one is frozen; a forced removal ends it): the removal is the fault.
            runtime.remove(target['id'], volumes=params['remove_volumes'])
            acted_at = time.time()
            fault.result.mark_applied(acted_at)
            return dict(changed=True, acted_at=acted_at)
        if signal_name is not None:
            runtime.kill(target['id'], signal_name)
        else:
            runtime.stop(target['id'], stop_timeout)
        acted_at = time.time()
        fault.result.mark_applied(acted_at)
        if target['id'] in entries:
            fault.settle(entries[target['id']], acted_at + restart_after)
        if params['remove']:
            runtime.remove(target['id'], volumes=params['remove_volumes'])
        return dict(changed=True, acted_at=acted_at)

    outcomes = fault.arm_and_run(targets, list(entries.values()), act)
    fault.close_unapplied([entries[t['id']] for t, o in zip(targets, outcomes)
                           if o.get('error') and t['id'] in entries])

    armed = []
    for target, outcome in zip(targets, outcomes):
        entry = describe(target)
        entry.update(removed=bool(params['remove']) and not outcome.get('error'))
        if pods[target['id']]:
            entry.update(kubelet=_kubelet.describe(pods[target['id']]), restarted_by='kubelet')
        entry.update(outcome)
        fault.result.add_target(target['id'], target['name'], **entry)
        if target['id'] in entries and not outcome.get('error'):
            entries[target['id']]['deadline'] = outcome['acted_at'] + restart_after
            armed.append(entries[target['id']])
    fault.report_revert(armed)
    problem = None
    if wait_for_recovery:
        problem = measure_recovery(fault, targets, outcomes, baselines, pods)
    fault.exit(problem)


if __name__ == '__main__':
    main()
