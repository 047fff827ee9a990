"""Callback deliveries become the one webhook engine: any event, for an app, with an
optional secret of its own; existing rows keep their message's app."""

import django.db.models.deletion
from django.db import migrations, models


def app_from_message(apps, schema_editor):
    CallbackDelivery = apps.get_model("messaging", "CallbackDelivery")
    Message = apps.get_model("messaging", "Message")
    for app_id in (
        Message.objects.filter(callbacks__isnull=False).values_list("app_id", flat=True).distinct()
    ):
        CallbackDelivery.objects.filter(message__app_id=app_id, app__isnull=True).update(
            app_id=app_id
        )


class Migration(migrations.Migration):
    dependencies = [
        ("messaging", "0009_attempt_unknown"),
        ("tenants", "0004_tenant_unknown_outcome_policy"),
    ]

    operations = [
        migrations.AddField(
            model_name="callbackdelivery",
            name="app",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="tenants.app",
            ),
        ),
        migrations.RunPython(app_from_message, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="callbackdelivery",
            name="app",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE, related_name="+", to="tenants.app"
            ),
        ),
        migrations.AlterField(
            model_name="callbackdelivery",
            name="message",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="callbacks",
                to="messaging.message",
            ),
        ),
        migrations.AddField(
            model_name="callbackdelivery",
            name="event",
            field=models.CharField(default="message.status", max_length=40),
        ),
        migrations.AddField(
            model_name="callbackdelivery",
            name="secret_encrypted",
            field=models.TextField(blank=True, default=""),
        ),
    ]
