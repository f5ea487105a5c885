# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One redaction for everything the collection writes or returns that may carry a secret.

``redact(data)`` returns a copy of any nested structure of dicts, lists and scalars where

- the value of every key that names a secret (``api_key``, ``password``, ``token``, ``authorization``,
  ``cookie``, ``client_key_data``, ...; case, ``-`` and ``_`` do not matter) is replaced by ``MARKER``;
- in a ``headers`` dict, the value of every header that carries credentials (``Authorization``,
  ``Proxy-Authorization``, ``Cookie``, ``X-Api-Key``, ``X-Auth-Token``, any name with ``token``, ``secret``,
  ``key``, ``password``, ``auth``, ``session`` or ``cookie`` in it) is replaced by ``MARKER``;
- the userinfo of every URL in a string is replaced (``http://user:pass@host/`` -> ``http://********@host/``);
- every occurrence of a secret value found this way (or given in ``extra``) in any other string is replaced.

``client_key`` and ``client_cert`` are paths, not secrets, and stay as they are.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

MARKER = '********'

# Keys whose value is a secret, normalized (lower case, '-' -> '_').
SECRET_KEYS = frozenset((
    'api_key', 'apikey', 'x_api_key', 'api_token', 'auth_token', 'x_auth_token', 'access_token', 'refresh_token',
    'id_token', 'bearer_token', 'token', 'password', 'passwd', 'passphrase', 'url_password', 'proxy_password',
    'secret', 'client_secret', 'secret_key', 'secret_access_key', 'private_key', 'private_key_data',
    'client_key_data', 'client_certificate_key', 'authorization', 'proxy_authorization', 'cookie', 'set_cookie',
    'credentials', 'credential',
))
# Words that make a key secret wherever they stand between underscores: db_password, my_token, app_secret.
_SECRET_WORDS = re.compile(r'(?:^|_)(?:password|passwd|passphrase|secret|token|api_?key|credentials?)(?:$|_)')
# In a headers dict: any header name with one of these in it carries credentials.
_SECRET_HEADER = re.compile(r'auth|token|secret|key|password|passwd|cookie|session|credential')
HEADER_KEYS = frozenset(('headers', 'http_headers', 'request_headers'))
# scheme://userinfo@ : everything between :// and the last @ before the path.
_USERINFO = re.compile(r'(?i)\b([a-z][a-z0-9+.-]*://)([^/?#\s@]*(?:@[^/?#\s@]*)*)@')
# Secrets shorter than this are not searched for inside other strings (they would mangle ordinary words).
MIN_SCRUB = 4


def _norm(key):
    return str(key).strip().lower().replace('-', '_')


def is_secret_key(key):
    """Whether the value of ``key`` (a dict key, any case) is a secret."""
    name = _norm(key)
    return name in SECRET_KEYS or bool(_SECRET_WORDS.search(name))


def is_secret_header(name):
    """Whether an HTTP header of this name carries credentials."""
    return is_secret_key(name) or bool(_SECRET_HEADER.search(_norm(name)))


def _leaves(value):
    if isinstance(value, dict):
        for item in value.values():
            yield from _leaves(item)
    elif isinstance(value, (list, tuple, set)):
        for item in value:
            yield from _leaves(item)
    elif value is not None and not isinstance(value, bool):
        yield str(value)


def url_userinfo(text):
    """The userinfo parts (``user:pass``) of the URLs in ``text``."""
    return [match.group(2) for match in _USERINFO.finditer(text) if match.group(2)]


def strip_userinfo(text):
    """``text`` with the userinfo of every URL in it replaced by MARKER."""
    return _USERINFO.sub(lambda m: m.group(1) + MARKER + '@' if m.group(2) else m.group(0), text)


def secret_values(data):
    """Every secret in ``data``: the values of secret keys and headers, and URL userinfo (whole and its password).

    Meant for AnsibleModule.no_log_values, which then masks them in everything the module returns.
    """
    found = set()

    def walk(value, headers=False):
        if isinstance(value, dict):
            for key, item in value.items():
                if (is_secret_header(key) if headers else is_secret_key(key)):
                    for leaf in _leaves(item):
                        found.add(leaf)
                        # 'Bearer <token>', 'Basic <credentials>': the credential alone, too
                        found.add(leaf.partition(' ')[2].strip())
                else:
                    walk(item, headers=_norm(key) in HEADER_KEYS and isinstance(item, dict))
        elif isinstance(value, (list, tuple, set)):
            for item in value:
                walk(item)
        elif isinstance(value, str):
            for userinfo in url_userinfo(value):
                found.add(userinfo)
                password = userinfo.partition(':')[2]
                if password:
                    found.add(password)

    walk(data)
    found.discard('')
    return found


def scrub(text, secrets=()):
    """A string with URL userinfo and every occurrence of ``secrets`` (longest first) replaced by MARKER."""
    text = strip_userinfo(text)
    for secret in sorted((s for s in secrets if s and len(s) >= MIN_SCRUB), key=len, reverse=True):
        text = text.replace(secret, MARKER)
    return text


def redact(data, extra=()):
    """A copy of ``data`` with every secret in it replaced by MARKER (see the module docstring)."""
    secrets = secret_values(data) | set(s for s in extra if s)

    def walk(value, headers=False):
        if isinstance(value, dict):
            out = {}
            for key, item in value.items():
                if item is not None and (is_secret_header(key) if headers else is_secret_key(key)):
                    out[key] = MARKER
                else:
                    out[key] = walk(item, headers=_norm(key) in HEADER_KEYS and isinstance(item, dict))
            return out
        if isinstance(value, (list, tuple)):
            return [walk(item) for item in value]
        if isinstance(value, str):
            return scrub(value, secrets)
        return value

    return walk(data)
