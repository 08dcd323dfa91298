"""deploy/ ships what ``serve --workers`` runs, for separate hosts: the proxy config is the
generated one, and the compose file and the Kubernetes manifest name the same shards."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from gledger_sandbox.cli import _parser
from gledger_sandbox.scaleout.haproxy import ShardAddress, render

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
SHARDS = [ShardAddress(i, f"gledger-shard-{i}:8080") for i in range(2)]


def _shipped() -> str:
    return (DEPLOY / "haproxy.cfg").read_text(encoding="utf-8")


def test_the_shipped_proxy_config_is_the_generated_one() -> None:
    assert _shipped() == render(":8080", SHARDS, remote=True, trusted=()), (
        "regenerate deploy/haproxy.cfg with gledger_sandbox.scaleout.haproxy.render"
    )


@pytest.mark.skipif(shutil.which("haproxy") is None, reason="no haproxy on PATH")
def test_haproxy_accepts_the_remote_config(tmp_path: Path) -> None:
    # Loopback addresses instead of the shipped DNS names: checking sends no DNS query.
    loopback = [ShardAddress(i, f"127.0.0.1:{18080 + i}") for i in range(2)]
    config = tmp_path / "haproxy.cfg"
    config.write_text(
        render("127.0.0.1:18079", loopback, remote=True, trusted=()), encoding="utf-8"
    )
    checked = subprocess.run(
        ["haproxy", "-c", "-f", str(config)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stderr


def _serve_shard(command: list[str]) -> int:
    args = _parser().parse_args(command)
    assert args.command == "serve" and args.host == "0.0.0.0" and args.port == 8080
    shard: int = args.shard
    return shard


def test_the_compose_file_runs_each_shard_the_config_names_behind_the_trusted_proxy() -> None:
    compose: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    proxy = services.pop("proxy")
    assert "./haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro" in proxy["volumes"]
    proxy_address = proxy["networks"]["sandbox"]["ipv4_address"]
    shards = {}
    for name, service in services.items():
        shards[name] = _serve_shard(service["command"])
        assert _parser().parse_args(service["command"]).trust_proxy == (proxy_address,)
    assert shards == {f"gledger-shard-{s.index}": s.index for s in SHARDS}
    assert set(proxy["depends_on"]) == set(shards)


def test_the_kubernetes_manifest_serves_a_shard_per_ordinal_each_with_its_service() -> None:
    documents = list(yaml.safe_load_all((DEPLOY / "kubernetes.yaml").read_text()))
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for document in documents:
        by_kind.setdefault(document["kind"], []).append(document)
    (stateful,) = by_kind["StatefulSet"]
    assert stateful["spec"]["replicas"] == len(SHARDS)
    container = stateful["spec"]["template"]["spec"]["containers"][0]
    line = container["args"][0].removeprefix("exec gledger-sandbox ")
    ordinal = line.replace('"${HOSTNAME##*-}"', "1").replace("'*'", "*")
    assert _serve_shard(ordinal.split()) == 1  # pod gledger-shard-1 serves shard 1
    services = {s["metadata"]["name"]: s for s in by_kind["Service"]}
    for shard in SHARDS:
        name = shard.address.split(":")[0]
        assert services[name]["spec"]["selector"] == {"statefulset.kubernetes.io/pod-name": name}
        assert re.search(rf"server s{shard.index} {shard.address}\n", _shipped())
    kustomize = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    assert kustomize["configMapGenerator"][0]["files"] == ["haproxy.cfg"]
    (proxy,) = by_kind["Deployment"]
    assert proxy["spec"]["template"]["spec"]["volumes"][0]["configMap"]["name"] == "gledger-haproxy"
