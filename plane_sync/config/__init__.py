"""The YAML configuration: reading, value parsers, folder sections, the frozen types.
Imports core and local (ignore rules validate patterns); never remote, sync or above."""
