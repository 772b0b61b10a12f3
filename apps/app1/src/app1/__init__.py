"""app1: a onebox proof app pinned to numpy 1.20.0 on Python 3.9."""
