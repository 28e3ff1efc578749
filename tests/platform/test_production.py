"""Production settings and deploy/gunicorn.conf.py, run the way they are deployed."""

from __future__ import annotations

import os
import re
import runpy
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gunicorn.config import Config
from prometheus_client.parser import text_string_to_metric_families

from bench import procs
from tests.conftest import require_component
from tests.platform.helpers import ROOT, production_env

CONFIG = ROOT / "deploy" / "gunicorn.conf.py"


# Collected once per run (each test's STATIC_ROOT is a copy): it takes seconds.
_COLLECTED: list[Path] = []


def collect_static(tmp_path: Path, env: dict[str, str]) -> None:
    """`collectstatic` into the STATIC_ROOT of `env`, as a release does."""
    if not _COLLECTED:
        collected = Path(tempfile.mkdtemp(prefix="micro-static-")) / "static"
        run(
            ["manage.py", "collectstatic", "--noinput"],
            {**env, "DJANGO_STATIC_ROOT": str(collected)},
        )
        _COLLECTED.append(collected)
    shutil.copytree(_COLLECTED[0], env["DJANGO_STATIC_ROOT"])


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - this interpreter and our own manage.py
        [sys.executable, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=180
    )


def load_config(monkeypatch: pytest.MonkeyPatch, **env: str) -> dict[str, Any]:
    for key in list(os.environ):
        if key.startswith("GUNICORN_"):
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return runpy.run_path(str(CONFIG))


# --- python manage.py check --deploy -------------------------------------------------------


def test_check_deploy_is_clean_with_the_production_settings(tmp_path: Path) -> None:
    env = production_env(tmp_path, MICRO_ISSUER="https://id.example.com")
    collect_static(tmp_path, env)
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_fails_without_collected_static_files(tmp_path: Path) -> None:
    result = run(["manage.py", "check", "--deploy"], production_env(tmp_path))
    assert result.returncode == 1
    assert "(micro.E001) No readable static file manifest in STATIC_ROOT" in result.stderr
    assert "run `manage.py collectstatic --noinput`" in result.stderr


# --- createapplication: its exit status, for scripts ------------------------------------------


def test_createapplication_exits_non_zero_when_it_refuses_an_application(tmp_path: Path) -> None:
    env = production_env(tmp_path)
    manage = [sys.executable, "manage.py"]
    migrate = subprocess.run(  # noqa: S603 - our own manage.py
        [*manage, "migrate", "--no-input"], env=env, cwd=ROOT, capture_output=True, timeout=300
    )
    assert migrate.returncode == 0, migrate.stderr

    def createapplication(redirect_uris: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603 - our own manage.py
            [*manage, "createapplication", "public", "authorization-code"]
            + ["--name", "Desktop app", "--redirect-uris", redirect_uris],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )

    refused = createapplication("http://localhost:1234/cb")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "loopback IP address" in refused.stderr
    created = createapplication("http://127.0.0.1/callback")
    assert created.returncode == 0, created.stdout + created.stderr
    assert "created successfully" in created.stdout


# --- deploy/gunicorn.conf.py, loaded -------------------------------------------------------


def test_the_config_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    config = load_config(monkeypatch)
    cpus = os.cpu_count() or 1
    assert config["wsgi_app"] == "micro_platform.wsgi:application"
    assert config["bind"] == ["127.0.0.1:8000"]
    assert config["workers"] == cpus * 2 + 1
    assert config["threads"] == 4
    assert config["worker_class"] == "gthread"
    assert config["timeout"] == 30
    assert config["graceful_timeout"] == 30
    assert config["forwarded_allow_ips"] == "127.0.0.1,::1"
    assert callable(config["child_exit"]) and callable(config["on_starting"])


def test_the_config_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    config = load_config(
        monkeypatch,
        GUNICORN_BIND="0.0.0.0:9000,[::]:9000",
        GUNICORN_WORKERS="3",
        GUNICORN_THREADS="1",
        GUNICORN_TIMEOUT="12",
        GUNICORN_FORWARDED_ALLOW_IPS="10.0.0.5",
    )
    assert config["bind"] == ["0.0.0.0:9000", "[::]:9000"]
    assert (config["workers"], config["threads"], config["timeout"]) == (3, 1, 12)
    assert config["worker_class"] == "sync"  # one thread: no thread pool to pay for
    assert config["forwarded_allow_ips"] == "10.0.0.5"


def test_the_config_refuses_a_zero_worker_count(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="GUNICORN_WORKERS must be at least 1"):
        load_config(monkeypatch, GUNICORN_WORKERS="0")


def test_every_value_is_a_valid_gunicorn_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    config = load_config(monkeypatch)
    cfg = Config()
    names = [name for name in config if name in cfg.settings]
    for name in names:
        cfg.set(name, config[name])  # gunicorn's own validation
    assert {"workers", "threads", "worker_class", "access_log_format", "child_exit"} <= set(names)
    # Unknown names would be ignored by gunicorn without a word: catch typos here.
    ours = {
        name
        for name, value in config.items()
        if not name.startswith("_") and not callable(value) and not isinstance(value, type)
    }
    ours -= {"annotations", "os", "Path", "Any"}
    assert ours <= set(cfg.settings), ours - set(cfg.settings)


def test_the_access_log_never_holds_query_strings_or_referers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    log_format = load_config(monkeypatch)["access_log_format"]
    assert "%(U)s" in log_format
    # %(r)s is the request line with its query, %(q)s the query, %(f)s the Referer.
    for leaky in ("%(r)s", "%(q)s", "%(f)s", "%({authorization}i)s", "%({cookie}i)s"):
        assert leaky not in log_format


# --- gunicorn, started with the config -----------------------------------------------------


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 - local URL
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read().decode()


@pytest.fixture
def gunicorn_server(tmp_path: Path) -> Iterator[tuple[str, Path, Path]]:
    """gunicorn -c deploy/gunicorn.conf.py, 2 workers x 2 threads, multiprocess metrics."""
    require_component(shutil.which("gunicorn") is not None or _gunicorn_importable(), "gunicorn")
    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir()
    (metrics_dir / "counter_999999.db").write_bytes(b"left over from a previous run")
    port = procs.free_port()
    env = production_env(
        tmp_path,
        GUNICORN_BIND=f"127.0.0.1:{port}",
        GUNICORN_WORKERS="2",
        GUNICORN_THREADS="2",
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
    )
    collect_static(tmp_path, env)
    log_path = tmp_path / "gunicorn.log"
    base_url = f"http://127.0.0.1:{port}"
    # A start that fails is the test's failure, with the log's tail.
    with procs.gunicorn(["-c", str(CONFIG)], env, log_path, base_url, AssertionError):
        yield base_url, metrics_dir, log_path


def _gunicorn_importable() -> bool:
    try:
        import gunicorn  # noqa: F401
    except ImportError:
        return False
    return True


def test_gunicorn_serves_healthz_with_the_production_security_headers(
    gunicorn_server: tuple[str, Path, Path],
) -> None:
    base_url, _, _ = gunicorn_server
    # As nginx sends it: the TLS proxy on loopback says the request was HTTPS.
    status, headers, body = get(f"{base_url}/healthz", {"X-Forwarded-Proto": "https"})
    assert status == 200 and '"ok"' in body
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["Cross-Origin-Opener-Policy"] == "same-origin"


def test_gunicorn_redirects_plain_http_but_not_the_probes(
    gunicorn_server: tuple[str, Path, Path],
) -> None:
    base_url, _, _ = gunicorn_server
    request = urllib.request.Request(f"{base_url}/api/v1/me")  # noqa: S310 - local URL

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as caught:
        opener.open(request, timeout=10)
    assert caught.value.code == 301
    assert caught.value.headers["Location"].startswith("https://")
    assert get(f"{base_url}/readyz")[0] in (200, 503)  # exempt: answered, not redirected
    assert get(f"{base_url}/metrics")[0] == 200


def test_gunicorn_sums_the_workers_metrics_and_logs_no_query(
    gunicorn_server: tuple[str, Path, Path],
) -> None:
    base_url, metrics_dir, log_path = gunicorn_server
    assert not (metrics_dir / "counter_999999.db").exists()  # cleared at start
    for _ in range(20):
        assert get(f"{base_url}/healthz?code=secret-in-query")[0] == 200
    # The emailed links hold their secrets in the query string, out of the logged path.
    # (This instance has no migrated database: only the logged line matters here; the pages
    # themselves are tested in tests/accounts.)
    https = {"X-Forwarded-Proto": "https"}  # from loopback, the trusted proxy
    get(f"{base_url}/accounts/verify-email/?token=secret-verify-token", https)
    get(f"{base_url}/accounts/password-reset/confirm/?code=M.secret-reset-token", https)
    status, headers, text = get(f"{base_url}/metrics")
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain; version=")
    counts = [
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "micro_request_duration_seconds_count"
        and sample.labels.get("method") == "GET"
    ]
    # Multiprocess mode: one summed series, whichever worker answered each request.
    assert len(counts) == 1 and counts[0] >= 20
    pids = {path.name.rsplit("_", 1)[-1] for path in metrics_dir.glob("*.db")}
    assert pids  # the workers wrote their values where the scrape reads them
    # Each worker writes its access lines when it gets to them: wait for all three.
    expected = [
        f"GET {path} HTTP/1.1"
        for path in ("/healthz", "/accounts/verify-email/", "/accounts/password-reset/confirm/")
    ]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if all(line in log_path.read_text() for line in expected):
            break
        time.sleep(0.1)
    log = log_path.read_text()
    assert all(line in log for line in expected), log[-2000:]
    for secret in ("secret-in-query", "secret-verify-token", "secret-reset-token"):
        assert secret not in log


def test_gunicorn_without_collected_static_files_does_not_start(tmp_path: Path) -> None:
    port = procs.free_port()
    env = production_env(tmp_path, GUNICORN_BIND=f"127.0.0.1:{port}", GUNICORN_WORKERS="1")
    started = procs.serving(
        [sys.executable, "-m", "gunicorn", "-c", str(CONFIG)],
        env,
        tmp_path / "gunicorn.log",
        f"http://127.0.0.1:{port}",
        RuntimeError,
        name="gunicorn",
    )
    with pytest.raises(RuntimeError) as refused, started:
        pytest.fail("gunicorn served without a static manifest")
    assert "gunicorn exited" in str(refused.value)
    assert "micro.E001" in str(refused.value) and "collectstatic" in str(refused.value)


# --- deploy/start, the production entrypoint --------------------------------------------------


def test_the_entrypoint_prepares_the_release_and_serves_it(tmp_path: Path) -> None:
    port = procs.free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = production_env(
        tmp_path,
        PYTHON=sys.executable,
        GUNICORN_BIND=f"127.0.0.1:{port}",
        GUNICORN_WORKERS="1",
        OBJECTS_DATABASE_URL=f"sqlite:///{tmp_path / 'objects.sqlite3'}",
        MICRO_ISSUER=base_url,
    )
    https = {"X-Forwarded-Proto": "https"}  # from loopback, the trusted proxy
    with procs.serving(
        [str(ROOT / "deploy" / "start")],
        env,
        tmp_path / "start.log",
        base_url,
        AssertionError,
        name="deploy/start",
        timeout=240,
    ):
        status, _, page = get(f"{base_url}/api/docs/", https)
        assert status == 200, page
        stylesheet = re.search(r'href="(/static/[^"]+\.[0-9a-f]{12}\.css)"', page)
        assert stylesheet, page  # a hashed copy from the manifest
        assert get(f"{base_url}{stylesheet[1]}", https)[0] == 200
        status, _, page = get(f"{base_url}/", https)
        assert status == 200 and "/static/micro/site." in page  # the hashed copy
        status, _, body = get(f"{base_url}/.well-known/jwks.json", https)
        assert status == 200 and '"kid"' in body  # a signing key was made
        assert get(f"{base_url}/readyz", https)[0] == 200  # both databases migrated
    log = (tmp_path / "start.log").read_text()
    assert "Booting worker" in log
    # The objects database was migrated by its own run.
    assert (tmp_path / "objects.sqlite3").stat().st_size > 0


def test_the_entrypoint_refuses_an_unknown_step(tmp_path: Path) -> None:
    result = subprocess.run(  # noqa: S603 - our own script
        [str(ROOT / "deploy" / "start"), "deploy"],
        env=production_env(tmp_path, PYTHON=sys.executable),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2 and "usage: deploy/start" in result.stderr


def test_the_container_health_check_passes_on_a_serving_instance_only(
    gunicorn_server: tuple[str, Path, Path], tmp_path: Path
) -> None:
    base_url, _, _ = gunicorn_server
    healthcheck = [sys.executable, str(ROOT / "deploy" / "healthcheck")]
    env = production_env(tmp_path, GUNICORN_BIND=f"0.0.0.0:{base_url.rsplit(':', 1)[1]}")
    serving = subprocess.run(healthcheck, env=env, capture_output=True, timeout=30)  # noqa: S603
    assert serving.returncode == 0, serving.stderr
    env["GUNICORN_BIND"] = f"0.0.0.0:{procs.free_port()}"
    stopped = subprocess.run(healthcheck, env=env, capture_output=True, timeout=30)  # noqa: S603
    assert stopped.returncode == 1 and b"healthz:" in stopped.stderr
