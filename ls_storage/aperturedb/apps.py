from django.apps import AppConfig


class ApertureDBStorageConfig(AppConfig):
    name = "ls_storage.aperturedb"
    # Label Studio finds storage links by related names that contain "io_storages_".
    label = "io_storages_aperturedb"
    verbose_name = "ApertureDB storage"
    default_auto_field = "django.db.models.AutoField"
