"""Reminder planning and delivery. The planner is a pure function of (database, now)."""
