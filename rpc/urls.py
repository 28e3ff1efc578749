from django.urls import path

from rpc.apis import RPC_METHODS, UserRpcAnyNameApi, documented_method_view

# Each method's own route documents it and answers as the generic one does; the generic route
# takes the names in any letter case.
urlpatterns = [
    *(
        path(f"user/{name}", documented_method_view(name).as_view(), {"method": name})
        for name in RPC_METHODS
    ),
    path("user/<str:method>", UserRpcAnyNameApi.as_view(), name="user-rpc"),
]
