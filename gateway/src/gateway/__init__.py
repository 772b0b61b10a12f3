"""The onebox gateway: the only public port, forwarding each prefix to its app."""
