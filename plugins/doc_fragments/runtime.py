# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment:
    # The container runtime options, named as Pumba names them (--runtime, --containerd-socket, ...).
    DOCUMENTATION = r'''
options:
  runtime:
    description:
      - The container runtime whose containers are the targets.
      - V(docker) talks to the Docker engine API at O(docker_host) (and its TLS options).
      - V(containerd) runs containerd's own C(ctr) on the host running the module, against O(containerd_socket)
        in O(containerd_namespace). It needs root there and C(ctr) (Debian's C(containerd) package). Kubernetes
        containers (with C(io.kubernetes.pod.namespace), C(io.kubernetes.pod.name) and
        C(io.kubernetes.container.name) labels) are named C(namespace/pod/container), as Pumba names them; others
        by their ID. CRI pod sandboxes are never targets. Network faults go in with C(nsenter) into the task's
        network namespace, using the host's C(tc) and C(iptables).
      - V(podman) talks to Podman's Docker-compatible API service (C(podman system service)) at O(podman_socket);
        the Docker connection options other than O(api_version) and O(timeout) are not used then. A Podman
        pod's infra container is never a target, as a kubelet's sandbox is not.
    type: str
    choices: [docker, containerd, podman]
    default: docker
  containerd_socket:
    description:
      - With O(runtime=containerd), the path of containerd's gRPC socket.
    type: path
    default: /run/containerd/containerd.sock
  containerd_namespace:
    description:
      - With O(runtime=containerd), the containerd namespace of the containers. Kubernetes (the CRI plugin) keeps
        its containers in V(k8s.io); C(ctr) and nerdctl use V(default).
    type: str
    default: k8s.io
  podman_socket:
    description:
      - With O(runtime=podman), the URL of the Podman API service, for example V(unix:///run/podman/podman.sock)
        (root's service) or V(unix:///run/user/1000/podman/podman.sock) (a user's).
      - Podman's service speaks plain HTTP, so it is reached on a Unix socket, or at a V(tcp://) URL without TLS.
    type: str
    default: unix:///run/podman/podman.sock
'''
