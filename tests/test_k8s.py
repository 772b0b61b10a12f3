"""deploy/k8s renders with kustomize, passes the Kubernetes schemas offline, and
agrees with onebox.toml: one Deployment and Service per app plus the gateway."""

from __future__ import annotations

import subprocess
from typing import Any

import kubernetes_validate
import pytest
import yaml

from onebox import config
from tests.stack import ROOT
from tests.tools import require

KUBERNETES_VERSION = "1.30.0"


@pytest.fixture(scope="module")
def objects() -> list[dict[str, Any]]:
    kubectl = require("kubectl", "install it with `apt-get install kubernetes-client`")
    rendered = subprocess.run(
        [kubectl, "kustomize", str(ROOT / "deploy" / "k8s")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [obj for obj in yaml.safe_load_all(rendered) if obj]


def find(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    for obj in objects:
        if obj["kind"] == kind and obj["metadata"]["name"] == name:
            return obj
    raise AssertionError(f"no {kind} named {name} in deploy/k8s")


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers: list[dict[str, Any]] = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def test_every_object_passes_the_schema(objects: list[dict[str, Any]]) -> None:
    for obj in objects:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def test_each_app_has_deployment_service_autoscaler_and_budget(
    objects: list[dict[str, Any]],
) -> None:
    box = config.load(ROOT)
    gateway_env = {
        item["name"]: item["value"]
        for item in container(find(objects, "Deployment", "gateway"))["env"]
    }
    for app in box.apps:
        deployment = find(objects, "Deployment", app.name)
        service = find(objects, "Service", app.name)
        find(objects, "HorizontalPodAutoscaler", app.name)
        find(objects, "PodDisruptionBudget", app.name)
        main = container(deployment)

        assert main["args"] == [app.name]
        assert main["ports"] == [{"name": "http", "containerPort": app.port}]
        assert service["spec"]["ports"][0]["port"] == app.port
        assert main["readinessProbe"]["httpGet"]["path"] == "/healthz"
        assert main["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert gateway_env[f"{app.env_name}_UPSTREAM"] == f"http://{app.name}:{app.port}"


def test_pods_run_locked_down_with_resources(objects: list[dict[str, Any]]) -> None:
    deployments = [obj for obj in objects if obj["kind"] == "Deployment"]
    assert len(deployments) == len(config.load(ROOT).apps) + 1
    for deployment in deployments:
        pod = deployment["spec"]["template"]["spec"]
        main = container(deployment)

        assert pod["securityContext"]["runAsNonRoot"] is True
        assert main["securityContext"]["readOnlyRootFilesystem"] is True
        assert main["securityContext"]["allowPrivilegeEscalation"] is False
        assert set(main["resources"]) == {"requests", "limits"}
        assert main["readinessProbe"] and main["livenessProbe"]


def test_gateway_stays_in_service_while_one_app_is_down(objects: list[dict[str, Any]]) -> None:
    gateway = container(find(objects, "Deployment", "gateway"))

    assert gateway["readinessProbe"]["httpGet"]["path"] == "/healthz"
    assert gateway["livenessProbe"]["httpGet"]["path"] == "/healthz"
