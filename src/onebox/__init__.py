"""Tooling for onebox: sync the app venvs, write the Procfile, run the box."""
