"""Workflows on stored data: planning checks, plan submissions and their appraisal, inspections,
programmes, cable undergrounding and monitoring. Imports geodata.store, geodata.io and planning."""
