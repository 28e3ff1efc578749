from django.urls import path

from rpc.apis import UserRpcApi

urlpatterns = [path("user/<str:method>", UserRpcApi.as_view(), name="user-rpc")]
