"""duban (督办): reminders and progress tracking for county work plans."""
