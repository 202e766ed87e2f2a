"""``settings.GET_STORAGE_LIST``: Label Studio's storages plus ApertureDB.

Returns a new list on every call: Label Studio appends Local Files to the list it gets, in place.
"""

from io_storages.functions import get_storage_list as label_studio_storage_list


def get_storage_list():
    from .api import ApertureDBExportStorageListAPI, ApertureDBImportStorageListAPI

    return list(label_studio_storage_list()) + [
        {
            "name": "aperturedb",
            "title": "ApertureDB",
            "import_list_api": ApertureDBImportStorageListAPI,
            "export_list_api": ApertureDBExportStorageListAPI,
        }
    ]
