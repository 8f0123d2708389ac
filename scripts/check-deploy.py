#!/usr/bin/env python3
"""Parses every YAML file under deploy/ and checks the fields the services need, then hands
the compose file to `docker-compose config` and the systemd units to `systemd-analyze verify`
(with the unit's tsca path pointed at the binary given as the first argument, default
target/debug/tsca). Under CI=true both tools are required; elsewhere a missing one is skipped
with a message.

The TOML example configs are parsed by the real config loader in `cargo test -p tsca`
(tsca/src/config.rs, every_example_config_parses); this script covers compose.yaml and the
Kubernetes manifests, which no Rust code reads.
"""
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

import yaml

root = pathlib.Path(__file__).resolve().parent.parent / "deploy"
problems = []


def need(cond, what):
    if not cond:
        problems.append(what)


compose = yaml.safe_load((root / "compose.yaml").read_text())
services = compose.get("services", {})
for name in ["postgres", "migrate", "registry", "ocsp-1", "ocsp-2"]:
    need(name in services, f"compose.yaml: service {name} missing")
for name in ["registry", "ocsp-1", "ocsp-2"]:
    svc = services.get(name, {})
    need(svc.get("command", [])[:1] == ["serve"], f"compose.yaml: {name} must run `tsca serve`")
    need("tsca-responder-key-passphrase" in svc.get("secrets", []), f"compose.yaml: {name} needs the responder-key passphrase secret")
    need("tsca-database-url" in svc.get("secrets", []), f"compose.yaml: {name} needs the database URL secret")
    # CA keys stay on CA nodes: only the registry gets their passphrase.
    holds_ca = "tsca-key-passphrase" in svc.get("secrets", [])
    need(holds_ca == (name == "registry"), f"compose.yaml: {name} {'needs' if name == 'registry' else 'must not get'} the CA-key passphrase")
need(services.get("migrate", {}).get("restart") == "no", "compose.yaml: migrate is a one-shot job")

docs = [d for d in yaml.safe_load_all((root / "kubernetes" / "tsca.yaml").read_text()) if d]
kinds = {(d["kind"], d["metadata"]["name"]) for d in docs}
for kind, name in [("Job", "tsca-migrate"), ("Deployment", "tsca-registry"), ("Deployment", "tsca-ocsp"),
                   ("HorizontalPodAutoscaler", "tsca-ocsp"), ("Service", "tsca-registry"), ("Service", "tsca-ocsp")]:
    need((kind, name) in kinds, f"kubernetes: {kind}/{name} missing")
for d in docs:
    if d["kind"] != "Deployment":
        continue
    spec = d["spec"]["template"]["spec"]
    need(spec.get("securityContext", {}).get("runAsNonRoot") is True, f"kubernetes: {d['metadata']['name']} must run as non-root")
    for c in spec["containers"]:
        need("readinessProbe" in c, f"kubernetes: {d['metadata']['name']}/{c['name']} needs a readiness probe")
        need(c.get("args", [])[:1] == ["serve"], f"kubernetes: {c['name']} must run `tsca serve`")
    secret_volumes = [v for v in spec.get("volumes", []) if "secret" in v]
    need(any(v["secret"]["secretName"] == "tsca-secrets" for v in secret_volumes), f"kubernetes: {d['metadata']['name']} must mount tsca-secrets")
    keys = {i["key"] for v in secret_volumes if v["secret"]["secretName"] == "tsca-secrets" for i in v["secret"].get("items", [])}
    ca_node = d["metadata"]["name"] == "tsca-registry"
    need(("key-passphrase" in keys) == ca_node, f"kubernetes: {d['metadata']['name']} {'needs' if ca_node else 'must not mount'} the CA-key passphrase")
    need("responder-key-passphrase" in keys, f"kubernetes: {d['metadata']['name']} needs the responder-key passphrase")

dockerfile = (root / "Dockerfile").read_text()
need("USER 10001" in dockerfile, "Dockerfile: the runtime stage must run as a non-root user")
need(dockerfile.count("FROM ") >= 2, "Dockerfile: multi-stage build expected")
for unit in (root / "systemd").glob("*.service"):
    text = unit.read_text()
    need("ExecStart=/usr/local/bin/tsca serve --config" in text, f"{unit.name}: ExecStart must run tsca serve")
    need("User=tsca" in text, f"{unit.name}: must not run as root")
    # Each unit has its own environment file: the OCSP node must not inherit the CA-key one.
    need("/etc/tsca/environment" not in text, f"{unit.name}: use a per-unit environment file")

need(services.get("bootstrap", {}).get("profiles") == ["bootstrap"], "compose.yaml: bootstrap runs only when asked (profile bootstrap)")

required = os.environ.get("CI") == "true"


def tool(name):
    if shutil.which(name):
        return True
    need(not required, f"{name} is not installed (CI installs it)")
    if not required:
        print(f"skipped: {name} not found")
    return False


if tool("docker-compose"):
    # Syntax and references, without a container daemon; the bootstrap profile included.
    run = subprocess.run(["docker-compose", "-f", str(root / "compose.yaml"), "--profile", "bootstrap", "config", "-q"],
                         capture_output=True, text=True)
    need(run.returncode == 0, f"docker-compose config: {run.stderr.strip()}")
    need("will be ignored" not in run.stderr, f"docker-compose config warns: {run.stderr.strip()}")

binary = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else root.parent / "target" / "debug" / "tsca").resolve()
if tool("systemd-analyze"):
    if not binary.exists():
        need(False, f"systemd-analyze: no tsca binary at {binary} (build it first)")
    else:
        # The units name /usr/local/bin/tsca, where the package installs it; verify them with
        # the binary at hand in its place (systemd-analyze checks that ExecStart exists).
        with tempfile.TemporaryDirectory() as work:
            units = []
            for unit in sorted((root / "systemd").glob("*.service")):
                copy = pathlib.Path(work) / unit.name
                copy.write_text(unit.read_text().replace("/usr/local/bin/tsca", str(binary)))
                units.append(str(copy))
            run = subprocess.run(["systemd-analyze", "verify", *units], capture_output=True, text=True)
            need(run.returncode == 0 and not run.stderr.strip(), f"systemd-analyze verify: {run.stderr.strip()}")

if problems:
    print("\n".join(problems))
    sys.exit(1)
print(f"deploy/: compose.yaml ({len(services)} services), {len(docs)} Kubernetes objects, Dockerfile and systemd units OK")
