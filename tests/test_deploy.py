"""What deploy/ promises, read as files (no Docker engine, no cluster): the compose `scale`
profile wires a primary, a streaming replica, PgBouncer, two apps and a proxy; the Kubernetes
manifests are valid by the Kubernetes schemas (kubernetes-validate ships them: offline) and
probe the health endpoints the app serves."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from db.settings import Settings
from graph.app import create_app

ROOT = Path(__file__).resolve().parent.parent
KUBERNETES = ROOT / "deploy" / "kubernetes"
COMPOSE = ROOT / "deploy" / "compose"


def _validate(*paths: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "kubernetes_validate", "--strict", *map(str, paths)]
    return subprocess.run(command, capture_output=True, text=True, check=False)


def _manifest(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((KUBERNETES / name).read_text())
    return loaded


def _services() -> dict[str, Any]:
    services: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    return services


def test_the_kubernetes_manifests_are_valid() -> None:
    manifests = sorted(KUBERNETES.glob("*.yaml"))
    assert {path.name for path in manifests} >= {
        "deployment.yaml", "service.yaml", "migrate-job.yaml", "hpa.yaml", "configmap.yaml"
    }  # fmt: skip
    checked = _validate(*manifests)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_validator_refuses_a_broken_manifest(tmp_path: Path) -> None:
    """The check above can fail: a misspelt field is refused (strict), and so is a wrong type."""
    text = (KUBERNETES / "deployment.yaml").read_text()
    misspelt = tmp_path / "misspelt.yaml"
    misspelt.write_text(text.replace("readinessProbe:", "readynessProbe:"))
    typed = tmp_path / "typed.yaml"
    typed.write_text(text.replace("replicas: 2", "replicas: two"))
    assert _validate(misspelt).returncode != 0
    assert _validate(typed).returncode != 0


def test_the_probes_are_the_health_endpoints_the_app_serves() -> None:
    container = _manifest("deployment.yaml")["spec"]["template"]["spec"]["containers"][0]
    probed = {container["readinessProbe"]["httpGet"]["path"], container["livenessProbe"]["httpGet"]["path"]}
    assert probed == {"/health/ready", "/health/live"}
    served = {getattr(route, "path", None) for route in create_app(Settings()).routes}
    assert probed <= served


def test_pods_take_secret_key_from_a_secret_and_drain_before_they_are_killed() -> None:
    pod = _manifest("deployment.yaml")["spec"]["template"]["spec"]
    job = _manifest("migrate-job.yaml")["spec"]["template"]["spec"]
    for spec in (pod, job):
        env = {item["name"]: item for item in spec["containers"][0]["env"]}
        assert env["SECRET_KEY"]["valueFrom"]["secretKeyRef"]["key"] == "secret-key"
    assert job["containers"][0]["command"] == ["conduit", "migrate"]
    config = _manifest("configmap.yaml")["data"]
    assert "SECRET_KEY" not in config
    pre_stop = int(pod["containers"][0]["lifecycle"]["preStop"]["exec"]["command"][1])
    assert pre_stop + int(config["SHUTDOWN_TIMEOUT_SECONDS"]) < pod["terminationGracePeriodSeconds"]
    hpa = _manifest("hpa.yaml")["spec"]
    assert hpa["scaleTargetRef"]["name"] == _manifest("deployment.yaml")["metadata"]["name"]


def test_the_scale_profile_has_a_primary_replica_pgbouncer_two_apps_and_a_proxy() -> None:
    services = _services()
    scaled = {name for name, service in services.items() if "scale" in service.get("profiles", [])}
    assert scaled == {"replica", "pgbouncer", "migrate", "app-1", "app-2", "proxy"}
    replica = services["replica"]
    assert replica["depends_on"]["postgres"]["condition"] == "service_healthy"
    entrypoint = (COMPOSE / "replica-entrypoint.sh").read_text()
    assert re.search(r"pg_basebackup .*-R", entrypoint)
    assert "replication replicator" in (COMPOSE / "primary-init.sh").read_text()
    assert services["pgbouncer"]["environment"]["POOL_MODE"] == "transaction"
    for app in ("app-1", "app-2"):
        env = services[app]["environment"]
        assert "@pgbouncer:" in env["DATABASE_URL"] and env["DATABASE_POOLER"] == "transaction"
        assert "@postgres:" in env["DATABASE_LISTEN_URL"] and "@replica:" in env["DATABASE_REPLICA_URLS"]
        assert re.fullmatch(r"\$\{SECRET_KEY:\?[^}]+\}", env["SECRET_KEY"])
        assert "ports" not in services[app]  # only through the proxy
    for service in services.values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            assert not source.startswith("./") or (ROOT / source).exists(), source


def test_settings_the_compose_apps_set_are_settings_or_uvicorn_s() -> None:
    env = _services()["app-1"]["environment"]
    known = {name.upper() for name in Settings.model_fields} | {"FORWARDED_ALLOW_IPS"}
    assert set(env) <= known, set(env) - known
    assert env["DATABASE_POOLER"] == "transaction"


def test_the_proxy_passes_websockets_and_buffers_nothing() -> None:
    config = (COMPOSE / "nginx.conf").read_text()
    assert "proxy_set_header Upgrade $http_upgrade;" in config
    assert "proxy_set_header Connection $connection_upgrade;" in config
    assert "proxy_buffering off;" in config
    upstreams = set(re.findall(r"server (app-\d):8000", config))
    assert upstreams == {"app-1", "app-2"} and {"app-1", "app-2"} <= set(_services()["proxy"]["depends_on"])
