#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: container_exec
short_description: Run a command in Docker containers, as Pumba's exec does
version_added: 0.1.0
description:
  - Runs O(command) (an argv, never a shell string) in each selected running container, like C(docker exec) and
    C(pumba exec). The default, C(kill 1), sends SIGTERM to the container's main process, as Pumba's default does.
  - Returns per container its exit code, stdout and stderr (each cut to 16384 characters), whether it timed out,
    and how long it ran.
  - A one-shot exec leaves nothing to revert, so it writes no ledger entry and arms no reverter. Only the O(lease)
    is checked, as for any fault. What the command changes is the command's to undo.
  - "Pumba's C(--limit N) is O(count): at most N of the matching containers, chosen at random (Pumba shuffles too)."
  - Refuses to run without a selector unless O(allow_all=true), and never touches protected containers or the
    collection's own helpers.
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
    description: Resolves and returns the exact targets, and runs nothing. C(changed) is predicted V(true).
  diff_mode:
    support: none
    description: An exec has no before and after state worth a diff.
  action_group:
    description: Use C(group/chaos.engineering.docker) in C(module_defaults) to set the connection once for a play.
    support: full
    membership:
      - chaos.engineering.docker
options:
  command:
    description:
      - The program and its arguments, as a list (an argv). No shell runs it; to use one, say so
        (V([sh, -c, "..."])).
      - Named C(argv) in M(community.docker.docker_container_exec); that name is an alias here.
    type: list
    elements: str
    default: [kill, '1']
    aliases: [argv]
  exec_timeout:
    description:
      - Seconds to wait for the command in each container. When they pass, the target is reported with
        C(timed_out=true) and an error, and the process is killed (SIGKILL) when it can be, that is when the module
        runs on the Docker host itself (C(stopped) says whether it was). Its children, if any, are not followed.
      - Named so because O(timeout) is the Docker API's request timeout.
      - Without it, the module waits until the command ends.
      - From 1 to 86400 seconds (1 day).
    type: int
  user:
    description:
      - The user (name or uid, with an optional C(:group)) the command runs as. Defaults to the container's user.
    type: str
  workdir:
    description:
      - The working directory of the command. Defaults to the container's.
    type: str
    aliases: [chdir]
  env:
    description:
      - Environment variables for the command, as a mapping of names to values.
      - Its values are treated as secrets (C(no_log)), never returned, logged or written to a journal.
    type: dict
  expected_rc:
    description:
      - The exit codes that count as success. A target whose command exits with another code, or times out, is
        reported with an C(error), and the task fails after every target has run (as for any fault module).
      - With the default O(command) (C(kill 1)), C(kill) exits 0 once the signal was sent.
    type: list
    elements: int
    default: [0]
notes:
  - Paused, stopped and created containers are not candidates (the engine runs commands in running containers
    only).
  - The output is decoded as UTF-8, undecodable bytes replaced.
seealso:
  - module: community.docker.docker_container_exec
'''

EXAMPLES = r'''
- name: Send SIGTERM to the main process of one random worker (Pumba's default exec)
  chaos.engineering.container_exec:
    labels:
      app: worker
    count: 1

- name: Drop the page cache inside the cache containers, give up after 10 seconds
  chaos.engineering.container_exec:
    name_pattern: '^cache-'
    command: [sh, -c, 'sync; echo 3 > /proc/sys/vm/drop_caches']
    exec_timeout: 10
    user: root

- name: Run a tool that exits 1 when it finds a problem, which is not a failure here
  chaos.engineering.container_exec:
    names: [api-1]
    command: [/app/selfcheck, --quick]
    workdir: /app
    env:
      SELFCHECK_TOKEN: "{{ vault_selfcheck_token }}"
    expected_rc: [0, 1]
  register: checked

- name: Show what each container said
  ansible.builtin.debug:
    msg: "{{ item.name }}: rc {{ item.rc }}: {{ item.stdout }}"
  loop: "{{ checked.chaos.targets }}"
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
          description: V(exec).
          type: str
        command:
          description: O(command), the argv run.
          type: list
          elements: str
        rc:
          description: The exit code, null when it timed out.
          type: int
          returned: once it ran (not in check mode)
        stdout:
          description: Its standard output, cut to 16384 characters.
          type: str
          returned: once it ran (not in check mode)
        stderr:
          description: Its standard error, cut to 16384 characters.
          type: str
          returned: once it ran (not in check mode)
        stdout_truncated:
          description: Whether C(stdout) was cut.
          type: bool
          returned: once it ran (not in check mode)
        stderr_truncated:
          description: Whether C(stderr) was cut.
          type: bool
          returned: once it ran (not in check mode)
        timed_out:
          description: Whether it ran longer than O(exec_timeout).
          type: bool
          returned: once it ran (not in check mode)
        duration:
          description: How long it ran, in seconds.
          type: float
          returned: once it ran (not in check mode)
        stopped:
          description: Whether the timed-out process was killed.
          type: bool
          returned: when it timed out
        error:
          description: Why it failed - an exit code not in O(expected_rc), a timeout, or an engine error.
          type: str
          returned: when it failed
      sample: [{id: 4f1c2a..., name: web-2, action: exec, command: [kill, '1'], rc: 0, stdout: '', stderr: '',
                stdout_truncated: false, stderr_truncated: false, timed_out: false, duration: 0.061}]
    fault:
      description: "The fault family: the module's name, V(container_exec)."
      type: str
      returned: always
      sample: 'container_exec'
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

from ansible_collections.chaos.engineering.plugins.module_utils import _container_exec
from ansible_collections.chaos.engineering.plugins.module_utils._container_fault import ContainerFaultModule


def main():
    fault = ContainerFaultModule(_container_exec.FAULT, _container_exec.ARGUMENT_SPEC, bounds=_container_exec.BOUNDS)
    fault.run(lambda: _container_exec.run(fault))


if __name__ == '__main__':
    main()
