from django.apps import AppConfig


class ApertureDBStorageConfig(AppConfig):
    name = "ls_storage.aperturedb"
    # Label Studio finds storage links by related names that contain "io_storages_".
    label = "io_storages_aperturedb"
    verbose_name = "ApertureDB storage"
    default_auto_field = "django.db.models.AutoField"

    def ready(self):
        from django.db.models.signals import post_save, pre_delete
        from tasks.models import Annotation

        from .export import on_annotation_deleted, on_annotation_saved

        post_save.connect(self._saved, sender=Annotation, dispatch_uid="aperturedb-export-save")
        pre_delete.connect(self._deleted, sender=Annotation, dispatch_uid="aperturedb-export-delete")
        self._on_saved, self._on_deleted = on_annotation_saved, on_annotation_deleted

    # Receivers only schedule work; whatever goes wrong there must not fail the annotator's request.
    def _saved(self, sender, instance, **kwargs):
        self._guarded(self._on_saved, instance)

    def _deleted(self, sender, instance, **kwargs):
        self._guarded(self._on_deleted, instance)

    @staticmethod
    def _guarded(handler, annotation):
        import logging

        try:
            handler(annotation)
        except Exception:  # noqa: BLE001
            logging.getLogger(__name__).exception("Scheduling the ApertureDB export of annotation %s failed",
                                                  annotation.id)
