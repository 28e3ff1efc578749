"""Identity providers: the upstream OpenID Connect providers people may sign in with, managed by
`api_admin` (API, management command, admin console), and accounts' links to them."""
