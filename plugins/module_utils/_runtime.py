# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The runtime seam (Pumba's pkg/runtime): what the container fault code asks of a container engine.

The fault code (ContainerFaultModule, container_kill, container_pause, container_netem and _netem_apply) talks
only to a ContainerRuntime; _runtime_docker.DockerRuntime is the first implementation. A new runtime (containerd,
Podman) implements these methods and nothing in the fault code changes. Containers are named by their id.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ContainerRuntime:
    """The operations of one engine. Methods raise the engine's own errors; the callers say what failed."""

    # --- candidates and lifecycle ---

    def candidates(self, states):
        """Containers in one of ``states`` (running, paused, exited...) as selection candidates: dicts with
        id, name, labels, state, image, and protected_reason for what the engine's orchestrator guards."""
        raise NotImplementedError

    def kill(self, container_id, signal):
        """Send ``signal`` (a name such as SIGKILL) to the container's main process."""
        raise NotImplementedError

    def stop(self, container_id, timeout):
        """SIGTERM, then SIGKILL after ``timeout`` seconds."""
        raise NotImplementedError

    def remove(self, container_id, volumes=False):
        """Remove the container (forcibly), and its anonymous volumes with ``volumes``."""
        raise NotImplementedError

    def start(self, container_id):
        """Start a stopped container again (the reverter's undo of a kill with restart_after)."""
        raise NotImplementedError

    def restart(self, container_id, timeout):
        """Stop (SIGTERM, then SIGKILL after ``timeout`` seconds), then start again: container_restart's fault.

        Built from stop and start so that a new runtime needs nothing more; an engine with a restart call of its
        own may use it instead."""
        self.stop(container_id, timeout)
        self.start(container_id)

    def pause(self, container_id):
        raise NotImplementedError

    def unpause(self, container_id):
        raise NotImplementedError

    def error_kind(self, exc):
        """What an error of this engine means: ``gone`` (no such container), ``wrong-state`` (the container is not
        in the state the call needs: not paused, say), or None for anything else."""
        raise NotImplementedError

    # --- containers the kubelet owns (a Kubernetes node's engine) ---

    def owner_pod(self, container_id):
        """The pod whose kubelet manages this container (a dict, see _kubelet.pod_of), or None."""
        raise NotImplementedError

    def kubelet_restart_verdict(self, pod, container_id):
        """(status, details) for "start this killed container again" when the kubelet owns it: never start it,
        and note the replacement the kubelet made, if any (see _kubelet.restart_verdict)."""
        raise NotImplementedError

    # --- recovery of a killed container ---

    def recovery_baseline(self, container_id):
        """What a container's recovery is measured against (a dict kept in the recovery entry)."""
        raise NotImplementedError

    def container_back(self, entry):
        """Is the container of a recovery ``entry`` back (or its pod's replacement, with ``entry['pod']``)?
        Notes what it saw (state, health) in ``entry``."""
        raise NotImplementedError

    # --- network namespaces: what container_netem needs ---

    def running_containers(self):
        """The running and paused containers: dicts with id, name and network_mode (``container:<ref>`` when
        it joins another container's namespace)."""
        raise NotImplementedError

    def addresses(self, name):
        """The IP addresses of the container ``name``, or None when there is no such container."""
        raise NotImplementedError

    def netns_pid(self, container_id):
        """A host pid in the container's network namespace (for nsenter)."""
        raise NotImplementedError

    def has_image(self, image):
        raise NotImplementedError

    def start_helper(self, image, target_id, labels, expires_at=None, network_mode=None):
        """Start a helper of ours from ``image`` in ``target_id``'s network namespace (or ``network_mode``), with
        only NET_ADMIN, that removes itself at ``expires_at``; returns its id."""
        raise NotImplementedError

    def list_helpers(self):
        """Our helpers, running or not, as dicts with Id, State, Names and Labels."""
        raise NotImplementedError

    def exec(self, container_id, argv, timeout=None, user=None, workdir=None, env=None):
        """Run argv (never a shell string) in a running container; returns an _host_exec.ExecResult.

        With ``timeout`` (seconds), stop waiting then: the result's ``timed_out`` is True, its rc None, and
        ``stopped`` says whether the process could be killed. ``user``, ``workdir`` and ``env`` (a dict) are those
        of the process, as with ``docker exec``."""
        raise NotImplementedError

    def remove_helper(self, helper_id):
        """Remove a helper; one that is gone already is fine."""
        raise NotImplementedError

    def helper_lost(self, helper_id, exc):
        """Did ``exc`` (from exec in the helper) come from the helper stopping or vanishing meanwhile?"""
        raise NotImplementedError

    # --- cgroups: what container_stress needs ---

    def target_cgroup(self, container_id):
        """The container's cgroup: a dict with driver (cgroupfs or systemd), version (1 or 2), path (absolute,
        in the host's hierarchy) and source (how the path was found)."""
        raise NotImplementedError

    def start_stressor(self, image, name, argv, cgroup_parent, labels, expires_at):
        """Start a helper of ours named ``name`` from ``image`` that runs stress-ng ``argv`` as a child of the
        cgroup ``cgroup_parent``, with no network and no capability, and removes itself when it exits; returns
        its id. ``expires_at`` goes into its labels."""
        raise NotImplementedError
