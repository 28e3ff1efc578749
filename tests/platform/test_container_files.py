"""deploy/Containerfile and deploy/compose.yaml, linted (the CI machine runs no container
engine: see docs/operations.md, "Containers")."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
# Every instruction a Containerfile may hold (Dockerfile reference / Buildah).
INSTRUCTIONS = {
    "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK", "LABEL",
    "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR",
}  # fmt: skip
PINNED = re.compile(r"^[\w./-]+:(?!latest$)[\w.-]*\d[\w.-]*$")  # a tag with a version in it


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    lines: list[tuple[str, str]] = []
    pending = ""
    for raw in (DEPLOY / "Containerfile").read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, arguments = (pending + line).partition(" ")
        lines.append((keyword, arguments.strip()))
        pending = ""
    assert not pending, "a continuation line ends the file"
    return lines


def named(keyword: str) -> list[str]:
    return [arguments for found, arguments in instructions() if found == keyword]


def build_args() -> dict[str, str]:
    return dict(argument.split("=", 1) for argument in named("ARG") if "=" in argument)


def test_every_instruction_is_valid_and_the_first_is_from() -> None:
    keywords = [keyword for keyword, _ in instructions()]
    assert set(keywords) <= INSTRUCTIONS, set(keywords) - INSTRUCTIONS
    assert all(keyword.isupper() for keyword in keywords)
    assert [k for k in keywords if k != "ARG"][0] == "FROM"
    assert keywords.count("FROM") == 1 and keywords.count("ENTRYPOINT") == 1


def test_the_base_image_is_pinned() -> None:
    (base,) = named("FROM")
    image = build_args().get(base.strip("${}"), base) if base.startswith("$") else base
    assert PINNED.match(image), image


def test_the_image_runs_the_production_entrypoint_as_an_unprivileged_user() -> None:
    lines = instructions()
    keywords = [keyword for keyword, _ in lines]
    users = named("USER")
    assert users and users[-1].split(":")[0] not in ("root", "0")
    last_user = max(i for i, keyword in enumerate(keywords) if keyword == "USER")
    assert last_user < keywords.index("ENTRYPOINT") and last_user < keywords.index("CMD")
    (workdir,) = named("WORKDIR")
    (entrypoint,) = named("ENTRYPOINT")
    assert json.loads(entrypoint) == [f"{workdir}/deploy/start"]  # exec form: gets SIGTERM
    assert json.loads(named("CMD")[0])[0] in ("all", "prepare", "serve")
    assert (ROOT / "deploy" / "start").stat().st_mode & 0o111


def test_the_health_check_asks_healthz_on_the_served_port() -> None:
    (healthcheck,) = named("HEALTHCHECK")
    options, _, command = healthcheck.partition(" CMD ")
    assert "--interval=" in options and "--start-period=" in options
    argv = json.loads(command)
    assert argv[1] == "deploy/healthcheck" and (DEPLOY / "healthcheck").is_file()
    env = dict(shlex.split(item)[0].split("=", 1) for item in _env_items())
    port = env["GUNICORN_BIND"].rsplit(":", 1)[1]
    assert named("EXPOSE") == [port]
    assert env["DJANGO_SETTINGS_MODULE"] == "micro_platform.settings.production"


def _env_items() -> list[str]:
    return [item for arguments in named("ENV") for item in shlex.split(arguments)]


def test_the_build_copies_only_what_exists_and_never_local_state() -> None:
    for arguments in named("COPY"):
        sources = [part for part in arguments.split()[:-1] if not part.startswith("--")]
        for source in sources:
            assert (ROOT / source).exists(), source
    ignored = (ROOT / ".dockerignore").read_text().split()
    for private in (".git", ".venv", "var", "deploy/compose.env"):
        assert private in ignored, private
    for arguments in named("ENV") + named("ARG"):
        assert not re.search(r"SECRET_KEY|PASSWORD|TOKEN", arguments), arguments


# --- deploy/compose.yaml ---------------------------------------------------------------------


def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((DEPLOY / "compose.yaml").read_text()))


def services() -> dict[str, dict[str, Any]]:
    return dict(compose()["services"])


def test_compose_has_the_stores_two_instances_and_nginx() -> None:
    assert set(services()) == {"postgres", "redis", "migrate", "app1", "app2", "nginx"}
    for name in ("migrate", "app1", "app2"):
        service = services()[name]
        assert service["build"] == {"context": "..", "dockerfile": "deploy/Containerfile"}
        assert service["env_file"] == "compose.env"
    assert services()["migrate"]["command"] == ["prepare"]
    assert services()["app1"]["command"] == services()["app2"]["command"] == ["serve"]


def test_compose_starts_everything_in_order() -> None:
    healthy = {"condition": "service_healthy"}
    for name in ("migrate", "app1", "app2"):
        depends = services()[name]["depends_on"]
        assert depends["postgres"] == depends["redis"] == healthy, name
    for name in ("app1", "app2"):
        assert services()[name]["depends_on"]["migrate"] == {
            "condition": "service_completed_successfully"
        }
    assert services()["nginx"]["depends_on"] == {"app1": healthy, "app2": healthy}
    for name in ("postgres", "redis", "nginx"):
        assert services()[name]["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL"), name
    # The instances' health check is the image's HEALTHCHECK.
    assert named("HEALTHCHECK")


def test_compose_images_are_pinned_and_secrets_stay_in_the_env_file() -> None:
    for name, service in services().items():
        if "image" in service and "build" not in service:
            assert PINNED.match(service["image"]), (name, service["image"])
        for key, value in (service.get("environment") or {}).items():
            assert not re.search(r"SECRET|PASSWORD|TOKEN", key), (name, key)
            assert "@" not in str(value), (name, key)  # no credentials in a URL
    example = (DEPLOY / "compose.env.example").read_text()
    values = dict(
        line.split("=", 1) for line in example.splitlines() if line and not line.startswith("#")
    )
    assert set(values) == {"POSTGRES_PASSWORD", "DJANGO_SECRET_KEY", "DATABASE_URL"}
    assert all("change-me" in value for value in values.values())
    assert "deploy/compose.env" in (ROOT / ".gitignore").read_text().split()


def test_compose_addresses_agree() -> None:
    app = services()["app1"]["environment"]
    (published,) = services()["nginx"]["ports"]
    host_port = published.split(":")[-2]
    assert app["MICRO_ISSUER"] == f"http://localhost:{host_port}"
    assert "localhost" in app["DJANGO_ALLOWED_HOSTS"].split(",")
    (subnet,) = [c["subnet"] for c in compose()["networks"]["backend"]["ipam"]["config"]]
    assert app["MICRO_TRUSTED_PROXIES"] == app["GUNICORN_FORWARDED_ALLOW_IPS"] == subnet
    (mount,) = services()["nginx"]["volumes"]
    conf = DEPLOY / mount.split(":")[0]
    upstreams = re.findall(r"server (\w+):(\d+)", conf.read_text())
    port = dict(item.split("=", 1) for item in _env_items())["GUNICORN_BIND"].rsplit(":")[-1]
    assert upstreams == [("app1", port), ("app2", port)]
    assert f"listen {published.split(':')[-1]};" in conf.read_text()


@pytest.mark.parametrize(
    ("env", "host"),
    [
        ({"MICRO_ISSUER": "http://localhost:8080", "DJANGO_ALLOWED_HOSTS": "x"}, "localhost:8080"),
        ({"DJANGO_ALLOWED_HOSTS": ".example.com,localhost"}, "example.com"),
        ({"DJANGO_ALLOWED_HOSTS": "*"}, "localhost"),
        ({}, "localhost"),
    ],
)
def test_the_health_check_asks_under_a_host_the_service_accepts(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], host: str
) -> None:
    import runpy

    for key in ("MICRO_ISSUER", "DJANGO_ALLOWED_HOSTS"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    script = runpy.run_path(str(DEPLOY / "healthcheck"))
    assert script["host_header"]() == host
