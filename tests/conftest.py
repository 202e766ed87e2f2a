pytest_plugins = ["ls_storage.testing.pytest_plugin"]
