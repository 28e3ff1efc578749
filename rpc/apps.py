from django.apps import AppConfig


class RpcConfig(AppConfig):
    """The Micro-style `/user/<method>` facade over the accounts and authn services."""

    name = "rpc"
    verbose_name = "RPC facade"
