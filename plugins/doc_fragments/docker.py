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
      - If not given, the value of the E(DOCKER_HOST) environment variable is used, and then the default.
    type: str
    default: unix:///var/run/docker.sock
    aliases: [docker_url]
  tls_hostname:
    description:
      - When verifying the engine's certificate, the host name to check it against.
      - If not given, the value of the E(DOCKER_TLS_HOSTNAME) environment variable is used.
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
      - Path to the CA certificate that signed the engine's certificate.
      - If not given and E(DOCKER_CERT_PATH) is set, C(ca.pem) in that directory is used.
    type: path
    aliases: [ca_cert, tls_ca_cert, cacert_path]
  client_cert:
    description:
      - Path to the client's TLS certificate.
      - If not given and E(DOCKER_CERT_PATH) is set, C(cert.pem) in that directory is used.
    type: path
    aliases: [tls_client_cert, cert_path]
  client_key:
    description:
      - Path to the client's TLS key.
      - If not given and E(DOCKER_CERT_PATH) is set, C(key.pem) in that directory is used.
    type: path
    aliases: [tls_client_key, key_path]
  tls:
    description:
      - Connect to the engine over TLS without verifying the engine's certificate.
      - Ignored when O(validate_certs=true), which also uses TLS.
      - If not given, the value of the E(DOCKER_TLS) environment variable is used, and then the default.
    type: bool
    default: false
  validate_certs:
    description:
      - Connect over TLS and verify the engine's certificate.
      - If not given, the value of the E(DOCKER_TLS_VERIFY) environment variable is used, and then the default.
    type: bool
    default: false
    aliases: [tls_verify]
requirements:
  - Docker SDK for Python >= 7.0 (the C(docker) package on PyPI)
  - Docker API >= 1.41
'''
