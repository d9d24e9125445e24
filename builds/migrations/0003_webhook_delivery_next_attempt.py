from django.db import migrations, models
from django.db.models.functions import Coalesce


def pending_deliveries_due(apps, schema_editor):
    """Deliveries pending before this field existed are due from their last
    attempt (or creation), so the redispatcher finds those whose message was lost."""
    Delivery = apps.get_model("builds", "RepositoryWebhookDelivery")
    Delivery.objects.filter(status="pending").update(
        next_attempt_at=Coalesce("last_attempt_at", "created_at")
    )


class Migration(migrations.Migration):
    dependencies = [
        ("builds", "0002_pipeline"),
    ]

    operations = [
        migrations.AddField(
            model_name="repositorywebhookdelivery",
            name="next_attempt_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddIndex(
            model_name="repositorywebhookdelivery",
            index=models.Index(
                condition=models.Q(("status", "pending")),
                fields=["next_attempt_at"],
                name="webhook_delivery_due",
            ),
        ),
        migrations.RunPython(pending_deliveries_due, migrations.RunPython.noop),
    ]
