"""Domain functions: the one way in for data. The bot, the scheduler and the CLI all call these.

Each takes the session by keyword and never opens one itself; the edge does, once per update or job.
"""
