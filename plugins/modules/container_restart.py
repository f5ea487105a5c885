#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: container_restart
short_description: Restart Docker containers once, as Pumba's restart does, and measure their recovery
version_added: 0.1.0
description:
  - Restarts each selected running container (C(docker restart), C(pumba restart)) - its stop signal (normally
    SIGTERM), O(stop_timeout) seconds, then SIGKILL, and a start - and returns when the engine has started it again.
  - With O(wait_for_recovery=true), also waits until every restarted container runs, and is V(healthy) when it has a
    health check, and returns the seconds from the start of its restart until then in C(chaos.recovery).
  - The restart is written ahead in the ledger, as every fault is. Should the restart be cut short (the controller
    killed between the stop and the start), the detached reverter starts the container 30 seconds after
    O(stop_timeout) ran out. Once the restart returned, the entry is closed (status V(restarted)).
  - "Pumba's C(--limit N) is O(count): at most N of the matching containers, chosen at random."
  - Refuses to run without a selector unless O(allow_all=true), and never touches protected containers or the
    collection's own helpers.
  - To kill a container and start it again later, use M(chaos.engineering.container_kill) with C(restart_after).
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
    description: Resolves and returns the exact targets, and restarts nothing. C(chaos.recovery) is empty.
  diff_mode:
    support: none
    description: Containers have no before and after state worth a diff.
  action_group:
    description: Use C(group/chaos.engineering.docker) in C(module_defaults) to set the connection once for a play.
    support: full
    membership:
      - chaos.engineering.docker
options:
  stop_timeout:
    description:
      - Seconds between the stop signal and the SIGKILL, as Pumba's C(restart --timeout) and C(docker restart -t).
      - From 0 to 86400 seconds (1 day).
    type: int
    default: 10
  wait_for_recovery:
    description:
      - After the restart, wait until every restarted container runs and is V(healthy) when it has a health check.
        The seconds from the start of its restart until then are returned in C(chaos.recovery).
    type: bool
    default: false
  recovery_timeout:
    description:
      - Seconds to wait for recovery with O(wait_for_recovery=true). When they pass, the task fails with a message
        naming the containers not back, and keeps what was measured in C(chaos.recovery).
      - From 1 to 86400 seconds (1 day).
    type: int
    default: 120
notes:
  - Containers that the kubelet manages (labels C(io.kubernetes.pod.*)) are refused before anything is restarted,
    because the kubelet replaces its own containers. Use M(chaos.engineering.container_kill) or
    M(chaos.engineering.k8s_pod_chaos) for them.
  - Only running containers are candidates (Pumba restarts running ones too).
'''

EXAMPLES = r'''
- name: Restart one random web replica, SIGKILL after 5 seconds, and measure until it is healthy again
  chaos.engineering.container_restart:
    labels:
      app: web
    count: 1
    stop_timeout: 5
    wait_for_recovery: true
    recovery_timeout: 60
  register: restarted

- name: Report the recovery
  ansible.builtin.debug:
    msg: "{{ item.what }} was back after {{ item.seconds }} s"
  loop: "{{ restarted.chaos.recovery }}"
'''

RETURN = r'''
chaos:
  description:
    - The common result of every chaos.engineering fault module. See the result schema in the collection docs.
  returned: always
  type: dict
  contains:
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
          description: V(restart).
          type: str
        stop_timeout:
          description: O(stop_timeout), the seconds the engine waited before it killed the container.
          type: int
        error:
          description:
            - Why the container could not be restarted. Its ledger entry then stays, so the reverter starts it at the
              deadline.
          type: str
          returned: when it failed
      sample: [{id: 4f1c2a..., name: web-2, action: restart, stop_timeout: 10}]
    recovery:
      description:
        - With O(wait_for_recovery=true), one entry per restarted container. Empty in check mode.
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
            - From the start of its restart until it was seen running again, and healthy when it has a health
              check; null if not recovered.
          type: float
          sample: 1.12
        state:
          description: The state last seen (V(running), V(exited), V(removed)...).
          type: str
        health:
          description: The health check's status last seen, null without a health check.
          type: str
        measured_by:
          description: V(container), the restarted container itself.
          type: str
      sample:
        - what: container web-2
          container: {id: 4f1c2a..., name: web-2}
          recovered: true
          seconds: 1.12
          measured_by: container
          state: running
          health: healthy
    fault:
      description: "The fault family: the module's name, V(container_restart)."
      type: str
      returned: always
      sample: 'container_restart'
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
      returned: when a restart failed (its start stays armed)
      sample: '2026-11-27T10:00:30.401Z'
    revert:
      description:
        - What undoes the timed fault (a kill's restart, a pause's unpause, a network fault's removal), and when.
        - M(chaos.engineering.ledger) with O(chaos.engineering.ledger#module:ids) set to V(entries) tells when each
          revert was done.
      type: dict
      returned: when a restart failed (its start stays armed)
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
        entries: ['container_restart-3f9a0c1d2e4b']
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

from ansible_collections.chaos.engineering.plugins.module_utils import _container_restart
from ansible_collections.chaos.engineering.plugins.module_utils._container_fault import ContainerFaultModule


def main():
    fault = ContainerFaultModule(_container_restart.FAULT, _container_restart.ARGUMENT_SPEC,
                                 bounds=_container_restart.BOUNDS)
    fault.run(lambda: _container_restart.run(fault))


if __name__ == '__main__':
    main()
