# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment:
    # Kubernetes API connection and auth, named as in kubernetes.core (same environment variables),
    # so an AWX Kubernetes credential works unchanged.
    DOCUMENTATION = r'''
options:
  kubeconfig:
    description:
      - Path to a kubeconfig file, or the kubeconfig itself as a dictionary.
      - If not given, the value of the E(K8S_AUTH_KUBECONFIG) environment variable is used.
      - When no connection option is given at all, the module uses the in-cluster service account if it runs in a
        pod (and E(KUBECONFIG) is not set), else the kubeconfig named by E(KUBECONFIG), else C(~/.kube/config).
      - Anything else (a number, a list) fails before anything is done.
    type: raw
  context:
    description:
      - The kubeconfig context to use. If not given, the value of E(K8S_AUTH_CONTEXT) is used, then the
        kubeconfig's current context.
    type: str
  host:
    description:
      - The URL of the Kubernetes API server, for example V(https://k8s.example.com:6443).
      - If not given, the value of E(K8S_AUTH_HOST) is used. With O(api_key), no kubeconfig is read.
    type: str
  api_key:
    description:
      - A bearer token for the API server, for example a ServiceAccount token.
      - If not given, the value of E(K8S_AUTH_API_KEY) is used.
    type: str
  validate_certs:
    description:
      - Whether to verify the API server's TLS certificate. If not given, the value of E(K8S_AUTH_VERIFY_SSL)
        (or E(K8S_AUTH_VALIDATE_CERTS)) is used, then what the kubeconfig says, then V(true).
      - Its alias C(k8s_validate_certs) is the name of this option in M(chaos.engineering.probe) and
        M(chaos.engineering.sampler), which also talk to Docker. Set that name in C(module_defaults) for
        C(group/chaos.engineering.k8s) and they get the value too.
    type: bool
    aliases: [verify_ssl, k8s_validate_certs]
  ca_cert:
    description:
      - Path to the CA certificate that signed the API server's certificate.
      - If not given, the value of E(K8S_AUTH_SSL_CA_CERT) (or E(K8S_AUTH_CA_CERT)) is used, then the kubeconfig's.
      - Its alias C(k8s_ca_cert) is the name of this option in M(chaos.engineering.probe) and
        M(chaos.engineering.sampler), which also talk to Docker. Set that name in C(module_defaults) for
        C(group/chaos.engineering.k8s) and they get the value too.
    type: path
    aliases: [ssl_ca_cert, k8s_ca_cert]
  client_cert:
    description:
      - Path to a client certificate to authenticate with.
      - If not given, the value of E(K8S_AUTH_CERT_FILE) (or E(K8S_AUTH_CLIENT_CERT)) is used.
      - Its alias C(k8s_client_cert) is the name of this option in M(chaos.engineering.probe) and
        M(chaos.engineering.sampler), which also talk to Docker. Set that name in C(module_defaults) for
        C(group/chaos.engineering.k8s) and they get the value too.
    type: path
    aliases: [cert_file, k8s_client_cert]
  client_key:
    description:
      - Path to the key of O(client_cert).
      - If not given, the value of E(K8S_AUTH_KEY_FILE) (or E(K8S_AUTH_CLIENT_KEY)) is used.
      - Its alias C(k8s_client_key) is the name of this option in M(chaos.engineering.probe) and
        M(chaos.engineering.sampler), which also talk to Docker. Set that name in C(module_defaults) for
        C(group/chaos.engineering.k8s) and they get the value too.
    type: path
    aliases: [key_file, k8s_client_key]
  proxy:
    description:
      - The URL of an HTTP proxy to reach the API server through. If not given, the value of E(K8S_AUTH_PROXY) is
        used. E(HTTPS_PROXY) and similar variables are not read.
    type: str
  no_proxy:
    description:
      - Comma-separated hosts, domains and CIDRs to reach without O(proxy). If not given, the value of
        E(K8S_AUTH_NO_PROXY) is used.
    type: str
  proxy_headers:
    description:
      - Headers for the connection to the proxy (O(proxy), or the kubeconfig's C(proxy-url)), built as
        kubernetes.core builds them with C(urllib3.util.make_headers). For an C(https) API server they go to the
        proxy only, in its C(CONNECT) request.
      - Giving them without a proxy fails before anything is done.
    type: dict
    suboptions:
      proxy_basic_auth:
        description:
          - Colon-separated V(username:password) for the C(Proxy-Authorization) basic authentication header.
          - If not given, the value of E(K8S_AUTH_PROXY_HEADERS_PROXY_BASIC_AUTH) is used.
        type: str
      basic_auth:
        description:
          - Colon-separated V(username:password) for an C(Authorization) basic authentication header.
          - If not given, the value of E(K8S_AUTH_PROXY_HEADERS_BASIC_AUTH) is used.
        type: str
      user_agent:
        description:
          - The C(User-Agent) header, for example V(chaos/1.0).
          - If not given, the value of E(K8S_AUTH_PROXY_HEADERS_USER_AGENT) is used.
        type: str
  username:
    description:
      - A username for HTTP basic authentication to the API server, with O(password), in place of any token.
      - If not given, the value of E(K8S_AUTH_USERNAME) is used.
      - The Kubernetes API server has not accepted basic authentication since Kubernetes 1.19; this is for
        servers or authenticating proxies in front of one that still do. A server that does not takes the request
        as anonymous (401 Unauthorized or 403 Forbidden), and the module fails saying so.
      - Cannot be used together with O(api_key), and must not contain a colon.
    type: str
  password:
    description:
      - The password of O(username). If not given, the value of E(K8S_AUTH_PASSWORD) is used.
    type: str
  impersonate_user:
    description:
      - The user to act as (the C(Impersonate-User) header on every request). The API server authorizes every
        request as this user, once it has checked that the credentials may impersonate it (the C(impersonate)
        verb on C(users) in the core API group).
      - If not given, the value of E(K8S_AUTH_IMPERSONATE_USER) is used, then the kubeconfig user's C(as), as
        kubectl does.
    type: str
  impersonate_groups:
    description:
      - The groups to act as (one C(Impersonate-Group) header each), with O(impersonate_user).
      - If not given, the value of E(K8S_AUTH_IMPERSONATE_GROUPS) (comma-separated, for example
        V(group1,group2)) is used, then the kubeconfig user's C(as-groups).
      - Groups without a user to impersonate fail before anything is done, as the API server refuses them.
    type: list
    elements: str
requirements:
  - kubernetes (the Kubernetes Python client) >= 29.0.0
notes:
  - The options and environment variables are those of kubernetes.core, so the same C(module_defaults) values and
    an AWX Kubernetes credential (which sets E(K8S_AUTH_HOST), E(K8S_AUTH_API_KEY), E(K8S_AUTH_VERIFY_SSL) and
    E(K8S_AUTH_SSL_CA_CERT)) work unchanged.
  - Unlike kubernetes.core, a kubeconfig user's C(as) and C(as-groups) are applied (as kubectl applies them), so
    the requests never carry more rights than the kubeconfig says; C(as-uid) and C(as-user-extra) are refused.
  - Secrets (O(api_key), O(password), the credentials in O(proxy_headers)), from the options or the environment,
    are masked in everything the module returns.
'''
