"""Making and connecting a client: TLS, targets, channels, proxies, token providers, event loops, threads and fork."""
