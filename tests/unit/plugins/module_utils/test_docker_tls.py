"""_docker's TLS options: what _tls_config and build_api_client make of them (no engine needed; the real engine is
in tests/integration/test_docker_tls.py)."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ssl

import docker.errors
import pytest
import requests

from ansible_collections.chaos.engineering.plugins.module_utils import _docker


@pytest.fixture
def files(tmp_path):
    """Files that exist; TLSConfig checks existence only, the contents are read on connect."""
    paths = {}
    for name in ('ca.pem', 'cert.pem', 'key.pem'):
        (tmp_path / name).write_text('placeholder\n')
        paths[name] = str(tmp_path / name)
    return paths


def conn_with(files, **kwargs):
    conn = dict(docker_host='tcp://192.0.2.10:2376', api_version='1.41', timeout=5, tls=False, validate_certs=False,
                ca_path=files['ca.pem'], client_cert=files['cert.pem'], client_key=files['key.pem'], tls_hostname=None)
    conn.update(kwargs)
    return conn


def https_adapter(conn, pool_size=10):
    client = _docker.build_api_client(conn, pool_size=pool_size)  # api_version given: no round trip
    return client, client.get_adapter('https://192.0.2.10:2376/version')


def test_no_tls_without_tls_or_validate_certs(files):
    assert _docker._tls_config(conn_with(files)) is None
    # Without TLS the certificate options are not used, so half a pair is no error.
    assert _docker._tls_config(conn_with(files, client_key=None)) is None


def test_validate_certs_verifies_against_ca_path_and_sends_the_client_certificate(files):
    config = _docker._tls_config(conn_with(files, validate_certs=True))
    assert config.verify is True
    assert config.ca_cert == files['ca.pem']
    assert config.cert == (files['cert.pem'], files['key.pem'])
    assert config.assert_hostname is None


def test_validate_certs_without_ca_path_uses_the_system_cas(files):
    config = _docker._tls_config(conn_with(files, validate_certs=True, ca_path=None))
    assert config.verify is True and config.ca_cert is None
    client, adapter = https_adapter(conn_with(files, validate_certs=True, ca_path=None))
    assert client.verify is True and adapter.engine_verify is True


def test_tls_alone_encrypts_without_verifying_and_ignores_ca_path_and_tls_hostname(files):
    config = _docker._tls_config(conn_with(files, tls=True, ca_path='/nonexistent/ca.pem', tls_hostname='engine'))
    assert config.verify is False
    assert config.ca_cert is None
    assert config.assert_hostname is None
    assert config.cert == (files['cert.pem'], files['key.pem'])


def test_tls_hostname_is_the_name_checked(files):
    client, adapter = https_adapter(conn_with(files, validate_certs=True, tls_hostname='engine.example'))
    assert isinstance(adapter, _docker._EngineHTTPSAdapter)
    assert adapter.assert_hostname == 'engine.example'
    assert adapter.poolmanager.connection_pool_kw['assert_hostname'] == 'engine.example'
    assert client.base_url == 'https://192.0.2.10:2376'


def test_the_environment_cannot_replace_the_ca_file_or_turn_verification_back_on(files, monkeypatch):
    # requests lets REQUESTS_CA_BUNDLE override a session's verify (psf/requests#3829); the adapter sets it again.
    monkeypatch.setenv('REQUESTS_CA_BUNDLE', '/etc/ssl/certs/ca-certificates.crt')
    seen = {}

    def fake_send(self, request, **kwargs):  # pylint: disable=unused-argument
        seen.update(kwargs)
        response = requests.Response()
        response.status_code = 200
        response._content = b'OK'  # pylint: disable=protected-access
        return response

    monkeypatch.setattr(requests.adapters.HTTPAdapter, 'send', fake_send)
    client, dummy = https_adapter(conn_with(files, validate_certs=True))
    client.ping()
    assert seen['verify'] == files['ca.pem']
    assert seen['cert'] == (files['cert.pem'], files['key.pem'])
    client, dummy = https_adapter(conn_with(files, tls=True, client_cert=None, client_key=None))
    client.ping()
    assert seen['verify'] is False
    assert seen['cert'] is None


def test_the_https_pool_is_as_large_as_asked(files):
    dummy, adapter = https_adapter(conn_with(files, tls=True), pool_size=40)
    assert adapter._pool_maxsize == 40  # pylint: disable=protected-access


@pytest.mark.parametrize('missing, present', [('client_key', 'client_cert'), ('client_cert', 'client_key')])
def test_half_a_client_key_pair_is_a_clear_error(files, missing, present):
    with pytest.raises(_docker.DockerConnectionError) as caught:
        _docker._tls_config(conn_with(files, tls=True, **{missing: None}))
    message = str(caught.value)
    assert message.startswith('TLS configuration for docker_host=tcp://192.0.2.10:2376:')
    assert '%s is set but %s is not' % (present, missing) in message


@pytest.mark.parametrize('option', ['ca_path', 'client_cert', 'client_key'])
def test_a_file_that_is_not_there_is_a_clear_error(files, option):
    with pytest.raises(_docker.DockerConnectionError) as caught:
        _docker._tls_config(conn_with(files, validate_certs=True, **{option: '/nonexistent/x.pem'}))
    assert str(caught.value) == ('TLS configuration for docker_host=tcp://192.0.2.10:2376: %s=/nonexistent/x.pem '
                                 'is not a file.' % option)


def test_a_missing_file_from_docker_cert_path_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv('DOCKER_CERT_PATH', str(tmp_path))
    (tmp_path / 'ca.pem').write_text('placeholder\n')
    conn = _docker.connection_params(dict(docker_host='tcp://192.0.2.10:2376', validate_certs=True))
    with pytest.raises(_docker.DockerConnectionError) as caught:
        _docker._tls_config(conn)
    assert 'client_cert=%s/cert.pem (from DOCKER_CERT_PATH=%s) is not a file' % (tmp_path, tmp_path) in str(
        caught.value)


def test_make_client_fails_on_the_configuration_before_connecting(files):
    # 192.0.2.10 (TEST-NET-1) is never contacted: the configuration error comes first.
    with pytest.raises(_docker.DockerConnectionError) as caught:
        _docker.make_client(conn_with(files, api_version='auto', validate_certs=True, client_key=None))
    assert 'TLS configuration' in str(caught.value)


def _wrapped(error):
    """An ssl error as the Docker SDK raises it: DockerException from requests' SSLError from urllib3's."""
    try:
        try:
            raise error
        except ssl.SSLError as inner:
            raise requests.exceptions.SSLError(inner)
    except requests.exceptions.SSLError as outer:
        wrapper = docker.errors.DockerException('Error while fetching server API version: %s' % outer)
        wrapper.__cause__ = outer  # raise ... from outer, as the SDK does
        return wrapper


def _verify_error(message):
    error = ssl.SSLCertVerificationError(1, '[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: %s' % message)
    error.verify_message = message
    return error


@pytest.mark.parametrize('error, conn, expected', [
    (_verify_error('unable to get local issuer certificate'), dict(ca_path='/c/ca.pem'),
     "TLS verification of the Docker engine at docker_host=tcp://h:2376 failed: the engine's certificate is not "
     "signed by the CA in ca_path=/c/ca.pem"),
    (_verify_error("IP address mismatch, certificate is not valid for '10.0.0.3'."), dict(),
     "TLS verification of the Docker engine at docker_host=tcp://h:2376 failed: the engine's certificate does not "
     "name the address connected to; connect by a name in the certificate or set tls_hostname to one"),
    (ssl.SSLError(1, '[SSL: SSLV3_ALERT_BAD_CERTIFICATE] sslv3 alert bad certificate'), dict(),
     'TLS verification of the Docker engine at docker_host=tcp://h:2376 failed: the engine requires a client '
     'certificate; set client_cert and client_key'),
    (ssl.SSLError(1, '[SSL: WRONG_VERSION_NUMBER] wrong version number'), dict(),
     'TLS verification of the Docker engine at docker_host=tcp://h:2376 failed: the engine at this address does '
     'not speak TLS'),
])
def test_tls_failures_get_a_message_that_says_tls(error, conn, expected):
    conn = dict(conn, docker_host='tcp://h:2376', validate_certs=True)
    assert _docker._tls_problem(conn, _wrapped(error)).startswith(expected)


def test_a_hostname_mismatch_against_tls_hostname_says_tls():
    class CertificateError(ValueError):  # urllib3's own, not an ssl.SSLError
        pass

    exc = docker.errors.DockerException('Error while fetching server API version')
    exc.__cause__ = requests.exceptions.SSLError(CertificateError("hostname 'nope' doesn't match 'engine'"))
    message = _docker._tls_problem(dict(docker_host='tcp://h:2376', validate_certs=True, tls_hostname='nope'), exc)
    assert message.startswith("TLS verification of the Docker engine at docker_host=tcp://h:2376 failed: the "
                              "engine's certificate does not name nope")


def test_plain_http_to_a_tls_engine_says_tls():
    exc = docker.errors.DockerException('400 Client Error: Bad Request ("Client sent an HTTP request to an HTTPS server.")')
    assert 'expects TLS' in _docker._tls_problem(dict(docker_host='tcp://h:2376'), exc)


def test_other_errors_are_not_tls_problems():
    assert _docker._tls_problem(dict(docker_host='tcp://h:2376'), ConnectionRefusedError(111, 'refused')) is None
