from io import StringIO

from django.core.management import call_command

from accounts.models import User


def test_ensure_admin_creates_superuser_once_and_prints_password(db) -> None:
    first = StringIO()
    call_command("ensure_admin", stdout=first)
    admin = User.objects.get(username="admin")
    password = next(
        line.split(":", 1)[1].strip()
        for line in first.getvalue().splitlines()
        if "password:" in line
    )
    assert admin.is_superuser and admin.check_password(password)

    second = StringIO()
    call_command("ensure_admin", stdout=second)
    assert "password:" not in second.getvalue()
    assert User.objects.filter(is_superuser=True).count() == 1
