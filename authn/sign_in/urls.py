from django.urls import path

from authn.sign_in import apis

urlpatterns = [path("auth/token", apis.TokenObtainApi.as_view(), name="token")]
