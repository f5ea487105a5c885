# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment:
    # Which container runtime the module talks to (Pumba's --runtime), and how it is reached.
    DOCUMENTATION = r'''
options:
  runtime:
    description:
      - The container runtime that runs the targets.
      - V(docker) talks to the Docker engine at O(docker_host), with its TLS options.
      - V(podman) talks to Podman's Docker-compatible API service (C(podman system service)) at O(podman_socket);
        the Docker connection options other than O(api_version) and O(timeout) are not used then. A Podman
        pod's infra container is never a target, as a kubelet's sandbox is not.
      - V(containerd) talks to containerd at O(containerd_socket).
    type: str
    choices: [docker, containerd, podman]
    default: docker
  containerd_socket:
    description:
      - With O(runtime=containerd), the path of containerd's socket.
    type: str
  containerd_namespace:
    description:
      - With O(runtime=containerd), the containerd namespace of the targets (Kubernetes uses V(k8s.io)).
    type: str
  podman_socket:
    description:
      - With O(runtime=podman), the URL of the Podman API service, for example V(unix:///run/podman/podman.sock)
        (root's service) or V(unix:///run/user/1000/podman/podman.sock) (a user's).
      - Podman's service speaks plain HTTP, so it is reached on a Unix socket, or at a V(tcp://) URL without TLS.
    type: str
    default: unix:///run/podman/podman.sock
'''
