"""The `micro` command-line client (README.md). Standard library and `requests` only, so that it
runs on any machine without Django or the rest of the project."""
