"""scaigrid-client: the Python SDK for ScaiGrid's gRPC API."""

from scaigrid_client._version import __version__

__all__ = ["__version__"]
