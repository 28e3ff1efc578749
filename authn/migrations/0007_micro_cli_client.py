"""The public OAuth 2.0 client of the `micro` command-line tool (device authorization grant)."""

from django.db import migrations

CLIENT_ID = "micro-cli"


def create_client(apps, schema_editor):
    Application = apps.get_model("oauth2_provider", "Application")
    Application.objects.using(schema_editor.connection.alias).get_or_create(
        client_id=CLIENT_ID,
        defaults={
            "name": "micro command-line client",
            "client_type": "public",
            "authorization_grant_type": "urn:ietf:params:oauth:grant-type:device_code",
            "redirect_uris": "",
            "algorithm": "RS256",
            "skip_authorization": False,
        },
    )


def delete_client(apps, schema_editor):
    Application = apps.get_model("oauth2_provider", "Application")
    Application.objects.using(schema_editor.connection.alias).filter(client_id=CLIENT_ID).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("authn", "0006_oauth"),
        ("oauth2_provider", "0022_refreshtoken_token_family_index"),
    ]

    operations = [migrations.RunPython(create_client, delete_client)]
