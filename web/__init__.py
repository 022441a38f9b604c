"""The web dashboard: the 台账, overdue and silent lists, 销号 decisions and downloads for coordinators and leads."""
