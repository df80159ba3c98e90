"""A minimal xDS management server, for tests of ``xds:`` targets.

It speaks ADS (the aggregated discovery service, state of the world, xDS v3)
with the messages of the ``xds-protos`` package, on grpc's synchronous
server (its own threads: it serves async and sync tests alike, whatever
loop they run). For each service name it serves the four resources grpc's
xDS resolver and balancer ask for, in this order:

- Listener ``name``: an ``api_listener`` holding an HttpConnectionManager
  whose routes come from RDS (``name-route``), with the router filter;
- RouteConfiguration ``name-route``: every path to the cluster;
- Cluster ``name-cluster``: EDS, ``lb_policy`` ROUND_ROBIN (and, served
  with ``mtls=True``, an UpstreamTlsContext: mTLS with the certificates of
  the bootstrap's file_watcher provider, as a mesh's security config);
- ClusterLoadAssignment ``name-cluster``: the endpoints given, in one
  locality.

``serve(name, ["127.0.0.1:1234", ...])`` adds a service or replaces its
endpoints, and pushes the change to every client subscribed (a new version,
as a control plane does when a pod comes or goes). ``bootstrap()`` is the
JSON for ``GRPC_XDS_BOOTSTRAP_CONFIG``: this server, insecure channel
credentials. Each response holds the subscribed resources that exist; a
request that names nothing new is an ACK and gets no answer; a NACK
(``error_detail``) is recorded in ``nacks`` and not answered either.
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterator, Sequence
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import address_pb2, base_pb2, config_source_pb2, health_check_pb2
from envoy.config.endpoint.v3 import endpoint_components_pb2, endpoint_pb2
from envoy.config.listener.v3 import api_listener_pb2, listener_pb2
from envoy.config.route.v3 import route_components_pb2, route_pb2
from envoy.extensions.filters.http.router.v3 import router_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from envoy.extensions.transport_sockets.tls.v3 import common_pb2, tls_pb2
from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2
from google.protobuf import any_pb2, wrappers_pb2

_PREFIX = "type.googleapis.com/"
LISTENER = _PREFIX + "envoy.config.listener.v3.Listener"
ROUTE = _PREFIX + "envoy.config.route.v3.RouteConfiguration"
CLUSTER = _PREFIX + "envoy.config.cluster.v3.Cluster"
ENDPOINTS = _PREFIX + "envoy.config.endpoint.v3.ClusterLoadAssignment"
CERTIFICATES = "mesh-certificates"  # the bootstrap's certificate provider
_CLOSE = object()
_PUSH = object()


def _packed(message: Any) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def _ads() -> config_source_pb2.ConfigSource:
    return config_source_pb2.ConfigSource(
        ads=config_source_pb2.AggregatedConfigSource(),
        resource_api_version=config_source_pb2.V3,
    )


def federated(name: str, authority: str = "mesh.test") -> str:
    """The listener name grpc asks for when the target is ``xds://authority/name``."""
    return f"xdstp://{authority}/envoy.config.listener.v3.Listener/{name}"


def listener(name: str) -> listener_pb2.Listener:
    service = name.rpartition("/")[2]  # (of a federated name, the service's)
    manager = hcm_pb2.HttpConnectionManager(
        rds=hcm_pb2.Rds(config_source=_ads(), route_config_name=f"{service}-route"),
        http_filters=[hcm_pb2.HttpFilter(name="router", typed_config=_packed(router_pb2.Router()))],
    )
    return listener_pb2.Listener(
        name=name, api_listener=api_listener_pb2.ApiListener(api_listener=_packed(manager))
    )


def route(name: str) -> route_pb2.RouteConfiguration:
    every_path = route_components_pb2.Route(
        match=route_components_pb2.RouteMatch(prefix=""),
        route=route_components_pb2.RouteAction(cluster=f"{name}-cluster"),
    )
    host = route_components_pb2.VirtualHost(name=name, domains=["*"], routes=[every_path])
    return route_pb2.RouteConfiguration(name=f"{name}-route", virtual_hosts=[host])


def cluster(name: str, mtls: bool = False) -> cluster_pb2.Cluster:
    found = cluster_pb2.Cluster(
        name=f"{name}-cluster",
        type=cluster_pb2.Cluster.EDS,
        eds_cluster_config=cluster_pb2.Cluster.EdsClusterConfig(eds_config=_ads()),
        lb_policy=cluster_pb2.Cluster.ROUND_ROBIN,
    )
    if mtls:  # the mesh's security config: mTLS from the bootstrap's certificates
        certs = common_pb2.CertificateProviderPluginInstance(instance_name=CERTIFICATES)
        context = tls_pb2.UpstreamTlsContext(
            common_tls_context=tls_pb2.CommonTlsContext(
                tls_certificate_provider_instance=certs,
                validation_context=common_pb2.CertificateValidationContext(
                    ca_certificate_provider_instance=certs
                ),
            )
        )
        found.transport_socket.name = "envoy.transport_sockets.tls"
        found.transport_socket.typed_config.Pack(context)
    return found


def assignment(name: str, addresses: Sequence[str]) -> endpoint_pb2.ClusterLoadAssignment:
    endpoints = []
    for address in addresses:
        host, _, port = address.rpartition(":")
        socket_address = address_pb2.SocketAddress(address=host.strip("[]"), port_value=int(port))
        endpoints.append(
            endpoint_components_pb2.LbEndpoint(
                endpoint=endpoint_components_pb2.Endpoint(
                    address=address_pb2.Address(socket_address=socket_address)
                ),
                health_status=health_check_pb2.HEALTHY,
            )
        )
    # grpc ignores a locality without a weight.
    locality = endpoint_components_pb2.LocalityLbEndpoints(
        locality=base_pb2.Locality(region="test", zone="loopback"),
        lb_endpoints=endpoints,
        load_balancing_weight=wrappers_pb2.UInt32Value(value=1),
    )
    return endpoint_pb2.ClusterLoadAssignment(cluster_name=f"{name}-cluster", endpoints=[locality])


class XdsServer:
    """ADS for the services given to ``serve()``; a context manager."""

    def __init__(self) -> None:
        self.nacks: list[str] = []
        self.requests: list[discovery_pb2.DiscoveryRequest] = []
        self._lock = threading.Lock()
        self._version = 0
        self._services: dict[str, list[str]] = {}
        self._mtls: set[str] = set()
        self._streams: list[queue.Queue[Any]] = []
        self._server: grpc.Server | None = None
        self.port = 0
        self.certificates: Path | None = None  # what a test's bootstrap names, if any

    # -- lifecycle ------------------------------------------------------------------------

    def __enter__(self) -> XdsServer:
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        ads_pb2_grpc.add_AggregatedDiscoveryServiceServicer_to_server(_Servicer(self), server)
        self.port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        self._server = server
        return self

    def __exit__(self, *exc_info: object) -> None:
        with self._lock:
            streams, self._streams = self._streams, []
        for stream in streams:
            stream.put(_CLOSE)
        if self._server is not None:
            self._server.stop(grace=None).wait()
            self._server = None

    def bootstrap(self, certificates: Path | None = None) -> str:
        """The bootstrap JSON for GRPC_XDS_BOOTSTRAP_CONFIG; ``certificates``:
        a directory with ca.pem, client.pem and client.key (a TLS fake's
        ``tls_dir``) for the services served with ``mtls=True``."""
        providers = {}
        if certificates is not None:
            files = {
                "certificate_file": str(certificates / "client.pem"),
                "private_key_file": str(certificates / "client.key"),
                "ca_certificate_file": str(certificates / "ca.pem"),
                "refresh_interval": "600s",
            }
            providers[CERTIFICATES] = {"plugin_name": "file_watcher", "config": files}
        return json.dumps(
            {
                "certificate_providers": providers,
                "xds_servers": [
                    {
                        "server_uri": f"127.0.0.1:{self.port}",
                        "channel_creds": [{"type": "insecure"}],
                        "server_features": ["xds_v3"],
                    }
                ],
                "node": {"id": "scaigrid-client-tests", "locality": {"zone": "loopback"}},
                # xds://mesh.test/name: the same server, by federation's names
                "authorities": {"mesh.test": {}},
            }
        )

    # -- what it serves -------------------------------------------------------------------

    def serve(self, name: str, endpoints: Sequence[str], *, mtls: bool = False) -> None:
        """Serve ``name`` on these endpoints (``host:port``), now; pushed to
        every subscribed client. ``mtls=True``: the cluster tells clients to
        use mTLS with the bootstrap's certificates (see ``bootstrap()``)."""
        with self._lock:
            self._services[name] = list(endpoints)
            if mtls:
                self._mtls.add(name)
            self._version += 1
            streams = list(self._streams)
        for stream in streams:
            stream.put(_PUSH)

    def resources(self, type_url: str, names: set[str]) -> tuple[str, list[any_pb2.Any]]:
        """The current version, and those of ``names`` of one type that exist."""
        with self._lock:
            version, services, mtls = self._version, dict(self._services), set(self._mtls)
        found: list[Any] = []
        for name, endpoints in services.items():
            if type_url == LISTENER:
                found.extend(listener(n) for n in (name, federated(name)) if n in names)
            elif type_url == ROUTE and f"{name}-route" in names:
                found.append(route(name))
            elif type_url == CLUSTER and f"{name}-cluster" in names:
                found.append(cluster(name, mtls=name in mtls))
            elif type_url == ENDPOINTS and f"{name}-cluster" in names:
                found.append(assignment(name, endpoints))
        return str(version), [_packed(resource) for resource in found]

    def _open(self) -> queue.Queue[Any]:
        events: queue.Queue[Any] = queue.Queue()
        with self._lock:
            self._streams.append(events)
        return events

    def _closed(self, events: queue.Queue[Any]) -> None:
        with self._lock:
            if events in self._streams:
                self._streams.remove(events)


class _Servicer(ads_pb2_grpc.AggregatedDiscoveryServiceServicer):
    def __init__(self, xds: XdsServer) -> None:
        self.xds = xds

    def StreamAggregatedResources(
        self, request_iterator: Iterator[discovery_pb2.DiscoveryRequest], context: Any
    ) -> Iterator[discovery_pb2.DiscoveryResponse]:
        xds = self.xds
        events = xds._open()

        def read() -> None:
            try:
                for request in request_iterator:
                    events.put(request)
            except grpc.RpcError:
                pass
            events.put(_CLOSE)

        threading.Thread(target=read, daemon=True, name="xds-ads-reader").start()
        subscribed: dict[str, set[str]] = {}  # type URL -> resource names
        sent: dict[str, tuple[str, frozenset[str]]] = {}  # type URL -> what was last sent
        nonce = 0
        try:
            while True:
                event = events.get()
                if event is _CLOSE:
                    return
                if event is _PUSH:
                    changed = list(subscribed)
                else:
                    xds.requests.append(event)
                    if event.HasField("error_detail"):
                        xds.nacks.append(event.error_detail.message)
                        continue
                    subscribed[event.type_url] = set(event.resource_names)
                    changed = [event.type_url]
                for type_url in changed:
                    names = subscribed[type_url]
                    version, resources = xds.resources(type_url, names)
                    if sent.get(type_url) == (version, frozenset(names)):
                        continue  # an ACK of what was sent: nothing new
                    sent[type_url] = (version, frozenset(names))
                    nonce += 1
                    yield discovery_pb2.DiscoveryResponse(
                        version_info=version,
                        resources=resources,
                        type_url=type_url,
                        nonce=str(nonce),
                    )
        finally:
            xds._closed(events)
