from rest_framework.test import APIClient


def test_healthz_answers_200_without_database() -> None:
    response = APIClient().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_me_with_token_returns_private_view(user_client, user) -> None:
    response = user_client.get("/api/v1/me")
    assert response.status_code == 200
    body = response.json()
    assert body["user"]["id"] == str(user.pk)
    assert body["user"]["email"] == user.email
    assert body["auth_method"] == "jwt"
