import uuid

import django.db.models.deletion
from django.db import migrations, models

# The built-in service and its scopes as this migration registers them (later descriptions
# come from the code, micro_platform.scopes).
BUILT_IN_SCOPES = {
    "profile": "Read and update your own account.",
    "users:read": "Read the public info of any user.",
    "users:write": "Create, update and deactivate users; read private fields.",
    "objects:read": "Read objects through the objects API (object access still checked).",
    "objects:write": "Write objects through the objects API (object access still checked).",
    "api_admin": "Manage services, scopes, roles, grants, groups, users and audit events;"
    " implies every scope.",
}


def register_built_in(apps, schema_editor):
    from django.conf import settings

    Service = apps.get_model("permissions", "Service")
    Scope = apps.get_model("permissions", "Scope")
    db = schema_editor.connection.alias
    service, _ = Service.objects.using(db).get_or_create(
        name="micro",
        defaults={
            "audience": settings.MICRO_TOKEN_AUDIENCE,
            "description": "This identity service: accounts, groups, grants, objects and audit.",
            "built_in": True,
        },
    )
    for name, description in BUILT_IN_SCOPES.items():
        Scope.objects.using(db).get_or_create(
            name=name, defaults={"service": service, "description": description}
        )


def unregister_built_in(apps, schema_editor):
    Service = apps.get_model("permissions", "Service")
    Service.objects.using(schema_editor.connection.alias).filter(name="micro").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("permissions", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="Role",
            fields=[
                ("id", models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ("name", models.CharField(max_length=63, unique=True)),
                ("description", models.CharField(blank=True, default="", max_length=500)),
                ("scopes", models.JSONField(blank=True, default=list)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
            ],
            options={"ordering": ["name"]},
        ),
        migrations.CreateModel(
            name="Service",
            fields=[
                ("id", models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ("name", models.CharField(max_length=63, unique=True)),
                ("audience", models.CharField(max_length=255, unique=True)),
                ("description", models.CharField(blank=True, default="", max_length=500)),
                ("built_in", models.BooleanField(default=False)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
            ],
            options={"ordering": ["name"]},
        ),
        migrations.CreateModel(
            name="RoleAssignment",
            fields=[
                ("id", models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ("subject_type", models.CharField(choices=[("user", "user"), ("group", "group")], max_length=5)),
                ("subject_id", models.UUIDField()),
                ("assigned_by", models.UUIDField(blank=True, null=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("role", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="assignments", to="permissions.role")),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(fields=("subject_id", "subject_type", "role"), name="role_once_per_subject"),
                    models.CheckConstraint(condition=models.Q(("subject_type__in", ["user", "group"])), name="role_assignment_subject_type_valid"),
                ],
            },
        ),
        migrations.CreateModel(
            name="Scope",
            fields=[
                ("id", models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ("name", models.CharField(max_length=127, unique=True)),
                ("description", models.CharField(blank=True, default="", max_length=500)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("service", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="scopes", to="permissions.service")),
            ],
            options={"ordering": ["name"]},
        ),
        migrations.RunPython(register_built_in, unregister_built_in, elidable=False),
    ]
