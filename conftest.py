# Label Studio's own test fixtures (business_client, configured_project, ...) and an ApertureDB.
pytest_plugins = [
    "label_studio.conftest",
    "label_studio.tests.conftest",
    "ls_storage.testing.pytest_plugin",
]
