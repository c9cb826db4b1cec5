"""Pure decisions and values: models, identity, MIME rules, the planner. No I/O, no clock,
no logging; imports only the standard library's pure modules and ``plane_sync.errors``."""
