# The AuditEvent model moves here from authn. Its table (authn_auditevent) and rows stay where
# they are: this migration only takes the model into the audit app's state (authn 0009 takes it
# out of authn's), and renames the content type so admin permissions and their holders follow.

import uuid

from django.db import migrations, models


def _move_content_type(apps, schema_editor, old_app, new_app):
    ContentType = apps.get_model("contenttypes", "ContentType")
    db = schema_editor.connection.alias
    rows = ContentType.objects.using(db)
    # On a fresh database there is no row yet; where both exist, the new one is kept.
    if not rows.filter(app_label=new_app, model="auditevent").exists():
        rows.filter(app_label=old_app, model="auditevent").update(app_label=new_app)


def content_type_to_audit(apps, schema_editor):
    _move_content_type(apps, schema_editor, "authn", "audit")


def content_type_to_authn(apps, schema_editor):
    _move_content_type(apps, schema_editor, "audit", "authn")


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('authn', '0008_verbose_names'),
        ('contenttypes', '0002_remove_content_type_name'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='AuditEvent',
                    fields=[
                        ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                        ('type', models.CharField(max_length=64)),
                        ('actor_id', models.UUIDField(blank=True, null=True)),
                        ('subject_type', models.CharField(blank=True, default='', max_length=32)),
                        ('subject_id', models.CharField(blank=True, default='', max_length=255)),
                        ('ip_address', models.GenericIPAddressField(blank=True, null=True)),
                        ('data', models.JSONField(blank=True, default=dict)),
                        ('created_at', models.DateTimeField(auto_now_add=True, db_index=True)),
                    ],
                    options={
                        'db_table': 'authn_auditevent',
                        'ordering': ['-created_at', '-id'],
                        'indexes': [models.Index(fields=['type', '-created_at'], name='audit_type_idx'), models.Index(fields=['actor_id', '-created_at'], name='audit_actor_idx'), models.Index(fields=['subject_id', '-created_at'], name='audit_subject_idx')],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(content_type_to_audit, content_type_to_authn),
    ]
