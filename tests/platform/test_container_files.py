"""deploy/Containerfile and deploy/compose.yaml, linted (the CI machine runs no container
engine: see docs/operations.md, "Containers")."""

from __future__ import annotations

import ipaddress
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
    for private in (".git", ".venv", "var", "deploy/postgres.env", "deploy/app.env"):
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
        assert service["env_file"] == "app.env"
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


def test_every_instance_has_its_own_compose_health_check() -> None:
    # The image's HEALTHCHECK is not enough: an OCI-format image (podman's default) drops it.
    (image_check,) = named("HEALTHCHECK")
    image_argv = json.loads(image_check.partition(" CMD ")[2])
    for name in ("app1", "app2"):
        check = services()[name]["healthcheck"]
        assert check["test"] == ["CMD", *image_argv], name
        assert not check.get("disable"), name
        for option in ("interval", "timeout", "retries", "start_period"):
            assert check.get(option), (name, option)
    # The one-shot serves nothing, so it does not inherit the instances' check.
    assert services()["migrate"]["healthcheck"] == {"disable": True}


def test_a_service_healthy_condition_names_only_services_with_a_health_check() -> None:
    checked = {
        name
        for name, service in services().items()
        if "healthcheck" in service and not service["healthcheck"].get("disable")
    }
    for name, service in services().items():
        for dependency, condition in (service.get("depends_on") or {}).items():
            if condition == {"condition": "service_healthy"}:
                assert dependency in checked, (name, dependency)


def _env_example(name: str) -> dict[str, str]:
    text = (DEPLOY / f"{name}.env.example").read_text()
    return dict(line.split("=", 1) for line in text.splitlines() if line and line[0] != "#")


def test_compose_images_are_pinned_and_secrets_stay_in_the_env_files() -> None:
    for name, service in services().items():
        if "image" in service and "build" not in service:
            assert PINNED.match(service["image"]), (name, service["image"])
        for key, value in (service.get("environment") or {}).items():
            assert not re.search(r"SECRET|PASSWORD|TOKEN", key), (name, key)
            assert "@" not in str(value), (name, key)  # no credentials in a URL
    postgres, app = _env_example("postgres"), _env_example("app")
    assert set(postgres) == {"POSTGRES_PASSWORD"}
    assert set(app) == {"DJANGO_SECRET_KEY", "DATABASE_URL"}
    assert all("change-me" in value for value in [*postgres.values(), *app.values()])
    ignored = (ROOT / ".gitignore").read_text().split()
    not_built = (ROOT / ".dockerignore").read_text().split()
    for private in ("deploy/postgres.env", "deploy/app.env"):
        assert private in ignored and private in not_built, private


def test_each_container_gets_only_its_own_env_file() -> None:
    # The PostgreSQL container never sees the app's signing secret, nor the app the other way.
    assert services()["postgres"]["env_file"] == "postgres.env"
    for name, service in services().items():
        if name != "postgres":
            assert service.get("env_file") in (None, "app.env"), name
    assert "DJANGO_SECRET_KEY" not in _env_example("postgres")


def test_compose_addresses_agree() -> None:
    app = services()["app1"]["environment"]
    (published,) = services()["nginx"]["ports"]
    host_port = published.split(":")[-2]
    assert app["MICRO_ISSUER"] == f"http://localhost:{host_port}"
    assert "localhost" in app["DJANGO_ALLOWED_HOSTS"].split(",")
    (subnet,) = [c["subnet"] for c in compose()["networks"]["backend"]["ipam"]["config"]]
    # Only nginx, pinned to one address, is a trusted proxy: not every container on the network.
    nginx_address = services()["nginx"]["networks"]["backend"]["ipv4_address"]
    assert ipaddress.ip_address(nginx_address) in ipaddress.ip_network(subnet)
    for name in ("migrate", "app1", "app2"):
        environment = services()[name]["environment"]
        assert environment["MICRO_TRUSTED_PROXIES"] == nginx_address, name
        assert environment["GUNICORN_FORWARDED_ALLOW_IPS"] == nginx_address, name
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
