"""Storage: engines, models, migrations glue, the data version and caches, replicas, backup, the audit log
and the repository of planning inputs. Imports planning and geodata.settings/crs/errors only."""
