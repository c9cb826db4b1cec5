"""The running program: the daemon loop, runtime set-up, sd_notify, logs and reports.
Imports sync and below; commands and the CLI sit on top of it."""
