"""The local filesystem: scan, ignore rules, hashing, mounts, watchers, poller, batching,
settling. Imports core (and watchdog, in ``watch`` only); never remote, config or above."""
