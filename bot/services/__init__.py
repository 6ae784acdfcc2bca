"""The use cases: creating jobs, following them, quotas, moderation and the served models."""
