from django.urls import path

from authn.gateway import apis

# Gateway forward-auth, on any method.
urlpatterns = [path("auth/verify", apis.VerifyApi.as_view(), name="verify")]
