"""Thin Kubernetes API I/O: raw JSON over the official client's connection handling.

Objects stay plain dicts (as watches deliver them) instead of generated models, which are
slow to build and would give the pure core two shapes of the same object. Blocking calls
run in threads so the kopf event loop never stalls.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

import kubernetes

from . import metrics
from .names import FIELD_MANAGER, GROUP, KIND, PLURAL, VERSION, WORKLOAD_PLURALS
from .permissions import Access, review_body

MERGE_PATCH: Final = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH: Final = "application/strategic-merge-patch+json"


class ApiError(Exception):
    """A non-2xx answer from the apiserver, with its status code and message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


def workload_path(namespace: str, kind: str, name: str) -> str:
    """apps/v1 URL of a Deployment, StatefulSet or DaemonSet."""
    return f"/apis/apps/v1/namespaces/{namespace}/{WORKLOAD_PLURALS[kind]}/{name}"


def config_path(namespace: str, kind: str, name: str) -> str:
    """core/v1 URL of a ConfigMap or Secret."""
    plural = "configmaps" if kind == "ConfigMap" else "secrets"
    return f"/api/v1/namespaces/{namespace}/{plural}/{name}"


def rollout_status_path(namespace: str, name: str) -> str:
    """URL of a Rollout's status subresource."""
    return f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}/{name}/status"


def load_api_client(pool_size: int = 16) -> kubernetes.client.ApiClient:
    """An ApiClient for in-cluster config, else $KUBECONFIG / ~/.kube/config."""
    configuration = kubernetes.client.Configuration()
    try:
        kubernetes.config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    except kubernetes.config.ConfigException:
        kubernetes.config.load_kube_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    configuration.connection_pool_maxsize = pool_size
    return kubernetes.client.ApiClient(configuration)


class Kube:
    """The few calls the controller makes: get, patch, create."""

    def __init__(self, api: kubernetes.client.ApiClient) -> None:
        self._api = api
        self._instance = socket.gethostname()

    def _request(
        self,
        method: str,
        path: str,
        body: Any = None,
        content_type: str = "application/json",
        query: list[tuple[str, str]] | None = None,
    ) -> dict[str, Any]:
        serialized = self._api.param_serialize(
            method=method,
            resource_path=path,
            query_params=query or [],
            header_params={"Accept": "application/json", "Content-Type": content_type},
            body=body,
            auth_settings=["BearerToken"],
        )
        response = self._api.call_api(*serialized)
        data = response.read()  # type: ignore[no-untyped-call]
        payload: dict[str, Any] = json.loads(data) if data else {}
        if not 200 <= response.status < 300:
            raise ApiError(response.status, str(payload.get("message") or response.reason))
        return payload

    def can_i(self, access: Access) -> bool:
        """Ask the apiserver whether we may do `access` (blocking; used before kopf starts)."""
        review = self._request(
            "POST",
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
            body=review_body(access),
        )
        return bool((review.get("status") or {}).get("allowed"))

    async def _call(
        self, verb: str, resource: str, method: str, path: str, **kw: Any
    ) -> dict[str, Any]:
        start = time.perf_counter()
        code = "error"
        try:
            result = await asyncio.to_thread(self._request, method, path, **kw)
            code = "2xx"
            return result
        except ApiError as error:
            code = str(error.status)
            raise
        finally:
            metrics.API_LATENCY.labels(verb, resource, code).observe(time.perf_counter() - start)

    async def get(self, resource: str, path: str) -> dict[str, Any] | None:
        """GET an object; None when it does not exist."""
        try:
            return await self._call("get", resource, "GET", path)
        except ApiError as error:
            if error.status == 404:
                return None
            raise

    async def patch(
        self, resource: str, path: str, body: Mapping[str, Any], content_type: str
    ) -> dict[str, Any]:
        """PATCH under our field manager, so managedFields show what we own."""
        return await self._call(
            "patch",
            resource,
            "PATCH",
            path,
            body=body,
            content_type=content_type,
            query=[("fieldManager", FIELD_MANAGER)],
        )

    async def post_event(
        self, rollout: Mapping[str, Any], type_: str, reason: str, message: str
    ) -> None:
        """Record a core/v1 Event on the Rollout, shown by `kubectl describe rollout`."""
        meta = rollout["metadata"]
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
            "involvedObject": {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": KIND,
                "name": meta["name"],
                "namespace": meta["namespace"],
                "uid": meta.get("uid"),
                "resourceVersion": meta.get("resourceVersion"),
            },
            "type": type_,
            "reason": reason,
            "message": message[:1024],
            "source": {"component": FIELD_MANAGER},
            "reportingComponent": FIELD_MANAGER,
            "reportingInstance": self._instance,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        await self._call(
            "create", "events", "POST", f"/api/v1/namespaces/{meta['namespace']}/events", body=event
        )
