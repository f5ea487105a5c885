# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment:
    # Connection options, named and defaulted as in community.docker.
    DOCUMENTATION = r'''
options:
  docker_host:
    description:
      - The URL or Unix socket path of the Docker engine API, for example V(unix:///var/run/docker.sock)
        or V(tcp://192.0.2.23:2376).
      - With O(tls) or O(validate_certs), a V(tcp://) URL is reached over HTTPS, as the Docker CLI does.
      - If not given, the value of the E(DOCKER_HOST) environment variable is used, and then the default.
    type: str
    default: unix:///var/run/docker.sock
    aliases: [docker_url]
  tls_hostname:
    description:
      - With O(validate_certs=true), the name that the engine's certificate must carry (in its subject alternative
        names) instead of the host in O(docker_host). Use it when the engine is reached by an address or name that
        its certificate does not list.
      - Not used without O(validate_certs=true).
      - If not given, the value of the E(DOCKER_TLS_HOSTNAME) environment variable is used.
      - Works with the Docker SDK for Python 7, which dropped this setting from its own TLS configuration.
    type: str
  api_version:
    description:
      - The Docker API version to use. V(auto) negotiates the engine's version.
      - If not given, the value of the E(DOCKER_API_VERSION) environment variable is used, and then the default.
      - V(auto), or a version such as V(1.41).
    type: str
    default: auto
    aliases: [docker_api_version]
  timeout:
    description:
      - Seconds to wait for a response from the Docker API.
      - If not given, the value of the E(DOCKER_TIMEOUT) environment variable is used, and then the default.
      - From 1 to 86400 seconds (1 day).
    type: int
    default: 60
  ca_path:
    description:
      - Path to the CA certificate that the engine's certificate must be signed by.
      - Used only with O(validate_certs=true); without it, the CAs that this host trusts are used.
      - If not given and E(DOCKER_CERT_PATH) is set, C(ca.pem) in that directory is used.
      - A file that does not exist fails the task before any connection.
      - Its alias C(docker_ca_path) is the name of this option in M(chaos.engineering.probe) and
        M(chaos.engineering.sampler), which also talk to Kubernetes. Set that name in C(module_defaults) for
        C(group/chaos.engineering.docker) and they get the value too.
    type: path
    aliases: [ca_cert, tls_ca_cert, cacert_path, docker_ca_path]
  client_cert:
    description:
      - Path to the client's TLS certificate, sent to an engine that requires one (C(dockerd --tlsverify)).
      - Used with O(tls) or O(validate_certs), and only together with O(client_key).
      - If not given and E(DOCKER_CERT_PATH) is set, C(cert.pem) in that directory is used.
      - A file that does not exist, or a certificate without its key, fails the task before any connection.
      - Its alias C(docker_client_cert) is the name of this option in M(chaos.engineering.probe) and
        M(chaos.engineering.sampler), which also talk to Kubernetes. Set that name in C(module_defaults) for
        C(group/chaos.engineering.docker) and they get the value too.
    type: path
    aliases: [tls_client_cert, cert_path, docker_client_cert]
  client_key:
    description:
      - Path to the key of O(client_cert).
      - If not given and E(DOCKER_CERT_PATH) is set, C(key.pem) in that directory is used.
      - Its alias C(docker_client_key) is the name of this option in M(chaos.engineering.probe) and
        M(chaos.engineering.sampler), which also talk to Kubernetes. Set that name in C(module_defaults) for
        C(group/chaos.engineering.docker) and they get the value too.
    type: path
    aliases: [tls_client_key, key_path, docker_client_key]
  tls:
    description:
      - Connect to the engine over TLS without verifying the engine's certificate; the client certificate
        (O(client_cert), O(client_key)) is still sent. O(ca_path) and O(tls_hostname) are not used.
      - Ignored when O(validate_certs=true), which also uses TLS.
      - If not given, the value of the E(DOCKER_TLS) environment variable is used, and then the default.
    type: bool
    default: false
  validate_certs:
    description:
      - Connect over TLS and verify the engine's certificate, as C(docker --tlsverify) does. The certificate must be
        signed by O(ca_path) (or a CA this host trusts) and name the host in O(docker_host) (or O(tls_hostname)).
      - If not given, the value of the E(DOCKER_TLS_VERIFY) environment variable is used, and then the default.
        With E(DOCKER_HOST), E(DOCKER_CERT_PATH) and E(DOCKER_TLS_VERIFY) (set to V(1)) in the environment, for
        example from C(minikube docker-env), no connection option is needed.
      - E(REQUESTS_CA_BUNDLE) and E(CURL_CA_BUNDLE) in the environment do not replace O(ca_path), nor turn
        verification on for O(tls) alone.
      - A certificate that does not verify, or an engine that refuses the client certificate, fails the task with
        a message that says so.
      - Its alias C(docker_validate_certs) is the name of this option in M(chaos.engineering.probe) and
        M(chaos.engineering.sampler), which also talk to Kubernetes. Set that name in C(module_defaults) for
        C(group/chaos.engineering.docker) and they get the value too.
    type: bool
    default: false
    aliases: [tls_verify, docker_validate_certs]
  use_ssh_client:
    description:
      - For an V(ssh://[user@]host[:port]) O(docker_host), use the C(ssh) command instead of paramiko, as
        community.docker does. Each connection runs C(ssh -o BatchMode=yes -o ConnectTimeout=<timeout> [-l user]
        [-p port] -- host docker system dial-stdio), so the C(docker) CLI must be on the remote user's PATH there.
      - The keys, known hosts, proxies and jump hosts are those of the ssh configuration (and the ssh-agent in
        E(SSH_AUTH_SOCK)) of the user the module runs as; ssh never prompts (C(BatchMode)).
      - Connections are kept and reused, but each request in flight at once is an ssh connection of its own. With
        many targets, share one with C(ControlMaster auto) and C(ControlPersist) in the ssh configuration, or lower
        C(parallelism) where a module has it, as sshd drops handshakes beyond its C(MaxStartups) (10 by default).
      - With V(false), an V(ssh://) O(docker_host) needs paramiko; the task says so when it is missing.
      - Faults armed for a later revert are reverted over the same transport; the ledger entry keeps this option
        (never a password; an V(ssh://) URL with one is refused), and the reverter runs C(ssh) as the same user.
      - V(true) with another O(docker_host) than V(ssh://), or with O(tls) or O(validate_certs), fails the task.
      - Works with the Docker SDK for Python 7 without paramiko, since the collection carries this transport.
    type: bool
    default: false
  debug:
    description:
      - Debug mode. As community.docker's O(debug) keeps the actions taken in the result, the container modules
        add C(chaos.docker_debug), with the connection as used (options and TLS file paths, the ssh command line; never a
        key's content nor a password) and every Docker API call the module made, as C(METHOD /path?query -> status).
      - M(chaos.engineering.probe) and M(chaos.engineering.sampler) accept it and return nothing more.
      - Not kept in the ledger, since it concerns this task, not the reverter.
    type: bool
    default: false
requirements:
  - Docker SDK for Python >= 7.0 (the C(docker) package on PyPI)
  - Docker API >= 1.41
'''
