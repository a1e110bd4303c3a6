"""Agent health: scores and statuses computed at read time (:mod:`.policy`), the health
checker's plan (:mod:`.plan`), and the statuses last written, with their metrics
(:mod:`.status_book`). Pure but for the status book's writes."""
