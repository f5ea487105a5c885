# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment:
    # The TLS options of the modules that talk to both Docker and Kubernetes (probe, sampler). List this fragment
    # before chaos.engineering.docker and chaos.engineering.k8s: the first fragment to document an option wins
    # (key by key, so the deprecated names clear the aliases and default those fragments give them).
    DOCUMENTATION = r'''
options:
  docker_validate_certs:
    description:
      - The Docker engine's O(chaos.engineering.container_kill#module:validate_certs), under the name that is an
        alias of it in every container module, so that C(module_defaults) for C(group/chaos.engineering.docker) set
        it for this module too.
      - Connect over TLS and verify the engine's certificate against O(docker_ca_path).
      - If not given, O(validate_certs) (deprecated) is used, then the value of E(DOCKER_TLS_VERIFY), then V(false).
    type: bool
    aliases: [tls_verify]
  docker_ca_path:
    description:
      - The CA that signed the Docker engine's certificate (in the container modules, this name is an alias of
        O(chaos.engineering.container_kill#module:ca_path)).
      - If not given, O(ca_path) (deprecated) is used, then C(ca.pem) in E(DOCKER_CERT_PATH) when that is set.
    type: path
    aliases: [tls_ca_cert, cacert_path]
  docker_client_cert:
    description:
      - The client certificate sent to the Docker engine, together with O(docker_client_key). Without it,
        O(client_cert) (deprecated) is used, then C(cert.pem) in E(DOCKER_CERT_PATH) when that is set.
      - An alias of O(chaos.engineering.container_kill#module:client_cert) in the container modules.
    type: path
    aliases: [tls_client_cert, cert_path]
  docker_client_key:
    description:
      - The key of O(docker_client_cert); if not given, O(client_key) (deprecated), then C(key.pem) in
        E(DOCKER_CERT_PATH). In the container modules, O(chaos.engineering.container_kill#module:client_key).
    type: path
    aliases: [tls_client_key, key_path]
  k8s_validate_certs:
    description:
      - Whether to verify the Kubernetes API server's certificate. In the Kubernetes modules this name is an alias of
        O(chaos.engineering.k8s_pod_chaos#module:validate_certs), so that C(module_defaults) for
        C(group/chaos.engineering.k8s) set it for this module too.
      - If not given, O(validate_certs) (deprecated) is used, then E(K8S_AUTH_VERIFY_SSL) (or
        E(K8S_AUTH_VALIDATE_CERTS)), then what the kubeconfig says, then V(true).
    type: bool
    aliases: [verify_ssl]
  k8s_ca_cert:
    description:
      - The CA that signed the Kubernetes API server's certificate (in the Kubernetes modules, this name is an alias
        of O(chaos.engineering.k8s_pod_chaos#module:ca_cert)).
      - If not given, O(ca_cert) (deprecated) is used, then E(K8S_AUTH_SSL_CA_CERT) (or E(K8S_AUTH_CA_CERT)), then the
        kubeconfig's.
    type: path
    aliases: [ssl_ca_cert]
  k8s_client_cert:
    description:
      - A client certificate to authenticate to the Kubernetes API with, together with O(k8s_client_key). Without
        it, O(client_cert) (deprecated) is used, then E(K8S_AUTH_CERT_FILE) (or E(K8S_AUTH_CLIENT_CERT)).
      - An alias of O(chaos.engineering.k8s_pod_chaos#module:client_cert) in the Kubernetes modules.
    type: path
    aliases: [cert_file]
  k8s_client_key:
    description:
      - The key of O(k8s_client_cert); if not given, O(client_key) (deprecated), then E(K8S_AUTH_KEY_FILE) (or
        E(K8S_AUTH_CLIENT_KEY)). In the Kubernetes modules, O(chaos.engineering.k8s_pod_chaos#module:client_key).
    type: path
    aliases: [key_file]
  validate_certs:
    description:
      - Deprecated, to be removed in 2.0.0; use O(docker_validate_certs) and O(k8s_validate_certs).
      - Sets the Docker engine's and the Kubernetes API's certificate verification alike, for each connection whose
        own option is not set. With probes that use both connections, one value cannot be right for both.
      - The container modules and the Kubernetes modules each have an option of this name, so C(module_defaults)
        setting it for either group reach this module too; set the distinct names there instead.
      - Nothing to do with an V(http) probe's own C(validate_certs).
    type: bool
    aliases: []
    default: null
  client_cert:
    description:
      - Deprecated, to be removed in 2.0.0; use O(docker_client_cert) and O(k8s_client_cert).
      - The client certificate for both connections, for each one whose own option is not set.
    type: path
    aliases: []
  client_key:
    description:
      - Deprecated as O(client_cert) is; use O(docker_client_key) and O(k8s_client_key). The key of O(client_cert).
    type: path
    aliases: []
  ca_path:
    description:
      - Deprecated, to be removed in 2.0.0; use O(docker_ca_path).
      - The Docker engine's CA, when O(docker_ca_path) is not set.
    type: path
    aliases: []
  ca_cert:
    description:
      - Deprecated, to be removed in 2.0.0; use O(k8s_ca_cert).
      - The Kubernetes API server's CA, when O(k8s_ca_cert) is not set. In the container modules the same name is an
        alias of the Docker O(chaos.engineering.container_kill#module:ca_path), so C(module_defaults) for
        C(group/chaos.engineering.docker) that set it give this module the Docker CA as its Kubernetes CA.
    type: path
    aliases: []
notes:
  - The TLS options have one name per connection (C(docker_*) and C(k8s_*)). The same names are aliases in the
    container modules and in M(chaos.engineering.k8s_pod_chaos) and M(chaos.engineering.k8s_agent), so one
    C(module_defaults) block can set C(group/chaos.engineering.docker) and C(group/chaos.engineering.k8s) each with
    its own values, and every module, this one included, gets the right one.
  - The old names O(validate_certs), O(client_cert), O(client_key), O(ca_path) and O(ca_cert) still work as before,
    with a deprecation warning; a C(docker_*) or C(k8s_*) option given too wins over them for its connection.
'''
