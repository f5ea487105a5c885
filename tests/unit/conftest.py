"""What every unit test of a module uses: run its main() as Ansible would, and read back its JSON result."""
import importlib
import json

import pytest

from ansible.module_utils.testing import patch_module_args

MODULES = 'ansible_collections.chaos.engineering.plugins.modules.'


@pytest.fixture
def run_module(capsys):
    """run_module(module, check_mode=False, diff=False, **args) -> the module's result. ``module``: the imported
    module, or its name (container_kill)."""
    def run(module, check_mode=False, diff=False, **args):
        if isinstance(module, str):
            module = importlib.import_module(MODULES + module)
        if check_mode:
            args['_ansible_check_mode'] = True
        if diff:
            args['_ansible_diff'] = True
        with patch_module_args(args):
            with pytest.raises(SystemExit):
                module.main()
        return json.loads(capsys.readouterr().out)
    return run
