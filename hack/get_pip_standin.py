# Offline stand-in for pip's get-pip.py, installed by hack/sanity.sh as
# ~/.ansible/test/cache/get_pip_<X_Y>.py so that `ansible-test sanity --venv` never tries to download
# https://ci-files.testing.ansible.com/ansible-test/get-pip-<X.Y>.py (that host cannot be reached here).
#
# ansible-test runs it inside a fresh `python -m venv --without-pip` environment as
#     python get_pip_X_Y.py --disable-pip-version-check pip==X.Y --no-setuptools --no-wheel
# We bootstrap the interpreter's bundled pip with ensurepip, then let that pip install the requested
# packages from the package index, exactly as get-pip.py would.
"""Bootstrap pip with ensurepip, then pip-install the requested packages (get-pip.py stand-in)."""

import os
import subprocess
import sys

# get-pip.py options that `pip install` does not know.
GET_PIP_ONLY_OPTIONS = frozenset(('--no-setuptools', '--no-wheel'))


def main():
    """Bootstrap pip and install what get-pip.py would have installed."""
    args = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY_OPTIONS]

    env = dict(os.environ)

    # ensurepip runs pip with PIP_CONFIG_FILE=os.devnull. If that leaked into this environment (it does
    # when ensurepip is run in-process), pip would ignore /etc/pip.conf and lose the machine's
    # certificate and index settings, so drop it.
    if env.get('PIP_CONFIG_FILE') == os.devnull:
        del env['PIP_CONFIG_FILE']

    subprocess.check_call([sys.executable, '-m', 'ensurepip', '--default-pip'], env=env, stdout=subprocess.DEVNULL)

    subprocess.check_call([sys.executable, '-m', 'pip', 'install'] + args, env=env)


if __name__ == '__main__':
    main()
