from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('io_storages_aperturedb', '0006_label_versions'),
    ]

    operations = [
        migrations.AddField(
            model_name='aperturedbexportstorage',
            name='image_properties',
            field=models.JSONField(blank=True, default=dict, help_text="{from_name: property}: the image-level Choices, Number, Rating or TextArea value of a task's latest annotation, written onto its image as that property", verbose_name='image properties'),
        ),
    ]
