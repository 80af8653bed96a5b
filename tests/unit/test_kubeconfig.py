"""kubeconfig.py: every credential kind, file merging, and the errors a user sees.

Client certificates are checked end to end: a throwaway CA (made with `cryptography` at
test time) signs a server and a client certificate, and a TLS server on 127.0.0.1 that
requires client certificates answers with the client's common name. Token refresh is
driven by a fake clock patched into the module (`kubeconfig.time`).
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import ssl
import sys
import textwrap
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import yaml
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from rollout_operator import kubeconfig
from rollout_operator.api import Api, ApiError
from rollout_operator.kubeconfig import TOKEN_FILE_REFRESH_SECONDS, ConfigError, load_connection

# --- helpers -------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _not_in_a_pod(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT", "POD_NAMESPACE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("KUBECONFIG", raising=False)


def write_config(path: Path, *, current: str | None = "main", **sections: Any) -> Path:
    """A kubeconfig from {name: body} dicts per section (clusters, users, contexts)."""
    data: dict[str, Any] = {"apiVersion": "v1", "kind": "Config"}
    if current:
        data["current-context"] = current
    for section, key in (("clusters", "cluster"), ("users", "user"), ("contexts", "context")):
        data[section] = [{"name": n, key: body} for n, body in sections.get(section, {}).items()]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data))
    return path


def single(path: Path, user: dict[str, Any], cluster: dict[str, Any] | None = None) -> Path:
    return write_config(
        path,
        clusters={"c": cluster or {"server": "https://127.0.0.1:6443/"}},
        users={"u": user},
        contexts={"main": {"cluster": "c", "user": "u", "namespace": "team"}},
    )


class FakeTime:
    """Stands in for the `time` module inside kubeconfig.py: a clock the test moves."""

    def __init__(self) -> None:
        self.monotonic_now = 10_000.0
        self.wall_now = time.time()

    def monotonic(self) -> float:
        return self.monotonic_now

    def time(self) -> float:
        return self.wall_now

    def advance(self, seconds: float) -> None:
        self.monotonic_now += seconds
        self.wall_now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeTime:
    fake = FakeTime()
    monkeypatch.setattr(kubeconfig, "time", fake)
    return fake


# --- contexts and merging ------------------------------------------------------------------


def test_a_token_user_and_the_contexts_namespace(tmp_path: Path):
    config = single(tmp_path / "config", {"token": "abc"})
    connection = load_connection(str(config))
    assert connection.server == "https://127.0.0.1:6443"
    assert connection.namespace == "team"
    assert connection.authorization() == "Bearer abc"
    assert not connection.in_cluster


def test_kubeconfig_list_merges_and_the_first_definition_wins(tmp_path: Path, monkeypatch):
    first = write_config(
        tmp_path / "a" / "config",
        current="one",
        clusters={"c1": {"server": "https://one.example:6443"}},
        users={"u1": {"token": "from-first"}},
        contexts={
            "one": {"cluster": "c1", "user": "u1"},
            "shared": {"cluster": "c1", "user": "u1"},
        },
    )
    second = write_config(
        tmp_path / "b" / "config",
        current="two",
        clusters={
            "c1": {"server": "https://impostor.example:6443"},
            "c2": {"server": "https://two.example:6443"},
        },
        users={"u1": {"token": "from-second"}, "u2": {"token": "two"}},
        contexts={
            "two": {"cluster": "c2", "user": "u2", "namespace": "ns2"},
            "shared": {"cluster": "c2", "user": "u2"},
        },
    )
    missing = tmp_path / "nowhere" / "config"
    monkeypatch.setenv("KUBECONFIG", f"{first}:{missing}:{second}")

    current = load_connection()
    assert (current.server, current.authorization()) == (
        "https://one.example:6443",
        "Bearer from-first",
    )
    shared = load_connection(context="shared")
    assert (shared.server, shared.authorization()) == (
        "https://one.example:6443",
        "Bearer from-first",
    )
    two = load_connection(context="two")  # only in the second file
    assert (two.server, two.authorization(), two.namespace) == (
        "https://two.example:6443",
        "Bearer two",
        "ns2",
    )


def test_a_missing_context_is_a_config_error_naming_it_and_the_files(tmp_path: Path):
    config = single(tmp_path / "config", {"token": "abc"})
    with pytest.raises(ConfigError, match=r"context 'prod' not found in .*config"):
        load_connection(str(config), context="prod")


def test_no_current_context_is_a_config_error(tmp_path: Path):
    config = write_config(tmp_path / "config", current=None)
    with pytest.raises(ConfigError, match="no current context"):
        load_connection(str(config))


def test_a_legacy_auth_provider_is_a_config_error(tmp_path: Path):
    config = single(tmp_path / "config", {"auth-provider": {"name": "gcp", "config": {}}})
    with pytest.raises(ConfigError, match=r"legacy auth-provider.*exec plugin"):
        load_connection(str(config))


def test_in_cluster_service_account_is_used_in_a_pod(tmp_path: Path, monkeypatch, pki, clock):
    account = tmp_path / "serviceaccount"
    account.mkdir()
    (account / "token").write_text("pod-token\n")
    (account / "ca.crt").write_bytes(pki.ca_pem)
    (account / "namespace").write_text("ops")
    monkeypatch.setattr(kubeconfig, "SERVICE_ACCOUNT_DIR", account)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "fd00::1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "6443")
    connection = load_connection()
    assert connection.in_cluster
    assert connection.server == "https://[fd00::1]:6443"
    assert connection.namespace == "ops"
    assert connection.authorization() == "Bearer pod-token"


# --- token files ---------------------------------------------------------------------------


def test_a_token_file_is_resolved_next_to_the_kubeconfig_and_read_again(
    tmp_path: Path, monkeypatch, clock: FakeTime
):
    config = single(tmp_path / "kube" / "config", {"tokenFile": "tokens/token"})
    (tmp_path / "kube" / "tokens").mkdir()
    token = tmp_path / "kube" / "tokens" / "token"
    token.write_text("one\n")
    monkeypatch.chdir(tmp_path)  # relative to the kubeconfig, not to the working directory
    connection = load_connection(str(config))
    assert connection.authorization() == "Bearer one"
    token.write_text("two\n")
    clock.advance(TOKEN_FILE_REFRESH_SECONDS / 2)
    assert connection.authorization() == "Bearer one"  # not re-read on every request
    clock.advance(TOKEN_FILE_REFRESH_SECONDS / 2 + 1)
    assert connection.authorization() == "Bearer two"  # re-read once the period is over
    token.write_text("three\n")
    connection.invalidate()  # a 401: read it now
    assert connection.authorization() == "Bearer three"


def test_a_token_file_is_read_on_first_use_even_soon_after_boot(tmp_path: Path, clock: FakeTime):
    clock.monotonic_now = 20.0  # seconds since boot
    config = single(tmp_path / "config", {"tokenFile": "token"})
    (tmp_path / "token").write_text("fresh\n")
    connection = load_connection(str(config))
    assert connection.authorization() == "Bearer fresh"


# --- exec plugins --------------------------------------------------------------------------

PLUGIN = textwrap.dedent(
    """
    import json, os, sys
    state = json.load(open(os.environ["PLUGIN_STATE"]))
    with open(os.environ["PLUGIN_RUNS"], "a") as runs:
        runs.write(json.loads(os.environ["KUBERNETES_EXEC_INFO"])["kind"] + "\\n")
    if state.get("fail"):
        sys.stderr.write("token expired; run 'login'\\n")
        sys.exit(3)
    status = {"token": state["token"]} if state.get("token") else {}
    if state.get("expiry"):
        status["expirationTimestamp"] = state["expiry"]
    print(json.dumps({
        "apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
        "status": status,
    }))
    """
)


@dataclass
class Plugin:
    state: Path
    runs: Path
    config: Path

    def set(self, **state: Any) -> None:
        self.state.write_text(json.dumps(state))

    def count(self) -> int:
        return len(self.runs.read_text().splitlines()) if self.runs.exists() else 0


@pytest.fixture
def plugin(tmp_path: Path) -> Plugin:
    script = tmp_path / "plugin.py"
    script.write_text(PLUGIN)
    state, runs = tmp_path / "state.json", tmp_path / "runs.log"
    exec_config = {
        "apiVersion": "client.authentication.k8s.io/v1",
        "command": sys.executable,
        "args": [str(script)],
        "env": [
            {"name": "PLUGIN_STATE", "value": str(state)},
            {"name": "PLUGIN_RUNS", "value": str(runs)},
        ],
        "interactiveMode": "Never",
    }
    return Plugin(state, runs, single(tmp_path / "config", {"exec": exec_config}))


def iso(timestamp: float) -> str:
    return datetime.datetime.fromtimestamp(timestamp, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_an_exec_plugin_token_is_cached_until_it_nears_expiry(plugin: Plugin, clock: FakeTime):
    plugin.set(token="first", expiry=iso(clock.wall_now + 3600))
    connection = load_connection(str(plugin.config))
    assert connection.authorization() == "Bearer first"
    assert connection.authorization() == "Bearer first"
    assert plugin.count() == 1  # not run per request
    assert plugin.runs.read_text() == "ExecCredential\n"  # it was told what it is asked for
    plugin.set(token="second", expiry=iso(clock.wall_now + 7200))
    clock.advance(3600 - 10)  # within the 30 s margin before expiry
    assert connection.authorization() == "Bearer second"
    assert plugin.count() == 2


def test_an_exec_plugin_runs_again_after_a_401(plugin: Plugin, clock: FakeTime):
    plugin.set(token="first")  # no expiry: cached until the server refuses it
    connection = load_connection(str(plugin.config))
    assert connection.authorization() == "Bearer first"
    plugin.set(token="second")
    connection.invalidate()
    assert connection.authorization() == "Bearer second"
    assert plugin.count() == 2


def test_a_failing_exec_plugin_is_a_config_error_with_its_message(plugin: Plugin):
    plugin.set(fail=True)
    connection = load_connection(str(plugin.config))
    with pytest.raises(ConfigError, match=r"exited 3: token expired; run 'login'"):
        connection.authorization()


def test_an_exec_plugin_without_a_token_is_a_config_error(plugin: Plugin):
    plugin.set()
    connection = load_connection(str(plugin.config))
    with pytest.raises(ConfigError, match="returned no token"):
        connection.authorization()


# --- client certificates, end to end over TLS ---------------------------------------------


@dataclass
class Pki:
    ca_pem: bytes
    server_pem: bytes
    server_key: bytes
    client_pem: bytes
    client_key: bytes


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _certificate(
    subject: str, key: Any, issuer: str, issuer_key: Any, *, ca: bool = False, ip: str | None = None
) -> bytes:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ip:
        san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))])
        builder = builder.add_extension(san, critical=False)
    certificate = builder.sign(issuer_key, hashes.SHA256())
    return certificate.public_bytes(serialization.Encoding.PEM)


@pytest.fixture(scope="module")
def pki() -> Pki:
    ca_key, server_key, client_key = _key(), _key(), _key()
    return Pki(
        ca_pem=_certificate("test-ca", ca_key, "test-ca", ca_key, ca=True),
        server_pem=_certificate("apiserver", server_key, "test-ca", ca_key, ip="127.0.0.1"),
        server_key=_pem_key(server_key),
        client_pem=_certificate("rollout-operator", client_key, "test-ca", ca_key),
        client_key=_pem_key(client_key),
    )


@pytest_asyncio.fixture
async def tls_server(pki: Pki, tmp_path: Path) -> AsyncIterator[str]:
    """An HTTPS server that requires a client certificate from the CA; answers its CN."""
    (tmp_path / "srv.crt").write_bytes(pki.server_pem)
    (tmp_path / "srv.key").write_bytes(pki.server_key)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cadata=pki.ca_pem.decode())
    context.load_cert_chain(tmp_path / "srv.crt", tmp_path / "srv.key")
    context.verify_mode = ssl.CERT_REQUIRED

    async def whoami(request: web.Request) -> web.Response:
        peer = request.transport.get_extra_info("peercert") if request.transport else None
        subject = dict(item for rdn in (peer or {}).get("subject", ()) for item in rdn)
        return web.json_response({"user": subject.get("commonName")})

    app = web.Application()
    app.router.add_get("/whoami", whoami)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context).start()
    host, port = runner.addresses[0][:2]
    yield f"https://{host}:{port}"
    await runner.cleanup()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def cert_files(pki: Pki, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "ca.crt").write_bytes(pki.ca_pem)
    (directory / "client.crt").write_bytes(pki.client_pem)
    (directory / "client.key").write_bytes(pki.client_key)


async def whoami(connection: kubeconfig.Connection) -> Any:
    async with Api(connection) as api:
        return await api.get("/whoami")


@pytest.mark.asyncio
async def test_client_certificate_files_relative_to_the_kubeconfig(
    tls_server: str, pki: Pki, tmp_path: Path, monkeypatch
):
    cert_files(pki, tmp_path / "kube" / "pki")
    config = single(
        tmp_path / "kube" / "config",
        {"client-certificate": "pki/client.crt", "client-key": "pki/client.key"},
        {"server": tls_server, "certificate-authority": "pki/ca.crt"},
    )
    monkeypatch.chdir(tmp_path)  # relative to the kubeconfig, not to the working directory
    connection = load_connection(str(config))
    assert await whoami(connection) == {"user": "rollout-operator"}
    assert connection.certificate_data == pki.client_pem  # kept for kopf's own client


@pytest.mark.asyncio
async def test_client_certificate_data_inline(tls_server: str, pki: Pki, tmp_path: Path):
    config = single(
        tmp_path / "config",
        {"client-certificate-data": _b64(pki.client_pem), "client-key-data": _b64(pki.client_key)},
        {"server": tls_server, "certificate-authority-data": _b64(pki.ca_pem)},
    )
    assert await whoami(load_connection(str(config))) == {"user": "rollout-operator"}


@pytest.mark.asyncio
async def test_the_server_is_verified_against_the_ca_unless_insecure(
    tls_server: str, pki: Pki, tmp_path: Path
):
    client = {
        "client-certificate-data": _b64(pki.client_pem),
        "client-key-data": _b64(pki.client_key),
    }
    verified = single(tmp_path / "a" / "config", client, {"server": tls_server})  # no CA
    with pytest.raises(ApiError) as caught:
        await whoami(load_connection(str(verified)))
    assert caught.value.status == 0  # the handshake failed: unknown issuer
    insecure = single(
        tmp_path / "b" / "config", client, {"server": tls_server, "insecure-skip-tls-verify": True}
    )
    assert await whoami(load_connection(str(insecure))) == {"user": "rollout-operator"}


def test_a_missing_certificate_file_is_a_config_error_naming_it(tmp_path: Path):
    config = single(
        tmp_path / "config", {"client-certificate": "gone.crt", "client-key": "gone.key"}
    )
    with pytest.raises(ConfigError, match=r"client-certificate 'gone\.crt'"):
        load_connection(str(config))
