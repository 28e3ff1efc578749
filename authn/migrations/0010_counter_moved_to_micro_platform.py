# Counter now belongs to the platform (micro_platform 0001 took it into its state over the same
# table): it leaves authn's state only, so no row is dropped.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('authn', '0009_audit_event_moved_to_audit'),
        ('micro_platform', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name='Counter')],
            database_operations=[],
        ),
    ]
