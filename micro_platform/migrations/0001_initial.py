# The Counter model moves here from authn. Its table (authn_counter) and rows stay where they
# are: this migration only takes the model into the platform's state (authn 0010 takes it out
# of authn's), and renames the content type so admin permissions and their holders follow.

from django.db import migrations, models


def _move_content_type(apps, schema_editor, old_app, new_app):
    ContentType = apps.get_model("contenttypes", "ContentType")
    db = schema_editor.connection.alias
    rows = ContentType.objects.using(db)
    # On a fresh database there is no row yet; where both exist, the new one is kept.
    if not rows.filter(app_label=new_app, model="counter").exists():
        rows.filter(app_label=old_app, model="counter").update(app_label=new_app)


def content_type_to_platform(apps, schema_editor):
    _move_content_type(apps, schema_editor, "authn", "micro_platform")


def content_type_to_authn(apps, schema_editor):
    _move_content_type(apps, schema_editor, "micro_platform", "authn")


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('authn', '0009_audit_event_moved_to_audit'),
        ('contenttypes', '0002_remove_content_type_name'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='Counter',
                    fields=[
                        ('key', models.CharField(max_length=200, primary_key=True, serialize=False)),
                        ('value', models.PositiveIntegerField()),
                        ('expires_at', models.DateTimeField(db_index=True)),
                    ],
                    options={
                        'db_table': 'authn_counter',
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(content_type_to_platform, content_type_to_authn),
    ]
