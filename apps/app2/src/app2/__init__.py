"""app2: a onebox proof app pinned to numpy 1.24.0 on Python 3.11."""
