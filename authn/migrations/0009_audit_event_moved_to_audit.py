# AuditEvent now belongs to the audit app (audit 0001 took it into its state over the same
# table): it leaves authn's state only, so no row is dropped.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('authn', '0008_verbose_names'),
        ('audit', '0001_initial'),
        # accounts 0002 reads authn's AuditEvent, so it runs while authn's state still has it.
        ('accounts', '0002_user_signed_up'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name='AuditEvent')],
            database_operations=[],
        ),
    ]
