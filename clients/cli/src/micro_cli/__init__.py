"""The `micro` command-line client. Standard library, `requests` and the `micro_client`
contract only, so that it runs on any machine without Django or the rest of the project."""

__version__ = "0.1.0"
