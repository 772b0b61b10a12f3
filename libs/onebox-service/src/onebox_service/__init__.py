"""Code every onebox app shares; it must import on the oldest Python an app pins."""
