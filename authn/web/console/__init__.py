"""The admin console: dashboard pages for `api_admin` under /dashboard/admin/."""
