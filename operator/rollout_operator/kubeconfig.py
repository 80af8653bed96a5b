"""Where to reach the apiserver and how to authenticate: in-cluster or a kubeconfig.

A small loader instead of the `kubernetes` package (126 MB installed, most of the image),
covering what operators and CI users have: the pod's ServiceAccount (its bound token is
re-read, since the kubelet rotates it), and kubeconfig contexts with tokens, token files,
client certificates, and exec credential plugins (EKS, GKE, OIDC helpers).
"""

from __future__ import annotations

import base64
import json
import os
import ssl
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
#: How often a token file is read again (client-go re-reads bound tokens every minute).
TOKEN_FILE_REFRESH_SECONDS = 60.0


class ConfigError(Exception):
    """No usable cluster connection; the message says what to fix."""


@dataclass
class Connection:
    """The apiserver's address, TLS settings and credentials."""

    server: str
    ssl_context: ssl.SSLContext
    namespace: str = "default"
    in_cluster: bool = False
    token: str | None = None
    token_file: Path | None = None
    basic_auth: tuple[str, str] | None = None
    exec_config: Mapping[str, Any] | None = None
    #: PEM material, kept for kopf's own (discovery-only) client.
    ca_data: bytes | None = None
    certificate_data: bytes | None = None
    private_key_data: bytes | None = None
    insecure: bool = False
    _token_read_at: float | None = field(default=None, repr=False)
    _token_expires_at: float | None = field(default=None, repr=False)

    def authorization(self) -> str | None:
        """The Authorization header value, refreshing file and exec tokens when due."""
        if self.token_file is not None:
            read_at = self._token_read_at
            if read_at is None or time.monotonic() - read_at > TOKEN_FILE_REFRESH_SECONDS:
                self.token = self.token_file.read_text().strip()
                self._token_read_at = time.monotonic()
        elif self.exec_config is not None and (
            self.token is None
            or (self._token_expires_at is not None and time.time() > self._token_expires_at - 30)
        ):
            self._run_exec()
        if self.token:
            return f"Bearer {self.token}"
        if self.basic_auth:
            raw = ":".join(self.basic_auth).encode()
            return "Basic " + base64.b64encode(raw).decode()
        return None

    def invalidate(self) -> None:
        """Forget the token (after a 401), so the next request reads or asks for a new one."""
        if self.token_file is not None:
            self._token_read_at = None
        elif self.exec_config is not None:
            self.token = None

    def _run_exec(self) -> None:
        credential = run_exec_plugin(self.exec_config or {})
        if not credential.get("token"):
            raise ConfigError(
                "the kubeconfig exec plugin returned no token (client certificates from exec "
                "plugins are not supported)"
            )
        self.token = credential["token"]
        expiry = credential.get("expirationTimestamp")
        self._token_expires_at = _parse_time(expiry) if expiry else None


def _parse_time(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def run_exec_plugin(config: Mapping[str, Any]) -> dict[str, Any]:
    """Run a client.authentication.k8s.io exec plugin; return its `status`."""
    command = config.get("command")
    if not command:
        raise ConfigError("kubeconfig exec plugin has no command")
    env = {**os.environ, **{e["name"]: e["value"] for e in config.get("env") or []}}
    api_version = config.get("apiVersion", "client.authentication.k8s.io/v1")
    env["KUBERNETES_EXEC_INFO"] = json.dumps(
        {"apiVersion": api_version, "kind": "ExecCredential", "spec": {"interactive": False}}
    )
    try:
        result = subprocess.run(
            [command, *(config.get("args") or [])],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise ConfigError(f"kubeconfig exec plugin {command!r} failed: {error}") from None
    if result.returncode != 0:
        raise ConfigError(
            f"kubeconfig exec plugin {command!r} exited {result.returncode}: "
            f"{result.stderr.strip()[:500]}"
        )
    try:
        status: dict[str, Any] = json.loads(result.stdout)["status"]
    except (ValueError, KeyError, TypeError):
        raise ConfigError(f"kubeconfig exec plugin {command!r} printed no ExecCredential") from None
    return status


def in_cluster() -> bool:
    """Whether we run in a pod with a mounted ServiceAccount."""
    return (
        bool(os.environ.get("KUBERNETES_SERVICE_HOST"))
        and (SERVICE_ACCOUNT_DIR / "token").is_file()
    )


def own_namespace() -> str | None:
    """The pod's namespace: $POD_NAMESPACE, else the ServiceAccount's namespace file."""
    if namespace := os.environ.get("POD_NAMESPACE"):
        return namespace
    try:
        return (SERVICE_ACCOUNT_DIR / "namespace").read_text().strip() or None
    except OSError:
        return None


def _in_cluster_connection() -> Connection:
    host = os.environ["KUBERNETES_SERVICE_HOST"]
    port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    if ":" in host:  # IPv6
        host = f"[{host}]"
    ca = (SERVICE_ACCOUNT_DIR / "ca.crt").read_bytes()
    return Connection(
        server=f"https://{host}:{port}",
        ssl_context=_ssl_context(ca, None, None, insecure=False),
        ca_data=ca,
        namespace=own_namespace() or "default",
        in_cluster=True,
        token_file=SERVICE_ACCOUNT_DIR / "token",
    )


def _kubeconfig_files(explicit: str | None) -> list[Path]:
    if explicit:
        return [Path(explicit).expanduser()]
    env = os.environ.get("KUBECONFIG")
    if env:
        return [Path(p).expanduser() for p in env.split(os.pathsep) if p]
    return [Path.home() / ".kube" / "config"]


def _merged(files: list[Path]) -> tuple[dict[str, Any], dict[str, Path]]:
    """Merge kubeconfig files like kubectl: the first file to define a name wins."""
    merged: dict[str, Any] = {"clusters": {}, "users": {}, "contexts": {}}
    origin: dict[str, Path] = {}
    for path in files:
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except FileNotFoundError:
            continue
        except (OSError, yaml.YAMLError) as error:
            raise ConfigError(f"cannot read kubeconfig {path}: {error}") from None
        if not merged.get("current-context"):
            merged["current-context"] = data.get("current-context")
        for section, key in (("clusters", "cluster"), ("users", "user"), ("contexts", "context")):
            for entry in data.get(section) or []:
                name = entry.get("name")
                if name and name not in merged[section]:
                    merged[section][name] = entry.get(key) or {}
                    origin[f"{section}/{name}"] = path.parent
    return merged, origin


def _material(entry: Mapping[str, Any], key: str, base: Path) -> bytes | None:
    """The bytes of `key-data` (base64) or of the file `key` names (relative to `base`)."""
    data = entry.get(f"{key}-data")
    if data:
        return base64.b64decode(data)
    value = entry.get(key)
    if not value:
        return None
    path = Path(value).expanduser()
    try:
        return (path if path.is_absolute() else base / path).read_bytes()
    except OSError as error:
        raise ConfigError(f"kubeconfig {key} {value!r}: {error.strerror}") from None


def _ssl_context(
    ca: bytes | None, cert: bytes | None, key: bytes | None, insecure: bool
) -> ssl.SSLContext:
    if insecure:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    else:
        context = ssl.create_default_context(cadata=ca.decode() if ca else None)
    if cert and key:
        # The ssl module loads client certificates from files only: a private scratch dir.
        with tempfile.TemporaryDirectory(prefix="rollout-operator-") as tmp:
            (Path(tmp) / "cert").write_bytes(cert)
            (Path(tmp) / "key").write_bytes(key)
            context.load_cert_chain(str(Path(tmp) / "cert"), str(Path(tmp) / "key"))
    return context


def load_connection(kubeconfig: str | None = None, context: str | None = None) -> Connection:
    """In-cluster config when in a pod and nothing else is asked for, else the kubeconfig."""
    if kubeconfig is None and context is None and in_cluster() and not os.environ.get("KUBECONFIG"):
        return _in_cluster_connection()
    files = _kubeconfig_files(kubeconfig)
    merged, origin = _merged(files)
    name = context or merged.get("current-context")
    if not name:
        where = ", ".join(map(str, files))
        raise ConfigError(f"no current context in {where}; pass --context or set one")
    ctx = merged["contexts"].get(name)
    if ctx is None:
        raise ConfigError(f"context {name!r} not found in {', '.join(map(str, files))}")
    cluster = merged["clusters"].get(ctx.get("cluster"))
    if cluster is None or not cluster.get("server"):
        raise ConfigError(f"context {name!r} names cluster {ctx.get('cluster')!r} without a server")
    user = merged["users"].get(ctx.get("user")) or {}
    if user.get("auth-provider"):
        raise ConfigError(
            f"context {name!r} uses a legacy auth-provider; switch its user to an exec plugin"
        )
    base = {
        "cluster": origin.get(f"clusters/{ctx.get('cluster')}", Path.cwd()),
        "user": origin.get(f"users/{ctx.get('user')}", Path.cwd()),
    }
    ca = _material(cluster, "certificate-authority", base["cluster"])
    cert = _material(user, "client-certificate", base["user"])
    key = _material(user, "client-key", base["user"])
    insecure = bool(cluster.get("insecure-skip-tls-verify"))
    connection = Connection(
        server=str(cluster["server"]).rstrip("/"),
        ssl_context=_ssl_context(ca, cert, key, insecure),
        namespace=ctx.get("namespace") or "default",
        token=user.get("token"),
        basic_auth=(user["username"], user["password"]) if user.get("username") else None,
        exec_config=user.get("exec"),
        ca_data=ca,
        certificate_data=cert,
        private_key_data=key,
        insecure=insecure,
    )
    if user.get("tokenFile"):
        path = Path(user["tokenFile"]).expanduser()
        connection.token_file = path if path.is_absolute() else base["user"] / path
    return connection
