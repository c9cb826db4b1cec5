"""Plane and its storage host: HTTP session, client, rate limiter, retries, upload, storage.
The only layer that sees httpx. Imports core; never local, config or above."""
